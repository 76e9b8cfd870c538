"""The district report as an Excel workbook (xlsxwriter): a summary, submissions, one sheet per street.

Every table has a frozen header and filters; column widths are measured in display cells
(a Chinese character is two) so Chinese text fits. On a street's sheet the cell holding the
value to correct is filled red; rows fixed in the period are listed too, marked green.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from reports.casework import casework_sheets
from reports.model import DistrictReport, StreetSummary, labels, outlier_figure
from tierhub.cells import WORKBOOK_OPTIONS, write_cell
from tierhub.clock import shown
from tierhub.errors import printable
from warehouse.marts import ANY_ITEM, FailingLine

MAX_WIDTH = 60
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def display_width(text: str) -> int:
    """Columns ``text`` takes in a fixed-width rendering: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


class _Sheet:
    """A worksheet that remembers each column's widest text."""

    def __init__(self, book: xlsxwriter.Workbook, name: str) -> None:
        self.sheet = book.add_worksheet(name)
        self.widths: dict[int, int] = {}

    def write(self, row: int, col: int, value: Any, fmt: Any = None, *, measure: bool = True) -> None:
        if value is None:
            value = ""
        write_cell(self.sheet, row, col, value, fmt)  # text as text: a quarantined "=…" is no formula
        if measure:
            text = f"{value:.1%}" if isinstance(value, float) else str(value)
            longest = max((display_width(part) for part in text.split("\n")), default=0)
            self.widths[col] = max(self.widths.get(col, 0), longest)

    def fit(self) -> None:
        for col, width in self.widths.items():
            self.sheet.set_column(col, col, min(width + 2, MAX_WIDTH))


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique worksheet name (≤ 31 characters, none of []:*?/\\)."""
    base = _SHEET_FORBIDDEN.sub("_", name)[:31] or "sheet"
    candidate, n = base, 2
    while candidate.lower() in taken:
        suffix = f"({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


def write_workbook(report: DistrictReport, path: Path, language: str = "zh") -> Path:
    """Write the report's workbook to ``path``."""
    words = labels(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    # A fixed creation time keeps the bytes a function of the report (xlsxwriter stamps "now").
    book.set_properties({"title": _title(report, words), "created": report.generated_at.replace(tzinfo=None)})
    fmt = {
        "title": book.add_format({"bold": True, "font_size": 14}),
        "note": book.add_format({"italic": True, "font_color": "#555555"}),
        "head": book.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1, "text_wrap": True, "valign": "top"}),
        "text": book.add_format({"valign": "top", "text_wrap": True}),
        "int": book.add_format({"valign": "top", "num_format": "#,##0"}),
        "rate": book.add_format({"valign": "top", "num_format": "0.0%"}),
        "bad": book.add_format({"valign": "top", "text_wrap": True, "bg_color": "#FFC7CE", "font_color": "#9C0006"}),
        "fixed": book.add_format({"valign": "top", "bg_color": "#C6EFCE", "font_color": "#006100"}),
        "escalated": book.add_format({"valign": "top", "bold": True, "font_color": "#9C0006"}),
    }
    taken: set[str] = set()
    _summary(book, report, words, fmt, sheet_name(words["summary_sheet"], taken))
    _submissions(book, report, words, fmt, sheet_name(words["completeness_sheet"], taken))
    _outliers(book, report, words, fmt, sheet_name(words["outliers_sheet"], taken))
    for street in report.streets:
        _street_sheet(book, report, street, words, fmt, sheet_name(street.name, taken), language)
    if report.casework is not None:
        casework_sheets(book, report.casework, language, taken)
    book.close()
    return path


def _title(report: DistrictReport, words: dict[str, Any]) -> str:
    key = "title" if report.period.is_week else "title_range"
    return f"{words[key].format(district=report.district_name)} {report.period.label}"


def _header(sheet: _Sheet, row: int, columns: Sequence[str], fmt: dict[str, Any]) -> None:
    for col, name in enumerate(columns):
        sheet.write(row, col, name, fmt["head"])


