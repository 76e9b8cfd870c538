"""A load on top of a city-sized warehouse: does a batch's commit stay cheap at 10 M people?

Issue #5 asks for an hourly sync into a warehouse of 10 M persons and 30 M case rows. DuckDB
rewrites a table's whole ART index at each checkpoint (decision 0013, session 5), so what a
commit costs can grow with the warehouse, not with the batch. This script commits the same
judged batch (``--rows`` rows of 失业登记, other people in every copy, ``bench.staging``) twice:
into an empty warehouse and into one holding ``--persons`` people and ``--cases`` records each
(built as ``bench/lookup.py`` builds it), then times the ``CHECKPOINT`` that publishing a
snapshot starts with (``warehouse.publish``).

    uv run python -u bench/load_at_scale.py [--rows 100000] [--persons 10000000] [--no-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from bench.common import git_revision, machine, write_section
from bench.load import timed_commit
from bench.lookup import build_indexed
from bench.staging import stage_replicated
from quality.rules import JudgeContext
from quality.verdicts import judge_staged, judged_table
from tierhub.standards import catalogue
from warehouse.schema import open_warehouse

TODAY = dt.date.today()


def batch_into(path: Path, saved: Path, rows: int) -> tuple[float, float, dict[str, float]]:
    """Commit the saved judged batch into the warehouse at ``path``; (commit s, checkpoint s, steps)."""
    item = catalogue().find("JY02")
    con = open_warehouse(path, key=None)
    con.execute(f"ATTACH '{saved}' AS saved (READ_ONLY)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {judged_table(item)} AS SELECT * FROM saved.judged")
    con.execute("DETACH saved")
    commit_s, steps = timed_commit(con, item, "at-scale")
    started = time.perf_counter()
    con.execute("CHECKPOINT")
    checkpoint_s = time.perf_counter() - started
    con.close()
    return commit_s, checkpoint_s, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--persons", type=int, default=10_000_000)
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    os.environ["TIERHUB_ENCRYPT"] = "false"
    item = catalogue().find("JY02")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scratch = open_warehouse(root / "scratch.duckdb", key=None)
        stage_replicated(scratch, item, args.rows, root, TODAY, distinct_people=True)
        judge_staged(scratch, item, JudgeContext(TODAY))
        saved = root / "judged.duckdb"
        scratch.execute(f"ATTACH '{saved}' AS saved")
        scratch.execute(f"CREATE TABLE saved.judged AS SELECT * FROM {judged_table(item)}")
        scratch.close()

        empty = batch_into(root / "empty.duckdb", saved, args.rows)

        city = root / "city.duckdb"
        build_s = build_indexed(city, args.persons, args.cases)
        size_before = city.stat().st_size
        load_avg = os.getloadavg()
        full = batch_into(city, saved, args.rows)
        size_after = city.stat().st_size

    def line(what: str, result: tuple[float, float, dict[str, float]]) -> str:
        commit_s, checkpoint_s, steps = result
        return (
            f"| {what} | {commit_s:.2f} s | {steps.get('commit', 0.0):.2f} s | {steps.get('person master', 0.0):.2f} s "
            f"| {checkpoint_s:.2f} s | {args.rows / (commit_s + checkpoint_s):,.0f} |"
        )

    body = f"""Script: `bench/load_at_scale.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} ·
load average {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} when the second commit started

One batch of {args.rows:,} judged rows of 失业登记 (other people in every copy), committed with
`commit_batch`, then the `CHECKPOINT` a snapshot publish starts with. The city-sized warehouse
holds {args.persons:,} people and {args.persons * args.cases:,} case and fact rows (built as in
`bench/lookup.py`, {build_s:.0f} s, {size_before / 2**20:,.0f} MiB → {size_after / 2**20:,.0f} MiB after the batch).

| warehouse | `commit_batch` | of which COMMIT | of which person master | then CHECKPOINT | rows/s (both) |
|---|---:|---:|---:|---:|---:|
{line("empty", empty)}
{line(f"{args.persons:,} people / {args.persons * args.cases:,} cases", full)}
"""
    print(body)
    if not args.no_results:
        write_section("A batch on top of a city-sized warehouse (issue #5)", body)


if __name__ == "__main__":
    main()
