"""A sync killed with SIGKILL at any point leaves a warehouse the next run completes exactly.

A child process syncs the demo city in small batches (many commits); it is killed at
several moments, restarted each time, and finally allowed to finish. The result must equal,
row for row, the warehouse of the same sync run once without interruption. (The person
history records changes in the order loads ran, so the reference uses the same batches.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tierhub.synth.city import GeneratedCity

pytestmark = pytest.mark.slow  # kills and reruns a whole sync in a child process

ROOT = Path(__file__).parents[1]
# The busiest items, person master and history included: judging costs each batch a fixed time per
# item (planning its checks), and what a kill can break does not depend on which item a row is of.
ITEMS = ("SB01", "SB03", "SB05", "SK04", "YB01", "JY02")
CHILD = (
    """
import datetime as dt, sys
from pathlib import Path
from connectors.exports import Selection
from flows.pipeline import sync_sources
from tierhub.synth.city import select_sources
from warehouse.schema import open_warehouse
con = open_warehouse(Path(sys.argv[1]))
if sys.argv[4] == "run-writer":  # as an embedded run's writer: commits in the WAL, checkpointed at the end
    from flows.runs import RUN_CHECKPOINT_THRESHOLD
    con.execute(f"SET checkpoint_threshold = '{RUN_CHECKPOINT_THRESHOLD}'")
codes = [s.code for s in select_sources("demo")][:SOURCES]
items = Selection(items=frozenset(ITEMS))
print("START", flush=True)
day = dt.date.fromisoformat(sys.argv[3])
for i in range(0, len(codes), BATCH):
    sync_sources(con, Path(sys.argv[2]), codes[i : i + BATCH], today=day, selection=items)
    print("COMMITTED", flush=True)
print("DONE", flush=True)
""".replace("SOURCES", "80")
    .replace("BATCH", "16")
    .replace("ITEMS", repr(ITEMS))
)


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """(rows, content hash) per table, with load ids and file ids replaced by what they stand for."""
    file_key = "(SELECT source_id || '|' || path || '|' || sha256 FROM ops.files f WHERE f.file_id = t.file_id)"
    out: dict[str, tuple[int, int]] = {}
    tables = [
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('core', 'quarantine') AND NOT temporary ORDER BY 1"
        ).fetchall()
    ]
    for table in tables:
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        volatile = {"load_id", "first_load", "last_load", "changed_at", "superseded_by_load", "superseded_by_file"}
        kept = [f't."{c}"' for c in columns if c not in volatile and c != "file_id"]
        if "file_id" in columns:
            kept.append(file_key)
        if "superseded_by_load" in columns:
            kept.append("t.superseded_by_load IS NULL")
        [(rows, digest)] = con.execute(
            f"SELECT count(*), coalesce(sum(hash(row({', '.join(kept)}))), 0) FROM {table} t"
        ).fetchall()
        out[table] = (int(rows), int(digest))
    [(files, digest)] = con.execute(
        "SELECT count(*), coalesce(sum(hash(row(source_id, path, sha256, status, rows_in, rows_loaded, "
        "rows_quarantined))), 0) FROM ops.files"
    ).fetchall()
    out["ops.files"] = (int(files), int(digest))
    [(cursor, digest)] = con.execute(
        "SELECT count(*), coalesce(sum(hash(row(source_id, path, sha256))), 0) FROM ops.cursor"
    ).fetchall()
    out["ops.cursor"] = (int(cursor), int(digest))
    return out


@pytest.mark.parametrize("writer", ["per-batch", "run-writer"])
def test_sigkill_during_sync_then_rerun_equals_an_uninterrupted_sync(
    city: GeneratedCity, tmp_path: Path, writer: str
) -> None:
    """``run-writer``: the writer an embedded run keeps open, whose commits wait in the WAL until the publish."""
    import datetime as dt

    warehouse = tmp_path / "warehouse.duckdb"
    reference = tmp_path / "reference.duckdb"
    command = [sys.executable, "-c", CHILD, str(warehouse), str(city.drops), dt.date.today().isoformat(), writer]
    uninterrupted = subprocess.run(
        [sys.executable, "-c", CHILD, str(reference), str(city.drops), dt.date.today().isoformat(), writer],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]
    kills = 0
    # Each try is killed a moment after its n-th commit (n = 0: before the first), so the kill
    # lands inside a batch — reading, judging or committing — however fast the machine is.
    for commits, delay in ((0, 0.3), (1, 0.2), (1, 0.6), (0, 1.5), (2, 0.05)):
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "START"
        for _ in range(commits):
            child.stdout.readline()
        time.sleep(delay)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
    assert kills >= 4, "the sync finished before it could be killed"
    finish = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finish.returncode == 0, finish.stderr[-2000:]

    with (
        duckdb.connect(str(warehouse), read_only=True) as recovered,
        duckdb.connect(str(reference), read_only=True) as expected,
    ):
        assert fingerprint(recovered) == fingerprint(expected)
        [(loads,)] = recovered.execute("SELECT count(*) FROM ops.loads").fetchall()
        [(reconciled,)] = recovered.execute(
            "SELECT bool_and(rows_in = rows_loaded + rows_quarantined) FROM ops.files"
        ).fetchall()
    assert loads > 1 and reconciled
