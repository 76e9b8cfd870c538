"""District reports: the workbook cell by cell, the page in headless Chromium, the correction loop, the CLI."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from reports.excel import STREET_COLUMNS, display_width
from reports.html import write_html
from reports.model import build_report, labels
from reports.run import write_report
from tests.cases import SOURCE
from tests.system import CHROMIUM_ARGS, require_program
from tests.test_marts import WEEK_A, WEEK_C, correction_history
from tierhub.clock import shown
from tierhub.reference import divisions, field_dictionary
from tierhub.synth.city import GeneratedCity, read_manifest
from warehouse.marts import Expectations, default_expectations, week_of
from warehouse.publish import publish_file
from warehouse.schema import open_warehouse

WORDS = labels("zh")


@pytest.fixture(scope="module")
def ninghe(synced: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """宁河区's report for the demo week, written from a copy of the demo warehouse: (xlsx, html, warehouse)."""
    folder = tmp_path_factory.mktemp("report")
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(synced, warehouse)
    week = week_of(dt.date.today())
    con = open_warehouse(warehouse)
    try:
        written = write_report(con, "120117", week, folder / "out", expectations=default_expectations(week.end))
    finally:
        con.close()
    return written.xlsx, written.html, warehouse


def column(name: str) -> int:
    """1-based column of a street sheet."""
    return STREET_COLUMNS.index(name) + 1


def test_a_known_defect_is_listed_cell_by_cell(city: GeneratedCity, ninghe: tuple[Path, Path, Path]) -> None:
    xlsx, _, warehouse = ninghe
    defect = next(d for d in read_manifest(city.root) if d.source_id.startswith("120117") and d.kind == "bad_mobile")
    con = open_warehouse(warehouse)
    try:
        [(message, fix)] = con.execute(
            "SELECT message_zh, fix_zh FROM quarantine.reasons WHERE path = ? AND row_number = ? AND rule = ?",
            [defect.file, defect.row_number, defect.rule],
        ).fetchall()
    finally:
        con.close()
    street = divisions().get(defect.source_id[:9] + "000").name
    book = openpyxl.load_workbook(xlsx)
    sheet = book[street]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    header = [c.value for c in sheet[1]]
    assert header == [WORDS[c] for c in STREET_COLUMNS]
    name = defect.file.rsplit("/", 1)[-1]
    label = field_dictionary()[defect.field].zh_header
    rows = [
        r
        for r in range(2, sheet.max_row + 1)
        if sheet.cell(r, column("file")).value == name
        and sheet.cell(r, column("row")).value == defect.row_number
        and sheet.cell(r, column("field")).value == label
    ]
    assert len(rows) == 1, (name, defect.row_number, label)
    r = rows[0]
    assert sheet.cell(r, column("status")).value == WORDS["status_new"]
    assert sheet.cell(r, column("source_code")).value == defect.source_id
    assert sheet.cell(r, column("source")).value == divisions().get(defect.source_id).name
    assert sheet.cell(r, column("reason")).value == message
    assert sheet.cell(r, column("fix")).value == fix
    value = sheet.cell(r, column("value"))
    assert value.value and value.value in message  # the value as received, quoted in the reason
    assert value.fill.fgColor.rgb == "FFFFC7CE"  # the bad cell is highlighted
    assert sheet.cell(r, column("file")).fill.fgColor.rgb != "FFFFC7CE"
    # Column widths fit the Chinese text (a Chinese character is two cells wide).
    width = sheet.column_dimensions["I"].width  # the reason column
    assert width >= min(display_width(message), 60)


def test_the_summary_reconciles_with_the_registry(ninghe: tuple[Path, Path, Path]) -> None:
    xlsx, _, warehouse = ninghe
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames[:2] == [WORDS["summary_sheet"], WORDS["completeness_sheet"]]
    sheet = book[WORDS["summary_sheet"]]
    assert sheet.freeze_panes == "B5" and sheet.auto_filter.ref
    header = [c.value for c in sheet[4]]
    rows_col, loaded_col = header.index(WORDS["rows_in"]) + 1, header.index(WORDS["rows_loaded"]) + 1
    streets = [s for s in divisions().at_level("street") if s.code.startswith("120117")]
    body = list(range(5, 5 + len(streets)))
    assert [sheet.cell(r, 1).value for r in body] == [s.name for s in streets]
    con = open_warehouse(warehouse)
    try:
        [(rows_in, loaded)] = con.execute(
            "SELECT sum(rows_in), sum(rows_loaded) FROM ops.files WHERE starts_with(source_id, '120117')"
        ).fetchall()
    finally:
        con.close()
    assert sum(sheet.cell(r, rows_col).value for r in body) == rows_in
    assert sum(sheet.cell(r, loaded_col).value for r in body) == loaded
    # Then the outliers, one sheet per street, and the four casework sheets (cases, worklists,
    # funding, staff).
    assert book.sheetnames[2] == WORDS["outliers_sheet"]
    assert set(book.sheetnames[3 : 3 + len(streets)]) == {s.name for s in streets}
    assert len(book.sheetnames) == 3 + len(streets) + 4


