"""GB 32100 unified social credit codes (统一社会信用代码): 18 characters with a mod-31 check character."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Hint, Normalised, code_text
from tierhub.standards import FieldRule


class Gb32100(FieldCheck):
    name = "gb32100"
    rules = ("USCC_CHECKSUM",)
    hint = Hint(zh="18位统一社会信用代码", en="18-character unified social credit code (GB 32100)")

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        return Normalised(code_text(column))

    def reasons_sql(self, field: FieldSql) -> list[str]:
        v = field.value
        return [
            field.when(
                f"{field.present} AND (NOT regexp_full_match({v}, '[0-9A-HJ-NP-RTUW-Y]{{18}}') "
                f"OR right({v}, 1) <> th_uscc_check(left({v}, 17)))",
                "USCC_CHECKSUM",
            )
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return [
            Expected(
                kit.tx.ExpectColumnValuesToBeGb32100Code(column=kit.value), f"{kit.rule.field} is a valid GB 32100 code"
            )
        ]


CHECK = Gb32100()