def _summary(
    book: xlsxwriter.Workbook, report: DistrictReport, words: dict[str, Any], fmt: dict[str, Any], name: str
) -> None:
    sheet = _Sheet(book, name)
    sheet.write(0, 0, _title(report, words), fmt["title"], measure=False)
    sheet.write(
        1,
        0,
        f"{words['period']}: {report.period.start} – {report.period.end}    "
        f"{words['deadline']}: {shown(report.deadline, words['lang'])}    "
        f"{words['generated']}: {shown(report.generated_at, words['lang'])}"
        + "".join(f"    ⚠ {warning}" for warning in report.calendar_warnings),
        fmt["note"],
        measure=False,
    )
    columns = [
        words["street"],
        words["sources"],
        words["rows_in"],
        words["rows_loaded"],
        words["rows_quarantined"],
        words["pass_rate"],
        words["top_reasons"],
        words["expected"],
        words["received"],
        words["silent_sources"],
        words["late"],
        words["new_rows"],
        words["fixed_rows"],
        words["open_rows"],
        words["escalated_rows"],
        words["workload"],
    ]
    head = 3
    _header(sheet, head, columns, fmt)
    title_key = "title_zh" if words["html_lang"] == "zh-CN" else "title_en"
    names = report.source_names
    row = head
    for street in report.streets:
        row += 1
        reasons = "\n".join(f"{getattr(t, title_key)} ×{t.rows}" for t in street.top_reasons)
        late = "\n".join(
            f"{names.get(x.source_id, x.source_id)} {printable(x.path.rsplit('/', 1)[-1])}" for x in street.late
        )
        values: list[tuple[Any, str]] = [
            (street.name, "text"),
            (street.sources, "int"),
            (street.rows_in, "int"),
            (street.rows_loaded, "int"),
            (street.rows_quarantined, "int"),
            (street.pass_rate if street.pass_rate is not None else "—", "rate"),
            (reasons, "text"),
            (street.expected, "int"),
            (street.received, "int"),
            ("\n".join(s.source_name for s in street.silent), "text"),
            (late, "text"),
            (street.new_rows, "int"),
            (street.fixed_rows, "int"),
            (street.open_rows, "int"),
            (street.escalated_rows, "escalated" if street.escalated_rows else "int"),
            (street.workload, "int"),
        ]
        for col, (value, kind) in enumerate(values):
            sheet.write(row, col, value, fmt[kind])
    sheet.sheet.freeze_panes(head + 1, 1)
    sheet.sheet.autofilter(head, 0, row, len(columns) - 1)
    sheet.fit()
    sheet.sheet.set_column(6, 6, 34)
    sheet.sheet.set_column(9, 10, 40)
    # Escalations go to the district summary, below the street table.
    row += 2
    sheet.write(row, 0, words["escalation_title"].format(n=report.escalate_after), fmt["title"], measure=False)
    if not report.escalated:
        sheet.write(row + 1, 0, words["no_escalations"], fmt["note"], measure=False)
        return
    row += 1
    _header(
        sheet,
        row,
        [words[c] for c in ("street", "source", "file", "row", "field", "value", "reason", "first_seen", "age")]
        + [words["record_id"]],
        fmt,
    )
    streets = {s.code: s.name for s in report.streets}
    for line in report.escalated:
        row += 1
        cells: list[Any] = [
            streets.get(line.street_code, line.street_code),
            line.source_name,
            line.file_name,
            line.row_number,
            line.field_label_zh or line.field or "",
            line.value or "",
            line.message_zh if words["html_lang"] == "zh-CN" else line.message_en,
            line.first_day.isoformat(),
            line.age,
            line.record_key,
        ]
        for col, value in enumerate(cells):
            sheet.write(row, col, value, fmt["bad"] if col == 5 else fmt["text"], measure=col not in (0, 6))


def _submissions(
    book: xlsxwriter.Workbook, report: DistrictReport, words: dict[str, Any], fmt: dict[str, Any], name: str
) -> None:
    sheet = _Sheet(book, name)
    columns = [
        words["street"],
        words["source_code"],
        words["source"],
        words["calendar"],
        words["expected"],
        words["received"],
        words["on_time"],
        words["missing"],
        words["late"],
        words["silent"],
    ]
    _header(sheet, 0, columns, fmt)
    streets = {s.code: s.name for s in report.streets}
    row = 0
    for source in report.completeness:
        row += 1
        missing = "、".join(words["any_item"] if s.item_code == ANY_ITEM else s.item_code for s in source.missing)
        if missing and not source.due_passed:
            missing += f"（{words['not_yet_due']}）"
        late = "\n".join(f"{printable(x.path.rsplit('/', 1)[-1])} {x.received_at:%m-%d %H:%M}" for x in source.late)
        values: list[tuple[Any, str]] = [
            (streets.get(source.street_code, source.street_code), "text"),
            (source.source_id, "text"),
            (source.source_name, "text"),
            (words["calendars"][source.calendar], "text"),
            (source.expected, "int"),
            (source.received, "int"),
            (source.on_time, "int"),
            (missing, "bad" if missing else "text"),
            (late, "bad" if late else "text"),
            ("●" if source.silent else "", "bad" if source.silent else "text"),
        ]
        for col, (value, kind) in enumerate(values):
            sheet.write(row, col, value, fmt[kind])
    sheet.sheet.freeze_panes(1, 3)
    sheet.sheet.autofilter(0, 0, max(row, 1), len(columns) - 1)
    sheet.fit()


