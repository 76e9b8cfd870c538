"""A person's records as a case file (人员档案): labels for codes, the handling centre with its
tier, a timeline grouped by year with the service points, and the warnings beside each record.

Coded fields are read from the catalogue (``tierhub/standards.py``): a field with a code table
shows that table's name for its code, a division field (``community_code``, checked against
the division table) the division's name, and a county code (``transfer_*_region``) the
district's name inside Tianjin or the province's outside it. The code itself stays available
(the page puts it in a ``title``; exports carry both). Codes are validated on load and are
not personal data, so they are labelled from the stored value; every other value is shown
as ``portal.masking`` lets the role see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from portal.i18n import Labels
from portal.masking import Role, show_fields
from tierhub.reference import DATA, code_tables, divisions, field_dictionary, read_csv_rows
from tierhub.standards import catalogue
from warehouse.queries import PersonRecord, RecordWarning

# Fields the header shows (name, ID, sex, birth date) or that say nothing to a clerk.
HIDDEN_FIELDS = frozenset({"name", "id_number", "standard_version", "sex", "birth_date"})
REGION_FIELDS = frozenset({"transfer_out_region", "transfer_in_region"})
TIERS = {"district": "tier_district", "street": "tier_street", "community": "tier_community"}


@dataclass(frozen=True, slots=True)
class ShownField:
    """One field of a record as the page shows it: label, text, and the code behind the text."""

    field: str
    label: str
    text: str
    code: str | None = None  # the stored code(s), when ``text`` is their label


@dataclass(frozen=True, slots=True)
class Entry:
    """One record in the case file."""

    item_code: str
    item: str
    category: str
    centre: str
    centre_code: str
    tier: str
    district: str
    date: dt.date | None
    fields: list[ShownField]
    warnings: list[RecordWarning]
    file_id: int
    row_number: int


@dataclass(frozen=True, slots=True)
class ServicePoint:
    """A service point where the person has records."""

    code: str
    name: str
    tier: str
    district: str
    records: int


@dataclass(frozen=True, slots=True)
class Year:
    """One year of the timeline: its records (newest first) and the service points they were at."""

    year: str
    entries: list[Entry]
    points: list[ServicePoint]


@dataclass(frozen=True, slots=True)
class CaseFile:
    """Every record of one person inside the user's scope, as a case file."""

    entries: list[Entry]
    years: list[Year]
    points: list[ServicePoint]
    districts: list[str] = field(default_factory=list)


@cache
def coded_fields() -> dict[str, dict[str, str]]:
    """Item code → field → its code table (``division`` for division codes, ``region`` for counties)."""
    found: dict[str, dict[str, str]] = {}
    for item in catalogue().items.values():
        table = found.setdefault(item.code, {})
        for version in item.versions:
            for rule in version.fields:
                if rule.code_table:
                    table[rule.field] = rule.code_table
                elif rule.check and rule.check.startswith("division"):
                    table[rule.field] = "division"
                elif rule.field in REGION_FIELDS:
                    table[rule.field] = "region"
    return found


@cache
def provinces() -> dict[str, str]:
    """GB/T 2260 province code (2 digits) → name."""
    return {row["code"]: row["name"] for row in read_csv_rows(DATA / "gbt2260_provinces.csv")}


def code_label(table: str, code: str) -> str:
    """The name of ``code`` in ``table`` (a code table, ``division`` or ``region``), or the code itself."""
    if table == "division":
        node = divisions().by_code.get(code)
        if node is None:
            return code
        street = divisions().by_code.get(node.street_code or "")
        return f"{street.name} {node.name}" if street is not None and street.code != node.code else node.name
    if table == "region":
        district = divisions().by_code.get(code[:6] + "000000")
        if district is not None:
            return f"天津市{district.name}"
        province = provinces().get(code[:2])
        return f"{province}（区县 {code}）" if province else code
    known = code_tables().get(table)
    return known.names.get(code, code) if known else code


def label_value(table: str, value: object) -> tuple[str, str]:
    """(label text, code text) of a coded value; a list of codes is joined with 、."""
    codes = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return "、".join(code_label(table, c) for c in codes), "、".join(codes)


def field_labels(lang: str) -> dict[str, str]:
    """Field → label: the Chinese header from the field dictionary, or the field name in English."""
    if lang == "en":
        return {k: k.replace("_", " ") for k in field_dictionary()}
    return {k: spec.zh_header for k, spec in field_dictionary().items()}


def _text(value: object) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def shown_fields(record: PersonRecord, role: Role, lang: str) -> list[ShownField]:
    """The record's fields as ``role`` may see them, coded ones as labels."""
    labels = field_labels(lang)
    coded = coded_fields().get(record.item_code, {})
    masked = show_fields(record.fields, role)
    out = []
    for key, value in masked.items():
        if key in HIDDEN_FIELDS:
            continue
        table = coded.get(key)
        if table is not None:
            text, code = label_value(table, record.fields[key])
            out.append(ShownField(key, labels.get(key, key), text, code))
        else:
            out.append(ShownField(key, labels.get(key, key), _text(value)))
    return out


def tier_of(source_id: str, t: Labels) -> str:
    """The tier of a service point: district window, street/town centre or community/village workstation."""
    node = divisions().by_code.get(source_id)
    return t(TIERS.get(node.level if node else "", "tier_street"))


def _district_of(source_id: str) -> str:
    node = divisions().by_code.get(source_id[:6] + "000000")
    return node.name if node else source_id[:6]


def case_file(
    records: Sequence[PersonRecord], warnings: dict[tuple[int, int], list[RecordWarning]], role: Role, t: Labels
) -> CaseFile:
    """The case file of ``records`` (newest first) as ``role`` may see it, in ``t``'s language."""
    entries = [
        Entry(
            item_code=r.item_code,
            item=t.pick(r.item_name_zh, r.item_name_en),
            category=r.category,
            centre=r.source_name,
            centre_code=r.source_id,
            tier=tier_of(r.source_id, t),
            district=_district_of(r.source_id),
            date=r.business_date,
            fields=shown_fields(r, role, t.lang),
            warnings=warnings.get((r.file_id, r.row_number), []),
            file_id=r.file_id,
            row_number=r.row_number,
        )
        for r in records
    ]
    years: dict[str, list[Entry]] = {}
    for entry in entries:
        years.setdefault(str(entry.date.year) if entry.date else "—", []).append(entry)
    return CaseFile(
        entries=entries,
        years=[Year(year, group, _points(group)) for year, group in years.items()],
        points=_points(entries),
        districts=sorted({e.district for e in entries}),
    )


def _points(entries: Sequence[Entry]) -> list[ServicePoint]:
    counted: dict[str, ServicePoint] = {}
    for e in entries:
        seen = counted.get(e.centre_code)
        counted[e.centre_code] = ServicePoint(
            e.centre_code, e.centre, e.tier, e.district, (seen.records if seen else 0) + 1
        )
    return sorted(counted.values(), key=lambda p: (-p.records, p.code))
