"""Dashboards: the same figures as the district report (one type, one computation), any range
of months with a monthly trend, drill-down to the community, sortable and filterable tables,
and CSV/Excel of every table (Excel: frozen header, autofilter)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi import FastAPI

from portal import dashboard
from reports.model import StreetSummary, build_report
from tests.test_portal_http import HEPING, NINGHE, app, as_user, people  # noqa: F401 (fixtures)
from tierhub.settings import TierhubSettings
from warehouse.figures import COUNTERS, Figures
from warehouse.marts import Period, week_of
from warehouse.obligations import source_obligations

CITY = "120000000000"


def _periods(today: dt.date) -> list[Period]:
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    three_ago = (last_month - dt.timedelta(days=40)).replace(day=1)
    return [
        Period(this_month, today),
        Period(last_month, this_month - dt.timedelta(days=1)),
        Period(three_ago, this_month - dt.timedelta(days=1)),  # a range of months
        week_of(today - dt.timedelta(days=7)),  # the week the Monday report covers
    ]


def test_the_report_line_is_the_dashboard_row_type() -> None:
    assert issubclass(StreetSummary, Figures)


@pytest.mark.slow  # 8 reports and dashboards: ~20 s on a busy 2-core machine
@pytest.mark.parametrize("district", [HEPING, NINGHE])
def test_dashboard_and_report_agree_on_every_street_and_period(
    warehouse_ro: duckdb.DuckDBPyConnection, district: str, tmp_path: Path
) -> None:
    """Completeness, pass rate and workload (and every counter) per street and in total."""
    settings = TierhubSettings(home=tmp_path)
    today = dt.date.today()
    compared = 0
    for period in _periods(today):
        board = dashboard.build(warehouse_ro, CITY, district, None, None, settings, period=period, today=today)
        report = build_report(warehouse_ro, district, period, expectations=source_obligations(settings, period))
        streets = {s.code: s for s in report.streets}
        for child in board.children:
            street = streets[child.code]
            for name in COUNTERS:
                assert getattr(child, name) == getattr(street, name), (period, child.code, name)
            assert (child.pass_rate, child.completeness) == (street.pass_rate, street.completeness)
            compared += 1
        for name in COUNTERS:
            assert getattr(board.total, name) == report.total(name), (period, name)
        assert board.total.pass_rate == report.pass_rate
    assert compared >= 4 * 2  # every period compared several streets


def test_a_range_of_months_has_a_monthly_trend(warehouse_ro: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = TierhubSettings(home=tmp_path)
    today = dt.date(2026, 12, 2)
    board = dashboard.build(warehouse_ro, CITY, HEPING, "2026-09", None, settings, until="2026-11", today=today)
    assert board.month == "2026-09~2026-11" and board.period == Period(dt.date(2026, 9, 1), dt.date(2026, 11, 30))
    assert [p.month for p in board.trend] == ["2026-09", "2026-10", "2026-11"]
    # The trend adds up to the range (rows and workload; each month counted once).
    for name in ("files", "rows_in", "rows_loaded", "workload"):
        assert sum(getattr(p.figures, name) for p in board.trend) == getattr(board.total, name), name
    single = dashboard.build(warehouse_ro, CITY, HEPING, "2026-11", None, settings, today=today)
    assert len(single.trend) == dashboard.TREND_MONTHS and single.trend[-1].month == "2026-11"
    swapped = dashboard.build(warehouse_ro, CITY, HEPING, "2026-11", None, settings, until="2026-09", today=today)
    assert swapped.period == board.period


def test_months_period_limits() -> None:
    today = dt.date(2026, 12, 2)
    assert dashboard.months_period(None, None, today)[:2] == ("2026-12", "2026-12")
    first, last, period = dashboard.months_period("2020-01", "2026-12", today)
    assert (first, last) == ("2024-01", "2026-12") and period.start == dt.date(2024, 1, 1)
    assert dashboard.months_period("garbage", "2026-13", today)[:2] == ("2026-12", "2026-12")


def test_drill_down_reaches_the_community(app: FastAPI) -> None:  # noqa: F811
    """City → district → street → community by following the page's own links."""
    client = as_user(app, "city")
    page = client.get("/dashboard").text
    path = []
    for _ in range(3):
        links = re.findall(r'<a class="drill" href="([^"]+)">', page)
        assert links, f"no drill-down link after {path}"
        target = links[0].replace("&amp;", "&")
        path.append(target)
        response = client.get(target)
        assert response.status_code == 200
        page = response.text
    node = re.search(r"node=(\d{12})", path[-1])
    assert node is not None and not node.group(1).endswith("000")  # a community / village
    assert re.search(r'<tr data-code="' + node.group(1) + '">', page)