STREET_COLUMNS = (
    "status",
    "source_code",
    "source",
    "item",
    "file",
    "row",
    "field",
    "value",
    "reason",
    "fix",
    "first_seen",
    "age",
    "record_id",
    "fixed_by",
)
VALUE_COLUMN = STREET_COLUMNS.index("value")


def _outliers(
    book: xlsxwriter.Workbook, report: DistrictReport, words: dict[str, Any], fmt: dict[str, Any], name: str
) -> None:
    """The service points out of line, each with its weekly history (one column per week)."""
    sheet = _Sheet(book, name)
    sheet.write(0, 0, words["outliers_title"], fmt["title"], measure=False)
    sheet.write(1, 0, words["outliers_note"].format(n=report.outlier_weeks), fmt["note"], measure=False)
    weeks = list(report.outliers[0].weeks) if report.outliers else []
    columns = [
        words["source_code"],
        words["source"],
        words["tier"],
        words["outlier_measure"],
        words["item"],
        words["outlier_kind"],
        words["outlier_value"],
        words["outlier_centre"],
        words["outlier_spread"],
        words["outlier_score"],
        words["outlier_threshold"],
        words["outlier_range"],
        words["outlier_peers"],
        *weeks,
    ]
    _header(sheet, 3, columns, fmt)
    if not report.outliers:
        sheet.write(4, 0, words["no_outliers"], fmt["note"], measure=False)
    for row, o in enumerate(report.outliers, start=4):
        item = (
            report.item_names.get(o.item_code, (o.item_code, o.item_code))[0 if words["lang"] == "zh" else 1]
            if o.item_code
            else ""
        )
        values: list[tuple[Any, str]] = [
            (o.source_id, "text"),
            (o.source_name, "text"),
            (words["tiers"][o.tier], "text"),
            (words["outlier_measures"][o.measure], "text"),
            (f"{o.item_code} {item}" if o.item_code else "", "text"),
            (words["outlier_kinds"][o.kind], "bad"),
            (outlier_figure(o, o.value), "text"),
            (outlier_figure(o, o.centre), "text"),
            (round(o.spread, 2), "text"),
            (round(o.score, 2), "text"),
            (round(o.threshold, 2), "text"),
            (f"{outlier_figure(o, o.history_min)}–{outlier_figure(o, o.history_max)}", "text"),
            ("" if o.peer_figure is None else f"{round(o.peer_figure, 3)} ({o.peers})", "text"),
            *((outlier_figure(o, v), "text") for v in o.series),
        ]
        for col, (value, kind) in enumerate(values):
            sheet.write(row, col, value, fmt[kind])
    sheet.sheet.freeze_panes(4, 2)
    sheet.sheet.autofilter(3, 0, max(3 + len(report.outliers), 4), len(columns) - 1)
    sheet.fit()


def _status_word(line: FailingLine, report: DistrictReport, words: dict[str, Any]) -> str:
    if line.status == "fixed":
        return str(words["status_fixed"])
    if line.age >= report.escalate_after:
        return str(words["status_escalated"])
    return str(words["status_new"] if line.age == 0 else words["status_open"])


def _street_sheet(
    book: xlsxwriter.Workbook,
    report: DistrictReport,
    street: StreetSummary,
    words: dict[str, Any],
    fmt: dict[str, Any],
    name: str,
    language: str,
) -> None:
    sheet = _Sheet(book, name)
    _header(sheet, 0, [words[c] for c in STREET_COLUMNS], fmt)
    lines = report.lines.get(street.code, [])
    if not lines:
        sheet.write(1, 0, words["no_problems"], fmt["note"], measure=False)
    for row, line in enumerate(lines, start=1):
        item = line.item_name_zh if language == "zh" else line.item_name_en
        values: list[Any] = [
            _status_word(line, report, words),
            line.source_id,
            line.source_name,
            f"{line.item_code} {item}",
            line.file_name,
            line.row_number,
            line.field_label_zh if language == "zh" and line.field_label_zh else (line.field or ""),
            line.value or "",
            line.message_zh if language == "zh" else line.message_en,
            line.fix_zh if language == "zh" else line.fix_en,
            line.first_day.isoformat(),
            line.age,
            line.record_key,
            f"{line.fixed_by_path.rsplit('/', 1)[-1]} #{line.fixed_by_row}" if line.fixed_by_path else "",
        ]
        for col, value in enumerate(values):
            kind = "int" if isinstance(value, int) else "text"
            if col == 0 and line.status == "fixed":
                kind = "fixed"
            elif col == 0 and line.age >= report.escalate_after:
                kind = "escalated"
            elif col == VALUE_COLUMN and line.status == "open":
                kind = "bad"
            sheet.write(row, col, value, fmt[kind])
    sheet.sheet.freeze_panes(1, 0)
    sheet.sheet.autofilter(0, 0, max(len(lines), 1), len(STREET_COLUMNS) - 1)
    sheet.fit()
