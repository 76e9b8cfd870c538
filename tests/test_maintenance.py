"""Maintenance: check, back up, restore, compact — and none of them while a sync holds the warehouse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tierhub.errors import WarehouseError
from warehouse.maintenance import backup, check, compact, restore, table_counts

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("HOLDING", flush=True)
time.sleep(60)
"""


@pytest.fixture
def warehouse(synced: Path, tmp_path: Path) -> Path:
    path = tmp_path / "wh" / "warehouse.duckdb"
    path.parent.mkdir()
    shutil.copyfile(synced, path)
    return path


def counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return table_counts(con)


def test_the_synced_warehouse_passes_its_checks(warehouse: Path) -> None:
    result = check(warehouse)
    assert result.problems == [] and result.tables["quarantine.rows"] > 0


def test_check_reports_a_broken_reconciliation(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM quarantine.rows WHERE row_number = (SELECT min(row_number) FROM quarantine.rows)")
    problems = check(warehouse).problems
    assert any("quarantine rows" in p for p in problems)


def test_check_reports_a_person_with_two_master_rows(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("INSERT INTO core.persons SELECT * FROM core.persons LIMIT 1")
    assert any("more than one row in the person master" in p for p in check(warehouse).problems)


def test_backup_then_restore_brings_back_the_exact_state(warehouse: Path, tmp_path: Path) -> None:
    before = counts(warehouse)
    saved = backup(warehouse, tmp_path / "backups")
    assert saved.exists() and counts(saved) == before
    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM ops.cursor")
    assert counts(warehouse) != before
    kept = restore(saved, warehouse)
    assert counts(warehouse) == before
    assert kept is not None and kept.exists() and counts(kept)["ops.cursor"] == 0


def test_compact_keeps_every_row(warehouse: Path) -> None:
    before = counts(warehouse)
    size_before, size_after = compact(warehouse)
    assert counts(warehouse) == before and check(warehouse).problems == []
    assert size_after <= size_before * 1.1


def test_maintenance_refuses_while_a_sync_holds_the_warehouse(warehouse: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(WarehouseError, match="in use"):
            backup(warehouse, tmp_path / "backups")
        with pytest.raises(WarehouseError, match="in use"):
            compact(warehouse)
    finally:
        holder.kill()
        holder.wait()


def test_a_process_killed_right_after_opening_a_new_warehouse_leaves_one_that_opens(tmp_path: Path) -> None:
    """Schema changes are checkpointed: DuckDB 1.5.5 cannot replay ALTER … ADD COLUMN … DEFAULT from a WAL."""
    import os
    import subprocess
    import sys

    from warehouse.schema import open_warehouse

    path = tmp_path / "warehouse.duckdb"
    code = (
        "import os; from pathlib import Path; from warehouse.schema import open_warehouse; "
        f"con = open_warehouse(Path({str(path)!r}), key=None); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TIERHUB_ENCRYPT": "false"})
    con = open_warehouse(path, key=None)
    assert con.execute("SELECT count(*) FROM ops.files").fetchone() == (0,)
    con.close()
