"""A SQL database as a source: SQLite (and PostgreSQL when installed) read incrementally by a cursor."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

import warehouse.load
from connectors.config import DatabaseEndpoint, load_sources
from connectors.outboxes import Outboxes
from connectors.readers import open_export
from flows.pipeline import sync_sources
from tests.system import require_program
from tierhub.errors import ConfigError, WarehouseError
from tierhub.reference import divisions
from tierhub.synth.city import GeneratedCity
from warehouse.schema import open_warehouse

SOURCE = "120101001000"
URL_ENV = "TIERHUB_TEST_DB_URL"


def unemployment_rows(city: GeneratedCity) -> pa.Table:
    """The demo city's unemployment registrations (失业登记) of one street, as canonical text columns."""
    # Whichever 和平区 street exported 失业登记 this time (what the generator writes varies), its rows moved
    # to SOURCE: their community codes are rewritten to a community of SOURCE's street.
    path = next(p for p in sorted((city.drops / SOURCE[:6]).glob("*/失业登记_*")) if p.parent.name.endswith("000"))
    read = open_export(path)
    table = pa.Table.from_batches(list(read.batches)).drop_columns(["_row_number", "_sheet"])
    if "community_code" in table.column_names:
        community = divisions().children[SOURCE][0].code
        index = table.column_names.index("community_code")
        table = table.set_column(index, "community_code", pa.array([community] * table.num_rows, pa.string()))
    return table


def fill_sqlite(path: Path, rows: pa.Table, start: int, stop: int) -> None:
    """Rows ``start:stop`` as a street system would hold them: snake_case fields, an id, updated_at."""
    con = sqlite3.connect(path)
    fields = rows.column_names
    columns = ", ".join(f'"{f}" TEXT' for f in fields)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS unemployment_reg (id INTEGER PRIMARY KEY, source_code TEXT, {columns}, "
        "updated_at TIMESTAMP)"
    )
    data = rows.slice(start, stop - start).to_pylist()
    marks = ", ".join("?" for _ in range(len(fields) + 3))
    con.executemany(
        f"INSERT INTO unemployment_reg VALUES ({marks})",
        [(start + n + 1, SOURCE, *r.values(), f"2026-11-{1 + n % 28:02d} 09:00:00") for n, r in enumerate(data)],
    )
    con.commit()
    con.close()


def sources_file(tmp_path: Path, **endpoint: object) -> Path:
    body = {
        "kind": "database",
        "url_env": URL_ENV,
        "cursor": "id",
        "source_column": "source_code",
        "items": {"JY02": "unemployment_reg"},
        **endpoint,
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"default": {"kind": "folder"}, "districts": {"120101": body}}), encoding="utf-8")
    return path


def position(con: object, item: str = "JY02") -> str | None:
    found = con.execute(  # type: ignore[attr-defined]
        "SELECT position FROM ops.cursor WHERE source_id = ? AND path = ?", [SOURCE, f"database/{item}/id"]
    ).fetchall()
    return found[0][0] if found else None


@pytest.fixture
def street_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SQLite file the source's URL variable names (``fill_sqlite`` writes it)."""
    db = tmp_path / "street.db"
    monkeypatch.setenv(URL_ENV, f"sqlite:///{db}")
    return db


@pytest.fixture
def rows(city: GeneratedCity) -> pa.Table:
    table = unemployment_rows(city)
    assert table.num_rows >= 8
    return table


def test_sqlite_rows_load_incrementally_by_cursor(rows: pa.Table, street_db: Path, tmp_path: Path) -> None:
    first, more = rows.num_rows // 2, rows.num_rows
    fill_sqlite(street_db, rows, 0, first)
    config = load_sources(sources_file(tmp_path), default_root=tmp_path / "drops")
    con = open_warehouse(tmp_path / "w.duckdb")

    def sync() -> object:
        boxes = Outboxes(config, tmp_path / "landing")
        try:
            return sync_sources(con, boxes, [SOURCE])
        finally:
            boxes.close()

    one = sync()
    assert (one.load.files, one.load.rows_in) == (1, first)  # type: ignore[attr-defined]
    assert one.load.rows_loaded > 0  # type: ignore[attr-defined]
    assert position(con) == str(first)
    [(path, status, rows_in, loaded, quarantined)] = con.execute(
        "SELECT path, status, rows_in, rows_loaded, rows_quarantined FROM ops.files"
    ).fetchall()
    assert (path, status, rows_in) == ("database/JY02/id", "loaded", first)
    [(in_quarantine,)] = con.execute("SELECT count(*) FROM quarantine.rows").fetchall()
    assert loaded + quarantined == first and in_quarantine == quarantined  # every row lands somewhere

    again = sync()
    assert (again.load.files, again.load.rows_in) == (0, 0)  # type: ignore[attr-defined]

    fill_sqlite(street_db, rows, first, more)
    two = sync()
    assert (two.load.files, two.load.rows_in) == (1, more - first)  # type: ignore[attr-defined]
    assert position(con) == str(more)
    [(registered, total)] = con.execute("SELECT count(*), sum(rows_in) FROM ops.files").fetchall()
    assert (registered, total) == (2, more)
    con.close()


