"""A city backfill: millions of past records across the city's sources, read → judge → load → publish.

    uv run python -u bench/backfill.py --drops DIR [--rows 10000000] [--sources-per-batch 2000] [--no-results]

Issue #20 asks for 10 M records (the city's scale) across the 5,916 sources, reporting rows/s,
peak RSS and where the time goes. The records are made from a generated city's drops
(``tierhub generate --scale full``): every CSV export becomes a history export of the same source
(``…_history.csv``) holding its rows ``k`` times, each copy's ID numbers rewritten to other
people's (same region, birth date and sex digit's parity, another sequence number, a correct check
character) and each name's last character changed, so the person master, the case index, the
record keys and duplicate detection see new people and records, and rows judge as the
originals did. Workbooks are left out (they are a quarter of the files and
their rows would be made the same way); every file is UTF-8 with the header on its first row.

The sync runs in a child process (``flows.runs.sync_direct``, Data Docs off) so its peak RSS is
its own; the child reports the seconds spent preparing (survey, read, judge) and committing, and
the commit's steps.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from connectors.readers import open_export
from tierhub.checkdigits import id_check_character
from tierhub.settings import TierhubSettings

CHILD = r"""
import json, os, sys, time
os.environ["TIERHUB_ENCRYPT"] = "false"
os.environ["TIERHUB_SYNC_NICENESS"] = "0"
import flows.pipeline as pipeline, flows.runs as runs, warehouse.load as load
steps, spent = {}, {"prepare": 0.0, "commit": 0.0}
commit_batch, prepare_plan, commit_plan = load.commit_batch, runs.prepare_plan, runs.commit_plan
def timed_commit(con, batch, **kw):
    return commit_batch(con, batch, step_seconds=steps, **kw)
def timed(name, work):
    def run(*a, **k):
        started = time.perf_counter()
        try:
            return work(*a, **k)
        finally:
            spent[name] += time.perf_counter() - started
    return run
pipeline.commit_batch = timed_commit
runs.prepare_plan, runs.commit_plan = timed("prepare", prepare_plan), timed("commit", commit_plan)
started = time.perf_counter()
summary = runs.sync_direct(drops_root=sys.argv[1], warehouse=sys.argv[2], data_docs=False,
                           sources_per_batch=int(sys.argv[3]))
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "rows_in": summary.total("rows_in"), "rows_loaded": summary.total("rows_loaded"),
                  "rows_quarantined": summary.total("rows_quarantined"), "files": summary.total("files"),
                  "steps": steps, "spent": spent}))
"""


def csv_exports(drops: Path) -> list[tuple[Path, int, int, int, str]]:
    """Every readable CSV export: (path, ID column, name column (-1: none), data rows, encoding)."""
    found = []
    for path in sorted(drops.rglob("*.csv")):
        try:
            read = open_export(path)
            rows = sum(b.num_rows for b in read.batches)
        except Exception:  # a file the hub refuses: not a backfill record
            continue
        if read.header_row != 1 or read.delimiter != ",":
            continue
        position = next((p for p, f in read.columns.items() if f == "id_number"), -1)
        name = next((p for p, f in read.columns.items() if f == "name"), -1)
        found.append((path, position, name, rows, read.encoding or "utf-8"))
    return found


NAME_ENDINGS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"


def other_person(id_number: str, copy: int, row: int) -> str:
    """The same region, birth date and sex, another sequence number, a correct check character."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return id_number  # a damaged ID stays damaged: it judges as the original did
    sequence = (int(id_number[14:17]) + copy * 7919 + row * 104729) % 1000
    sequence += int(id_number[16]) % 2 - sequence % 2  # the 17th digit's parity is the sex
    first17 = f"{id_number[:14]}{sequence % 1000:03d}"
    return first17 + id_check_character(first17)


def other_name(name: str, copy: int, row: int) -> str:
    """Another given name: the record key (source, item, name, date) is then another record's."""
    if len(name) < 2:
        return name
    return name[:-1] + NAME_ENDINGS[(copy * 31 + row) % len(NAME_ENDINGS)]


