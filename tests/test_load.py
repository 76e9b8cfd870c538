"""The commit of one batch (warehouse/load.py): what a load reports and what the ops tables keep."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from connectors.records import Refusal
from warehouse import load
from warehouse.schema import open_warehouse

SOURCE = "120101001000"
AT = dt.datetime(2026, 11, 5, 8, 30, tzinfo=dt.UTC)


def test_a_commit_counts_rows_and_rejected_files_and_keeps_refusals_and_the_cursor(tmp_path: Path) -> None:
    con = open_warehouse(tmp_path / "w.duckdb")
    loaded = load.RegistryEntry(-1, SOURCE, "a.csv", "aa", 10, AT, rows_in=5, rows_loaded=3, rows_quarantined=2)
    rejected = load.RegistryEntry(-2, SOURCE, "b.csv", "bb", 20, AT, status="rejected", error="binary")
    empty = load.RegistryEntry(-3, SOURCE, "c.csv", "cc", 0, AT)  # an export without rows: loaded, nothing in it
    cursor = [load.CursorRow(SOURCE, "b.csv", 20, AT, "bb", -2), load.CursorRow(SOURCE, "a.csv", 10, AT, "aa", -1)]
    refused = Refusal(SOURCE, "readme.md", 5, "not an export format (.md)")
    batch = load.JudgedBatch(AT, "test", [loaded, rejected, empty], {}, cursor=cursor, refusals=[refused])

    result = load.commit_batch(con, batch)

    assert result == load.LoadResult(
        batch.load_id, files=3, rejected_files=1, rows_in=5, rows_loaded=3, rows_quarantined=2
    )
    assert con.execute(
        "SELECT load_id, run_label, files, rows_in, rows_loaded, rows_quarantined FROM ops.loads"
    ).fetchall() == [(batch.load_id, "test", 3, 5, 3, 2)]
    a_id, b_id, c_id = loaded.file_id, rejected.file_id, empty.file_id
    assert 0 < a_id < b_id < c_id  # the provisional ids -1, -2, -3 became the sequence's next three, in entry order
    # The registry's defaults: no rows, no warnings, loaded.
    assert con.execute(
        "SELECT path, file_id, load_id, rows_in, rows_loaded, rows_quarantined, rows_warned, status, error "
        "FROM ops.files ORDER BY path"
    ).fetchall() == [
        ("a.csv", a_id, batch.load_id, 5, 3, 2, 0, "loaded", None),
        ("b.csv", b_id, batch.load_id, 0, 0, 0, 0, "rejected", "binary"),
        ("c.csv", c_id, batch.load_id, 0, 0, 0, 0, "loaded", None),
    ]
    assert con.execute("SELECT source_id, path, size, reason, load_id FROM ops.refusals").fetchall() == [
        (SOURCE, "readme.md", 5, "not an export format (.md)", batch.load_id)
    ]
    assert con.execute(
        "SELECT path, size, modified_at, sha256, file_id, load_id FROM ops.cursor ORDER BY path"
    ).fetchall() == [("a.csv", 10, AT, "aa", a_id, batch.load_id), ("b.csv", 20, AT, "bb", b_id, batch.load_id)]
    con.close()
