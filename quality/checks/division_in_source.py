"""A division code (区划代码) that exists, is at the field's level and lies inside the submitting unit's area."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Normalised
from tierhub.sql import lit
from tierhub.standards import FieldRule

# The handbook's words for the level a code must have.
LEVEL_HINTS = {
    "zh": {
        "city": "12位市级区划代码",
        "district": "12位区级区划代码",
        "street": "12位街道（乡镇）区划代码",
        "community": "12位社区（村）区划代码",
    },
    "en": {
        "city": "12-digit city division code",
        "district": "12-digit district division code",
        "street": "12-digit street/town division code",
        "community": "12-digit community/village division code",
    },
}


def _alias(rule: FieldRule) -> str:
    return f"dv_{rule.field}"


class DivisionInSource(FieldCheck):
    name = "division_in_source"
    rules = ("DIVISION_UNKNOWN", "DIVISION_LEVEL", "DIVISION_OUTSIDE_SOURCE")
    # The level hint says it all: the dictionary's "统计用区划代码" would repeat it.
    shows_standard = False

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        alias = _alias(rule)
        return Normalised(column, (f"LEFT JOIN th_divisions {alias} ON {alias}.code = {column}",))

    def reasons_sql(self, field: FieldSql) -> list[str]:
        alias = _alias(field.rule)
        level = field.rule.level or "community"
        return [
            f"CASE WHEN {field.present} THEN CASE "
            f"WHEN {alias}.code IS NULL THEN {field.reason('DIVISION_UNKNOWN')} "
            f"WHEN {alias}.level <> {lit(level)} THEN {field.reason('DIVISION_LEVEL', lit(level))} "
            f"WHEN NOT starts_with({field.value}, s._source_prefix) "
            f"THEN {field.reason('DIVISION_OUTSIDE_SOURCE', 's._source_code')} END END"
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        level = kit.rule.level or "community"
        return [
            Expected(
                kit.tx.ExpectColumnPairValuesToBeInSourceArea(
                    column_A=kit.rule.field,
                    column_B="_source_prefix",
                    level=level,
                    ignore_row_if="either_value_is_missing",
                ),
                f"{kit.rule.field} is a {level} inside the source's area",
            )
        ]

    def handbook_hint(self, rule: FieldRule, language: str) -> str | None:
        return LEVEL_HINTS[language][rule.level or "community"]


CHECK = DivisionInSource()
