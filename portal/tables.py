"""Tables staff sort, filter and export — without a line of script (CSP ``script-src 'none'``).

A ``Table`` is columns and rows of plain values. The page sorts and filters it on the server
from query parameters (``sort_<table>=-pass_rate``, ``q_<table>=劝业``): the column headers
are links that set the sort, a small GET form sets the filter. The same table is written as
CSV (UTF-8 with BOM, formula-looking cells made text) or as an Excel sheet with a frozen
header row and an autofilter (tierhub/cells.py writes every value as what it is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlencode

import xlsxwriter

from tierhub.cells import WORKBOOK_OPTIONS, csv_row, write_cell

Kind = Literal["text", "code", "int", "percent"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key in the rows, its header, how its values are shown."""

    key: str
    label: str
    kind: Kind = "text"


# A page shows at most this many rows of a table (the city's service points are 5,916): filtering
# and sorting still see every row, and the CSV/Excel export has them all.
SHOWN_ROWS = 200


@dataclass(frozen=True, slots=True)
class Table:
    """A named table: columns, rows (dicts keyed by column key), an optional total row."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    links: dict[int, str] = field(default_factory=dict)  # row index (before sorting) → drill-down URL
    sort: str = ""  # ``key`` or ``-key``
    query: str = ""

    def entries(self, limit: int | None = None) -> list[tuple[dict[str, Any], str | None]]:
        """(row, its drill-down link or None), in order; the first ``limit`` rows if given."""
        rows = self.rows if limit is None else self.rows[:limit]
        return [(row, self.links.get(i)) for i, row in enumerate(rows)]

    def column(self, key: str) -> Column | None:
        """The column with ``key``, if any."""
        return next((c for c in self.columns if c.key == key), None)


def arranged(table: Table, params: Mapping[str, str]) -> Table:
    """The table filtered by ``q_<name>`` (a substring of any text cell) and sorted by ``sort_<name>``.

    Unknown sort keys are ignored; empty cells sort last either way.
    """
    sort = params.get(f"sort_{table.name}", "")[:40]
    query = params.get(f"q_{table.name}", "").strip()[:50]
    key = sort.lstrip("-")
    indexed = list(enumerate(table.rows))
    if query:
        needle = query.casefold()
        indexed = [
            (i, r)
            for i, r in indexed
            if any(needle in str(r.get(c.key, "")).casefold() for c in table.columns if c.kind in ("text", "code"))
        ]
    column = table.column(key)
    if column is None:
        sort = ""
    else:
        descending = sort.startswith("-")
        present = [(i, r) for i, r in indexed if r.get(key) is not None]
        empty = [(i, r) for i, r in indexed if r.get(key) is None]
        numeric = column.kind in ("int", "percent")
        present.sort(key=lambda ir: ir[1][key] if numeric else str(ir[1][key]), reverse=descending)
        indexed = present + empty
    links = {new: table.links[old] for new, (old, _) in enumerate(indexed) if old in table.links}
    return replace(table, rows=[r for _, r in indexed], links=links, sort=sort, query=query)


def sort_url(path: str, params: Mapping[str, str], table: Table, key: str) -> str:
    """The page's URL sorting ``table`` by ``key`` (descending if it is sorted ascending by it now)."""
    query = dict(params)
    query[f"sort_{table.name}"] = f"-{key}" if table.sort == key else key
    return f"{path}?{urlencode(query)}"


def shown(value: Any, kind: Kind) -> str:
    """A cell as the page shows it."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "int":
        return f"{value:,}"
    return str(value)


def to_csv(table: Table, heading: str) -> bytes:
    """The table as CSV (UTF-8 with BOM, so Excel reads the Chinese): a heading line, header, rows, total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_row([heading]))
    writer.writerow(csv_row(c.label for c in table.columns))
    for row in [*table.rows, *([table.total] if table.total else [])]:
        writer.writerow(csv_row(_value(row.get(c.key), c.kind) for c in table.columns))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(tables: Sequence[Table], heading: str) -> bytes:
    """One sheet per table: heading in the first row, header frozen below it with an autofilter."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **WORKBOOK_OPTIONS})
    bold = book.add_format({"bold": True})
    header = book.add_format({"bold": True, "bg_color": "#F0F3F7", "bottom": 1})
    percent = book.add_format({"num_format": "0.0%"})
    integer = book.add_format({"num_format": "#,##0"})
    used: set[str] = set()
    for table in tables:
        name = _sheet_name(table.title, used)
        sheet = book.add_worksheet(name)
        write_cell(sheet, 0, 0, heading, bold)
        for c, column in enumerate(table.columns):
            write_cell(sheet, 1, c, column.label, header)
            sheet.set_column(c, c, 30 if column.kind == "text" else 14)
        rows = [*table.rows, *([table.total] if table.total else [])]
        for r, row in enumerate(rows, start=2):
            for c, column in enumerate(table.columns):
                fmt = {"percent": percent, "int": integer}.get(column.kind)
                write_cell(sheet, r, c, _value(row.get(column.key), column.kind), fmt)
        sheet.freeze_panes(2, 0)
        sheet.autofilter(1, 0, 1 + len(table.rows), len(table.columns) - 1)
    book.close()
    return buffer.getvalue()


def _value(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "percent":
        return round(float(value), 4)
    return value


def _sheet_name(title: str, used: set[str]) -> str:
    """An Excel sheet name: ≤ 31 characters, none of ``[]:*?/\\``, unique in the workbook."""
    base = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:28] or "sheet"
    name, n = base, 2
    while name.lower() in used:
        name, n = f"{base[:26]}_{n}", n + 1
    used.add(name.lower())
    return name
