"""Birth date (出生日期) agrees with digits 7-14 of the row's ID number."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Requirement, agrees_with_id


class BirthDateMatchesId(FieldCheck):
    name = "birth_date_matches_id"
    rules = ("BIRTH_ID_MISMATCH",)
    requires = Requirement(valid_id=True)

    def reasons_sql(self, field: FieldSql) -> list[str]:
        v = field.value
        return [
            field.when(
                f"_id_ok AND {v} IS NOT NULL AND {v} <> _id_birth",
                "BIRTH_ID_MISMATCH",
                "strftime(_id_birth, '%Y-%m-%d')",
            )
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return agrees_with_id(kit, "_id_birth_ok", "agrees with the birth date in the ID")


CHECK = BirthDateMatchesId()
