"""The named kinds of defect the generator injects, and the rule each must trip.

A kind applies to a file only where the item's standard has what the defect breaks
(``targets``): a bad Luhn digit only in a bank account checked with ``luhn``, a number
out of range only in a field with ``min``/``max``. One defect per row; the manifest
records the field it went into.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from dataclasses import dataclass

from tierhub.reference import Division, code_tables, normalise_label
from tierhub.standards import NUMERIC_TYPES, FieldRule, StandardVersion
from tierhub.synth.people import USCC_CHARS, Person, corrupt_check, make_bank_account, make_id, make_uscc
from tierhub.synth.values import RowFacts, ValueDrawer, add_working_days
from tierhub.synth.writers import Cell


@dataclass(frozen=True, slots=True)
class DefectKind:
    """One kind of real-world export defect."""

    kind: str
    rule: str  # the rule code the validator must report for it
    selector: str  # which fields of a standard it can break: see ``targets``
    description: str


DEFECTS: tuple[DefectKind, ...] = (
    DefectKind("id_bad_checksum", "ID_CHECKSUM", "check:gb11643", "one digit of the ID mistyped"),
    DefectKind("id_float_damaged", "ID_FLOAT_DAMAGED", "check:gb11643", "ID stored by Excel as a number"),
    DefectKind("id_17_chars", "ID_LENGTH", "check:gb11643", "ID with its last character lost"),
    DefectKind("future_date", "DATE_FUTURE", "business_date", "registration date in the future"),
    DefectKind("sex_mismatch", "SEX_ID_MISMATCH", "check:sex_matches_id", "sex contradicts the ID's digit 17"),
    DefectKind("birth_mismatch", "BIRTH_ID_MISMATCH", "check:birth_date_matches_id", "birth date differs from the ID"),
    DefectKind("unknown_code", "CODE_UNKNOWN", "field:ethnicity", "ethnicity not in GB/T 3304"),
    DefectKind("unknown_local_code", "CODE_UNKNOWN", "local_code", "a value not in the item's local code table"),
    DefectKind(
        "community_outside_source", "DIVISION_OUTSIDE_SOURCE", "check:division_in_source", "community of another street"
    ),
    DefectKind("unknown_division", "DIVISION_UNKNOWN", "check:division_in_source", "community code that is not one"),
    DefectKind("missing_required", "REQUIRED_MISSING", "required", "required field left empty"),
    DefectKind("missing_document", "DOC_MISSING", "documents", "a required document (要件) not listed"),
    DefectKind("duplicate_row", "DUPLICATE_ROW", "duplicate", "the same record entered twice"),
    DefectKind("time_limit_exceeded", "TIME_LIMIT_EXCEEDED", "time_limit:working", "handled after the time limit"),
    DefectKind(
        "calendar_limit_exceeded",
        "TIME_LIMIT_EXCEEDED_CALENDAR",
        "time_limit:calendar",
        "past a limit the law counts in calendar days",
    ),
    DefectKind("bad_mobile", "MOBILE_FORMAT", "check:mobile", "mobile number with a digit missing"),
    DefectKind("bad_landline", "LANDLINE_FORMAT", "check:landline", "landline short of a digit or of another city"),
    DefectKind(
        "bad_contact_phone",
        "PHONE_FORMAT",
        "check:contact_phone",
        "contact number neither a mobile nor a Tianjin landline",
    ),
    DefectKind("date_order", "DATE_ORDER", "date_order", "handled before it was applied for"),
    DefectKind("bad_uscc", "USCC_CHECKSUM", "check:gb32100", "employer credit code mistyped"),
    DefectKind("bad_luhn", "LUHN_CHECKSUM", "check:luhn", "bank account number mistyped"),
    DefectKind("number_format", "NUMBER_FORMAT", "numeric", "a number written in words or with 万"),
    DefectKind("value_out_of_range", "VALUE_RANGE", "range", "a number outside the field's range"),
    DefectKind("pattern_mismatch", "PATTERN_MISMATCH", "pattern", "a coded number of the wrong form"),
    DefectKind(
        "disability_mismatch",
        "DISABILITY_CERT_MISMATCH",
        "check:disability_cert",
        "disability certificate not built from the holder's ID",
    ),
)
BY_KIND = {d.kind: d for d in DEFECTS}
# Required fields a "left empty" defect blanks, in order of preference (never a key or a date).
BLANKABLE = ("mobile_phone", "name", "employer_name", "contact_name", "hukou_address", "residence_address")
UNKNOWN_TEXTS = ("不详", "待定", "见备注", "X类", "其它情况")
OTHER_DOCUMENT = "其他材料"
NOT_INTEGERS = ("十二", "3.5", "约10", "12人")
NOT_AMOUNTS = ("约1200", "1.2万", "12.345", "一千二")


def targets(kind: DefectKind, version: StandardVersion, fields: list[str]) -> list[str]:
    """The fields of a file with these columns that ``kind`` can break (none: it does not apply)."""
    rules = [r for r in version.fields if r.field in fields]
    selector = kind.selector
    if selector.startswith("check:"):
        return [r.field for r in rules if r.check == selector.removeprefix("check:")]
    if selector.startswith("field:"):
        return [r.field for r in rules if r.field == selector.removeprefix("field:")]
    if selector == "local_code":
        return [r.field for r in rules if r.code_table and code_tables()[r.code_table].is_local]
    if selector == "numeric":
        return [r.field for r in rules if r.type in NUMERIC_TYPES]
    if selector == "range":
        return [r.field for r in rules if r.min is not None or r.max is not None]
    if selector == "pattern":
        return [r.field for r in rules if r.pattern]
    if selector == "required":
        required = {r.field for r in rules if r.required}
        return [f for f in BLANKABLE if f in required][:1]
    if selector == "documents":
        return ["documents"] if "documents" in fields and any(d.required for d in version.documents) else []
    if selector == "duplicate":
        key = version.duplicate_key
        return [key[0]] if key and all(k in fields for k in key) else []
    if selector == "business_date":
        rule = version.field(version.business_date)
        return [rule.field] if rule and rule.check == "not_future" and rule.field in fields else []
    if selector == "date_order":
        pair = ("registration_date", "handled_at")
        return ["handled_at"] if pair in version.date_order and all(f in fields for f in pair) else []
    if selector.startswith("time_limit:"):
        limit = version.time_limit
        if limit is None or limit.from_ not in fields or limit.to not in fields:
            return []
        calendar = limit.calendar_days is not None
        return [limit.to] if calendar == (selector == "time_limit:calendar") else []
    raise ValueError(f"unknown defect selector {selector!r}")


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, unicodedata.normalize("NFKC", value).strip()) is not None


class DefectInjector:
    """Turns a clean row into a row with one defect."""

    def __init__(self, rng: random.Random, drawer: ValueDrawer, foreign: list[Division]) -> None:
        self.rng = rng
        self.drawer = drawer
        self.foreign = foreign
        self.as_of = drawer.as_of

    def inject(
        self,
        kind: DefectKind,
        field: str,
        version: StandardVersion,
        row: dict[str, Cell],
        facts: RowFacts,
        person: Person,
        clean: list[dict[str, Cell]],
        xlsx: bool,
    ) -> dict[str, Cell]:
        """A copy of ``row`` with the defect ``kind`` in ``field``."""
        rng = self.rng
        row = dict(row)
        rule = version.field(field)
        ident = str(row.get("id_number", "")).upper()
        registered = facts.dates["registration_date"] or self.as_of
        if kind.kind == "id_bad_checksum":
            row[field] = corrupt_check(rng, ident, "0123456789X")
        elif kind.kind == "id_float_damaged":
            row[field] = float(ident[:15] + "000") if xlsx else f"{float(ident[:17]):.5E}"
        elif kind.kind == "id_17_chars":
            row[field] = ident[:17]
        elif kind.kind == "future_date":
            future = (self.as_of + dt.timedelta(days=rng.randint(3, 200))).isoformat()
            row[field] = future
            if "handled_at" in row:
                row["handled_at"] = future
        elif kind.kind == "sex_mismatch":
            male = int(ident[16]) % 2 == 1
            row[field] = rng.choice(("女", "2")) if male else rng.choice(("男", "1"))
        elif kind.kind == "birth_mismatch":
            birth = dt.date(int(ident[6:10]), int(ident[10:12]), int(ident[12:14]))
            row[field] = (birth + dt.timedelta(days=rng.choice((-400, -31, 1, 10, 365)))).isoformat()
        elif kind.kind == "unknown_code":
            row[field] = rng.choice(("火星族", "99", "汉族人", "其它民族"))
        elif kind.kind == "unknown_local_code":
            row[field] = self._unknown_code(rule, row.get(field))
        elif kind.kind == "community_outside_source":
            row[field] = rng.choice(self.foreign).code
        elif kind.kind == "unknown_division":
            row[field] = self.drawer.source.code[:9] + "9" + f"{rng.randint(50, 99)}"
        elif kind.kind == "missing_required":
            row[field] = None
        elif kind.kind == "missing_document":
            row[field] = self._without_a_document(facts)
        elif kind.kind == "duplicate_row":
            row = dict(rng.choice(clean))
        elif kind.kind in ("time_limit_exceeded", "calendar_limit_exceeded"):
            self._past_the_limit(version, row, facts, person)
        elif kind.kind == "bad_mobile":
            row[field] = (str(row.get(field) or "") or person.mobile)[-11:][:-1]
        elif kind.kind == "bad_landline":
            row[field] = rng.choice(("022-2345678", "010-62345678", "0222345678901", "2345678"))
        elif kind.kind == "bad_contact_phone":
            row[field] = rng.choice((person.mobile[:-1], "010-62345678", "022-2345678", "0222345678901"))
        elif kind.kind == "date_order":
            row[field] = (registered - dt.timedelta(days=rng.randint(2, 20))).isoformat()
        elif kind.kind == "bad_uscc":
            row[field] = corrupt_check(rng, str(row.get(field) or make_uscc(rng, "120101")), USCC_CHARS)
        elif kind.kind == "bad_luhn":
            digits = re.sub(r"\D", "", str(row.get(field) or "")) or make_bank_account(rng)
            row[field] = corrupt_check(rng, digits, "0123456789")
        elif kind.kind == "number_format":
            integer = rule is not None and rule.type == "integer"
            row[field] = rng.choice(NOT_INTEGERS if integer else NOT_AMOUNTS)
        elif kind.kind == "value_out_of_range":
            row[field] = self._out_of_range(rule)
        elif kind.kind == "pattern_mismatch":
            row[field] = self._mangled(rule, row.get(field))
        elif kind.kind == "disability_mismatch":
            other = make_id(rng, "120101", person.birth_date, person.sex, set())
            row[field] = rng.choice((other + "41", ident + "03", ident + "9", ident[:17] + "41"))
        return row

    def _unknown_code(self, rule: FieldRule | None, current: Cell) -> str:
        assert rule is not None and rule.code_table is not None
        table = code_tables()[rule.code_table]
        bad = next(t for t in self.rng.sample(UNKNOWN_TEXTS, len(UNKNOWN_TEXTS)) if table.resolve(t) is None)
        return f"{current}、{bad}" if rule.multiple and current else bad

    def _without_a_document(self, facts: RowFacts) -> str:
        """The documents cell with one required document left out (none of its names stays)."""
        for document, _ in self.rng.sample(facts.documents, len(facts.documents)):
            if not document.required:
                continue
            # With its only document gone the cell would be empty (REQUIRED_MISSING): list
            # something that is not a required document instead, as people do.
            rest = [label for d, label in facts.documents if d is not document] or [OTHER_DOCUMENT]
            if not set(document.labels) & {normalise_label(x) for x in rest}:
                return "、".join(rest)
        raise ValueError("no required document can be left out of this row")

    def _past_the_limit(self, version: StandardVersion, row: dict[str, Cell], facts: RowFacts, person: Person) -> None:
        """Move the row's dates so the time limit is exceeded, keeping every other date order."""
        rng, limit = self.rng, version.time_limit
        assert limit is not None
        if limit.to == "registration_date":  # the limit ends at the application (hiring → registration)
            registered = facts.dates["registration_date"] or self.as_of
            start = registered - dt.timedelta(days=limit.days + rng.randint(1, 60))
            row[limit.from_] = max(start, person.birth_date).isoformat()
            return
        earliest = max(version.effective_from, person.birth_date + dt.timedelta(days=1))
        registered = max(earliest, self.as_of - dt.timedelta(days=rng.randint(60, 100)))
        over = limit.days + rng.randint(2, 8)
        handled = (
            add_working_days(registered, over)
            if limit.working_days is not None
            else registered + dt.timedelta(days=over)
        )
        dates = self.drawer.dates(version, person, registered, handled)
        for name, day in dates.items():
            if name in row and name != "birth_date" and day is not None:
                row[name] = day.isoformat()

    def _out_of_range(self, rule: FieldRule | None) -> str:
        assert rule is not None
        if rule.max is not None and (rule.min is None or self.rng.random() < 0.6):
            return str(rule.max * 2 + 1)
        assert rule.min is not None
        return str(rule.min - 1)

    def _mangled(self, rule: FieldRule | None, current: Cell) -> str:
        assert rule is not None and rule.pattern is not None
        value = str(current or "？")[:-1] or "？"
        while _matches(rule.pattern, value):
            value += "#"
        return value
