"""Custom Great Expectations for the rules no built-in expectation expresses.

Each is a real GX 1.x expectation with a pandas implementation of its own (not a call
into the DuckDB engine), so running a suite through GX checks the compiled engine
independently (``tests/test_suites.py`` compares the two row by row).

- ``ExpectColumnValuesToBeGb11643Id``: GB 11643 ID numbers — 18 characters, check
  character by ISO 7064 MOD 11-2 (python-stdnum's check-digit function, not
  ``cn.ric.validate``, which rejects valid IDs with abolished county codes), birth date
  between 1900-01-01 and ``today``; legacy 15-digit and Excel-damaged values fail.
- ``ExpectColumnValuesToBeGb32100Code``: GB 32100 credit codes, letter-led N…/Y… accepted.
- ``ExpectColumnValuesToListDocument``: the submitted-documents cell names a document
  (any of its accepted names).
- ``ExpectColumnPairValuesToBeInSourceArea``: a division code exists, is at the stated
  level and lies inside the submitting source's subtree (column B: the source's prefix).
- ``ExpectColumnPairWorkingDaysToBeAtMost``: at most N working days (Chinese public
  holidays and adjusted weekends from chinese-calendar) from column A to column B.
- ``ExpectColumnValuesToPassLuhn``: 12–19 digits passing the ISO/IEC 7812 Luhn check (bank accounts).
- ``ExpectColumnValuesToListKnownCodes``: a cell listing several codes names only known ones.
- ``ExpectColumnPairDisabilityCertToMatchId``: a disability certificate number is the ID + category + grade.
- ``ExpectColumnPairDaysToBeAtMost``: at most N calendar days from column A to column B.

Import this module before validating a suite that uses them: importing registers them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar, Literal

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
    ColumnMapMetricProvider,
)
from great_expectations.expectations.metrics.map_metric_provider.column_pair_condition_partial import (
    column_pair_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_pair_map_metric_provider import (
    ColumnPairMapMetricProvider,
)
from stdnum import luhn

from quality.rules import LIST_SEPARATORS
from tierhub.calendar import working_day_index
from tierhub.checkdigits import id_check_character, uscc_check_character
from tierhub.reference import divisions

_ID18 = re.compile(r"\d{17}[\dX]")
_USCC = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}")
_DOC_SPLIT = re.compile(r"[,，;；/|、\s]+")
_LIST_SPLIT = re.compile(LIST_SEPARATORS)
_ACCOUNT = re.compile(r"\d{12,19}")
_DISABILITY = re.compile(r"\d{17}[\dX][1-7][1-4]")


def valid_gb11643(value: str, today: dt.date) -> bool:
    """Whether ``value`` (already upper-cased, spaces removed) is a valid 18-character ID."""
    if not _ID18.fullmatch(value) or value[17] != id_check_character(value[:17]):
        return False
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= birth <= today


def valid_gb32100(value: str) -> bool:
    """Whether ``value`` is a GB 32100 credit code with a correct check character."""
    return bool(_USCC.fullmatch(value)) and value[17] == uscc_check_character(value[:17])


def listed_documents(cell: str) -> set[str]:
    """The folded document names in a submitted-documents cell."""
    return {part.strip().lower() for part in _DOC_SPLIT.split(cell) if part.strip()}


def valid_bank_account(value: str) -> bool:
    """Whether ``value`` is a 12–19 digit card account passing the ISO/IEC 7812 Luhn check."""
    return bool(_ACCOUNT.fullmatch(value)) and bool(luhn.is_valid(value))


def valid_disability_cert(value: str, id_number: str) -> bool:
    """Whether a second-generation disability certificate number is the holder's ID + category 1-7 + grade 1-4."""
    return bool(_DISABILITY.fullmatch(value)) and value[:18] == id_number


def known_codes(cell: str, labels: set[str]) -> bool:
    """Whether a cell listing several codes names at least one, all of them known."""
    parts = [p for p in _LIST_SPLIT.split(cell) if p]
    return bool(parts) and all(p.lower() in labels for p in parts)


# -- metrics (pandas) ---------------------------------------------------------------------


