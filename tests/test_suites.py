"""The catalogue compiled to Great Expectations suites, checked against the compiled engine.

GX's own engine runs every suite over the demo city's staged rows; for every
expectation the rows it finds unexpected must be exactly the rows the DuckDB engine gave
the matching reasons.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from quality import gx_compat
from quality.checks import checks
from quality.datadocs import build_data_docs, district_verdicts
from quality.rules import JudgeContext
from quality.suites import RuleKey, SuiteBuilder, build_suite, suite_name
from quality.verdicts import FileToJudge, input_table, judge_files, judged_table
from tierhub.reference import divisions
from tierhub.scope import Scope
from tierhub.standards import catalogue
from tierhub.synth.city import GeneratedCity

TODAY = dt.date.today()
Row = tuple[int, str | None, int]


@pytest.fixture(scope="module")
def judged(city: GeneratedCity) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose temp tables hold the demo city's staged and judged rows, per item."""
    con = duckdb.connect()
    by_item: dict[str, list[FileToJudge]] = {}
    for file_id, path in enumerate(sorted(p for p in city.drops.rglob("*") if p.is_file()), start=1):
        name = parse_drop_name(path.name)
        source = divisions().get(name.source_code)
        read = open_export(path, source_id=source.code)
        item = catalogue().find(name.item)
        by_item.setdefault(item.code, []).append(
            FileToJudge(file_id, source.code, source.prefix, name.export_date, read.batches)
        )
    for code, files in by_item.items():
        judge_files(con, catalogue().items[code], files, JudgeContext(TODAY))
    return con


@pytest.mark.slow
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
        f"FROM (SELECT *, unnest(list_concat(_reasons, _warnings)) AS r FROM {table} WHERE _standard_version = ?)",
        [version],
    ).fetchall()
    return {
        (int(f), s or None, int(n))
        for f, s, n, rule, field, detail in found
        if rule in key.rules and field == key.field and (key.detail is None or detail == key.detail)
    }


@pytest.mark.slow
def test_gx_engine_and_compiled_engine_fail_the_same_rows(judged: duckdb.DuckDBPyConnection) -> None:
    mismatches: list[str] = []
    checked = failing = 0
    failed_rules: set[str] = set()
    for item in catalogue():
        table = judged_table(item)
        if not _present(judged, table):
            continue
        for version in item.versions:
            builder = SuiteBuilder(item, version, TODAY)
            suite = builder.build()
            frame = judged.execute(builder.frame_sql(input_table(item), table)).df()
            if frame.empty:
                continue
            result = gx_compat.validate_frame(suite, frame)
            # Expectations standing for the same reasons (two date-order pairs ending in one
            # field, say) are compared together: a row reason names the field, not the pair.
            found: dict[RuleKey, set[Row]] = {}
            for expectation_result in result.results:
                config = expectation_result.expectation_config
                key = RuleKey.from_meta(config.meta)
                # Both engines agree on the severity too: a GX warning stands for rules that only warn.
                warns = all(version.severity_of(rule) == "warning" for rule in key.rules)
                assert (str(config.severity.value) == "warning") == warns, (suite.name, key)
                rows = {(f, s or None, n) for f, s, n in gx_compat.unexpected_rows(expectation_result)}
                found[key] = found.get(key, set()) | rows
            for key, gx_rows in found.items():
                sql_rows = _sql_rows(judged, table, version.version, key)
                checked += 1
                failing += bool(gx_rows)
                failed_rules.update(key.rules if gx_rows else ())
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
    # Every registered check is compared on rows it fails (the demo city has a defect for each).
    untried = sorted(name for name, check in checks().items() if not failed_rules & set(check.rules))
    assert not untried, f"no row of the demo city fails these checks: {untried}"
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.slow
def test_data_docs_render_per_district_for_a_run(synced: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(synced), read_only=True) as con:
        loads = [str(x) for (x,) in con.execute("SELECT load_id FROM ops.loads").fetchall()]
        index = build_data_docs(con, tmp_path / "docs", loads, run_label="test-run", today=TODAY)
        [(code, version, failed)] = con.execute(
            "SELECT item_code, standard_version, sum(rows_failed) FROM ops.rule_failures "
            "WHERE rule = 'MOBILE_FORMAT' GROUP BY ALL ORDER BY 3 DESC LIMIT 1"
        ).fetchall()
    assert index == tmp_path / "docs" / "engineers" / "index.html"
    for copy in (tmp_path / "docs", tmp_path / "docs" / "engineers"):
        text = "".join((copy / d / "index.html").read_text(encoding="utf-8") for d in ("120101", "120117"))
        pages = sorted(p.name for d in ("120101", "120117") for p in (copy / d).glob("*@*.html"))
        assert len(set(pages)) >= len(catalogue())
        for page in pages:
            assert page in text
    # GX's renderer shows the expectation and each district's unexpected count; they add up to the run's.
    counts = []
    with duckdb.connect(str(synced), read_only=True) as con:
        for district in ("120101", "120117"):
            verdicts = district_verdicts(con, loads, Scope.district(district), catalogue())
            rules = verdicts.failures.get((code, version), {})
            n = sum(n for (rule, _, _), (n, _) in rules.items() if rule == "MOBILE_FORMAT")
            counts.append(n)
            if n:
                page = (tmp_path / "docs" / "engineers" / district / f"{code}@{version}.html").read_text("utf-8")
                assert "mobile_phone__value" in page and f"{n} unexpected" in page
    assert sum(counts) == failed


