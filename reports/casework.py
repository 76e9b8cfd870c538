"""The district report's casework: 协查 cases, worklists, funding by workload and the staff table.

One ``Casework`` object per district report, built from the warehouse marts
(``warehouse.crosscases``, ``worklists``, ``funding``, ``roster``) and rendered as four sheets
of the district workbook and one section of its HTML page; the portal's worklist download uses
the same worklist sheet (``worklist_workbook``). Evidence outside the district shows only item,
date and district (decision 0020); the report goes to district staff, who see full ID numbers
(decision 0019). Decision 0025.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import xlsxwriter
import yaml

from tierhub.cells import WORKBOOK_OPTIONS
from tierhub.errors import ConfigError
from tierhub.reference import code_tables
from tierhub.scope import Scope
from warehouse.crosscases import CrossCase, Evidence, cases_in_scope
from warehouse.funding import Funding, PriceList, centre_funding, load_prices
from warehouse.marts import Period
from warehouse.roster import AGE_BANDS, EDUCATION_GROUPS, TableOneRow, table_one
from warehouse.worklists import EVIDENCE_DAYS, HardshipFollowUp, PensionCheck, Worklists, month_of, worklists

REPORTED_STATUSES = ("open", "confirmed", "cleared")


@cache
def words(language: str) -> dict[str, str]:
    """The casework sheets' words in ``language``."""
    data = yaml.safe_load((Path(__file__).parent / "casework_labels.yaml").read_text(encoding="utf-8"))
    if language not in data:
        raise ConfigError(f"no casework language {language!r}", fix="use zh or en")
    return {str(k): str(v) for k, v in data[language].items()}


@dataclass
class Casework:
    """What the district report shows besides data quality."""

    cases: list[CrossCase]
    worklists: Worklists
    funding: Funding
    staff: list[TableOneRow]


def build_casework(
    con: duckdb.DuckDBPyConnection,
    district: str,
    period: Period,
    *,
    today: dt.date,
    prices: PriceList | None = None,
    home: Path | None = None,
) -> Casework:
    """The casework of ``district``: cases routed to it, this month's worklists, the period's funding, Table 1."""
    if prices is None:
        if home is None:
            from tierhub.settings import TierhubSettings

            home = TierhubSettings().home
        prices = load_prices(home)
    scope = Scope.district(district)
    return Casework(
        cases=cases_in_scope(con, scope, statuses=REPORTED_STATUSES, routed_only=True),
        worklists=worklists(con, scope, month_of(period.end), today=today),
        funding=centre_funding(con, scope, period, prices),
        staff=table_one(con, scope, by="street", as_of=period.end),
    )


# -- shown text -------------------------------------------------------------------------------


def evidence_text(e: Evidence, language: str) -> str:
    """One cited record as the viewer may see it: inside the scope the service point, outside the district."""
    item = e.item_name_zh if language == "zh" else e.item_name_en
    return f"{e.item_code} {item} · {e.business_date.isoformat()} · {e.place}"


def pension_status(check: PensionCheck, language: str) -> str:
    """The worklist status in words."""
    return words(language)[f"wl_{check.status}"]


def life_text(check: PensionCheck, language: str) -> str:
    """The evidence that pre-clears an item, or the certification that closed it."""
    if check.evidence is not None:
        e = check.evidence
        item = e.item_name_zh if language == "zh" else e.item_name_en
        return f"{e.item_code} {item} · {e.business_date.isoformat()} · {e.place}"
    if check.certified_on is not None:
        method = code_tables()["local_certification_method"].names.get(check.certification_method or "", "")
        return f"SB05 {check.certified_on.isoformat()} {method}".strip()
    return ""


def post_name(row: TableOneRow) -> str:
    """The post's name from the code table."""
    return row.post_name


# -- sheets -----------------------------------------------------------------------------------


class _Sheet:
    """A worksheet that writes text as text and fits its columns (as reports.excel does)."""

    def __init__(self, book: xlsxwriter.Workbook, name: str) -> None:
        from reports.excel import display_width

        self.sheet = book.add_worksheet(name)
        self.widths: dict[int, int] = {}
        self._width = display_width

    def write(self, row: int, col: int, value: Any, fmt: Any = None, *, measure: bool = True) -> None:
        from tierhub.cells import write_cell

        write_cell(self.sheet, row, col, "" if value is None else value, fmt)
        if measure:
            self.widths[col] = max(self.widths.get(col, 0), self._width(str(value or "")))

    def header(self, row: int, columns: list[str], fmt: Any) -> None:
        for col, name in enumerate(columns):
            self.write(row, col, name, fmt)

    def fit(self) -> None:
        for col, width in self.widths.items():
            self.sheet.set_column(col, col, min(width + 2, 60))


