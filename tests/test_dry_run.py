"""A dry run reports exactly what this run would load and quarantine, and why (issue #18 item 7)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flows.cli.sync import print_sync_summary, sync_facts
from flows.pipeline import batch_state, commit_prepared, prepare_batch, sync_sources
from flows.sync import BatchSummary, SyncSummary, summary_markdown
from tierhub.reference import divisions
from tierhub.synth.city import GeneratedCity
from warehouse.preview import FilePreview, RuleCount, preview_files, rule_totals
from warehouse.schema import open_warehouse

HEPING = "120101"


def heping_sources() -> list[str]:
    streets = [d.code for d in divisions().at_level("street") if d.code.startswith(HEPING)]
    communities = [d.code for d in divisions().sources() if d.code.startswith(HEPING) and d.level == "community"]
    return streets[:3] + communities[:40]


@pytest.mark.slow  # ~18 s: syncs part of the demo twice
def test_the_preview_is_what_the_commit_then_does(city: GeneratedCity, tmp_path: Path) -> None:
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        codes = heping_sources()
        prepared = prepare_batch(con, city.drops, codes, batch_state(con, codes), today=dt.date.today())
        previews = preview_files(prepared.outcome.entries, prepared.judged)
        assert previews and any(p.quarantine_rules for p in previews) and any(p.warning_rules for p in previews)
        assert con.execute("SELECT count(*) FROM ops.files").fetchone() == (0,)
        commit_prepared(con, prepared)
        for p in previews:
            assert p.rows_in == p.would_load + p.would_quarantine
            loaded = con.execute(
                "SELECT file_id, rows_loaded, rows_quarantined, status FROM ops.files WHERE path = ?", [p.path]
            ).fetchone()
            assert loaded is not None
            file_id = loaded[0]
            assert (p.would_load, p.would_quarantine, p.status) == loaded[1:], p.path
            rules = con.execute(
                "SELECT r.rule, count(DISTINCT q.row_number) FROM quarantine.rows q "
                "CROSS JOIN UNNEST(q.reasons) AS u(r) WHERE q.file_id = ? GROUP BY 1",
                [file_id],
            ).fetchall()
            assert {r.rule: r.rows for r in p.quarantine_rules} == dict(rules), p.path
            [(warned,)] = con.execute(
                "SELECT count(DISTINCT row_number) FROM core.warnings WHERE file_id = ?", [file_id]
            ).fetchall()
            assert p.with_warnings == warned, p.path
    finally:
        con.close()


def dry_summary() -> SyncSummary:
    preview = FilePreview(
        path="120101/120101001000/失业登记_120101001000_20261202.csv",
        source_id="120101001000",
        item_code="JY02",
        status="loaded",
        rows_in=12,
        would_load=9,
        with_warnings=2,
        would_quarantine=3,
        quarantine_rules=[RuleCount("ID_CHECK_DIGIT", "身份证号校验位错误", "ID check digit wrong", 3)],
        warning_rules=[RuleCount("TIME_LIMIT_EXCEEDED", "超过办理时限", "Time limit exceeded", 2)],
    )
    batch = BatchSummary(
        "b1",
        "120101000000",
        1,
        files=1,
        rows_in=12,
        rows_loaded=9,
        rows_quarantined=3,
        rows_warned=2,
        previews=[preview],
    )
    batch.states = {"ok": 1}
    return SyncSummary(warehouse="w.duckdb", batches=[batch], dry_run=True)


@pytest.mark.slow  # ~13 s
def test_the_dry_run_summary_shows_this_run_only(
    city: GeneratedCity, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A warehouse holding other files' quarantined rows: none of them may appear in the dry run's report.
    warehouse = tmp_path / "w.duckdb"
    con = open_warehouse(warehouse)
    try:
        sync_sources(con, city.drops, heping_sources()[:2], today=dt.date.today())
        held = {
            str(r)
            for (r,) in con.execute("SELECT DISTINCT r.rule FROM quarantine.rows, UNNEST(reasons) u(r)").fetchall()
        }
    finally:
        con.close()
    summary = dry_summary()
    print_sync_summary(summary, warehouse, 1.0)
    out = capsys.readouterr().out
    assert "失业登记_120101001000_20261202.csv" in out and "ID_CHECK_DIGIT" in out and "TIME_LIMIT_EXCEEDED" in out
    assert "9 rows would load (2 with warnings), 3 would be quarantined" in " ".join(out.split())
    assert "rows loaded" not in out and "Warehouse by district" not in out
    assert not (held - {"ID_CHECK_DIGIT", "TIME_LIMIT_EXCEEDED"}) & set(out.split())
    facts = sync_facts(summary, warehouse, 1.0)
    assert facts["would"]["rows_would_load"] == 9 and facts["files"][0]["quarantine_rules"][0]["rows"] == 3
    assert "warehouse_by_district" not in facts and "rows_loaded" not in json.dumps(facts)
    markdown = summary_markdown(summary)
    assert "rows that would load" in markdown and "rows loaded" not in markdown
    assert "| 120101/120101001000/失业登记_120101001000_20261202.csv | JY02 | 12 | 9 | 2 | 3 |" in markdown


def test_rule_totals_add_up_over_files() -> None:
    summary = dry_summary()
    previews = summary.batches[0].previews * 2
    assert rule_totals(previews) == [RuleCount("ID_CHECK_DIGIT", "身份证号校验位错误", "ID check digit wrong", 6)]
    assert rule_totals(previews, warnings=True)[0].rows == 4