class ColumnValuesGb11643(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierhub_gb11643"
    condition_value_keys = ("today",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, today: str, **kwargs: Any) -> pd.Series:
        day = dt.date.fromisoformat(today)
        return column.map(lambda v: valid_gb11643(str(v), day))


class ColumnValuesGb32100(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierhub_gb32100"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(lambda v: valid_gb32100(str(v)))


class ColumnValuesListDocument(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierhub_list_document"
    condition_value_keys = ("labels",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, labels: list[str], **kwargs: Any) -> pd.Series:
        wanted = set(labels)
        return column.map(lambda v: bool(listed_documents(str(v)) & wanted))


class ColumnValuesLuhn(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierhub_luhn"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(lambda v: valid_bank_account(str(v)))


class ColumnValuesKnownCodes(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierhub_known_codes"
    condition_value_keys = ("labels",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, labels: list[str], **kwargs: Any) -> pd.Series:
        known = set(labels)
        return column.map(lambda v: known_codes(str(v), known))


class ColumnPairDisabilityCert(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierhub_disability_cert"

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: Any) -> pd.Series:
        return pd.Series(
            [valid_disability_cert(str(a), str(b)) for a, b in zip(column_A, column_B, strict=True)],
            index=column_A.index,
        )


class ColumnPairDaysAtMost(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierhub_days_at_most"
    condition_value_keys = ("days",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, days: int, **kwargs: Any) -> pd.Series:
        return (column_B - column_A).dt.days <= days


class ColumnPairInSourceArea(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierhub_in_source_area"
    condition_value_keys = ("level",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, level: str, **kwargs: Any) -> pd.Series:
        by_code = divisions().by_code

        def inside(code: object, prefix: object) -> bool:
            node = by_code.get(str(code))
            return node is not None and node.level == level and str(code).startswith(str(prefix))

        return pd.Series([inside(a, b) for a, b in zip(column_A, column_B, strict=True)], index=column_A.index)


class ColumnPairWorkingDaysAtMost(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierhub_working_days_at_most"
    condition_value_keys = ("working_days",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, working_days: int, **kwargs: Any) -> pd.Series:
        index = working_day_index().to_pandas().set_index("day")["idx"]

        def count(day: object) -> int | None:
            key = pd.Timestamp(day).date()
            return int(index[key]) if key in index.index else None

        def within(start: object, end: object) -> bool:
            a, b = count(start), count(end)
            return a is None or b is None or b - a <= working_days

        return pd.Series([within(a, b) for a, b in zip(column_A, column_B, strict=True)], index=column_A.index)


# -- expectations ---------------------------------------------------------------------------


class ExpectColumnValuesToBeGb11643Id(ColumnMapExpectation):
    """Expect GB 11643 citizen ID numbers: 18 characters, a correct check character, a real birth date."""

    today: str
    map_metric: ClassVar[str] = "column_values.tierhub_gb11643"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "today")


class ExpectColumnValuesToBeGb32100Code(ColumnMapExpectation):
    """Expect GB 32100 unified social credit codes with a correct check character."""

    map_metric: ClassVar[str] = "column_values.tierhub_gb32100"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToListDocument(ColumnMapExpectation):
    """Expect the submitted-documents cell to name a required document by any accepted name."""

    labels: list[str]
    map_metric: ClassVar[str] = "column_values.tierhub_list_document"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "labels")


class ExpectColumnValuesToPassLuhn(ColumnMapExpectation):
    """Expect numbers that pass the ISO/IEC 7812 Luhn check (bank card accounts)."""

    map_metric: ClassVar[str] = "column_values.tierhub_luhn"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ExpectColumnValuesToListKnownCodes(ColumnMapExpectation):
    """Expect a cell listing several codes (、,; or spaces between) to name only codes of the table."""

    labels: list[str]
    map_metric: ClassVar[str] = "column_values.tierhub_known_codes"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "labels")


_IgnoreRowIf = Literal["both_values_are_missing", "either_value_is_missing", "neither"]


class ExpectColumnPairDisabilityCertToMatchId(ColumnPairMapExpectation):
    """Expect a disability certificate number (A) to be the holder's ID number (B) + category 1-7 + grade 1-4."""

    ignore_row_if: _IgnoreRowIf = "either_value_is_missing"
    map_metric: ClassVar[str] = "column_pair_values.tierhub_disability_cert"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly")


class ExpectColumnPairDaysToBeAtMost(ColumnPairMapExpectation):
    """Expect at most ``days`` calendar days from date A to date B (limits a law counts in calendar days)."""

    days: int
    ignore_row_if: _IgnoreRowIf = "either_value_is_missing"
    map_metric: ClassVar[str] = "column_pair_values.tierhub_days_at_most"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly", "days")


class ExpectColumnPairValuesToBeInSourceArea(ColumnPairMapExpectation):
    """Expect a division code (A) that exists at ``level`` and lies in the source's subtree (B: its code prefix)."""

    level: str
    ignore_row_if: _IgnoreRowIf = "either_value_is_missing"
    map_metric: ClassVar[str] = "column_pair_values.tierhub_in_source_area"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly", "level")


class ExpectColumnPairWorkingDaysToBeAtMost(ColumnPairMapExpectation):
    """Expect at most ``working_days`` working days from date A to date B."""

    working_days: int
    ignore_row_if: _IgnoreRowIf = "either_value_is_missing"
    map_metric: ClassVar[str] = "column_pair_values.tierhub_working_days_at_most"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly", "working_days")
