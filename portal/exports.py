"""The dashboard as CSV (UTF-8 with BOM, so Excel reads the Chinese) and as an Excel workbook."""

from __future__ import annotations

import csv
import io

import xlsxwriter

from portal.dashboard import Dashboard, Figures
from portal.i18n import Labels
from tierhub.cells import WORKBOOK_OPTIONS, csv_row, write_cell

COLUMNS = (
    "code",
    "division",
    "files",
    "rows_in",
    "rows_loaded",
    "rows_quarantined",
    "pass_rate",
    "completeness",
    "workload",
)


def _cells(f: Figures) -> list[object]:
    return [
        f.code,
        f.name,
        f.files,
        f.rows_in,
        f.rows_loaded,
        f.rows_quarantined,
        None if f.pass_rate is None else round(f.pass_rate, 4),
        None if f.completeness is None else round(f.completeness, 4),
        f.workload,
    ]


def _header(t: Labels) -> list[str]:
    return ["code" if c == "code" else t(c) for c in COLUMNS]


def _title(board: Dashboard, t: Labels) -> str:
    item = board.item or t("all_items")
    return f"{board.node.name} {board.month} {item}"


def to_csv(board: Dashboard, t: Labels) -> bytes:
    """The children and the total, one row each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_row([_title(board, t)]))
    writer.writerow(csv_row(_header(t)))
    for f in [*board.children, board.total]:
        writer.writerow(csv_row(_cells(f)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(board: Dashboard, t: Labels) -> bytes:
    """A workbook: the children with the total, the items, and the workload per service point."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **WORKBOOK_OPTIONS})
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    sheets = (
        (t("division"), [*board.children, board.total]),
        (t("by_item"), board.items),
        (t("workload"), board.centres),
    )
    for name, rows in sheets:
        sheet = book.add_worksheet(name[:31])
        write_cell(sheet, 0, 0, _title(board, t), bold)
        for c, head in enumerate(_header(t)):
            write_cell(sheet, 1, c, head, bold)
        for r, f in enumerate(rows, start=2):
            for c, value in enumerate(_cells(f)):
                if value is None:
                    continue
                write_cell(sheet, r, c, value, percent if COLUMNS[c] in ("pass_rate", "completeness") else None)
        sheet.set_column(0, 0, 14)
        sheet.set_column(1, 1, 28)
        sheet.set_column(2, len(COLUMNS) - 1, 12)
    book.close()
    return buffer.getvalue()