def formats(book: xlsxwriter.Workbook) -> dict[str, Any]:
    """The cell formats the casework sheets use."""
    return {
        "title": book.add_format({"bold": True, "font_size": 13}),
        "note": book.add_format({"italic": True, "font_color": "#555555"}),
        "warn": book.add_format({"bold": True, "font_color": "#9C0006"}),
        "head": book.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1, "text_wrap": True}),
        "text": book.add_format({"valign": "top"}),
        "int": book.add_format({"num_format": "#,##0"}),
        "money": book.add_format({"num_format": "#,##0.00"}),
        "due": book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
        "ok": book.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"}),
    }


def cases_sheet(book: xlsxwriter.Workbook, cases: list[CrossCase], language: str, name: str) -> None:
    """The 协查 cases routed to the district: one row per case, evidence masked outside it."""
    w, fmt = words(language), formats(book)
    sheet = _Sheet(book, name)
    sheet.write(0, 0, w["cases_title"], fmt["title"], measure=False)
    sheet.write(1, 0, w["cases_note"], fmt["note"], measure=False)
    columns = ["case_id", "rule", "status", "routed_to", "id_number", "first_record", "second_record", "message"]
    sheet.header(3, [w[c] for c in columns] + [w["reason"], w["opened"]], fmt["head"])
    if not cases:
        sheet.write(4, 0, w["no_cases"], fmt["note"], measure=False)
    for row, case in enumerate(cases, start=4):
        values = [
            case.case_id,
            case.title_zh if language == "zh" else case.title_en,
            w[f"status_{case.status}"],
            case.act_division,
            case.id_number,
            evidence_text(case.first, language),
            evidence_text(case.second, language),
            case.message(language),
            case.reason or "",
            case.opened_at.date().isoformat(),
        ]
        for col, value in enumerate(values):
            sheet.write(row, col, value, fmt["due"] if col == 2 and case.status == "open" else fmt["text"])
    sheet.sheet.freeze_panes(4, 1)
    sheet.sheet.autofilter(3, 0, 3 + max(len(cases), 1), 9)
    sheet.fit()


def _person_cells(line: PensionCheck | HardshipFollowUp) -> list[str]:
    """A worklist line's first cells: community, name, ID number."""
    return [f"{line.community_name} {line.community_code}", line.name, line.id_number]


def worklist_sheet(book: xlsxwriter.Workbook, lists: Worklists, language: str, name: str) -> None:
    """Per community: the entitlement checks with their evidence, then the hardship follow-ups."""
    w, fmt = words(language), formats(book)
    sheet = _Sheet(book, name)
    sheet.write(0, 0, f"{w['worklist_title']} {lists.period.label}", fmt["title"], measure=False)
    sheet.write(1, 0, w["worklist_note"].format(days=EVIDENCE_DAYS), fmt["note"], measure=False)
    columns = ["community", "name", "id_number", "pension_item", "last_certified", "due_on", "wl_status", "evidence"]
    sheet.header(3, [w[c] for c in columns], fmt["head"])
    row = 3
    for check in lists.pensions:
        row += 1
        values = [
            *_person_cells(check),
            check.pension_item,
            check.last_certified.isoformat() if check.last_certified else "",
            check.due_on.isoformat() if check.due_on else w["due_none"],
            pension_status(check, language),
            life_text(check, language),
        ]
        for col, value in enumerate(values):
            kind = {"due": "due", "done": "ok"}.get(check.status, "text") if col == 6 else "text"
            sheet.write(row, col, value, fmt[kind])
    sheet.sheet.freeze_panes(4, 2)
    sheet.sheet.autofilter(3, 0, max(row, 4), len(columns) - 1)
    row += 2
    sheet.write(row, 0, w["follow_ups_title"], fmt["title"], measure=False)
    row += 1
    follow = ["community", "name", "id_number", "recognised_on", "last_contact", "follow_up_due", "employed_since"]
    sheet.header(row, [w[c] for c in follow], fmt["head"])
    for f in lists.follow_ups:
        row += 1
        values = [
            *_person_cells(f),
            f.recognised_on.isoformat(),
            f.last_contact.isoformat(),
            f.due_on.isoformat(),
            f.employed_since.isoformat() if f.employed_since else "",
        ]
        for col, value in enumerate(values):
            sheet.write(row, col, value, fmt["text"])
    sheet.fit()


