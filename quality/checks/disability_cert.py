"""Second-generation disability certificate numbers (第二代残疾人证号): the holder's ID, category 1-7, grade 1-4."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Hint, Normalised, Requirement, id_text
from tierhub.standards import FieldRule


class DisabilityCert(FieldCheck):
    name = "disability_cert"
    rules = ("DISABILITY_CERT_MISMATCH",)
    hint = Hint(
        zh="20位第二代残疾人证号：本人身份证号加残疾类别和等级",
        en="20-character 2nd-generation disability certificate number, the holder's ID plus category and grade",
    )
    requires = Requirement(valid_id=True)

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        return Normalised(id_text(column))

    def reasons_sql(self, field: FieldSql) -> list[str]:
        v = field.value
        return [
            field.when(
                f"_id_ok AND {field.present} AND NOT (regexp_full_match({v}, '\\d{{17}}[\\dX][1-7][1-4]') "
                f"AND left({v}, 18) = _id)",
                "DISABILITY_CERT_MISMATCH",
                "_id",
            )
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return [
            Expected(
                kit.tx.ExpectColumnPairDisabilityCertToMatchId(column_A=kit.value, column_B="_id_ok_id"),
                f"{kit.rule.field} is the holder's ID plus category and grade",
            )
        ]


CHECK = DisabilityCert()
