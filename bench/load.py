"""Load throughput: committing judged rows into the warehouse vs a raw ``CREATE TABLE AS read_csv``.

Issue #5 target: load throughput ≥ 0.67× a raw `CREATE TABLE AS SELECT * FROM read_csv(...)`
of the same rows. "Load" here is the warehouse step a batch ends with
(``warehouse.load.commit_batch``): accepted rows into the fact table, quarantine rows with their
reasons, the registry, record keys and supersession, the person master and its case index,
verdict history — one transaction. The baseline writes the same judged rows (the fact
table's columns) to a CSV file first and times DuckDB reading it into a new table.

    uv run python -u bench/load.py [--rows 1000000] [--no-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import git_revision, machine, write_section
from bench.staging import stage_replicated
from quality.rules import JudgeContext
from quality.standards import catalogue
from quality.verdicts import judge_staged, judged_table
from warehouse.load import RegistryEntry, commit_batch
from warehouse.schema import fact_columns, open_warehouse

TODAY = dt.date.today()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    os.environ["TIERHUB_ENCRYPT"] = "false"
    item = catalogue().find("JY02")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        con = open_warehouse(root / "warehouse.duckdb")
        rows = stage_replicated(con, item, args.rows, root, TODAY)
        summaries = judge_staged(con, item, JudgeContext(TODAY))
        entries = [
            RegistryEntry(
                file_id=file_id,
                source_id="120101001000",
                path=f"bench/{file_id}.csv",
                sha256=f"{file_id:064x}",
                size=1,
                modified_at=dt.datetime.now(dt.UTC),
                item_code=item.code,
                rows_in=s.rows,
                rows_loaded=s.valid,
                rows_quarantined=s.quarantined,
            )
            for file_id, s in summaries.items()
        ]
        steps: dict[str, float] = {}
        load_avg = os.getloadavg()
        started = time.perf_counter()
        result = commit_batch(
            con,
            load_id="bench",
            started_at=dt.datetime.now(dt.UTC),
            run_label="bench",
            entries=entries,
            items=[item],
            step_seconds=steps,
        )
        load_s = time.perf_counter() - started
        columns = ", ".join(f'"{c}"' for c in fact_columns(item))
        csv = root / "judged.csv"
        con.execute(
            # in file order, as exports arrive (the judged table's own order is the engine's)
            f"COPY (SELECT _file_id, _row_number, _source_code, {columns} FROM {judged_table(item)} "
            "ORDER BY _file_id, _row_number) "
            f"TO '{csv}' (HEADER)"
        )
        con.close()
        raw = duckdb.connect(str(root / "raw.duckdb"))
        started = time.perf_counter()
        raw.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}')")
        raw_s = time.perf_counter() - started
        raw.close()
    ratio = (rows / load_s) / (rows / raw_s)
    commit_line = (
        "| `commit_batch`: facts, quarantine, registry, keys and supersession, person master, case index, "
        f"history | {load_s:.2f} s | {rows / load_s:,.0f} | **{ratio:.2f}×** |"
    )
    breakdown = "\n".join(
        f"| {name} | {seconds:.2f} s | {seconds / load_s:.0%} | {seconds / raw_s:.2f}× raw |"
        for name, seconds in steps.items()
    )
    body = f"""Script: `bench/load.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} ·
load average {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} (1 / 5 / 15 min) when the commit started

{rows:,} judged rows of 失业登记 (JY02) committed in one batch ({result.rows_loaded:,} accepted,
{result.rows_quarantined:,} quarantined, {len(entries):,} files).

| step | time | rows/s | vs raw |
|---|---:|---:|---:|
| raw `CREATE TABLE AS SELECT * FROM read_csv` of the same rows | {raw_s:.2f} s | {rows / raw_s:,.0f} | 1.00× |
{commit_line}

Target ≥ 0.67× raw: {"met" if ratio >= 0.67 else "NOT met"}.

`commit_batch` step by step (`step_seconds`):

| step | time | share | vs raw time |
|---|---:|---:|---:|
{breakdown}
"""
    print(body)
    if not args.no_results:
        write_section("Warehouse load throughput (issue #5)", body)


if __name__ == "__main__":
    main()
