"""The catalogue compiled to Great Expectations suites, checked against the compiled engine.

GX's own engine runs every suite over the demo city's staged rows; for every
expectation the rows it finds unexpected must be exactly the rows the DuckDB engine gave
the matching reasons.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from quality import gx_compat
from quality.datadocs import build_data_docs
from quality.standards import catalogue
from quality.suites import RuleKey, SuiteBuilder, build_suite, suite_name
from quality.verdicts import input_table, judged_table
from tierhub.synth.city import GeneratedCity, select_sources
from warehouse.schema import open_warehouse

TODAY = dt.date.today()
Row = tuple[int, str | None, int]


@pytest.fixture(scope="module")
def judged(city: GeneratedCity, tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A connection whose temp tables hold the demo city's staged and judged rows of every item."""
    con = open_warehouse(tmp_path_factory.mktemp("gx") / "warehouse.duckdb")
    sync_sources(con, city.drops, [s.code for s in select_sources("demo")], today=TODAY)
    return con


def test_every_catalogue_version_compiles_to_a_suite() -> None:
    for item in catalogue():
        for version in item.versions:
            suite = build_suite(item, version, TODAY)
            assert suite.name == suite_name(item, version)
            assert suite.expectations, suite.name
            for expectation in suite.expectations:
                key = RuleKey.from_meta(expectation.meta)
                assert key.rules and key.field, expectation


def _sql_rows(con: duckdb.DuckDBPyConnection, table: str, version: str, key: RuleKey) -> set[Row]:
    found = con.execute(
        f"SELECT _file_id, _sheet, _row_number, r.rule, r.field, r.detail "
        f"FROM (SELECT *, unnest(_reasons) AS r FROM {table} WHERE _standard_version = ?)",
        [version],
    ).fetchall()
    return {
        (int(f), s or None, int(n))
        for f, s, n, rule, field, detail in found
        if rule in key.rules and field == key.field and (key.detail is None or detail == key.detail)
    }


def test_gx_engine_and_compiled_engine_fail_the_same_rows(judged: duckdb.DuckDBPyConnection) -> None:
    mismatches: list[str] = []
    checked = failing = 0
    for item in catalogue():
        table = judged_table(item)
        present = judged.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [table]
        ).fetchall()
        if present != [(1,)]:
            continue
        for version in item.versions:
            builder = SuiteBuilder(item, version, TODAY)
            suite = builder.build()
            frame = judged.execute(builder.frame_sql(input_table(item), table)).df()
            if frame.empty:
                continue
            result = gx_compat.validate_frame(suite, frame)
            for expectation_result in result.results:
                key = RuleKey.from_meta(expectation_result.expectation_config.meta)
                gx_rows = {(f, s or None, n) for f, s, n in gx_compat.unexpected_rows(expectation_result)}
                sql_rows = _sql_rows(judged, table, version.version, key)
                checked += 1
                failing += bool(gx_rows)
                if key.rules == ("DUPLICATE_ROW",):
                    # GX flags every copy of a repeated row; tierhub keeps the first and
                    # quarantines the repeats.
                    ok = sql_rows <= gx_rows and len(gx_rows - sql_rows) <= len(sql_rows)
                else:
                    ok = gx_rows == sql_rows
                if not ok:
                    mismatches.append(
                        f"{suite.name} {key}: GX only {sorted(gx_rows - sql_rows)[:3]}, "
                        f"SQL only {sorted(sql_rows - gx_rows)[:3]}"
                    )
    assert checked > 50 and failing > 10, (checked, failing)
    assert not mismatches, "\n".join(mismatches)


def test_data_docs_render_for_a_run(judged: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    loads = [r[0] for r in judged.execute("SELECT load_id FROM ops.loads").fetchall()]
    index = build_data_docs(judged, tmp_path / "docs", loads, run_label="test-run", today=TODAY)
    assert index is not None and index.exists()
    text = index.read_text(encoding="utf-8")
    pages = sorted(p for p in (tmp_path / "docs").glob("*.html") if p.name != "index.html")
    assert pages
    for page in pages:
        assert page.name in text
    jy02 = (tmp_path / "docs" / "JY02@2024.1.html").read_text(encoding="utf-8")
    failed = judged.execute(
        "SELECT sum(rows_failed) FROM ops.rule_failures WHERE item_code = 'JY02' AND rule = 'MOBILE_FORMAT'"
    ).fetchone()
    assert failed is not None and failed[0] > 0
    # GX's renderer shows the expectation and its unexpected count.
    assert "mobile_phone__value" in jy02 and f"{failed[0]} unexpected" in jy02
