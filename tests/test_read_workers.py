"""Files read in worker processes stage exactly what reading them in the sync's process stages (#20).

The worker path (``warehouse.staging``, decision 0034) must not change a single registry fact
or judged row: not for the demo's files, nor for files no generator shaped — a sheet with a
合计 row, a header only a deployment-local alias names, a binary file posing as CSV, a file
larger than the hand-over limit — and a worker that dies must cost speed, not rows.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
from pathlib import Path

import pyarrow as pa
import pytest

import warehouse.staging as staging
from connectors.readahead import read_pool, start_read_workers
from flows.pipeline import PreparedBatch, batch_state, prepare_batch
from tierhub.reference import divisions
from tierhub.reference.local import LocalAliases, active_local_aliases, use_local_aliases
from tierhub.synth.city import GeneratedCity
from warehouse.schema import open_warehouse

TODAY = dt.date(2026, 12, 3)
SOURCE = "120101001000"
HEAD = "姓名,公民身份号码,性别,出生日期,民族,户口性质,联系电话,参保日期\n"


def heping(city: GeneratedCity, root: Path) -> list[str]:
    """A copy of Heping district's outboxes (a few hundred small files) under ``root``."""
    shutil.copytree(city.drops / "120101", root / "120101")
    return sorted({d.code for d in divisions().sources() if (root / "120101" / d.code).is_dir()})


def add_strangers(root: Path) -> None:
    """Files written by hand, not by the generator, into one outbox."""
    box = root / "120101" / SOURCE
    box.mkdir(parents=True, exist_ok=True)
    name = "城乡居民养老保险参保登记_{}_{}.csv"
    (box / name.format(SOURCE, "20261101")).write_text(
        "天津市和平区参保登记表\n"
        + HEAD
        + "张三,120101199001011237,男,1990-01-01,汉族,非农业,13800000000,2026-11-01\n"
        + "合计,1,,,,,,\n",
        encoding="gb18030",
    )
    # 居民身份号 names id_number only through the deployment's local alias.
    (box / name.format(SOURCE, "20261102")).write_text(
        HEAD.replace("公民身份号码", "居民身份号") + "李四,120101199001011237,女,1990-01-01,汉族,农业,,2026-11-02\n",
        encoding="utf-8-sig",
    )
    (box / name.format(SOURCE, "20261103")).write_bytes(b"\x00\x01\x02binary\x00" * 50)
    # Hand-typed: a row cut short after the ID, a row with a stray cell past the header, empty cells.
    (box / name.format(SOURCE, "20261104")).write_text(
        HEAD
        + "王五,120101199001011237\n"
        + "赵六,120101199001011237,男,1990-01-01,汉族,,13800000000,2026-11-04,多余\n"
        + ",,,,,,,\n",
        encoding="utf-8",
    )


def prepare(tmp_path: Path, drops: Path, codes: list[str], workers: int, label: str) -> PreparedBatch:
    con = open_warehouse(tmp_path / f"{label}.duckdb")
    try:
        return prepare_batch(con, drops, codes, batch_state(con, codes), today=TODAY, read_workers=workers)
    finally:
        con.close()


def facts(prepared: PreparedBatch) -> list[tuple[object, ...]]:
    return [
        (
            e.file_id,
            e.path,
            e.status,
            e.error,
            e.item_code,
            e.sheet,
            e.encoding,
            e.header_row,
            tuple(e.unknown_headers),
            tuple(e.skipped_rows),
            tuple(e.missing_columns or ()),
            e.rows_in,
            e.rows_loaded,
            e.rows_quarantined,
            e.rows_warned,
        )
        for e in prepared.outcome.entries
    ]


def rows(prepared: PreparedBatch) -> dict[str, pa.Table]:
    return {
        code: t.sort_by([("_file_id", "ascending"), ("_row_number", "ascending")])
        for code, t in prepared.judged.items()
    }


@pytest.fixture
def local_alias() -> object:
    before = active_local_aliases()
    use_local_aliases(LocalAliases(headers=(("居民身份号", "id_number"),), origin="test"))
    yield
    use_local_aliases(before)


@pytest.mark.slow  # ~20 s: prepares a district's files three ways
def test_workers_stage_what_the_process_stages(
    city: GeneratedCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_alias: object
) -> None:
    drops = tmp_path / "drops"
    codes = heping(city, drops)
    add_strangers(drops)
    here = prepare(tmp_path, drops, codes, 0, "here")
    assert len(here.outcome.entries) >= staging.AHEAD_MIN_FILES
    # Workers, with a hand-over limit that keeps the larger files in process.
    sizes = sorted(e.size for e in here.outcome.entries)
    monkeypatch.setattr(staging, "AHEAD_MAX_BYTES", sizes[len(sizes) * 3 // 4])
    by_workers: list[str] = []
    stage_chunk = staging._stage_chunk

    def counted(chunk: list[staging._New], *args: object) -> None:
        by_workers.extend(new.entry.path for new in chunk)
        stage_chunk(chunk, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(staging, "_stage_chunk", counted)
    ahead = prepare(tmp_path, drops, codes, 2, "ahead")
    assert len(by_workers) >= staging.AHEAD_MIN_FILES
    assert len(by_workers) < len(here.outcome.entries)  # the larger files were read here
    assert facts(ahead) == facts(here)
    assert rows(ahead).keys() == rows(here).keys()
    for code, table in rows(here).items():
        assert rows(ahead)[code].equals(table), code
    by_path = {e.path.rsplit("/", 1)[-1]: e for e in ahead.outcome.entries}
    total = by_path[f"城乡居民养老保险参保登记_{SOURCE}_20261101.csv"]
    assert (total.header_row, total.skipped_rows, total.rows_in) == (2, [4], 1)
    aliased = by_path[f"城乡居民养老保险参保登记_{SOURCE}_20261102.csv"]
    assert aliased.status != "rejected" and "id_number" not in (aliased.missing_columns or [])
    binary = by_path[f"城乡居民养老保险参保登记_{SOURCE}_20261103.csv"]
    assert binary.status == "rejected" and "binary data" in (binary.error or "")
    ragged = by_path[f"城乡居民养老保险参保登记_{SOURCE}_20261104.csv"]
    assert (ragged.rows_in, ragged.skipped_rows) == (2, [4])


@pytest.mark.slow  # ~15 s
def test_a_dead_worker_costs_speed_not_rows(
    city: GeneratedCity, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drops = tmp_path / "drops"
    codes = heping(city, drops)
    here = prepare(tmp_path, drops, codes, 0, "here")
    start_read_workers(3, staging.PRELOAD)
    pool = read_pool(3, staging.PRELOAD)
    assert pool is not None
    pool.submit(int).result()
    victim = next(iter(pool._processes))  # a worker killed by the OOM killer, say
    os.kill(victim, signal.SIGKILL)
    ahead = prepare(tmp_path, drops, codes, 3, "ahead")
    assert facts(ahead) == facts(here)
    assert "a read worker died" in caplog.text
    assert read_pool(3, staging.PRELOAD) is not pool  # the next batch starts a new pool