def test_a_rolled_back_batch_does_not_move_the_cursor(
    rows: pa.Table, street_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_sqlite(street_db, rows, 0, 3)
    config = load_sources(sources_file(tmp_path), default_root=tmp_path / "drops")
    con = open_warehouse(tmp_path / "w.duckdb")
    boxes = Outboxes(config, tmp_path / "landing")
    sync_sources(con, boxes, [SOURCE])
    fill_sqlite(street_db, rows, 3, 6)

    def fail(*args: object, **kwargs: object) -> None:
        import duckdb

        raise duckdb.IOException("disk full (simulated, inside the load's transaction)")

    with monkeypatch.context() as patch:
        patch.setattr(warehouse.load, "record_source_status", fail)
        with pytest.raises(WarehouseError, match="could not commit"):
            sync_sources(con, boxes, [SOURCE])
    assert position(con) == "3"
    retried = sync_sources(con, boxes, [SOURCE])
    assert retried.load.rows_in == 3 and position(con) == "6"
    boxes.close()
    con.close()


def test_a_query_with_chinese_headers_and_a_timestamp_cursor(rows: pa.Table, street_db: Path, tmp_path: Path) -> None:
    fill_sqlite(street_db, rows, 0, 5)
    query = (
        "SELECT id, updated_at AS 更新时间, source_code, name AS 姓名, id_number AS 公民身份号码, * EXCLUDE (id, "
        "updated_at, source_code, name, id_number) FROM unemployment_reg"
    )
    path = sources_file(tmp_path, items={"失业登记": {"query": query, "cursor": "更新时间"}})
    con = open_warehouse(tmp_path / "w.duckdb")
    boxes = Outboxes(load_sources(path, default_root=tmp_path / "drops"), tmp_path / "landing")
    first = sync_sources(con, boxes, [SOURCE])
    assert first.load.rows_in == 5
    [(stored,)] = con.execute("SELECT position FROM ops.cursor").fetchall()
    assert stored == max(f"2026-11-{1 + n % 28:02d} 09:00:00" for n in range(5))
    assert sync_sources(con, boxes, [SOURCE]).load.rows_in == 0
    boxes.close()
    con.close()


def test_database_endpoints_are_checked_when_the_file_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"districts\.120101\.curser: Extra inputs are not permitted"):
        load_sources(sources_file(tmp_path, curser="id"))
    with pytest.raises(ConfigError, match="set source_column"):
        load_sources(sources_file(tmp_path, source_column=None))
    endpoint = load_sources(sources_file(tmp_path)).endpoint_for(SOURCE)
    assert isinstance(endpoint, DatabaseEndpoint) and "$" + URL_ENV in endpoint.label


def test_a_folder_default_may_carry_keys_for_its_sftp_districts(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "default: {root: /srv/drops, known_hosts: /etc/kh, user: tierhub}\n"
        'districts:\n  "120101": {kind: sftp, host: h}\n  "120102": {kind: folder}\n'
    )
    config = load_sources(path)
    assert config.default.kind == "folder"
    sftp = config.endpoint_for("120101001000")
    assert sftp.kind == "sftp" and sftp.known_hosts == "/etc/kh" and sftp.root == "/srv/drops"
    with pytest.raises(ConfigError, match=r"default\.hots"):
        path.write_text("default: {root: /srv/drops, hots: x}\n")
        load_sources(path)


# -- PostgreSQL: a real server started in tmp_path, on loopback --

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL 15 server on a free loopback port; as root, it runs as the user ``postgres``."""
    require_program("initdb")  # skips locally when PostgreSQL is absent; CI installs it and refuses the skip
    user = "postgres" if os.geteuid() == 0 else None
    # Not in tmp_path: pytest's base folder is private to root, and postgres refuses to run as root.
    home = Path(tempfile.mkdtemp(prefix="tierhub-pg-"))
    data = home / "data"
    data.mkdir()
    if user:
        shutil.chown(home, user)
        shutil.chown(data, user)
    as_user = ["runuser", "-u", user, "--"] if user else []
    subprocess.run(
        [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "tierhub", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*as_user, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            )
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        yield f"postgresql://tierhub@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def test_postgresql_rows_load_incrementally(
    rows: pa.Table, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    psql = [str(PG_BIN / "psql"), postgres, "-v", "ON_ERROR_STOP=1", "-q"]
    fields = rows.column_names
    columns = ", ".join(f'"{f}" TEXT' for f in fields)
    subprocess.run(
        [*psql, "-c", f"CREATE TABLE unemployment_reg (id BIGINT PRIMARY KEY, source_code TEXT, {columns})"],
        check=True,
    )

    def insert(start: int, stop: int) -> None:
        values = []
        for n, r in enumerate(rows.slice(start, stop - start).to_pylist()):
            cells = ", ".join("NULL" if v is None else "'" + str(v).replace("'", "''") + "'" for v in r.values())
            values.append(f"({start + n + 1}, '{SOURCE}', {cells})")
        subprocess.run([*psql, "-c", "INSERT INTO unemployment_reg VALUES " + ", ".join(values)], check=True)

    insert(0, 4)
    monkeypatch.setenv(URL_ENV, postgres)
    con = open_warehouse(tmp_path / "w.duckdb")
    boxes = Outboxes(load_sources(sources_file(tmp_path), default_root=tmp_path / "drops"), tmp_path / "landing")
    assert sync_sources(con, boxes, [SOURCE]).load.rows_in == 4
    assert sync_sources(con, boxes, [SOURCE]).load.rows_in == 0
    insert(4, 7)
    assert sync_sources(con, boxes, [SOURCE]).load.rows_in == 3
    assert position(con) == "7"
    boxes.close()
    con.close()
