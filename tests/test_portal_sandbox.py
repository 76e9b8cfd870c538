"""Analyst SQL sandbox: only SELECTs over the scoped views; nothing else of the warehouse or the
server is reachable, whatever the statement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.sandbox import Limits, Sandbox, SqlFailed, SqlRefused, check_select, run_analyst_sql

HEPING = "120101000000"
SECRET = b"test-secret"


@pytest.fixture(scope="module")
def box(synced: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(synced, HEPING, secret=SECRET, masked=True, limits=Limits(seconds=3, rows=100))
    yield sandbox
    sandbox.close()


def forbidden(alias: str, outside: Path) -> list[str]:
    """Statements that must fail: raw catalog, files, other databases, settings, writes."""
    return [
        f"SELECT * FROM {alias}.core.persons",
        f"SELECT count(*) FROM {alias}.core.cases",
        f"FROM {alias}.core.persons",
        f"SELECT * FROM persons UNION ALL SELECT * FROM {alias}.core.persons",
        f"SELECT * FROM persons WHERE id_number IN (SELECT id_number FROM {alias}.core.persons)",
        f"WITH x AS (SELECT * FROM {alias}.core.persons) SELECT * FROM x",
        f"SELECT * FROM {alias}.main.persons",
        "SELECT * FROM core.persons",
        "SELECT * FROM ref.divisions",
        "SELECT * FROM query('SELECT * FROM core.persons')",
        f"SELECT * FROM query_table('{alias}.core.persons')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_parquet('/tmp/x.parquet')",
        "SELECT * FROM glob('/*')",
        f"SELECT * FROM '{outside}'",
        "SELECT * FROM duckdb_databases()",
        "SELECT * FROM duckdb_views",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM pragma_database_list",
        f"ATTACH '{outside}' AS other",
        f"ATTACH '{outside}' AS other (READ_ONLY)",
        f"DETACH {alias}",
        "COPY persons TO '/tmp/leak.csv'",
        "COPY (SELECT * FROM persons) TO '/tmp/leak.csv'",
        "EXPORT DATABASE '/tmp/leak'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "PRAGMA enable_profiling",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET search_path = 'x'",
        f"USE {alias}",
        "SET memory_limit = '100GB'",
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "CREATE MACRO m() AS 1",
        "DROP VIEW persons",
        "INSERT INTO persons VALUES (1)",
        "UPDATE persons SET name = 'x'",
        "DELETE FROM persons",
        "CALL pragma_version()",
        "SUMMARIZE persons",
        f"DESCRIBE {alias}.core.persons",
        "SHOW TABLES",
        "EXPLAIN SELECT 1",
        "PIVOT persons ON sex USING count(*)",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP VIEW persons",
        "SELECT * FROM persons; ATTACH ':memory:' AS x",
        "SELECT getenv('HOME')",
        "SELECT system.main.current_setting('memory_limit')",
    ]


def test_forbidden_statements_fail(box: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "other.duckdb"
    import duckdb

    duckdb.connect(str(outside)).execute("CREATE TABLE secret AS SELECT 42 AS answer").close()
    for sql in forbidden(box.alias, outside):
        with pytest.raises((SqlRefused, SqlFailed)):
            result = box.run(sql)
            print("ran:", sql, result.rows[:3])
    # Nothing changed: the views are there, the configuration still locked.
    assert box.run("SELECT count(*) FROM persons").rows[0][0] > 0
    assert box.con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
    assert box.con.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
    assert not Path("/tmp/leak.csv").exists()


def test_duckdb_itself_refuses_files_and_settings(box: Sandbox) -> None:
    """Below the statement check, DuckDB's own switches hold (a bypass of the check finds them)."""
    import duckdb

    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/leak.csv'",
        "ATTACH '/tmp/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ):
        with pytest.raises(duckdb.Error):
            box.con.execute(sql)


def test_views_are_scoped(box: Sandbox, synced: Path) -> None:
    import duckdb

    for view in ("cases", "files", "quarantine_reasons"):
        districts = box.run(f"SELECT DISTINCT left(source_id, 6) FROM {view}").rows
        assert districts == [("120101",)], view
    with duckdb.connect(str(synced), read_only=True) as con:
        items = [r[0].split(".")[1] for r in con.execute("SELECT fact_table FROM ref.items").fetchall()]
        inside = con.execute(
            "SELECT count(DISTINCT id_number) FROM core.cases WHERE source_id LIKE '120101%'"
        ).fetchone()
    for table in items:  # every fact table of the catalogue is a view, read from ref.items
        if table in box.views:
            rows = box.run(f"SELECT DISTINCT left(source_id, 6) FROM {table}").rows
            assert rows in ([], [("120101",)]), table
    assert box.run("SELECT count(*) FROM persons").rows[0][0] == inside[0]  # type: ignore[index]


def test_identifiers_are_masked_with_a_person_key(box: Sandbox) -> None:
    rows = box.run(
        "SELECT id_number, person_key, mobile_phone FROM persons WHERE mobile_phone IS NOT NULL LIMIT 20"
    ).rows
    assert rows
    for id_number, key, phone in rows:
        assert "********" in id_number and len(key) == 20
        assert "****" in phone
    # The key is stable across views, so people can be counted and joined without their ID.
    joined = box.run("SELECT count(*) FROM cases c JOIN persons p USING (person_key)").rows[0][0]
    assert joined == box.run("SELECT count(*) FROM cases").rows[0][0]
    # No column of any view holds a raw ID number.
    for name in box.views:
        columns = box.con.execute(f'SELECT * FROM main."{name}" LIMIT 0').description or []
        assert "record_key" not in [c[0] for c in columns] and "rank_key" not in [c[0] for c in columns]


@pytest.mark.slow
def test_time_and_row_limits(box: Sandbox) -> None:
    with pytest.raises(SqlFailed, match="longer than"):
        box.run("SELECT count(*) FROM range(10000000000000) a")
    result = box.run("SELECT * FROM range(1000)")
    assert len(result.rows) == 100 and result.truncated
    assert box.run("SELECT 1").rows == [(1,)]  # the connection is usable after an interrupt


def test_allowed_shapes(box: Sandbox) -> None:
    for sql in (
        "SELECT item_code, count(*) FROM cases GROUP BY ALL",
        "FROM persons SELECT name LIMIT 1",
        "WITH a AS (SELECT * FROM cases) SELECT count(*) FROM a",
        "SELECT * FROM (SELECT 1 AS x) t",
        "SELECT * FROM range(3)",
        "SELECT name FROM main.persons LIMIT 1",
        "SELECT count(*) FROM memory.main.cases",
        "SELECT 1 UNION ALL SELECT 2",
        "SELECT c.item_code, i.name_zh FROM cases c JOIN items i ON i.code = c.item_code LIMIT 3",
        "SELECT rule, count(*) FROM quarantine_reasons GROUP BY rule",
    ):
        box.run(sql)


def test_check_select_alone() -> None:
    check_select("SELECT * FROM persons", {"persons"})
    with pytest.raises(SqlRefused):
        check_select("SELECT * FROM x.persons", {"persons"})
    with pytest.raises(SqlRefused):
        check_select("SELECT 1" + " " * 20_001, {"persons"})


def test_run_analyst_sql_one_shot(synced: Path) -> None:
    result = run_analyst_sql(synced, "120117000000", "SELECT DISTINCT left(source_id, 6) FROM cases", secret=SECRET)
    assert result.rows == [("120117",)]
