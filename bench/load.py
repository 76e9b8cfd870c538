"""Load throughput: committing judged rows into the warehouse vs a raw ``CREATE TABLE AS read_csv``.

Issue #5 target: load throughput ≥ 0.67× a raw `CREATE TABLE AS SELECT * FROM read_csv(...)`
of the same rows. "Load" here is the warehouse step a batch ends with
(``warehouse.load.commit_batch``): accepted rows into the fact table, quarantine rows with their
reasons, the registry, record keys and supersession, the person master and its case index,
verdict history — one transaction. The baseline writes the same judged rows (the fact
table's columns) to a CSV file first and times DuckDB reading it into a new table (median of
three).

The rows are the demo city's rows of 失业登记 replicated to ``--rows``, every copy with other
people's ID numbers and names (``bench.staging``): plain copies would describe the same few
hundred people a million times, which hid the person master's cost until session 5.

Three loads are timed:
- the batch into an empty warehouse (the table's first line; the target's figure);
- the same records re-exported under new file ids on top of it — every record supersedes its
  earlier copy and every person is updated, the most a load on top of history has to do;
- a floor: only the fact rows (no record keys) and the case index into an empty warehouse —
  what no load keeping a person index can skip, to show how far the target is from it.

    uv run python -u bench/load.py [--rows 1000000] [--no-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import git_revision, machine, write_section
from bench.staging import stage_replicated
from quality.rules import JudgeContext
from quality.verdicts import judge_staged, judged_table
from tierhub.standards import ItemStandard, catalogue
from warehouse.load import JudgedBatch, RegistryEntry, commit_batch
from warehouse.persons import index_cases
from warehouse.schema import fact_columns, fact_table, open_warehouse

TODAY = dt.date.today()
RESUBMITTED = 10_000_000_000  # file ids of the re-export: past every id of the first batch


def registry(con: duckdb.DuckDBPyConnection, item: ItemStandard) -> list[RegistryEntry]:
    """One registry entry per file of the judged table, with its verdict counts."""
    counts = con.execute(
        f"SELECT _file_id, count(*), count(*) FILTER (WHERE len(_reasons) = 0) FROM {judged_table(item)} GROUP BY ALL"
    ).fetchall()
    return [
        RegistryEntry(
            file_id=file_id,
            source_id="120101001000",
            path=f"bench/{file_id}.csv",
            sha256=f"{file_id:064x}",
            size=1,
            modified_at=dt.datetime.now(dt.UTC),
            item_code=item.code,
            rows_in=rows,
            rows_loaded=valid,
            rows_quarantined=rows - valid,
        )
        for file_id, rows, valid in counts
    ]


def timed_commit(con: duckdb.DuckDBPyConnection, item: ItemStandard, load_id: str) -> tuple[float, dict[str, float]]:
    entries = registry(con, item)
    # The judged rows as the value the judge hands the load; since the load contract became a
    # value (JudgedBatch), commit_batch's "staging" step copies them into the connection.
    rows = con.execute(f"SELECT * FROM {judged_table(item)}").to_arrow_table()
    steps: dict[str, float] = {}
    started = time.perf_counter()
    batch = JudgedBatch(dt.datetime.now(dt.UTC), "bench", entries, {item.code: rows}, load_id=load_id)
    commit_batch(con, batch, step_seconds=steps)
    return time.perf_counter() - started, steps


def floor_load(root: Path, saved: Path, item: ItemStandard) -> float:
    """Only the accepted rows into the fact table (no keys) and the case index, one transaction."""
    con = open_warehouse(root / "floor.duckdb")
    judged = judged_table(item)
    con.execute(f"ATTACH '{saved}' AS saved (READ_ONLY)")
    con.execute(f"CREATE TEMP TABLE {judged} AS SELECT * FROM saved.judged")
    fields = ", ".join(f'"{f}"' for f in fact_columns(item))
    started = time.perf_counter()
    con.execute("BEGIN")
    con.execute(
        f"INSERT INTO {fact_table(item)} (file_id, row_number, load_id, source_id, item_code, standard_version, "
        f"sheet, {fields}) SELECT _file_id, _row_number, 'floor', _source_code, _item_code, _standard_version, "
        f"_sheet, {fields} FROM {judged} WHERE len(_reasons) = 0"
    )
    index_cases(con, "floor", [(item, judged)])
    con.execute("COMMIT")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def raw_load(root: Path, csv: Path) -> float:
    """Median of three raw ``CREATE TABLE AS SELECT * FROM read_csv`` into fresh files."""
    times = []
    for attempt in range(3):
        raw = duckdb.connect(str(root / f"raw-{attempt}.duckdb"))
        started = time.perf_counter()
        raw.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}')")
        times.append(time.perf_counter() - started)
        raw.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    os.environ["TIERHUB_ENCRYPT"] = "false"
    item = catalogue().find("JY02")
    judged = judged_table(item)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        con = open_warehouse(root / "warehouse.duckdb")
        rows = stage_replicated(con, item, args.rows, root, TODAY, distinct_people=True)
        judge_staged(con, item, JudgeContext(TODAY))
        people, accepted, files = con.execute(
            f"SELECT count(DISTINCT id_number), count(*) FILTER (WHERE len(_reasons) = 0), count(DISTINCT _file_id) "
            f"FROM {judged}"
        ).fetchone() or (0, 0, 0)
        saved = root / "judged.duckdb"
        con.execute(f"ATTACH '{saved}' AS saved")
        con.execute(f"CREATE TABLE saved.judged AS SELECT * FROM {judged}")
        con.execute("DETACH saved")
        load_avg = os.getloadavg()
        first_s, steps = timed_commit(con, item, "first")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {judged} AS SELECT * REPLACE (_file_id + {RESUBMITTED} AS _file_id) "
            f"FROM {judged}"
        )
        again_s, again_steps = timed_commit(con, item, "again")
        columns = ", ".join(f'"{c}"' for c in fact_columns(item))
        csv = root / "judged.csv"
        con.execute(
            # in file order, as exports arrive (the judged table's own order is the engine's)
            f"COPY (SELECT _file_id, _row_number, _source_code, {columns} FROM {judged} "
            "ORDER BY _file_id, _row_number) "
            f"TO '{csv}' (HEADER)"
        )
        con.close()
        floor_s = floor_load(root, saved, item)
        raw_s = raw_load(root, csv)

    def line(what: str, seconds: float) -> str:
        return f"| {what} | {seconds:.2f} s | {rows / seconds:,.0f} | **{raw_s / seconds:.2f}×** |"

    ratio = raw_s / first_s
    breakdown = "\n".join(
        f"| {name} | {seconds:.2f} s | {again_steps.get(name, 0.0):.2f} s | {seconds / raw_s:.2f}× raw |"
        for name, seconds in steps.items()
    )
    body = f"""Script: `bench/load.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} ·
load average {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} (1 / 5 / 15 min) when the first commit started

{rows:,} judged rows of 失业登记 (JY02) in {files:,} files committed in one batch ({accepted:,} accepted; {people:,}
distinct ID numbers: copies of the demo city's rows, each copy other people).

| load | time | rows/s | vs raw |
|---|---:|---:|---:|
| raw `CREATE TABLE AS … read_csv` of the same rows (median of 3) | {raw_s:.2f} s | {rows / raw_s:,.0f} | 1.00× |
{line("`commit_batch` into an empty warehouse", first_s)}
{line("`commit_batch` of the same records re-exported, on top of the first", again_s)}
{line("floor: fact rows without keys + case index only", floor_s)}

Target ≥ 0.67× raw: {"met" if ratio >= 0.67 else "NOT met"} ({ratio:.2f}×).

`commit_batch` step by step (`step_seconds`):

| step | empty warehouse | re-export on top | first vs raw time |
|---|---:|---:|---:|
{breakdown}
"""
    print(body)
    if not args.no_results:
        write_section("Warehouse load throughput (issue #5)", body)


if __name__ == "__main__":
    main()
