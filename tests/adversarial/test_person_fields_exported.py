"""Person fields in what staff export and receive (issue #15, item 2): each surface checked, each attack named.

The same person is recorded by 和平区 and by 宁河区; each district's record is quarantined with
an identifier typed into a field not called "phone" or "id". What each surface may show is
decision 0019's table; which surface is read by whom is decision 0021.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi.testclient import TestClient

from portal.masking import POLICY, Role, Shown
from reports.receipts import render_receipt
from reports.run import write_report
from tests.adversarial.conftest import NINGHE_SOURCE, sync_both_districts
from tests.cases import BASE, SOURCE
from warehouse.marts import Expectations, week_of

OWN_TYPED_PHONE = "13812340000"  # 和平区's clerk typed the person's mobile into the ethnicity cell
THEIR_NAME = "张卫东"
THEIR_TYPED_PHONE = "13999991111"  # 宁河区's clerk did the same with another number
THEIR_PHONE = "13999990000"
THEIRS = (THEIR_NAME, THEIR_TYPED_PHONE, THEIR_PHONE, "宁河")


@dataclass(frozen=True)
class Exported:
    warehouse: Path
    xlsx: Path
    html: Path
    own_file: int


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Both districts' quarantined records of one person, and 和平区's report of that week."""
    root = tmp_path_factory.mktemp("person_fields")
    ours = {**BASE, "ethnicity": OWN_TYPED_PHONE}
    theirs = {
        **BASE,
        "name": THEIR_NAME,
        "mobile_phone": THEIR_PHONE,
        "ethnicity": THEIR_TYPED_PHONE,
        "community_code": "120117001001",
    }
    warehouse = root / "warehouse.duckdb"
    con = sync_both_districts(root, ours, theirs, "20261105")
    try:
        assert con.execute("SELECT count(*) FROM quarantine.rows").fetchall() == [(2,)]
        [(own_file,)] = con.execute("SELECT file_id FROM ops.files WHERE source_id = ?", [SOURCE]).fetchall()
        written = write_report(
            con,
            SOURCE[:6],
            week_of(dt.date(2026, 11, 5)),
            root / "out",
            expectations=Expectations(street_items=("JY02",)),
        )
    finally:
        con.close()
    return Exported(warehouse, written.xlsx, written.html, int(own_file))


def _workbook_text(path: Path) -> str:
    book = openpyxl.load_workbook(path)
    return "\n".join(str(c.value) for s in book for row in s.iter_rows() for c in row if c.value is not None)


# -- the district workbook and report (the quarantine listing) ---------------------------------------


def test_district_workbook_lists_no_record_another_district_made_of_the_same_person(exported: Exported) -> None:
    text = _workbook_text(exported.xlsx)
    assert OWN_TYPED_PHONE in text  # the district's own failing value, to correct
    for leak in THEIRS[:3]:
        assert leak not in text, leak


def test_district_report_page_lists_no_record_another_district_made_of_the_same_person(exported: Exported) -> None:
    text = exported.html.read_text(encoding="utf-8")  # counts per street, escalations; no other district's rows
    for leak in THEIRS[:3]:
        assert leak not in text, leak


def test_district_workbook_shows_full_numbers_only_because_its_readers_may_see_them() -> None:
    # The workbook and the report page go to the district bureau (delivery: the district's outbox
    # and recipients). Decision 0019 lets that role see IDs, phones and accounts in full; were it
    # ever narrowed, the report would have to mask like the Data Docs do (decision 0021).
    sees = POLICY[Role.district].sees
    assert (sees["id_number"], sees["phone"], sees["account"]) == (Shown.full, Shown.full, Shown.full)


# -- receipts ------------------------------------------------------------------------------------


def test_receipt_holds_nothing_of_another_sources_record_of_the_same_person(exported: Exported) -> None:
    with duckdb.connect(str(exported.warehouse), read_only=True) as con:
        body = render_receipt(con, exported.own_file).body.decode("utf-8-sig")
        [(their_file,)] = con.execute("SELECT file_id FROM ops.files WHERE source_id = ?", [NINGHE_SOURCE]).fetchall()
        theirs = render_receipt(con, int(their_file)).body.decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(body)) for c in row]
    assert OWN_TYPED_PHONE in "".join(cells)  # the sender's own value, verbatim, to find and fix it
    for leak in THEIRS[:3]:
        assert leak not in body, leak
    assert OWN_TYPED_PHONE not in theirs and THEIR_TYPED_PHONE in theirs


# -- the portal's dashboard exports ----------------------------------------------------------------


@pytest.mark.parametrize("account", ["heping", "heping_street", "heping_community", "analyst"])
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_dashboard_export_carries_no_person_field_for_any_role(
    signed_in_as: dict[str, TestClient], account: str, kind: str, tmp_path: Path
) -> None:
    from tests.adversarial.conftest import ELSEWHERE, OWN

    response = signed_in_as[account].get(f"/dashboard/export.{kind}", params={"month": "2026-11"})
    assert response.status_code == 200, response.text
    if kind == "csv":
        text = response.content.decode("utf-8-sig")
    else:
        path = tmp_path / "board.xlsx"
        path.write_bytes(response.content)
        text = _workbook_text(path)
    assert "2026-11" in text  # the export of the month asked for, inside the user's area
    for person in (OWN, ELSEWHERE):
        for name in ("id_number", "name", "mobile_phone", "birth_date"):
            assert str(person[name]) not in text, (account, kind, name)
