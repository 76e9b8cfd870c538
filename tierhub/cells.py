"""Cells staff open in Excel: every value written as what it is, never as a formula.

A value a service point typed (a quarantined phone, a remark) can begin with ``=``, ``+``,
``-`` or ``@``; Excel and WPS run such a cell as a formula (``=HYPERLINK(…)``,
``=cmd|' /C calc'!A0``) — CSV injection. Workbooks therefore write every string with
``write_string`` and are opened with ``strings_to_formulas`` off; CSV cells that begin with
one of those characters (or a tab / carriage return) get a leading ``'`` as OWASP's CSV
injection guidance says, which spreadsheet programs show as text.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

# xlsxwriter.Workbook options for every workbook staff open: text stays text.
WORKBOOK_OPTIONS: dict[str, Any] = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (OWASP: prefix a ``'``)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[object]) -> list[object]:
    """Every cell of a CSV row made safe (see :func:`csv_cell`)."""
    return [csv_cell(v) for v in values]


def write_cell(sheet: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
    """Write ``value`` into an xlsxwriter worksheet as what it is: text as text, never a formula."""
    if value is None or value == "":
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float | decimal.Decimal):
        sheet.write_number(row, col, float(value), fmt)
    elif isinstance(value, dt.datetime | dt.date):
        sheet.write_datetime(row, col, value, fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)
