"""Person 360 as a case file: every code a label, centre and tier, timeline by year, warnings,
masking per role, and the export of a person's records (CSV and Excel, masked, audited)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi import FastAPI

from portal.case_file import case_file, code_label, coded_fields
from portal.i18n import labels
from portal.masking import Role
from tests.test_portal_http import HEPING, app, as_user, people  # noqa: F401 (fixtures)
from tierhub.cells import FORMULA_STARTS
from tierhub.standards import catalogue
from warehouse.queries import person_360, record_warnings, widely_served
from warehouse.schema import fact_table

CITY = "120000000000"


@pytest.mark.slow  # ~7 s: every person of the demo
def test_every_code_in_the_record_view_is_a_label(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    """Every coded field of every item in the demo (code tables, divisions, counties) is shown
    as a label, with the stored code beside it for the title."""
    existing = {
        f"{s}.{t}" for s, t in warehouse_ro.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    }
    columns = {
        (f"{s}.{t}", c)
        for s, t, c in warehouse_ro.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns()"
        ).fetchall()
    }
    t = labels("zh")
    checked: set[tuple[str, str]] = set()
    for item in catalogue().items.values():
        table = fact_table(item)
        if table not in existing or (table, "id_number") not in columns:
            continue  # not in the demo, or an employer's item (no person's record view)
        for field, code_table in coded_fields()[item.code].items():
            if (table, field) not in columns:
                continue
            rows = warehouse_ro.execute(
                f'SELECT DISTINCT id_number FROM {table} WHERE "{field}" IS NOT NULL '
                "AND superseded_by_load IS NULL ORDER BY 1 LIMIT 3"
            ).fetchall()
            for (id_number,) in rows:
                _, records = person_360(warehouse_ro, CITY, str(id_number))
                case = case_file(records, {}, Role.community, t)
                for entry in case.entries:
                    if entry.item_code != item.code:
                        continue
                    shown = {f.field: f for f in entry.fields}
                    if field not in shown:
                        continue
                    value = shown[field]
                    assert value.code is not None, (item.code, field)
                    for code, label in zip(value.code.split("、"), value.text.split("、"), strict=True):
                        assert label != code, f"{item.code} {field} ({code_table}): code {code} shown without a label"
                        assert label == code_label(code_table, code)
                    checked.add((item.code, field))
    # Every item in the demo contributes, and every kind of coded field is covered.
    assert len({item for item, _ in checked}) >= 25, sorted(checked)
    assert {"community_code", "education_level", "ethnicity"} <= {f for _, f in checked}


def test_labels_for_divisions_and_counties() -> None:
    assert code_label("division", "120101001006") == "劝业场街道 新疆路社区居委会"
    assert code_label("region", "120117") == "天津市宁河区"
    assert code_label("region", "130102").startswith("河北省")
    assert code_label("gbt4658_education", "21") != "21"


def test_case_file_of_a_person_served_across_districts(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    """Centre names and tiers, a timeline by year (newest first), service points counted."""
    [mobile] = widely_served(warehouse_ro, CITY, min_points=3, min_districts=2, limit=1)
    _, records = person_360(warehouse_ro, CITY, mobile.id_number)
    warnings = record_warnings(warehouse_ro, [(r.file_id, r.row_number) for r in records])
    case = case_file(records, warnings, Role.city, labels("zh"))
    assert len(case.points) >= 3 and len(case.districts) >= 2
    assert all(p.tier in ("区级服务窗口", "街道（乡镇）服务中心", "社区（村）工作站") for p in case.points)
    years = [y.year for y in case.years]
    assert years == sorted(years, reverse=True)
    assert sum(len(y.entries) for y in case.years) == len(records)
    assert all(e.centre and not e.centre.isdigit() for e in case.entries)


def test_warnings_sit_beside_their_record(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    row = warehouse_ro.execute(
        "SELECT c.id_number, w.file_id, w.row_number FROM core.warnings w "
        "JOIN core.cases c USING (file_id, row_number) WHERE c.superseded_by_load IS NULL LIMIT 1"
    ).fetchone()
    if row is None:
        pytest.skip("the demo loaded no row with a warning")  # the generator injects some; see test_generator
    id_number, file_id, row_number = row
    _, records = person_360(warehouse_ro, CITY, str(id_number))
    warnings = record_warnings(warehouse_ro, [(r.file_id, r.row_number) for r in records])
    case = case_file(records, warnings, Role.city, labels("zh"))
    [entry] = [e for e in case.entries if (e.file_id, e.row_number) == (file_id, row_number)]
    assert entry.warnings and all(w.message_zh and "{" not in w.message_zh for w in entry.warnings)


def _open_person(client: object, id_number: str) -> str:
    response = client.get(f"/person/{id_number}")  # type: ignore[attr-defined]
    assert response.status_code == 200
    return str(response.text)


def test_person_page_shows_labels_with_codes_in_titles(app: FastAPI, people: dict[str, list[str]]) -> None:  # noqa: F811
    html = _open_person(as_user(app, "city"), people["heping"][0])
    coded = re.findall(r'<span class="coded" title="代码 ([^"]*)" data-code="([^"]*)">([^<]*)</span>', html)
    assert coded, "no coded field on the page"
    for title_code, code, text in coded:
        assert title_code == code and text and text != code
    assert 'id="points"' in html and '<details class="year"' in html
    assert 'href="/guide"' in html


def test_person_export_is_masked_and_audited(app: FastAPI, people: dict[str, list[str]], tmp_path: Path) -> None:  # noqa: F811
    subject = people["heping"][0]
    for user, masked in (("heping", False), ("community", True)):
        client = as_user(app, user)
        page = client.get(f"/person/{subject}")
        if page.status_code == 404:
            continue  # the community workstation may hold none of this person's records
        handle = re.search(r'href="/p/([^/]+)/export.csv"', page.text)
        assert handle, "no export link"
        csv_file = client.get(f"/p/{handle.group(1)}/export.csv")
        assert csv_file.status_code == 200 and csv_file.content.startswith(b"\xef\xbb\xbf")
        assert subject not in csv_file.headers["content-disposition"]
        text = csv_file.content.decode("utf-8-sig")
        assert (subject in text) is not masked
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
        xlsx = client.get(f"/p/{handle.group(1)}/export.xlsx")
        path = tmp_path / f"{user}.xlsx"
        path.write_bytes(xlsx.content)
        sheet = openpyxl.load_workbook(path).active
        assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref
        assert any(c.value == "代码" for c in sheet[2])
    state = app.state.portal.state
    exports = state.audit_entries(username="heping", action="person.export", target=None, before_id=None, limit=10)
    assert {e.detail for e in exports} >= {"csv", "xlsx"} and all(e.target == subject for e in exports)


def test_a_community_user_sees_masked_ids_in_the_case_file(
    app: FastAPI,  # noqa: F811
    warehouse_ro: duckdb.DuckDBPyConnection,
) -> None:
    row = warehouse_ro.execute(
        "SELECT id_number FROM core.cases WHERE source_id = '120101001001' AND superseded_by_load IS NULL LIMIT 1"
    ).fetchone()
    if row is None:
        pytest.skip("the demo has no record at community 120101001001")
    html = _open_person(as_user(app, "community"), str(row[0]))
    main = html[html.index("<main>") :]  # (the language link repeats the address typed)
    assert str(row[0]) not in main and "********" in main
    assert HEPING[:6] in html  # codes of divisions are not personal data: they stay in titles
