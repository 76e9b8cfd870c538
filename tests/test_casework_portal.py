"""The casework pages over HTTP (协查 cases, regional check, worklists, funding) and the district
report's casework sheets, on a copy of the synced demo warehouse with a published snapshot:
scope enforced on the server, evidence masked outside it, CSRF, audit."""

from __future__ import annotations

import hashlib
import html
import io
import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.auth import hash_password
from reports.run import write_report
from tests.conftest import TODAY
from tests.test_portal_http import PASSWORD, csrf_of, login
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings
from warehouse.marts import Period
from warehouse.obligations import source_obligations
from warehouse.publish import publish_file
from warehouse.readers import open_reader

HEPING, NINGHE = "120101000000", "120117000000"


@pytest.fixture(scope="module")
def warehouse(synced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo warehouse (decisions change it) with its first snapshot published."""
    path = tmp_path_factory.mktemp("casework") / "warehouse.duckdb"
    shutil.copy(synced, path)
    publish_file(path)
    return path


def cases(warehouse: Path) -> list[tuple[str, str, str, str, str]]:
    """(case, routed division, first source, second source, status) of every case, as published."""
    con = open_reader(warehouse)
    try:
        return [
            (str(a), str(b), str(c), str(d), str(e))
            for a, b, c, d, e in con.execute(
                "SELECT case_id, act_division, first_source, second_source, status FROM ops.crosscheck_cases "
                "ORDER BY case_id"
            ).fetchall()
        ]
    finally:
        con.close()


@pytest.fixture(scope="module")
def app(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    home = tmp_path_factory.mktemp("home")
    settings = TierhubSettings(home=home, warehouse_path=warehouse, portal_ip_max_failures=1000)
    portal_app = create_app(settings)
    state = portal_app.state.portal.state
    password_hash = hash_password(PASSWORD)
    street = next(c[2] for c in cases(warehouse) if c[2].startswith("120101"))[:9] + "000"
    for name, role, code in [
        ("city", "city", "120000000000"),
        ("heping", "district", HEPING),
        ("ninghe", "district", NINGHE),
        ("street", "street", street),
        ("community", "community", "120101001001"),
        ("analyst", "analyst", HEPING),
    ]:
        state.add_user(name, f"{name} user", role, code, password_hash)
    return portal_app


def as_user(app: FastAPI, name: str) -> TestClient:
    return login(TestClient(app), name)


def audits(app: FastAPI, action: str) -> list[tuple[str, str, int | None, str | None]]:
    return [(e.username, e.target, e.results, e.detail) for e in app.state.portal.state.audit_entries(action=action)]


def test_a_district_lists_its_cases_and_not_another_districts(app: FastAPI, warehouse: Path) -> None:
    page = as_user(app, "heping").get("/cases?status=all")
    assert page.status_code == 200
    listed = set(re.findall(r'data-case="([0-9a-f]{16})"', page.text))
    expected = {c for c, routed, one, two, _ in cases(warehouse) if "120101" in (routed[:6], one[:6], two[:6])}
    assert listed == expected and listed
    assert ("heping", HEPING, len(listed), "all") in audits(app, "cases.list")


def test_a_district_cannot_read_or_move_another_districts_case(app: FastAPI, warehouse: Path) -> None:
    foreign = [c for c in cases(warehouse) if c[1].startswith("120117") and "120101" not in (c[2][:6], c[3][:6])]
    assert foreign, "the demo has cases of 宁河区 alone"
    case_id = foreign[0][0]
    heping = as_user(app, "heping")
    assert heping.get(f"/cases/{case_id}").status_code == 404  # nothing says it exists
    token = csrf_of(heping.get("/cases").text)
    for action in ("confirm", "clear", "close"):
        response = heping.post(f"/cases/{case_id}", data={"csrf_token": token, "action": action, "reason": "x"})
        assert response.status_code == 404, action
    assert {c[0]: c[4] for c in cases(warehouse)}[case_id] == "open"
    assert ("heping", case_id, 0, None) in audits(app, "case.view")
    # A street user of 和平区 cannot reach it either; a community user has no case pages at all.
    assert as_user(app, "street").get(f"/cases/{case_id}").status_code == 404
    assert as_user(app, "community").get("/cases").status_code == 403
    assert as_user(app, "analyst").get("/regional").status_code == 403


def test_evidence_outside_the_scope_shows_item_date_and_district_only(app: FastAPI, warehouse: Path) -> None:
    shared = [c for c in cases(warehouse) if {c[2][:6], c[3][:6]} == {"120101", "120117"}]
    assert shared, "the demo has cases across 和平区 and 宁河区 (decision 0020)"
    case_id, routed, first, second, _ = shared[0]
    outside = first if first.startswith("120117") else second
    inside = second if outside == first else first
    page = as_user(app, "heping").get(f"/cases/{case_id}")
    assert page.status_code == 200
    rows = {m[0]: m[1] for m in re.findall(r'<tr class="(inside|outside)">(.*?)</tr>', page.text, re.S)}
    tree = divisions()
    assert "宁河区" in rows["outside"] and tree.get(outside).name not in rows["outside"]
    assert "<span><b>" not in rows["outside"]  # no field of the other district's record
    assert tree.get(inside).name in rows["inside"]
    if routed.startswith("120117"):  # routed elsewhere: readable, not movable
        assert 'id="decision"' not in page.text
        token = csrf_of(page.text)
        refused = as_user(app, "heping").post(f"/cases/{case_id}", data={"csrf_token": token, "action": "confirm"})
        assert refused.status_code in (400, 403)


def test_the_routed_district_clears_a_case_with_a_reason(app: FastAPI, warehouse: Path) -> None:
    mine = [c for c in cases(warehouse) if c[1].startswith("120117") and c[4] == "open"]
    case_id = mine[-1][0]
    ninghe = as_user(app, "ninghe")
    page = ninghe.get(f"/cases/{case_id}")
    assert 'id="decision"' in page.text
    token = csrf_of(page.text)
    assert ninghe.post(f"/cases/{case_id}", data={"action": "clear", "reason": "ok"}).status_code == 403  # no CSRF
    no_reason = ninghe.post(f"/cases/{case_id}", data={"csrf_token": token, "action": "clear", "reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    assert {c[0]: c[4] for c in cases(warehouse)}[case_id] == "open"
    done = ninghe.post(
        f"/cases/{case_id}",
        data={"csrf_token": token, "action": "clear", "reason": "已核实：转移接续手续齐全"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = ninghe.get(done.headers["location"])
    assert 'data-status="cleared"' in after.text and "已核实：转移接续手续齐全" in after.text
    assert {c[0]: c[4] for c in cases(warehouse)}[case_id] == "cleared"  # published for every reader
    con = open_reader(warehouse)
    try:
        events = con.execute(
            "SELECT from_status, to_status, actor, reason FROM ops.crosscheck_events WHERE case_id = ? "
            "ORDER BY happened_at",
            [case_id],
        ).fetchall()
    finally:
        con.close()
    assert events[-1] == ("open", "cleared", "ninghe", "已核实：转移接续手续齐全")
    assert any(a[0] == "ninghe" and a[2] == 1 and case_id in (a[3] or "") for a in audits(app, "case.clear"))
    # Closing follows; a second clearance does not.
    token = csrf_of(after.text)
    again = ninghe.post(f"/cases/{case_id}", data={"csrf_token": token, "action": "clear", "reason": "x"})
    assert again.status_code == 400
    assert ninghe.post(f"/cases/{case_id}", data={"csrf_token": token, "action": "close"}).status_code == 200
    assert {c[0]: c[4] for c in cases(warehouse)}[case_id] == "closed"


def test_the_regional_check_page_prints_a_receipt_whose_hash_matches(app: FastAPI, warehouse: Path) -> None:
    con = open_reader(warehouse)
    try:
        found = con.execute(
            "SELECT id_number FROM core.cases WHERE item_code = 'JY04' "
            "AND superseded_by_load IS NULL AND starts_with(source_id, '120117') ORDER BY id_number LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert found is not None
    heping = as_user(app, "heping")
    token = csrf_of(heping.get("/regional").text)
    page = heping.post("/regional", data={"csrf_token": token, "q": found[0]})
    assert page.status_code == 200 and 'data-found="yes"' in page.text
    text = html.unescape(re.search(r'<pre id="receipt-csv">(.*?)</pre>', page.text, re.S).group(1))  # type: ignore[union-attr]
    digest = re.search(r"SHA-256: ([0-9a-f]{64})", page.text).group(1)  # type: ignore[union-attr]
    assert hashlib.sha256(text.encode()).hexdigest() == digest
    assert "120117000000 宁河区" in text and "120101000000 和平区" not in text.split("已查询的区")[1]
    assert any(a[0] == "heping" and a[1] == found[0] for a in audits(app, "regional.check"))
    assert heping.post("/regional", data={"csrf_token": token, "q": "12345"}).status_code == 400
    assert heping.post("/regional", data={"q": found[0]}).status_code == 403  # CSRF


def test_worklists_are_scoped_masked_and_exported(app: FastAPI) -> None:
    community = as_user(app, "community")
    page = community.get("/worklists")
    assert page.status_code == 200
    codes = set(re.findall(r'<tr data-code="(\d{12})"', page.text))
    assert codes <= {"120101001001"}
    ids = re.findall(r'<td class="mono">([^<]+)</td>', page.text)
    assert all("*" in i for i in ids)  # community workstations see masked ID numbers (decision 0019)
    assert community.get(f"/worklists?node={NINGHE}").status_code == 404
    heping = as_user(app, "heping")
    district_page = heping.get("/worklists")
    assert set(re.findall(r'<tr data-code="(\d{12})"', district_page.text))
    street = re.findall(r'<tr data-code="(\d{9})\d{3}"', district_page.text)[0] + "000"
    listed = heping.get(f"/worklists?node={street}")
    full_ids = re.findall(r'<td class="mono">([^<]+)</td>', listed.text)
    assert full_ids and not any("*" in i for i in full_ids)
    export = heping.get(f"/worklists/export.xlsx?node={street}")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.content)).active
    cells = {str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert set(full_ids) <= cells
    masked = community.get("/worklists/export.xlsx")
    masked_cells = [
        str(c.value)
        for row in openpyxl.load_workbook(io.BytesIO(masked.content)).active.iter_rows()
        for c in row
        if re.fullmatch(r"\d{6}.{8}\d{3}[\dX]", str(c.value))
    ]
    assert all("*" in v for v in masked_cells)
    assert audits(app, "worklists.export")


def test_funding_page_for_the_city_marks_example_prices(app: FastAPI) -> None:
    page = as_user(app, "city").get("/funding")
    assert page.status_code == 200 and 'id="example-prices"' in page.text and "示例" in page.text
    assert 'id="table-one"' in page.text and "村劳动保障协管员" in page.text
    assert as_user(app, "heping").get(f"/funding?node={NINGHE}").status_code == 404
    assert as_user(app, "street").get("/funding").status_code == 403
    english = as_user(app, "heping").get("/funding?lang=en")
    assert "EXAMPLE prices" in english.text


def test_the_district_report_carries_cases_worklists_funding_and_staff(
    warehouse_ro: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    period = Period(TODAY.replace(day=1), TODAY)
    settings = TierhubSettings(home=tmp_path)
    written = write_report(
        warehouse_ro, HEPING, period, tmp_path / "out", expectations=source_obligations(settings, period)
    )
    casework = written.report.casework
    assert casework is not None and casework.cases and casework.worklists.pensions and casework.staff
    assert all(c.act_division.startswith("120101") for c in casework.cases)
    book = openpyxl.load_workbook(written.xlsx)
    assert book.sheetnames[-4:] == ["协查案件", "资格认证与跟踪清单", "以事定费", "人员结构"]
    rows = list(book["协查案件"].iter_rows(min_row=5, values_only=True))
    assert {r[0] for r in rows} == {c.case_id for c in casework.cases}
    tree = divisions()
    for case, row in zip(casework.cases, rows, strict=True):
        for evidence, cell in ((case.first, row[5]), (case.second, row[6])):
            if not evidence.in_scope:
                assert str(cell).endswith(evidence.district_name)
    assert "示例单价" in str(book["以事定费"]["A2"].value)
    page = written.html.read_text(encoding="utf-8")
    for anchor in ("cases", "worklists", "funding", "staff"):
        assert f'id="{anchor}"' in page
    assert tree.get(HEPING).name in page
