"""Outliers in the district report (HTML section, workbook sheet) and on the portal's outlier page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import openpyxl

from reports.excel import write_workbook
from reports.html import render_html
from reports.model import build_report, labels, outlier_week
from tierhub.synth.anomalies import read_anomalies, report_week
from tierhub.synth.city import GeneratedCity
from warehouse.marts import Period, default_expectations

NINGHE = "120117"


def test_the_district_report_lists_the_outliers_with_their_history(
    city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    truth = [a for a in read_anomalies(city.root) if a.source_code.startswith(NINGHE)]
    as_of = max(a.end for a in truth if a.kind == "silence")
    week = Period(*report_week(as_of))
    report = build_report(warehouse_ro, NINGHE, week, expectations=default_expectations(week.end))
    flagged = {o.source_id for o in report.outliers}
    assert {a.source_code for a in truth} <= flagged
    assert all(o.source_id.startswith(NINGHE) for o in report.outliers)
    names = report.source_names
    for language in ("zh", "en"):
        words = labels(language)
        page = render_html(report, language)
        assert words["outliers_title"] in page
        section = page.split('id="outliers"', 1)[1].split('id="escalations"', 1)[0]
        for a in truth:
            assert names[a.source_code] in section
        surge = next(o for o in report.outliers if o.kind == "surge")
        assert words["outlier_kinds"]["surge"] in section and f"{surge.value:,.0f}" in section
        assert section.count("<svg") >= len(report.outliers)  # each with its history drawn
    book = openpyxl.load_workbook(write_workbook(report, tmp_path / "r.xlsx"))
    sheet = book[labels("zh")["outliers_sheet"]]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    assert {r[0] for r in rows} == flagged
    header = [c.value for c in sheet[4]]
    assert header[-1] == week.label and len(header) == 13 + 13  # 13 columns, then 13 weeks of history
    silence = next(r for r in rows if r[5] == "停报")
    assert silence[-1] == "0"


def test_a_range_report_judges_its_last_whole_week() -> None:
    assert outlier_week(Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))) == Period(
        dt.date(2026, 11, 23), dt.date(2026, 11, 29)
    )
    assert outlier_week(Period(dt.date(2026, 11, 1), dt.date(2026, 11, 29))).end == dt.date(2026, 11, 29)


def test_the_portal_lists_the_outliers_inside_the_user_s_scope(
    city: GeneratedCity, synced: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from portal.auth import hash_password
    from tests.test_portal_http import PASSWORD, login
    from tierhub.settings import TierhubSettings

    app = create_app(TierhubSettings(home=tmp_path, warehouse_path=synced))
    state = app.state.portal.state
    state.add_user("hp", "和平区 user", "district", "120101000000", hash_password(PASSWORD))
    state.add_user("nh", "宁河区 user", "district", "120117000000", hash_password(PASSWORD))
    truth = read_anomalies(city.root)
    as_of = max(a.end for a in truth if a.kind == "silence")
    week = report_week(as_of)[0].isoformat()
    for user, district in (("hp", "120101"), ("nh", NINGHE)):
        with TestClient(app) as client:
            page = login(client, user).get("/outliers", params={"week": week})
            assert page.status_code == 200 and 'href="/outliers"' in page.text
            shown = set(re.findall(r'data-code="(\d{12})"', page.text))
            assert {a.source_code for a in truth if a.source_code.startswith(district)} <= shown
            assert all(code.startswith(district) for code in shown)
            english = client.get("/outliers", params={"week": week, "lang": "en"})
            assert "Service points out of line" in english.text or "异常波动" in english.text
