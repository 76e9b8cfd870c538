"""Compile each standard version of the catalogue to a Great Expectations suite.

One suite per item and version (``JY02@2024.1``). Built-in expectations wherever one
fits (not null, in set, regex, between, column pairs equal / ordered, compound unique),
the custom ones of ``quality.expectations`` where none does (GB 11643, GB 32100,
documents, division inside the source's area, working-day time limits, Luhn).

Every expectation carries ``meta["tierhub"] = {"rules": [...], "field": ..., "detail": ...}``:
the rule codes of ``_rules.yaml`` it stands for. That key is how a GX result and a row
reason of the compiled DuckDB engine (``quality.rules``) are matched — in Data Docs and
in the conformance test that runs both and compares them row by row.

GX validates a *frame*: the staged rows of one version, projected by ``frame_sql`` into
the normalised text each field arrived as (``<field>``), its typed value as the engine
normalises it (``<field>__value``: resolved code, parsed date, bare mobile number),
folded text for code tables (``<field>__folded``) and the ID-derived sex and birth date.
Normalisation is shared; judgement is not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from quality.checks import GxKit, check_for, validate_version
from quality.rules import JudgeContext, VersionCompiler, id_ok_expression
from tierhub.reference import code_tables
from tierhub.sql import ident, lit
from tierhub.standards import FieldRule, ItemStandard, StandardVersion

if TYPE_CHECKING:
    import great_expectations as gx

ROW_KEYS = ("_file_id", "_sheet", "_row_number")

# What GX's ExpectationSuite ignores when it decides two expectations are the same one.
_NOT_IDENTITY = {"id", "rendered_content", "notes", "meta"}


@dataclass(frozen=True, slots=True)
class RuleKey:
    """Which row reasons an expectation stands for: rule codes on one field (and detail, for documents)."""

    rules: tuple[str, ...]
    field: str
    detail: str | None = None

    def as_meta(self) -> dict[str, Any]:
        return {"rules": list(self.rules), "field": self.field, "detail": self.detail}

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> RuleKey:
        data = (meta or {})["tierhub"]
        return cls(tuple(data["rules"]), data["field"], data.get("detail"))


def suite_name(item: ItemStandard, version: StandardVersion) -> str:
    """The suite's name: item code and version."""
    return f"{item.code}@{version.version}"


def _value_column(field: str) -> str:
    return f"{field}__value"


def _folded_column(field: str) -> str:
    return f"{field}__folded"


def _carried_column(field: str) -> str:
    return f"{field}__carried"