def _rows(html: str, table: str) -> list[str]:
    body = html[html.index(f'id="{table}"') :]
    body = body[: body.index("</tbody>")]
    return re.findall(r'<tr data-code="([^"]+)">', body)


def test_tables_sort_and_filter_by_query(app: FastAPI) -> None:  # noqa: F811
    client = as_user(app, "heping")
    base = {"node": HEPING, "month": "2026-01", "until": "2026-12"}
    plain = client.get("/dashboard", params=base).text
    streets = _rows(plain, "children")
    assert len(streets) >= 3
    by_workload = client.get("/dashboard", params={**base, "sort_children": "-workload"}).text
    order = _rows(by_workload, "children")
    assert sorted(order) == sorted(streets)
    body = by_workload[by_workload.index('id="children"') :]
    body = body[: body.index("</tbody>")]
    workloads = [int(w.replace(",", "")) for w in re.findall(r'data-col="workload" class="num">([\d,]+)<', body)]
    assert len(workloads) == len(order) and workloads == sorted(workloads, reverse=True)
    assert "▼" in by_workload and "sort_children=workload" in by_workload  # the header now sorts ascending
    first = streets[0]
    filtered = client.get("/dashboard", params={**base, "q_children": first}).text
    assert _rows(filtered, "children") == [first]
    assert client.get("/dashboard", params={**base, "sort_children": "nonsense"}).status_code == 200


@pytest.mark.parametrize("table", ["children", "items", "centres", "trend"])
def test_every_table_exports_as_csv_and_excel(app: FastAPI, table: str, tmp_path: Path) -> None:  # noqa: F811
    client = as_user(app, "heping")
    params = {"node": HEPING, "month": "2026-01", "until": "2026-12", "table": table}
    response = client.get("/dashboard/export.csv", params=params)
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) >= 3  # heading, header, at least one row
    xlsx = client.get("/dashboard/export.xlsx", params=params)
    path = tmp_path / "t.xlsx"
    path.write_bytes(xlsx.content)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A2:")
    assert [c.value for c in sheet[2]] == rows[1]
    audit = app.state.portal.state.audit_entries(username="heping", action="dashboard.export", limit=50)
    assert any(table in (e.detail or "") for e in audit)


def test_excel_of_all_tables_has_one_sheet_each(app: FastAPI, tmp_path: Path) -> None:  # noqa: F811
    response = as_user(app, "city").get("/dashboard/export.xlsx")
    path = tmp_path / "all.xlsx"
    path.write_bytes(response.content)
    book = openpyxl.load_workbook(path)
    assert len(book.sheetnames) == 4
    assert all(sheet.freeze_panes == "A3" for sheet in book.worksheets)


def test_a_long_table_shows_its_first_rows_and_says_how_to_see_all(
    app: FastAPI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The city's 5,916 service points do not go into one page: the page shows the first rows and
    says so, while the filter and the export still reach every row."""
    from portal.routes import dashboard as route

    monkeypatch.setattr(route, "SHOWN_ROWS", 3)
    client = as_user(app, "city")
    today = dt.date.today()
    params = {"month": f"{today - dt.timedelta(days=300):%Y-%m}", "until": f"{today:%Y-%m}"}
    page = client.get("/dashboard", params=params).text
    shown = _rows(page, "centres")
    export = client.get("/dashboard/export.csv", params={**params, "table": "centres"})
    exported = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))[2:]  # after heading and header
    assert len(exported) > 3 and len(shown) == 3
    assert 'id="more-centres"' in page and f"{len(exported):,}" in page
    hidden = exported[-1][1]  # the code of the last service point by workload: not on the page …
    assert hidden not in shown
    # … but the filter finds it.
    assert _rows(client.get("/dashboard", params={**params, "q_centres": hidden}).text, "centres") == [hidden]


def test_a_new_generation_has_the_managers_dashboards_ready(app: FastAPI) -> None:  # noqa: F811
    """When the portal opens a generation it builds the opening dashboard of every city and district
    account in the background: the first manager to look is answered from the cache."""
    portal = app.state.portal
    portal.cursor()  # opens the published generation (and starts its warm-up)
    assert portal._reader.wait_warm(120)
    published = portal.published
    key = dashboard.board_key(published, CITY, None, None, None, None, "zh", dt.date.today())
    ready = portal.boards._boards.get(key)
    assert ready is not None
    built = ready[1]
    page = as_user(app, "city").get("/dashboard")
    assert page.status_code == 200 and built.node.name in page.text
    assert portal.boards._boards[key][1] is built  # answered by the warm-up's board, not built again
    district = dashboard.board_key(published, HEPING, None, None, None, None, "zh", dt.date.today())
    assert district in portal.boards._boards  # 和平区's account too