@pytest.mark.slow
def test_data_docs_in_worker_processes_are_the_pages_of_one_process(
    synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city's districts render in one worker process per core; the pages are the same as in one process
    (but for GX's run time and element ids), local code aliases included."""
    import quality.datadocs as datadocs

    def pages(folder: Path) -> dict[str, str]:
        volatile = re.compile(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*(\+00:00|Z)?|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
        )
        return {
            str(p.relative_to(folder)): volatile.sub("…", p.read_text(encoding="utf-8")) for p in folder.rglob("*.html")
        }

    with duckdb.connect(str(synced), read_only=True) as con:
        loads = [str(x) for (x,) in con.execute("SELECT load_id FROM ops.loads").fetchall()]
        build_data_docs(con, tmp_path / "one", loads, run_label="run", today=TODAY)
        monkeypatch.setattr(datadocs, "PARALLEL_DISTRICTS", 2)  # the demo city has two districts
        monkeypatch.setattr(datadocs.os, "cpu_count", lambda: 2)
        build_data_docs(con, tmp_path / "workers", loads, run_label="run", today=TODAY)
    one, workers = pages(tmp_path / "one"), pages(tmp_path / "workers")
    assert len(one) > 2 * len(catalogue()) and one.keys() == workers.keys()
    assert [name for name in one if one[name] != workers[name]] == []


@pytest.mark.slow
def test_district_verdicts_add_up_to_the_runs_verdict_history(synced: Path) -> None:
    """Per-district counts read from the rows equal the per-load counts the load recorded (ops.rule_*)."""
    with duckdb.connect(str(synced), read_only=True) as con:
        loads = [str(x) for (x,) in con.execute("SELECT load_id FROM ops.loads").fetchall()]
        checks = {
            (i, v, f): (int(r), int(m))
            for i, v, f, r, m in con.execute(
                "SELECT item_code, standard_version, field, sum(rows_checked), sum(rows_missing) "
                "FROM ops.rule_checks GROUP BY ALL"
            ).fetchall()
        }
        failures = {
            (i, v, r, f, d): int(n)
            for i, v, r, f, d, n in con.execute(
                "SELECT item_code, standard_version, rule, field, detail, sum(rows_failed) FROM ops.rule_failures "
                "GROUP BY ALL"
            ).fetchall()
        }
        by_district = [
            district_verdicts(con, loads, Scope.district(code), catalogue()) for code in ("120101", "120117")
        ]
    rows: Counter[tuple[str, str, str]] = Counter()
    missing: Counter[tuple[str, str, str]] = Counter()
    failed: Counter[tuple[str, str, str, str, str | None]] = Counter()
    for verdicts in by_district:
        for (item, version), fields in verdicts.checks.items():
            for name, (n, m) in fields.items():
                rows[(item, version, name)] += n
                missing[(item, version, name)] += m
        for (item, version), rules in verdicts.failures.items():
            for (rule, name, detail), (n, _) in rules.items():
                failed[(item, version, rule, name, detail)] += n
    assert {k: (rows[k], missing[k]) for k in checks} == checks

    # Warnings of rows that were quarantined anyway are not kept per row (decision 0021): at most those differ.
    def warning(item: str, version: str, rule: str) -> bool:
        return any(v.severity_of(rule) == "warning" for v in catalogue().items[item].versions if v.version == version)

    refused = {k for k in failures if not warning(k[0], k[1], k[2])}
    assert {k: failed[k] for k in refused} == {k: failures[k] for k in refused}
    assert all(failed[k] <= failures[k] for k in failures)


def _present(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [table])
    return found.fetchall() == [(1,)]
