"""A sync against the floor of reading: parse every file, first sync, no-change resync — one process.

    uv run python -u bench/sync_speed.py [--drops DIR | --scale demo|district|full] [--no-results]

Issue #20. In one process, on one drops folder (a generated city unless ``--drops`` is given):

1. **parse floor**: decode and parse every file — Python ``csv`` for the CSVs (the encoding the
   project's reader detects), python-calamine for the workbooks — nothing else;
2. **first sync**: ``flows.runs.sync_direct`` into an empty warehouse (the embedded command
   line's path: survey, hash, read, judge, commit, publish; Data Docs off), rows/s end to end;
3. **no-change resync**: the same again, nothing new.

Wall and CPU seconds (this process, its DuckDB threads and its read workers) for each, and the
peak RSS of this process. On a
machine shared with other work the wall times move with its load; the CPU times and the ratios
within one run are the figures to compare.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("TIERHUB_ENCRYPT", "false")
os.environ.setdefault("TIERHUB_SYNC_NICENESS", "0")

import psutil
from python_calamine import CalamineWorkbook

from bench.common import drops_arguments, git_revision, machine, scratch_drops, write_section
from connectors.readers import detect_encoding
from flows.runs import sync_direct


def parse_floor(drops: Path) -> tuple[int, int, int]:
    """Decode and parse every file: (files, rows, bytes)."""
    files = rows = size = 0
    for path in sorted(p for p in drops.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files, size = files + 1, size + len(data)
        if path.suffix.lower() in (".xlsx", ".xls", ".xlsm"):
            try:
                book = CalamineWorkbook.from_filelike(io.BytesIO(data))
                rows += sum(len(book.get_sheet_by_name(n).to_python()) for n in book.sheet_names)
            except Exception:  # a damaged workbook: the floor does not judge it
                continue
        else:
            try:
                text = data.decode(detect_encoding(data[:65536]))
            except (UnicodeDecodeError, LookupError):
                continue
            rows += sum(1 for _ in csv.reader(io.StringIO(text)))
    return files, rows, size


def descendants_cpu() -> dict[int, float]:
    """CPU seconds so far of every process below this one (the read workers and their fork server)."""
    found: dict[int, float] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[child.pid] = times.user + times.system
    return found


def timed(work):  # type: ignore[no-untyped-def]
    """(result, wall, CPU): CPU counts this process and the processes below it (read workers)."""
    wall, cpu, below = time.perf_counter(), time.process_time(), descendants_cpu()
    result = work()
    after = descendants_cpu()
    helpers = sum(t - below.get(pid, 0.0) for pid, t in after.items())
    return result, time.perf_counter() - wall, time.process_time() - cpu + helpers


def main() -> None:
    args = drops_arguments()
    with scratch_drops(args, "tierhub-bench-speed-") as (home, drops):
        warehouse = str(home / "warehouse.duckdb")
        load = os.getloadavg()[0]
        (files, _, size), floor_wall, floor_cpu = timed(lambda: parse_floor(drops))
        print(f"parse floor: {files:,} files, {size / 2**20:.1f} MiB in {floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU")
        first, first_wall, first_cpu = timed(
            lambda: sync_direct(drops_root=str(drops), warehouse=warehouse, data_docs=False)
        )
        rows = first.total("rows_in")
        print(
            f"first sync: {first.total('files'):,} files, {rows:,} rows, {first_wall:.1f} s wall, {first_cpu:.1f} s CPU"
        )
        again, again_wall, again_cpu = timed(
            lambda: sync_direct(drops_root=str(drops), warehouse=warehouse, data_docs=False)
        )
        print(f"no-change resync: {again.total('skipped_files'):,} unchanged in {again_wall:.2f} s wall")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = (
        "| step | files | rows | wall | CPU | vs floor (wall / CPU) |\n|---|---:|---:|---:|---:|---:|\n"
        f"| parse floor (decode + parse every file) | {files:,} | | {floor_wall:.2f} s | {floor_cpu:.2f} s | 1× |\n"
        f"| first sync (`sync_direct`, Data Docs off) | {first.total('files'):,} | {rows:,} | {first_wall:.1f} s "
        f"| {first_cpu:.1f} s | {first_wall / floor_wall:.1f}× / {first_cpu / floor_cpu:.1f}× |\n"
        f"| no-change resync | {again.total('skipped_files'):,} unchanged | 0 | {again_wall:.2f} s | {again_cpu:.2f} s "
        f"| {again_wall / floor_wall:.1f}× / {again_cpu / floor_cpu:.1f}× |\n"
    )
    body = (
        f"Script: `bench/sync_speed.py` · machine: {machine()} · commit {git_revision()} · "
        f"{dt.date.today()} · load average {load:.1f} when it started (machine shared with other engineers: "
        "compare the ratios within this run)\n\n"
        f"{size / 2**20:.1f} MiB of drops.\n\n{table}\n"
        f"End to end (read → judge → load → publish): {rows / first_wall:,.0f} rows/s wall, "
        f"{rows / first_cpu:,.0f} rows/s per CPU second; peak RSS {peak:,.0f} MiB. "
        f"At that rate 10,000,000 records would take ≈ {10_000_000 / (rows / first_wall) / 60:.0f} min "
        "(a linear extrapolation, not a measurement; on a small city the fixed cost per batch — 33 items "
        "judged and committed — dominates, so it overstates a large backfill's time).\n"
    )
    print(body)
    if not args.no_results:
        write_section(f"Sync against the parse floor, one process (bench/sync_speed.py, {args.scale})", body)


if __name__ == "__main__":
    main()
