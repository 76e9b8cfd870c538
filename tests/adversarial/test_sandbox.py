"""Sandbox attacks: an analyst's SQL sees the scope's masked rows and nothing else, and cannot stall the portal.

Each test is named after the attack; the statement check is attacked through the portal's
own path, the isolation underneath it directly on the sandbox's connection (as if the check
had been bypassed), and the limits through the worker processes the portal runs queries in.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from portal.sandbox import Limits, Sandbox, SqlFailed, SqlRefused, check_select
from portal.sql_worker import Job, SqlRunner
from tests.adversarial.conftest import HEPING, OWN
from tests.test_portal_http import csrf_of, login

ID = str(OWN["id_number"])
CTE_SHADOWS = {
    "cte_shadowing_duckdb_databases_leaks_paths": "duckdb_databases",
    "cte_shadowing_duckdb_tables_leaks_city_sizes": "duckdb_tables",
    "cte_shadowing_duckdb_views_leaks_view_sql": "duckdb_views",
    "cte_shadowing_duckdb_columns_leaks_raw_schema": "duckdb_columns",
    "cte_shadowing_information_schema_leaks_tables": "tables",
}


@pytest.fixture(scope="module")
def box(two_districts: Path) -> Iterator[Sandbox]:
    with Sandbox(two_districts, HEPING, secret=b"s", masked=True, limits=Limits(seconds=5)) as sandbox:
        yield sandbox


@pytest.mark.parametrize("attack", list(CTE_SHADOWS))
def test_statement_check_resolves_ctes_by_scope(box: Sandbox, attack: str) -> None:
    name = CTE_SHADOWS[attack]
    sql = f"SELECT * FROM (WITH {name} AS (SELECT 1 AS x) SELECT * FROM {name}) a, {name}"
    with pytest.raises(SqlRefused):
        check_select(sql, set(box.views))
    # A CTE used where it is declared is still fine.
    check_select(f"WITH {name} AS (SELECT 1 AS x) SELECT * FROM {name}", set(box.views))


def test_bypassed_check_finds_no_warehouse_path_in_duckdb_databases(box: Sandbox, two_districts: Path) -> None:
    rows = box.con.execute("SELECT database_name, path FROM duckdb_databases()").fetchall()
    assert not [r for r in rows if r[1] and str(two_districts.parent) in str(r[1])]
    assert {r[0] for r in rows} <= {"memory", "system", "temp"}


def test_bypassed_check_finds_only_scoped_tables_in_duckdb_tables(box: Sandbox) -> None:
    tables = box.con.execute("SELECT database_name, schema_name, table_name FROM duckdb_tables()").fetchall()
    assert {(d, s) for d, s, _ in tables} == {("memory", "main")}
    assert {t for _, _, t in tables} == set(box.views)
    # 宁河区's record of the same person is in none of them.
    assert box.con.execute("SELECT count(*) FROM cases").fetchone() == (1,)
    assert box.con.execute("SELECT count(*) FROM files WHERE NOT starts_with(source_id, '120101')").fetchone() == (0,)


def test_bypassed_check_finds_no_view_sql_in_duckdb_views(box: Sandbox) -> None:
    sql = box.con.execute("SELECT string_agg(sql, ' ') FROM duckdb_views() WHERE NOT internal").fetchone()
    assert sql in ((None,), ("",))


def test_bypassed_check_cannot_read_the_detached_warehouse_by_alias(box: Sandbox) -> None:
    for sql in (
        f"SELECT * FROM {box.alias}.core.persons",
        f"SELECT * FROM query('SELECT * FROM {box.alias}.core.cases')",
    ):
        with pytest.raises(duckdb.Error):
            box.con.execute(sql).fetchall()


def test_person_key_dictionary_attack_has_no_function_to_call(box: Sandbox) -> None:
    with pytest.raises(duckdb.Error):
        box.con.execute("SELECT person_key(?)", [ID]).fetchall()
    with pytest.raises(SqlFailed):
        box.run(f"SELECT * FROM persons WHERE person_key = person_key('{ID}')")


def test_bypassed_check_cannot_unmask_identifiers(box: Sandbox) -> None:
    texts = box.con.execute(
        "SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), ' ') FROM (SELECT * FROM persons UNION ALL BY NAME "
        "SELECT * FROM cases)"
    ).fetchall()
    assert ID not in str(texts) and str(OWN["mobile_phone"]) not in str(texts)


def test_wide_result_is_cut_by_bytes_not_only_rows(box: Sandbox) -> None:
    small = Sandbox.__new__(Sandbox)
    small.con, small.views, small.limits = box.con, box.views, Limits(seconds=5, rows=1000, result_bytes=50_000)
    result = small.run("SELECT repeat('x', 10000) AS wide FROM range(500)")
    assert result.truncated and len(result.rows) <= 5


# -- the worker processes: time, memory, and the portal's other users ---------------------------


@pytest.fixture(scope="module")
def runner(two_districts: Path) -> SqlRunner:
    """Worker processes, the fork server already started (its first start imports DuckDB and pandas)."""
    started = SqlRunner(2)
    started.run(_job(two_districts, "SELECT 1"))
    return started


def _job(warehouse: Path, sql: str, seconds: float = 2.0) -> Job:
    return Job(warehouse, HEPING, b"s", True, Limits(seconds=seconds, memory="256MB"), None, sql)


@pytest.mark.slow
def test_endless_query_is_stopped_on_time(runner: SqlRunner, two_districts: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SqlFailed, match="longer than"):
        runner.run(_job(two_districts, "SELECT count(*) FROM range(1000000000000)"))
    assert time.monotonic() - started < 2.0 * 1.5 + 1.5  # setup + the limit, far from 2.5× over


@pytest.mark.slow
def test_huge_string_allocation_is_stopped_by_the_memory_cap(runner: SqlRunner, two_districts: Path) -> None:
    with pytest.raises(SqlFailed, match="memory"):
        runner.run(_job(two_districts, "SELECT length(repeat('x', 1500000000))", seconds=20))
    # The runner is fine afterwards.
    _, result = runner.run(_job(two_districts, "SELECT count(*) FROM cases"))
    assert result is not None and result.rows == [(1,)]


@pytest.mark.slow
def test_refused_statement_in_a_worker_says_why(runner: SqlRunner, two_districts: Path) -> None:
    with pytest.raises(SqlRefused):
        runner.run(_job(two_districts, "SELECT * FROM duckdb_databases()"))


@pytest.mark.slow
def test_endless_query_does_not_freeze_another_users_person_page(two_district_app: FastAPI) -> None:
    analyst, clerk = login(TestClient(two_district_app), "analyst"), login(TestClient(two_district_app), "heping")
    clerk.get(f"/person/{ID}")  # warm
    idle = []
    for _ in range(10):
        started = time.monotonic()
        assert clerk.get(f"/person/{ID}").status_code == 200
        idle.append(time.monotonic() - started)
    token = csrf_of(analyst.get("/sql").text)
    worst = threading.Thread(
        target=analyst.post,
        args=("/sql",),
        kwargs={"data": {"sql": "SELECT count(*) FROM range(1000000000000)", "csrf_token": token}},
    )
    worst.start()
    time.sleep(1.0)
    busy = []
    while worst.is_alive() and len(busy) < 30:
        started = time.monotonic()
        assert clerk.get(f"/person/{ID}").status_code == 200
        busy.append(time.monotonic() - started)
    worst.join()
    assert len(busy) >= 5
    assert statistics.quantiles(busy, n=20)[-1] <= max(2 * statistics.quantiles(idle, n=20)[-1], 0.25)
