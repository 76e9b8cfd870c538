"""Readers are never blocked by a load: they read published read-only snapshots."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tierhub.errors import WarehouseError
from warehouse.publish import CURRENT, generations, prune, publish, snapshots_folder
from warehouse.readers import SnapshotReader, open_as_of, open_reader
from warehouse.schema import open_warehouse

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN")
con.execute("INSERT INTO ops.meta VALUES ('holding', 'yes')")
print("HOLDING", flush=True)
time.sleep(60)
"""


@pytest.fixture
def warehouse(synced: Path, tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(synced, path)
    return path


def count_files(con: duckdb.DuckDBPyConnection) -> int:
    [(n,)] = con.execute("SELECT count(*) FROM ops.files").fetchall()
    return int(n)


def test_readers_answer_while_a_writer_holds_the_warehouse(warehouse: Path) -> None:
    con = open_warehouse(warehouse)
    publish(con, warehouse)
    expected = count_files(con)
    con.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(duckdb.Error):  # what readers suffered before snapshots
            duckdb.connect(str(warehouse), read_only=True)
        started = time.perf_counter()
        reader = open_reader(warehouse)
        assert count_files(reader) == expected
        assert time.perf_counter() - started < 5
        reader.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_reader_keeps_its_generation_while_newer_ones_are_published_and_pruned(warehouse: Path) -> None:
    con = open_warehouse(warehouse)
    first = publish(con, warehouse)
    old_reader = open_reader(warehouse)
    before = count_files(old_reader)
    con.execute("DELETE FROM ops.refusals")  # any change the next generation shows
    con.execute("INSERT INTO ops.loads VALUES ('later', now(), now(), 'test', 0, 0, 0, 0)")
    second = publish(con, warehouse)
    con.close()
    assert (first.generation, second.generation) == (1, 2)
    folder = snapshots_folder(warehouse)
    assert (folder / CURRENT).resolve() == second.path
    removed = prune(folder, keep=1, days=0)
    assert first.path in removed and not first.path.exists()
    assert count_files(old_reader) == before  # still answering from the pruned generation
    new_reader = SnapshotReader(warehouse)
    assert new_reader.path == second.path
    [(loads,)] = new_reader.cursor().execute("SELECT count(*) FROM ops.loads WHERE load_id = 'later'").fetchall()
    assert loads == 1


def test_the_portal_reader_warms_each_generation_in_the_background(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse import readers

    def table_memory(con: duckdb.DuckDBPyConnection) -> int:
        sql = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
        return int(con.execute(sql).fetchall()[0][0])

    warmed: list[tuple[int, int]] = []  # table memory before and after each warm-up
    real = readers.warm_up

    def recording(con: duckdb.DuckDBPyConnection) -> None:
        before = table_memory(con)
        real(con)
        warmed.append((before, table_memory(con)))

    monkeypatch.setattr(readers, "warm_up", recording)
    con = open_warehouse(warehouse)
    first = publish(con, warehouse)
    reader = SnapshotReader(warehouse)
    assert reader.wait_warm(60) and reader.path == first.path
    con.execute("INSERT INTO ops.loads VALUES ('later', now(), now(), 'test', 0, 0, 0, 0)")
    second = publish(con, warehouse)
    con.close()
    # the next request reads the new generation at once; its warm-up runs beside it
    [(loads,)] = reader.cursor().execute("SELECT count(*) FROM ops.loads WHERE load_id = 'later'").fetchall()
    assert loads == 1 and reader.path == second.path
    assert reader.wait_warm(60)
    assert len(warmed) == 2 and all(after > before for before, after in warmed)  # blocks read into memory


def test_an_interrupted_publish_leaves_only_a_temp_file_that_prune_removes(warehouse: Path) -> None:
    con = open_warehouse(warehouse)
    publish(con, warehouse)
    con.close()
    folder = snapshots_folder(warehouse)
    partial = folder / "gen-000002.duckdb.tmp"
    partial.write_bytes(b"half a copy")
    assert [g.generation for g in generations(folder)] == [1]
    assert count_files(open_reader(warehouse)) > 0
    assert partial in prune(folder)


@pytest.mark.slow
def test_as_of_opens_the_generation_current_then(warehouse: Path) -> None:
    con = open_warehouse(warehouse)
    first = publish(con, warehouse)
    time.sleep(1.1)
    publish(con, warehouse)
    con.close()
    then = open_as_of(warehouse, first.published_at + dt.timedelta(milliseconds=500))
    assert then.execute("SELECT current_database()").fetchall()[0][0] == first.path.stem
    with pytest.raises(WarehouseError):
        open_as_of(warehouse, first.published_at - dt.timedelta(days=1))