@pytest.mark.slow
def test_the_page_renders_in_chromium_without_errors(ninghe: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium")
    _, html, _ = ninghe
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(html.as_uri())
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            title = page.locator("h1").inner_text()
            charts = page.locator("svg").count()
            league = page.locator("#league ~ table").first.locator("tr").count()
        finally:
            browser.close()
    assert problems == []
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert title == WORDS["title"].format(district="宁河区")
    assert charts >= 4 + 20  # pass rate, trend, items, workload + a sparkline per street
    assert league == 1 + len([s for s in divisions().at_level("street") if s.code.startswith("120117")])


@pytest.mark.slow
def test_a_corrected_row_shows_as_fixed(tmp_path: Path) -> None:
    con = correction_history(tmp_path)
    expect = Expectations(street_items=("JY02",))
    street = divisions().get(SOURCE).name  # the source is the street centre itself
    first = build_report(con, SOURCE[:6], WEEK_A, expectations=expect)
    fixed = build_report(con, SOURCE[:6], WEEK_C, expectations=expect, escalate_after=2)
    summary = {s.code: s for s in fixed.streets}[SOURCE]
    assert (summary.fixed_rows, summary.open_rows) == (1, 0)
    assert {s.code: s for s in first.streets}[SOURCE].new_rows == 1

    from reports.excel import write_workbook

    sheet = openpyxl.load_workbook(write_workbook(fixed, tmp_path / "fixed.xlsx"))[street]
    assert sheet.cell(2, column("status")).value == WORDS["status_fixed"]
    assert sheet.cell(2, column("status")).fill.fgColor.rgb == "FFC6EFCE"
    assert sheet.cell(2, column("fixed_by")).value == f"失业登记_{SOURCE}_20261119.csv #2"
    assert sheet.cell(2, column("value")).fill.fgColor.rgb != "FFFFC7CE"  # nothing left to correct
    assert sheet.cell(2, column("record_id")).value == fixed.lines[SOURCE][0].record_key
    page = write_html(first, tmp_path / "first.html", "en")
    assert "Rows to fix" in page.read_text(encoding="utf-8")


@pytest.mark.slow
def test_rows_failing_for_n_periods_are_escalated(tmp_path: Path) -> None:
    con = correction_history(tmp_path)
    expect = Expectations(street_items=("JY02",))
    week_b = WEEK_A.shifted(1)
    report = build_report(con, SOURCE[:6], week_b, expectations=expect, escalate_after=1)
    assert [(x.value, x.age) for x in report.escalated] == [("138123", 1)]
    written = write_report(con, SOURCE[:6], week_b, tmp_path, expectations=expect, escalate_after=1)
    book = openpyxl.load_workbook(written.xlsx)
    sheet = book[WORDS["summary_sheet"]]
    texts = [c.value for row in sheet.iter_rows() for c in row if c.value]
    assert WORDS["escalation_title"].format(n=1) in texts and "138123" in texts
    assert build_report(con, SOURCE[:6], week_b, expectations=expect, escalate_after=2).escalated == []


def test_cli_writes_a_report_for_any_range(ninghe: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, warehouse = ninghe
    runner = CliRunner()
    assert "--from" in runner.invoke(app, ["report", "--help"]).output
    today = dt.date.today()
    result = runner.invoke(
        app,
        [
            "report",
            "--district",
            "120117",
            "--from",
            (today - dt.timedelta(days=30)).isoformat(),
            "--to",
            today.isoformat(),
            "--out",
            str(tmp_path),
            "--warehouse",
            str(warehouse),
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "120117").iterdir())
    label = f"{today - dt.timedelta(days=30)}_{today}"
    assert written == [f"质量报告_120117_{label}.en.html", f"质量报告_120117_{label}.en.xlsx"]
    book = openpyxl.load_workbook(tmp_path / "120117" / written[1])
    assert book.sheetnames[0] == "Summary"


@pytest.mark.slow
def test_reports_read_the_snapshot_while_a_sync_holds_the_warehouse(
    ninghe: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, synced_copy = ninghe
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(synced_copy, warehouse)
    publish_file(warehouse)
    # Another process writes the warehouse (as a sync does): DuckDB refuses every other process.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = CliRunner().invoke(
            app, ["report", "--district", "120117", "--out", str(tmp_path / "out"), "--warehouse", str(warehouse)]
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "120117").glob("*.xlsx"))) == 1


HOLD = """
import sys, time
from pathlib import Path
from warehouse.schema import open_warehouse
con = open_warehouse(Path(sys.argv[1]))
print("holding", flush=True)
time.sleep(120)
"""


def test_cli_delivers_through_the_flows_wiring_and_never_twice(
    ninghe: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, synced_copy = ninghe
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(synced_copy, warehouse)
    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERHUB_DROPS_ROOT", str(tmp_path / "outboxes"))
    command = ["report", "--district", "120117", "--out", str(tmp_path / "out"), "--warehouse", str(warehouse)]
    first = CliRunner().invoke(app, [*command, "--send"])
    assert first.exit_code == 0, first.output
    assert "sftp: sent" in first.output
    assert len(list((tmp_path / "outboxes" / "120117" / "120117000000" / "reports").glob("*.xlsx"))) == 1
    again = CliRunner().invoke(app, [*command, "--send"])
    assert again.exit_code == 0 and "sftp: skipped (already sent" in again.output


def test_every_time_in_the_report_is_beijing_time_and_says_so(ninghe: tuple[Path, Path, Path]) -> None:
    _, html, warehouse = ninghe
    with duckdb.connect(str(warehouse), read_only=True) as con:
        committed = con.execute("SELECT max(committed_at) FROM ops.loads").fetchone()
    assert committed is not None and committed[0] is not None
    text = html.read_text(encoding="utf-8")
    assert shown(committed[0]) in text  # 数据截至 in Beijing time, labelled
    assert text.count("北京时间") >= 3  # deadline, generated, data as of