class SuiteBuilder:
    """Builds the expectation suite and the frame query of one standard version."""

    def __init__(self, item: ItemStandard, version: StandardVersion, today: dt.date) -> None:
        import great_expectations as gx  # GX takes seconds to import: only when suites are built

        import quality.expectations  # noqa: F401  (registers the custom expectations)
        from quality.gx_compat import context

        context()  # a suite needs an active GX context
        validate_version(item, version)
        self.gx = gx
        self.item = item
        self.version = version
        self.today = today
        self._seen: set[tuple[str, str]] = set()
        self.suite = gx.ExpectationSuite(
            name=suite_name(item, version),
            meta={
                "tierhub": {
                    "item": item.code,
                    "name_zh": item.name_zh,
                    "name_en": item.name_en,
                    "version": version.version,
                    "effective_from": version.effective_from.isoformat(),
                    "effective_to": version.effective_to.isoformat() if version.effective_to else None,
                }
            },
        )

    def _add(self, expectation: Any, key: RuleKey, description: str) -> None:
        from great_expectations.expectations.metadata_types import FailureSeverity

        # Decision 0017: an expectation standing for warning rules is a GX warning, else critical.
        warning = all(self.version.severity_of(rule) == "warning" for rule in key.rules)
        expectation.severity = FailureSeverity.WARNING if warning else FailureSeverity.CRITICAL
        expectation.meta = {"tierhub": {**key.as_meta(), "severity": "warning" if warning else "error"}}
        expectation.description = description
        # GX's add_expectation compares the newcomer with every expectation already in the suite
        # (a pydantic dict each time: quadratic, ~0.2 s a suite). The same set semantics, one dict each.
        same = (expectation.expectation_type, repr(expectation.dict(exclude=_NOT_IDENTITY)))
        if same not in self._seen:
            self._seen.add(same)
            self.suite.expectations.append(expectation)

    def build(self) -> gx.ExpectationSuite:
        """Every rule of the version as an expectation."""
        import great_expectations.expectations as gxe
        import great_expectations.expectations.core as gxc
        from great_expectations.expectations.row_conditions import Column

        import quality.expectations as tx

        for rule in self.version.fields:
            self._field(rule, gxe, tx, Column)
            self._check(rule, gxe, tx)
        for earlier, later in self.version.date_order:
            if self.version.field(earlier) and self.version.field(later):
                self._add(
                    gxc.ExpectColumnPairValuesAToBeGreaterThanB(
                        column_A=_value_column(later),
                        column_B=_value_column(earlier),
                        or_equal=True,
                        ignore_row_if="either_value_is_missing",
                    ),
                    RuleKey(("DATE_ORDER",), later),
                    f"{later} on or after {earlier}",
                )
        limit = self.version.time_limit
        if limit and limit.calendar_days is not None:
            self._add(
                tx.ExpectColumnPairDaysToBeAtMost(
                    column_A=_value_column(limit.from_), column_B=_value_column(limit.to), days=limit.calendar_days
                ),
                RuleKey(("TIME_LIMIT_EXCEEDED_CALENDAR",), limit.to),
                f"{limit.to} within {limit.calendar_days} days of {limit.from_}",
            )
        elif limit and limit.working_days is not None:
            self._add(
                tx.ExpectColumnPairWorkingDaysToBeAtMost(
                    column_A=_value_column(limit.from_),
                    column_B=_value_column(limit.to),
                    working_days=limit.working_days,
                    ignore_row_if="either_value_is_missing",
                ),
                RuleKey(("TIME_LIMIT_EXCEEDED",), limit.to),
                f"{limit.to} within {limit.working_days} working days of {limit.from_}",
            )
        if self.version.field("documents"):
            for document in self.version.documents:
                if document.required:
                    self._add(
                        tx.ExpectColumnValuesToListDocument(column="documents", labels=document.labels),
                        RuleKey(("DOC_MISSING",), "documents", document.name_zh),
                        f"documents name {document.name_zh}",
                    )
        if self.version.duplicate_key:
            self._add(
                gxc.ExpectCompoundColumnsToBeUnique(
                    column_list=["_file_id", "_key", "_bdate"], ignore_row_if="any_value_is_missing"
                ),
                RuleKey(("DUPLICATE_ROW",), self.version.duplicate_key[0]),
                f"one row per {', '.join(self.version.duplicate_key)} and business date in a file",
            )
        return self.suite

    def _field(self, rule: FieldRule, gxe: Any, tx: Any, column: Any) -> None:
        f, value = rule.field, _value_column(rule.field)
        filled = column(f).is_not_null()
        if rule.required:
            # ``<field>__carried``: the cell, or '' where the export has no such column (reported per file).
            self._add(
                gxe.ExpectColumnValuesToNotBeNull(column=_carried_column(f)),
                RuleKey(("REQUIRED_MISSING",), f),
                f"{f} filled",
            )
        if rule.code_table:
            labels = sorted(code_tables()[rule.code_table].lookup)
            self._add(
                tx.ExpectColumnValuesToListKnownCodes(column=f, labels=labels)
                if rule.multiple
                else gxe.ExpectColumnValuesToBeInSet(column=_folded_column(f), value_set=labels),
                RuleKey(("CODE_UNKNOWN",), f),
                f"{f} in code table {rule.code_table}",
            )
        if rule.type in ("decimal", "integer"):
            self._add(
                gxe.ExpectColumnValuesToNotBeNull(column=value, row_condition=filled),
                RuleKey(("NUMBER_FORMAT",), f),
                f"{f} is a readable {rule.type}",
            )
            if rule.min is not None or rule.max is not None:
                self._add(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=value,
                        min_value=float(rule.min) if rule.min is not None else None,
                        max_value=float(rule.max) if rule.max is not None else None,
                    ),
                    RuleKey(("VALUE_RANGE",), f),
                    f"{f} within {rule.min}–{rule.max}",
                )
        if rule.pattern is not None:
            self._add(
                gxe.ExpectColumnValuesToMatchRegex(column=value, regex=f"^(?:{rule.pattern})$"),
                RuleKey(("PATTERN_MISMATCH",), f),
                f"{f} matches {rule.pattern_hint}",
            )
        if rule.type == "date":
            self._add(
                gxe.ExpectColumnValuesToNotBeNull(column=value, row_condition=filled),
                RuleKey(("DATE_FORMAT",), f),
                f"{f} is a readable date",
            )

    def _check(self, rule: FieldRule, gxe: ModuleType, tx: ModuleType) -> None:
        check = check_for(rule)
        if check is None:
            return
        kit = GxKit(gxe=gxe, tx=tx, today=self.today, rule=rule, value=_value_column(rule.field))
        for expected in check.expectations(kit):
            self._add(expected.expectation, RuleKey(expected.rules or check.rules, rule.field), expected.description)

    def frame_sql(self, relation: str, judged: str) -> str:
        """The rows of ``relation`` judged by this version, as the frame GX validates."""
        compiler = VersionCompiler(self.item, self.version, JudgeContext(self.today))
        compiler.compile(relation)  # fills compiler.values and compiler.joins
        columns = [f"s.{ident(k)}" for k in (*ROW_KEYS, "_source_prefix")]
        for rule in self.version.fields:
            f = rule.field
            columns.append(f"s.{ident(f)}")
            columns.append(f"{compiler.values[f]} AS {ident(_value_column(f))}")
            if rule.code_table:
                columns.append(f"lower(replace(s.{ident(f)}, ' ', '')) AS {ident(_folded_column(f))}")
            if rule.required:
                columns.append(
                    f"CASE WHEN {compiler.required_missing_sql(f)} THEN NULL ELSE coalesce(s.{ident(f)}, '') END "
                    f"AS {ident(_carried_column(f))}"
                )
        id_value = compiler.values.get("id_number", "NULL")
        joins = "\n".join(compiler.joins)
        return f"""
SELECT * EXCLUDE (_id_ok),
  CASE WHEN _id_ok THEN CASE WHEN CAST(substr(_id, 17, 1) AS INTEGER) % 2 = 1 THEN '1' ELSE '2' END END AS _id_sex,
  CASE WHEN _id_ok THEN _id_birth END AS _id_birth_ok,
  CASE WHEN _id_ok THEN _id END AS _id_ok_id
FROM (
  SELECT *, CASE WHEN regexp_full_match(_id, '\\d{{17}}[\\dX]')
    THEN coalesce({id_ok_expression()}, FALSE) ELSE FALSE END AS _id_ok
  FROM (
    SELECT *, CAST(try_strptime(substr(_id, 7, 8), '%Y%m%d') AS DATE) AS _id_birth
    FROM (
      SELECT {", ".join(columns)}, {id_value} AS _id, {compiler.duplicate_key_sql()} AS _key,
        {compiler.business_date_sql()} AS _bdate
      FROM {relation} s
      JOIN {judged} j ON j._file_id = s._file_id AND j._row_number = s._row_number
        AND j._sheet IS NOT DISTINCT FROM s._sheet AND j._standard_version = {lit(self.version.version)}
      {joins}
    )
  )
)
"""


def build_suite(item: ItemStandard, version: StandardVersion, today: dt.date) -> gx.ExpectationSuite:
    """The GX suite of one standard version."""
    return SuiteBuilder(item, version, today).build()