def funding_sheet(book: xlsxwriter.Workbook, funding: Funding, language: str, name: str) -> None:
    """Each centre's workload, funding and roster head count, with the price list's origin."""
    w, fmt = words(language), formats(book)
    sheet = _Sheet(book, name)
    sheet.write(0, 0, f"{w['funding_title']} {funding.period.label}", fmt["title"], measure=False)
    key = "example_prices" if funding.prices.example else "prices_from"
    sheet.write(1, 0, w[key].format(path=funding.prices.path), fmt["warn" if funding.prices.example else "note"])
    columns = ["centre", "workload", "amount", "unpriced", "staff", "per_head"]
    sheet.header(3, [w[c] for c in columns], fmt["head"])
    row = 3
    for c in funding.centres:
        row += 1
        values: list[tuple[Any, str]] = [
            (f"{c.name} {c.code}", "text"),
            (c.workload, "int"),
            (float(c.amount), "money"),
            (c.unpriced, "int"),
            (c.head_count, "int"),
            (float(c.per_head) if c.per_head is not None else "", "money"),
        ]
        for col, (value, kind) in enumerate(values):
            sheet.write(row, col, value, fmt[kind])
    row += 1
    sheet.write(row, 0, w["total"], fmt["head"])
    sheet.write(row, 1, sum(c.workload for c in funding.centres), fmt["int"])
    sheet.write(row, 2, float(funding.total), fmt["money"])
    sheet.write(row, 4, funding.head_count, fmt["int"])
    sheet.fit()


def staff_sheet(book: xlsxwriter.Workbook, rows: list[TableOneRow], language: str, name: str) -> None:
    """Table 1 per street × post: head count, mean age, age bands, education groups."""
    w, fmt = words(language), formats(book)
    sheet = _Sheet(book, name)
    sheet.write(0, 0, w["staff_title"], fmt["title"], measure=False)
    bands = [label for _, _, label in AGE_BANDS]
    columns = [w["centre"], w["post"], w["head_count"], w["mean_age"]]
    columns += [f"{w['ages']} {b}" for b in bands] + [f"{w['education']} {g}" for g in EDUCATION_GROUPS]
    sheet.header(2, columns, fmt["head"])
    if not rows:
        sheet.write(3, 0, w["no_roster"], fmt["note"], measure=False)
    for r, line in enumerate(rows, start=3):
        values: list[Any] = [f"{line.division_name} {line.division_code}", post_name(line), line.staff]
        values.append(round(line.mean_age, 1) if line.mean_age is not None else "")
        values += [line.ages.get(b, 0) for b in bands] + [line.education.get(g, 0) for g in EDUCATION_GROUPS]
        for col, value in enumerate(values):
            sheet.write(r, col, value, fmt["text"] if col < 2 else fmt["int"])
    sheet.sheet.freeze_panes(3, 2)
    sheet.fit()


def casework_sheets(book: xlsxwriter.Workbook, casework: Casework, language: str, taken: set[str]) -> None:
    """The four casework sheets of the district workbook."""
    from reports.excel import sheet_name

    w = words(language)
    cases_sheet(book, casework.cases, language, sheet_name(w["cases_sheet"], taken))
    worklist_sheet(book, casework.worklists, language, sheet_name(w["worklist_sheet"], taken))
    funding_sheet(book, casework.funding, language, sheet_name(w["funding_sheet"], taken))
    staff_sheet(book, casework.staff, language, sheet_name(w["staff_sheet"], taken))


def worklist_workbook(lists: Worklists, language: str = "zh") -> bytes:
    """A worklist on its own, as an Excel workbook (the portal's download)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {**WORKBOOK_OPTIONS, "in_memory": True})
    worklist_sheet(book, lists, language, words(language)["worklist_sheet"])
    book.close()
    return buffer.getvalue()
