"""The unified standards catalogue: one YAML file per service item (事项), read as data.

Adding an item, a version, a document alias or a code needs a data change only. The
validator, the handbook and the reports all read the catalogue through this module.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tierhub.errors import CatalogueError, StandardNotFound
from tierhub.reference import code_tables, field_dictionary, normalise_label

CATALOGUE_DIR = Path(__file__).parent / "catalogue"

FieldType = Literal["string", "date", "decimal", "integer"]
Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")
# Fields that say whose record a row is and where it belongs: a file without one of these
# columns cannot be judged row by row, so its rows fail REQUIRED_MISSING (the file is held).
IDENTITY_FIELDS = ("name", "id_number", "employer_name", "employer_uscc")
# Rule codes about a whole file, raised when it is staged rather than by the judging query.
FILE_RULES = ("COLUMN_MISSING",)
NUMERIC_TYPES = ("decimal", "integer")
# A check is named here as plain text: the checks themselves (quality/checks/, a higher floor)
# refuse an unknown name, or a field lacking what its check needs, when a version is compiled.
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Regex features RE2 (DuckDB's regex engine) lacks: a pattern must mean the same in both.
_NOT_RE2 = re.compile(r"\\[1-9]|\\k<|\(\?(?:=|!|<=|<!|P=)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRule(_Model):
    """How one canonical field is checked for an item.

    ``type`` decimal (an amount, at most two decimals) or integer is parsed after
    stripping thousands separators, ￥ and 元; ``min``/``max`` bound the parsed number.
    ``pattern`` is a full-match regex on the normalised text, ``pattern_hint`` names the
    expected form in Chinese for the message. ``multiple``: the cell lists several codes
    of ``code_table`` (separated by 、,; or spaces), each of which must be known.
    """

    field: str
    required: bool = False
    type: FieldType = "string"
    code_table: str | None = None
    multiple: bool = False
    check: str | None = None
    level: Literal["district", "street", "community"] | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    pattern: str | None = None
    pattern_hint: str | None = None
    # Not in the item's YAML: a national code-table field the item does not list, checked when an
    # export carries it anyway (``with_carried_codes``).
    carried: bool = False

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in field_dictionary():
            raise ValueError(f"{value!r} is not a field of field_dictionary.csv")
        return value

    @field_validator("check")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and not _CHECK_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a check name (a module name of quality/checks/)")
        return value

    @field_validator("code_table")
    @classmethod
    def _known_table(cls, value: str | None) -> str | None:
        if value is not None and value not in code_tables():
            raise ValueError(f"{value!r} is not a shipped code table")
        return value

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)  # raises re.error, reported as a validation error
            if _NOT_RE2.search(value):
                raise ValueError(f"pattern {value!r} uses a back-reference or look-around, which DuckDB cannot run")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numeric = self.type in NUMERIC_TYPES
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"{self.field}: min/max need type decimal or integer")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.field}: min {self.min} is above max {self.max}")
        if self.pattern is not None and (not self.pattern_hint or self.type != "string" or self.code_table):
            raise ValueError(f"{self.field}: a pattern needs a pattern_hint and a plain string field")
        if self.multiple and not self.code_table:
            raise ValueError(f"{self.field}: multiple needs a code_table")
        if self.code_table and (numeric or self.type == "date"):
            raise ValueError(f"{self.field}: a code-table field is text, not {self.type}")
        return self


class Document(_Model):
    """A required document (要件) and the names a record may list it under."""

    code: str
    name_zh: str
    aliases: tuple[str, ...] = ()
    required: bool = True

    @property
    def labels(self) -> list[str]:
        """Every folded name that counts as this document."""
        return [normalise_label(x) for x in (self.name_zh, *self.aliases)]


class TimeLimit(_Model):
    """A time limit between two date fields: in working days (Chinese public holidays and
    adjusted weekends from chinese-calendar), or in calendar days where a law counts them
    (the 15 days of labour-dispute mediation)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    working_days: int | None = Field(default=None, ge=0)
    calendar_days: int | None = Field(default=None, ge=0)
    from_: str = Field(alias="from")
    to: str

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if (self.working_days is None) == (self.calendar_days is None):
            raise ValueError("a time limit has either working_days or calendar_days")
        return self

    @property
    def days(self) -> int:
        """The limit, in its unit."""
        return self.working_days if self.working_days is not None else self.calendar_days or 0


