"""The small A/Bs behind session 5's load changes (decision 0013), each in fresh DuckDB files.

1. An ART index fed sorted vs unsorted keys (1 M random 18-character IDs): insert and COMMIT,
   non-unique index and primary key — why the case index and new people are inserted in ID order,
   and what a primary key's uniqueness lookups add.
2. The person master's write for 1 M new people: ``INSERT … ON CONFLICT DO UPDATE`` vs a plain
   ``INSERT`` into the same indexed table — why the load updates and inserts separately.
3. Provisional file ids of 1 M judged rows of 失业登记 (from Arrow, as the sync's writer gets them)
   mapped by a join with a mapping table vs a list lookup per row (``flows.pipeline.commit_prepared``).

    uv run python -u bench/load_parts.py [--rows 1000000] [--no-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from bench.common import git_revision, machine, write_section
from bench.staging import stage_replicated
from quality.rules import JudgeContext
from quality.verdicts import judge_staged, judged_table
from tierhub.standards import catalogue
from warehouse.schema import open_warehouse

KEYS = "SELECT lpad(CAST(120000000000000000 + hash(i) % 99999999999999999 AS VARCHAR), 18, '0') AS k, 'x' || i AS v "


def timed(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    started = time.perf_counter()
    con.execute(sql)
    return time.perf_counter() - started


def index_order(root: Path, rows: int, key: str, order: str) -> tuple[float, float]:
    """(insert s, commit s) of ``rows`` keys into a table with a ``key`` index, in ``order``."""
    con = duckdb.connect(str(root / f"{uuid.uuid4().hex}.duckdb"))
    con.execute(f"CREATE TEMP TABLE src AS {KEYS} FROM range({rows}) t(i)")
    if key == "primary key":
        con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v VARCHAR)")
    else:
        con.execute("CREATE TABLE t (k VARCHAR, v VARCHAR)")
        con.execute("CREATE INDEX t_k ON t (k)")
    con.execute("BEGIN")
    insert = timed(con, f"INSERT INTO t SELECT k, v FROM src {order}")
    commit = timed(con, "COMMIT")
    con.close()
    return insert, commit


def person_write(root: Path, rows: int, upsert: bool) -> tuple[float, float]:
    """(insert s, commit s) of ``rows`` new people, 14 columns, indexed on the ID."""
    con = duckdb.connect(str(root / f"{uuid.uuid4().hex}.duckdb"))
    columns = ", ".join(f"c{i} VARCHAR" for i in range(12))
    con.execute(
        f"CREATE TEMP TABLE src AS SELECT k, v, {', '.join(f'v || {i} AS c{i}' for i in range(12))} "
        f"FROM ({KEYS} FROM range({rows}) t(i))"
    )
    if upsert:
        con.execute(f"CREATE TABLE p (k VARCHAR PRIMARY KEY, v VARCHAR, {columns})")
        sql = "INSERT INTO p SELECT * FROM src ON CONFLICT (k) DO UPDATE SET v = excluded.v, " + ", ".join(
            f"c{i} = excluded.c{i}" for i in range(12)
        )
    else:
        con.execute(f"CREATE TABLE p (k VARCHAR NOT NULL, v VARCHAR, {columns})")
        con.execute("CREATE INDEX p_k ON p (k)")
        sql = "INSERT INTO p SELECT * FROM src ORDER BY k"
    con.execute("BEGIN")
    insert = timed(con, sql)
    commit = timed(con, "COMMIT")
    con.close()
    return insert, commit


def judged_arrow(root: Path, rows: int) -> pa.Table:
    """``rows`` judged rows of 失业登记 (bench.staging, other people per copy) as ``commit_prepared``
    receives them: an Arrow table whose file ids are provisional (-1, -2, …)."""
    item = catalogue().find("JY02")
    con = open_warehouse(root / "judge.duckdb", key=None)
    stage_replicated(con, item, rows, root, dt.date.today(), distinct_people=True)
    judge_staged(con, item, JudgeContext(dt.date.today()))
    return con.execute(
        f"SELECT * REPLACE (-dense_rank() OVER (ORDER BY _file_id) AS _file_id) FROM {judged_table(item)}"
    ).to_arrow_table()


def id_mapping(judged: pa.Table) -> tuple[float, float]:
    """(join s, list lookup s): map the provisional file ids of ``judged`` to real ids."""
    con = duckdb.connect()
    files = -pc.min(judged["_file_id"]).as_py()
    ids = list(range(1000, 1000 + files))
    mapping = pa.table({"provisional": pa.array(range(-1, -files - 1, -1), pa.int64()), "real": pa.array(ids)})
    con.register("_th_judged", judged)
    con.register("_th_file_ids", mapping)
    join = timed(
        con,
        "CREATE OR REPLACE TEMP TABLE j1 AS SELECT * REPLACE (m.real AS _file_id) "
        "FROM _th_judged j JOIN _th_file_ids m ON m.provisional = j._file_id",
    )
    lookup = timed(
        con,
        f"CREATE OR REPLACE TEMP TABLE j2 AS SELECT * REPLACE (CAST({ids} AS BIGINT[])[-_file_id] AS _file_id) "
        "FROM _th_judged",
    )
    same = "SELECT count(*) FROM (SELECT _file_id, _row_number FROM j1 EXCEPT SELECT _file_id, _row_number FROM j2)"
    assert con.execute(same).fetchone() == (0,)
    con.close()
    return join, lookup


def median_of(runs: int, measure) -> tuple[float, ...]:  # type: ignore[no-untyped-def]
    results = [measure() for _ in range(runs)]
    return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs per figure")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    rows, runs = args.rows, args.runs
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for key in ("index", "primary key"):
            for order, label in (("", "unsorted"), ("ORDER BY k", "sorted")):
                insert, commit = median_of(runs, lambda key=key, order=order: index_order(root, rows, key, order))
                lines.append(f"| ART {key}, keys {label} | {insert:.2f} s | {commit:.2f} s | {insert + commit:.2f} s |")
        for upsert, label in (
            (True, "`INSERT … ON CONFLICT DO UPDATE`, primary key"),
            (False, "plain `INSERT`, index"),
        ):
            insert, commit = median_of(runs, lambda upsert=upsert: person_write(root, rows, upsert))
            lines.append(f"| person-like rows: {label} | {insert:.2f} s | {commit:.2f} s | {insert + commit:.2f} s |")
        judged = judged_arrow(root, rows)
    join, lookup = median_of(runs, lambda: id_mapping(judged))
    table = "\n".join(lines)
    body = f"""Script: `bench/load_parts.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} ·
{rows:,} rows, median of {runs} runs, fresh files each

| write | statement | COMMIT | both |
|---|---:|---:|---:|
{table}

Provisional file ids of {rows:,} judged rows of 失业登记 from Arrow ({judged.nbytes / 2**20:,.0f} MiB):
join with a mapping table {join:.2f} s, list lookup per row {lookup:.2f} s (same rows out; most of either is the copy).
"""
    print(body)
    if not args.no_results:
        write_section("Load changes, piece by piece (decision 0013, session 5)", body)


if __name__ == "__main__":
    main()
