"""GB 11643 citizen ID numbers (公民身份号码): 18 characters, ISO 7064 MOD 11-2 check character, a real birth date."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Hint, Normalised, id_text
from tierhub.sql import lit
from tierhub.standards import FieldRule


class Gb11643(FieldCheck):
    name = "gb11643"
    rules = ("ID_FLOAT_DAMAGED", "ID_LEGACY_15", "ID_LENGTH", "ID_FORMAT", "ID_CHECKSUM", "ID_BIRTH_DATE")
    hint = Hint(
        zh="18位公民身份号码，末位可为X；按文本格式录入",
        en="18-character ID number (GB 11643), last character a digit or X; export as text",
    )

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        return Normalised(id_text(column))

    def reasons_sql(self, field: FieldSql) -> list[str]:
        # One reason per ID: the first problem found, so a damaged number is not also
        # reported as a bad check digit.
        v = field.value
        return [
            f"CASE WHEN {field.present} THEN CASE "
            f"WHEN regexp_full_match({v}, '[0-9.]+E\\+?[0-9]+') OR regexp_full_match({v}, '\\d+\\.\\d*') "
            f"THEN {field.reason('ID_FLOAT_DAMAGED')} "
            f"WHEN regexp_full_match({v}, '\\d{{15}}') THEN {field.reason('ID_LEGACY_15')} "
            f"WHEN length({v}) <> 18 THEN {field.reason('ID_LENGTH', f'length({v})')} "
            f"WHEN NOT regexp_full_match({v}, '\\d{{17}}[\\dX]') THEN {field.reason('ID_FORMAT')} "
            f"WHEN right({v}, 1) <> th_id_check(left({v}, 17)) "
            f"THEN {field.reason('ID_CHECKSUM', f'th_id_check(left({v}, 17))')} "
            f"WHEN _id_birth IS NULL OR _id_birth < DATE '1900-01-01' OR _id_birth > {lit(field.today)} "
            f"THEN {field.reason('ID_BIRTH_DATE')} END END"
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return [
            Expected(
                kit.tx.ExpectColumnValuesToBeGb11643Id(column=kit.value, today=kit.today.isoformat()),
                f"{kit.rule.field} is a valid GB 11643 ID",
            )
        ]


CHECK = Gb11643()
