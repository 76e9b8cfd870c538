"""Sex (性别) agrees with digit 17 of the row's ID number: odd for men (1), even for women (2)."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Requirement, agrees_with_id


class SexMatchesId(FieldCheck):
    name = "sex_matches_id"
    rules = ("SEX_ID_MISMATCH",)
    requires = Requirement(valid_id=True)

    def reasons_sql(self, field: FieldSql) -> list[str]:
        v = field.value
        id_sex = "CASE WHEN CAST(substr(_id, 17, 1) AS INTEGER) % 2 = 1 THEN '1' ELSE '2' END"
        return [
            field.when(
                f"_id_ok AND {v} IS NOT NULL AND {v} <> {id_sex}",
                "SEX_ID_MISMATCH",
                f"CASE WHEN {id_sex} = '1' THEN '男' ELSE '女' END",
            )
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return agrees_with_id(kit, "_id_sex", "agrees with digit 17 of the ID")


CHECK = SexMatchesId()
