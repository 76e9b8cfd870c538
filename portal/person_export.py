"""A person's records as CSV or Excel: one line per field of every record, masked per role.

Long form (date, item, centre, tier, field, label, code) because the 33 items share few
fields: a wide sheet would be mostly empty columns. Codes are exported beside their labels.
Both writers go through ``portal.tables`` (tierhub/cells.py: never a formula; Excel with a
frozen header and an autofilter). The page that calls these audits the export.
"""

from __future__ import annotations

from typing import Any

from portal.case_file import CaseFile
from portal.i18n import Labels
from portal.tables import Column, Table, to_csv, to_xlsx


def person_table(case: CaseFile, t: Labels) -> Table:
    """The case file flattened to one row per shown field (and one per warning)."""
    columns = (
        Column("date", t("business_date"), "code"),
        Column("item_code", t("code"), "code"),
        Column("item", t("item")),
        Column("centre", t("centre")),
        Column("centre_code", t("code"), "code"),
        Column("tier", t("tier")),
        Column("district", t("district_col")),
        Column("field", t("field_col")),
        Column("value", t("value_col")),
        Column("code", t("code_col"), "code"),
    )
    rows: list[dict[str, Any]] = []
    for e in case.entries:
        base = {
            "date": e.date.isoformat() if e.date else "",
            "item_code": e.item_code,
            "item": e.item,
            "centre": e.centre,
            "centre_code": e.centre_code,
            "tier": e.tier,
            "district": e.district,
        }
        for f in e.fields:
            rows.append({**base, "field": f.label, "value": f.text, "code": f.code})
        for w in e.warnings:
            rows.append({**base, "field": t("record_warnings"), "value": t.pick(w.message_zh, w.message_en)})
    return Table("records", t("person_title"), columns, rows)


def person_csv(case: CaseFile, heading: str, t: Labels) -> bytes:
    """The person's records as CSV (UTF-8 with BOM)."""
    return to_csv(person_table(case, t), heading)


def person_xlsx(case: CaseFile, heading: str, t: Labels) -> bytes:
    """The person's records as an Excel workbook (one sheet, frozen header, autofilter)."""
    return to_xlsx([person_table(case, t)], heading)
