"""PII at rest: the warehouse and its snapshots are encrypted, the key comes from the environment."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tests.cases import BASE, SOURCE, TODAY
from tests.test_history import write_export
from tierhub.errors import ConfigError, WarehouseError
from tierhub.settings import TierhubSettings
from warehouse.maintenance import backup, check
from warehouse.publish import publish
from warehouse.queries import CITY, find_person
from warehouse.readers import open_reader
from warehouse.schema import open_warehouse

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def encrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIERHUB_ENCRYPT", "true")
    monkeypatch.setenv("TIERHUB_WAREHOUSE_KEY", KEY)
    drops = tmp_path / "drops"
    write_export(drops / SOURCE[:6] / SOURCE, f"失业登记_{SOURCE}_20261105.csv", [BASE])
    path = tmp_path / "warehouse.duckdb"
    con = open_warehouse(path)
    sync_sources(con, drops, [SOURCE], today=TODAY)
    publish(con, path)
    con.close()
    return path


def test_no_id_number_or_phone_is_readable_in_the_files(encrypted: Path) -> None:
    for path in [encrypted, *encrypted.parent.glob("snapshots/gen-*.duckdb")]:
        data = path.read_bytes()
        assert str(BASE["id_number"]).encode() not in data and b"13812345678" not in data
        assert "张伟".encode() not in data


def test_the_key_opens_warehouse_and_snapshot(encrypted: Path) -> None:
    reader = open_reader(encrypted)
    person = find_person(reader, CITY, str(BASE["id_number"]))
    assert person is not None and person.name == "张伟"
    assert check(encrypted).problems == []
    assert check(backup(encrypted, encrypted.parent / "backups")).problems == []


def test_without_the_key_nothing_opens(encrypted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(encrypted), read_only=True).execute("SELECT count(*) FROM core.persons").fetchall()
    with pytest.raises(WarehouseError, match="TIERHUB_WAREHOUSE_KEY"):
        open_reader(encrypted, key="f" * 32)
    monkeypatch.delenv("TIERHUB_WAREHOUSE_KEY")
    with pytest.raises(ConfigError, match="TIERHUB_WAREHOUSE_KEY is not set"):
        open_reader(encrypted)


def test_encryption_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIERHUB_ENCRYPT", raising=False)
    monkeypatch.delenv("TIERHUB_WAREHOUSE_KEY", raising=False)
    assert TierhubSettings().encrypt
    with pytest.raises(ConfigError):
        TierhubSettings().warehouse_key()


@pytest.mark.parametrize("encrypt", ["true", "false"])
def test_a_memory_limit_reaches_every_database_a_sync_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypt: str
) -> None:
    """TIERHUB_DUCKDB_MEMORY_LIMIT caps the warehouse and a batch's scratch database; a bad value names the key."""
    from warehouse.storage import duckdb_config

    monkeypatch.setenv("TIERHUB_ENCRYPT", encrypt)
    monkeypatch.setenv("TIERHUB_WAREHOUSE_KEY", KEY)
    monkeypatch.setenv("TIERHUB_DUCKDB_MEMORY_LIMIT", "512MB")
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    scratch = duckdb.connect(config=duckdb_config())
    try:
        for opened in (con, scratch):
            assert opened.execute("SELECT current_setting('memory_limit')").fetchone() == ("488.2 MiB",)
    finally:
        con.close()
        scratch.close()
    monkeypatch.setenv("TIERHUB_DUCKDB_MEMORY_LIMIT", "half")
    with pytest.raises(ValueError, match="duckdb_memory_limit"):
        TierhubSettings()