class Step(_Model):
    """One process step and the tier that does it."""

    tier: Literal["city", "district", "street", "community"]
    zh: str
    en: str


class StandardVersion(_Model):
    """One version of an item's standard, in force from ``effective_from``."""

    version: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    business_date: str
    time_limit: TimeLimit | None = None
    fields: tuple[FieldRule, ...]
    date_order: tuple[tuple[str, str], ...] = ()
    documents: tuple[Document, ...] = ()
    steps: tuple[Step, ...] = ()
    # Two rows of one file with equal values here (and the same business date) are duplicates.
    duplicate_key: tuple[str, ...] = ("id_number",)
    # Rule code → severity for this version, over the default of ``_rules.yaml`` (decision 0017).
    severity: dict[str, Severity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_own_fields(self) -> Self:
        names = {f.field for f in self.fields}
        if len(names) != len(self.fields):
            raise ValueError(f"version {self.version} names a field twice")
        used = [self.business_date, *self.duplicate_key, *(f for pair in self.date_order for f in pair)]
        if self.time_limit:
            used += [self.time_limit.from_, self.time_limit.to]
        if self.documents:
            used.append("documents")
        missing = sorted({f for f in used if f not in names})
        if missing:
            raise ValueError(f"version {self.version} refers to {', '.join(missing)}, which it does not list in fields")
        dates = {f.field for f in self.fields if f.type == "date"}
        undated = sorted({f for pair in self.date_order for f in pair} - dates)
        if self.business_date not in dates or undated:
            raise ValueError(f"version {self.version}: business_date and date_order need date fields")
        return self

    def field(self, name: str) -> FieldRule | None:
        """The rule for one field, if the standard names it."""
        return next((f for f in self.fields if f.field == name), None)

    @property
    def identity_fields(self) -> tuple[str, ...]:
        """Required fields without whose column a file is held whole: who (name, ID) and where
        (the division field) the record is, and its business date."""
        names = [
            f.field
            for f in self.fields
            if f.required and (f.field in IDENTITY_FIELDS or f.level is not None or f.field == self.business_date)
        ]
        return tuple(names)

    def severity_of(self, rule: str) -> Severity:
        """The severity of a rule code in this version: its override, else ``_rules.yaml``'s default."""
        return self.severity.get(rule) or rule_severity(rule)

    def warning_rules(self) -> tuple[str, ...]:
        """Every rule code that only warns in this version (the row loads and carries it)."""
        codes = set(rule_messages()) | set(self.severity)
        return tuple(sorted(c for c in codes if self.severity_of(c) == "warning"))

    def in_force(self, day: dt.date) -> bool:
        """Whether this version applies to a record with this business date."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


class ItemStandard(_Model):
    """A service item (事项) and every version of its standard."""

    code: str
    name_zh: str
    name_en: str
    aliases: tuple[str, ...] = ()
    category: Literal["employment", "social_insurance", "social_security_card", "labour_relations", "base"]
    owner_system: Literal["人社", "医保", "税务"]
    dataset: str
    # False: a list the network keeps (the staff roster), not a service handled for someone — its
    # records are no workload (以事定费, the dashboards' volumes, volume outliers).
    workload: bool = True
    versions: tuple[StandardVersion, ...]

    @model_validator(mode="after")
    def _versions_do_not_overlap(self) -> Self:
        ordered = sorted(self.versions, key=lambda v: v.effective_from)
        if len({v.version for v in ordered}) != len(ordered):
            raise ValueError(f"item {self.code} has two versions with the same name")
        for earlier, later in itertools.pairwise(ordered):
            if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                raise ValueError(
                    f"item {self.code}: version {earlier.version} is still in force when {later.version} starts"
                )
        return self

    def version_for(self, day: dt.date) -> StandardVersion:
        """The version in force on a business date."""
        for version in self.versions:
            if version.in_force(day):
                return version
        raise StandardNotFound(
            f"item {self.code} {self.name_zh} has no standard version in force on {day}",
            fix="add a version covering that date to the catalogue",
        )

    def version_on(self, day: dt.date | None) -> StandardVersion:
        """The version in force on ``day``; the newest one when the day is unknown or no version covers it."""
        if day is not None:
            for version in self.versions:
                if version.in_force(day):
                    return version
        return max(self.versions, key=lambda v: v.effective_from)


class Catalogue:
    """Every item standard, found by code, Chinese name or alias."""

    def __init__(self, items: list[ItemStandard]) -> None:
        self.items = {item.code: item for item in items}
        self._names: dict[str, str] = {}
        for item in items:
            for label in (item.code, item.name_zh, *item.aliases):
                self._names[normalise_label(label)] = item.code

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items.values())

    def __len__(self) -> int:
        return len(self.items)

    def find(self, name_or_code: str) -> ItemStandard:
        """The item with this code, Chinese name or alias."""
        code = self._names.get(normalise_label(name_or_code))
        if code is None:
            raise StandardNotFound(
                f"no service item is called {name_or_code!r}",
                fix=f"use one of {', '.join(sorted(self.items))} or its Chinese name",
            )
        return self.items[code]

    def codes_of(self, names: list[str]) -> list[str]:
        """The item codes of codes, Chinese names or aliases; ``StandardNotFound`` lists the known ones."""
        return [self.find(name).code for name in names]


# libyaml's safe loader when PyYAML has it: the same documents, ~7x less CPU than the pure-Python one
# (the catalogue's 35 files cost 0.64 s to parse, paid by every command that reads the standards).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_item(path: Path) -> ItemStandard:
    """Parse one catalogue file."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        return ItemStandard.model_validate(data)
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise CatalogueError(f"invalid standard: {exc}", path=str(path)) from exc


def with_carried_codes(items: list[ItemStandard]) -> list[ItemStandard]:
    """Each version plus, as optional ``carried`` fields, the national code-table fields it does not list.

    A 民族 of 99 is wrong in any export, required or not; without this an item not listing
    ethnicity dropped the column and loaded whatever it held. The table of a field is the one
    every item listing it uses (national standards only: local tables are item-specific).
    """
    tables: dict[str, set[tuple[str, bool]]] = {}
    for item in items:
        for version in item.versions:
            for rule in version.fields:
                if rule.code_table and not code_tables()[rule.code_table].is_local:
                    tables.setdefault(rule.field, set()).add((rule.code_table, rule.multiple))
    carried = {f: next(iter(t)) for f, t in sorted(tables.items()) if len(t) == 1}
    result = []
    for item in items:
        versions = []
        for version in item.versions:
            listed = {r.field for r in version.fields}
            extra = tuple(
                FieldRule(field=f, code_table=t, multiple=m, carried=True)
                for f, (t, m) in carried.items()
                if f not in listed
            )
            versions.append(version.model_copy(update={"fields": version.fields + extra}) if extra else version)
        result.append(item.model_copy(update={"versions": tuple(versions)}))
    return result


@cache
def catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    """Load every ``*.yaml`` item file of the catalogue (files starting with ``_`` are not items)."""
    return Catalogue(with_carried_codes([load_item(p) for p in sorted(directory.glob("[!_]*.yaml"))]))


@cache
def rule_messages(directory: Path = CATALOGUE_DIR) -> dict[str, dict[str, str]]:
    """Rule code → message templates (zh, en, fix_zh, fix_en) and its default ``severity``."""
    data = yaml.load((directory / "_rules.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    return {code: {k: str(v) for k, v in texts.items()} for code, texts in data.items()}


def rule_severity(rule: str) -> Severity:
    """A rule code's default severity (``_rules.yaml``): ``error`` quarantines the row, ``warning`` loads it."""
    value = rule_messages().get(rule, {}).get("severity", "error")
    return "warning" if value == "warning" else "error"


def column_missing_message(fields: list[str], language: str = "zh") -> str:
    """COLUMN_MISSING's message for an export lacking these fields' columns, with their catalogue labels.

    ``导出文件缺少列：提交材料、经办日期 — 按统一标准需补充``
    """
    texts = rule_messages()["COLUMN_MISSING"]
    if language == "zh":
        detail = "、".join(field_dictionary()[f].zh_header if f in field_dictionary() else f for f in fields)
        return texts["zh"].replace("{detail}", detail)
    return texts["en"].replace("{detail}", ", ".join(fields))