def write_backfill(drops: Path, into: Path, target_rows: int) -> tuple[int, int, int]:
    """One history export per CSV export, ``k`` copies of its rows, about ``target_rows`` in all: (files, rows, k)."""
    exports = csv_exports(drops)
    per_copy = sum(rows for _, _, _, rows, _ in exports)
    copies = max(1, math.ceil(target_rows / per_copy))
    files = written = 0
    for path, id_column, name_column, _, encoding in exports:
        text = path.read_bytes().decode(encoding)
        header, *body = list(csv.reader(io.StringIO(text)))
        folder = into / path.relative_to(drops).parent
        folder.mkdir(parents=True, exist_ok=True)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for copy in range(copies):
            for row_number, original in enumerate(body):
                row = list(original)
                if 0 <= id_column < len(row):
                    row[id_column] = other_person(row[id_column], copy, row_number)
                if 0 <= name_column < len(row):
                    row[name_column] = other_name(row[name_column], copy, row_number)
                writer.writerow(row)
        (folder / f"{path.stem}_history.csv").write_text(out.getvalue(), encoding="utf-8")
        files, written = files + 1, written + copies * len(body)
    return files, written, copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drops", type=Path, required=True, help="a generated city's drops (tierhub generate)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sources-per-batch", type=int, default=2_000)
    parser.add_argument("--work", type=Path, help="keep the backfill drops here (default: a temporary folder)")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tierhub-bench-backfill-"))
    backfill = work / f"drops-{args.rows}"
    try:
        started = time.perf_counter()
        if (backfill / ".done").exists():
            files, rows, copies = json.loads((backfill / ".done").read_text())
        else:
            shutil.rmtree(backfill, ignore_errors=True)
            files, rows, copies = write_backfill(args.drops, backfill, args.rows)
            (backfill / ".done").write_text(json.dumps([files, rows, copies]))
        size = sum(p.stat().st_size for p in backfill.rglob("*.csv"))
        print(
            f"backfill drops: {files:,} files, {rows:,} rows, {size / 2**20:,.0f} MiB "
            f"({copies} copies per export), made in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        warehouse = work / "warehouse.duckdb"
        for stale in work.glob("warehouse.duckdb*"):
            stale.unlink()
        shutil.rmtree(work / "snapshots", ignore_errors=True)
        load = os.getloadavg()[0]
        env = {**os.environ, "TIERHUB_HOME": str(work / "home"), "PYTHONPATH": str(Path(__file__).parents[1])}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(backfill), str(warehouse), str(args.sources_per_batch)],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"the sync failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        warehouse_mib = warehouse.stat().st_size / 2**20
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    wall, rows_in = result["wall"], result["rows_in"]
    limit = os.environ.get("TIERHUB_DUCKDB_MEMORY_LIMIT")
    settings = TierhubSettings()
    batch_bytes = f"{settings.batch_bytes / 2**20:,.0f} MiB" if settings.batch_bytes else "0 (planned batches)"
    read_workers = settings.read_workers
    steps = sorted(result["steps"].items(), key=lambda kv: -kv[1])
    step_rows = "\n".join(f"| commit: {name} | {seconds:.1f} s |" for name, seconds in steps if seconds >= 0.05)
    body = f"""
Script: `bench/backfill.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} · load average
{load:.1f} at the start

Backfill drops: {files:,} history exports (each CSV export of the `full` city with its rows {copies} times, other
people's ID numbers and names), {rows:,} rows, {size / 2**20:,.0f} MiB. `sync_direct` in a child process,
`sources_per_batch` {args.sources_per_batch}, `TIERHUB_BATCH_BYTES` {batch_bytes}, `TIERHUB_READ_WORKERS`
{read_workers}, `TIERHUB_DUCKDB_MEMORY_LIMIT` {limit or "unset"}, Data Docs off, into an empty warehouse
({warehouse_mib:,.0f} MiB after).

| figure | value |
|---|---:|
| rows in (loaded / quarantined) | {rows_in:,} ({result["rows_loaded"]:,} / {result["rows_quarantined"]:,}) |
| wall, end to end (read → judge → load → publish) | {wall:.0f} s |
| **rows/s** | **{rows_in / wall:,.0f}** |
| **peak RSS of the sync process** | **{peak:,.0f} MiB** |
| preparing (survey, read, judge; on its own thread, overlapping the commits) | {result["spent"]["prepare"]:.0f} s |
| committing (this thread) | {result["spent"]["commit"]:.0f} s |
{step_rows}

Targets (issue #20): ≥ 150,000 rows/s end to end, peak RSS ≤ 4 GB.
"""
    print(body)
    if not args.no_results:
        title = f"City backfill (bench/backfill.py, {rows:,} rows, {args.sources_per_batch} sources per batch"
        write_section(title + (f", DuckDB memory limit {limit})" if limit else ")"), body)


if __name__ == "__main__":
    main()
