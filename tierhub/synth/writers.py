"""Write a table of cells the way street offices' exports really look."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import xlsxwriter

# A fixed creation time keeps generated workbooks byte-identical for the same seed.
FIXED_CREATED = dt.datetime(2024, 1, 1)

Cell = str | float | dt.date | None


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Cell]], encoding: str) -> None:
    """CSV as Excel saves it: CRLF line ends, in UTF-8, UTF-8 with BOM or GBK."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if c is None else c.isoformat() if isinstance(c, dt.date) else c for c in row])


def write_xlsx(
    path: Path,
    title: str,
    subtitle: str | None,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    total_row: bool,
) -> int:
    """An XLSX ledger with a merged title row (and maybe a subtitle) above the header.

    Floats are written as numbers (how Excel damages IDs), dates as date cells. Returns
    the 1-based row number of the header.
    """
    # in_memory: no temp files per part (10 files created and removed per workbook otherwise).
    workbook = xlsxwriter.Workbook(str(path), {"in_memory": True})
    workbook.set_properties({"created": FIXED_CREATED, "author": "劳动保障服务中心"})
    sheet = workbook.add_worksheet("台账")
    bold = workbook.add_format({"bold": True, "align": "center"})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, max(len(header) - 1, 1), title, bold)
    r = 1
    if subtitle:
        sheet.write_string(r, 0, subtitle)
        r += 1
    header_row = r
    for c, text in enumerate(header):
        sheet.write_string(header_row, c, text, bold)
    for offset, row in enumerate(rows, start=1):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            if isinstance(cell, float):
                sheet.write_number(header_row + offset, c, cell)
            elif isinstance(cell, dt.date):
                sheet.write_datetime(header_row + offset, c, dt.datetime.combine(cell, dt.time()), date_format)
            else:
                sheet.write_string(header_row + offset, c, cell)
    if total_row:
        last = header_row + len(rows) + 2  # a blank row, then the 合计 line
        sheet.write_string(last, 0, "合计")
        sheet.write_string(last, 1, f"{len(rows)}人")
    workbook.close()
    return header_row + 1
