"""What a field check is: one object that knows its SQL, its GX expectations and its handbook text.

A check (the ``check:`` key of a catalogue field) is written once, as a subclass of
``FieldCheck`` in a module of this package. The judging query (``quality.rules``), the GX
suites (``quality.suites``) and the handbook (``reports.handbook``) ask the registry
(``quality.checks``) for it and call it; none of them names a check. The rule codes a check
raises are keys of ``tierhub/catalogue/_rules.yaml``, which holds their messages.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from tierhub.sql import ident, lit
from tierhub.standards import FieldRule


def reason(rule: str, field: str, value_sql: str, detail_sql: str = "NULL") -> str:
    """A struct literal for one failed rule."""
    return (
        f"{{'rule': {lit(rule)}, 'field': {lit(field)}, "
        f"'value': CAST({value_sql} AS VARCHAR), 'detail': CAST({detail_sql} AS VARCHAR)}}"
    )


def when(condition: str, rule: str, field: str, value_sql: str, detail_sql: str = "NULL") -> str:
    """A list element: the reason if ``condition`` holds, else NULL."""
    return f"CASE WHEN {condition} THEN {reason(rule, field, value_sql, detail_sql)} END"


def id_text(column: str) -> str:
    """SQL for ID-like text as checked: spaces, apostrophes and backticks removed, upper case (x → X)."""
    return f"upper(regexp_replace({column}, '[\\s''`]', '', 'g'))"


def code_text(column: str) -> str:
    """SQL for a code written with spaces in it (a credit code): spaces removed, upper case."""
    return f"upper(replace({column}, ' ', ''))"


@dataclass(frozen=True, slots=True)
class Normalised:
    """A field's normalised value as SQL over the staged row ``s``, and the joins it needs."""

    sql: str
    joins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldSql:
    """One field of the judging query, as a check sees it.

    ``value``: the normalised, typed value; ``raw``: the cell exactly as read. The query also
    offers ``_id`` (the row's cleaned ID number), ``_id_ok`` (it is a valid GB 11643 ID),
    ``_id_birth`` (the birth date in it), ``s._source_code`` and ``s._source_prefix``.
    """

    rule: FieldRule
    value: str
    raw: str
    today: dt.date

    @property
    def name(self) -> str:
        """The canonical field name."""
        return self.rule.field

    @property
    def present(self) -> str:
        """SQL: the cell is filled (the normalised text is not null)."""
        return f"s.{ident(self.rule.field)} IS NOT NULL"

    def when(self, condition: str, rule: str, detail_sql: str = "NULL") -> str:
        """A reason on this field with its raw value, if ``condition`` holds."""
        return when(condition, rule, self.rule.field, self.raw, detail_sql)

    def reason(self, rule: str, detail_sql: str = "NULL") -> str:
        """A reason on this field with its raw value."""
        return reason(rule, self.rule.field, self.raw, detail_sql)


@dataclass(frozen=True, slots=True)
class GxKit:
    """What a check needs to state its GX expectations (GX is imported only when suites are built).

    The frame GX validates (``quality.suites``) has ``<field>`` (normalised text), ``value``
    (the engine's normalised value), ``_id_sex``, ``_id_birth_ok`` and ``_id_ok_id`` (from a
    valid ID only) and ``_source_prefix``.
    """

    gxe: ModuleType  # great_expectations.expectations
    tx: ModuleType  # quality.expectations: tierhub's own expectations
    today: dt.date
    rule: FieldRule
    value: str  # the column holding the field's normalised value


@dataclass(frozen=True, slots=True)
class Expected:
    """One GX expectation of a check; ``rules`` default to every rule the check raises."""

    expectation: Any
    description: str
    rules: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Hint:
    """The handbook's words on the values a check accepts: zh-CN for staff, English for engineers."""

    zh: str
    en: str

    def text(self, language: str) -> str:
        """The hint in ``zh`` or ``en``."""
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a field with the check must also have, else the catalogue is wrong."""

    field_type: str | None = None  # the field's type, e.g. date
    valid_id: bool = False  # the version checks id_number with gb11643 (the check compares with it)


class FieldCheck(ABC):
    """A field check: its name, the rule codes it raises, and how each consumer applies it.

    Subclasses set ``name``, ``rules`` and ``hint`` (the handbook's words on the accepted
    values) and implement ``reasons_sql`` and ``expectations``.
    """

    name: ClassVar[str]
    rules: ClassVar[tuple[str, ...]]
    hint: ClassVar[Hint | None] = None
    requires: ClassVar[Requirement] = Requirement()
    # Whether the handbook prints the field dictionary's standard beside the check's hint.
    shows_standard: ClassVar[bool] = True

    def value_sql(self, rule: FieldRule, column: str) -> Normalised | None:
        """The field's normalised value, if this check defines it (else the field's type does)."""
        return None

    @abstractmethod
    def reasons_sql(self, field: FieldSql) -> list[str]:
        """SQL list elements: a reason struct where a row fails, else NULL."""

    @abstractmethod
    def expectations(self, kit: GxKit) -> list[Expected]:
        """The GX expectations standing for ``reasons_sql``, run on the frame of ``quality.suites``."""

    def handbook_hint(self, rule: FieldRule, language: str) -> str | None:
        """What the handbook says about the values this check accepts."""
        return self.hint.text(language) if self.hint else None

    def __repr__(self) -> str:
        return f"<check {self.name}: {', '.join(self.rules)}>"


def regex_literal(pattern: str) -> str:
    """A regex as the body of a SQL string literal (quotes doubled)."""
    return pattern.replace("'", "''")


class PatternCheck(FieldCheck):
    """A check with one rule: the normalised value must fully match ``pattern``, in SQL as in GX.

    Subclasses set ``pattern`` (a regex both DuckDB and Python read alike) and ``meaning``,
    what a matching value is ("a mainland mobile number").
    """

    pattern: ClassVar[str]
    meaning: ClassVar[str]

    def reasons_sql(self, field: FieldSql) -> list[str]:
        [rule] = self.rules
        matches = f"regexp_full_match({field.value}, '{regex_literal(self.pattern)}')"
        return [field.when(f"{field.present} AND NOT {matches}", rule)]

    def expectations(self, kit: GxKit) -> list[Expected]:
        # A group only where alternatives need one (Data Docs print the regex).
        regex = f"^(?:{self.pattern})$" if "|" in self.pattern else f"^{self.pattern}$"
        return [
            Expected(
                kit.gxe.ExpectColumnValuesToMatchRegex(column=kit.value, regex=regex),
                f"{kit.rule.field} is {self.meaning}",
            )
        ]


def agrees_with_id(kit: GxKit, id_column: str, meaning: str) -> list[Expected]:
    """The GX side of a check comparing the field with a value derived from the row's valid ID."""
    return [
        Expected(
            kit.gxe.ExpectColumnPairValuesToBeEqual(
                column_A=kit.value, column_B=id_column, ignore_row_if="either_value_is_missing"
            ),
            f"{kit.rule.field} {meaning}",
        )
    ]
