"""Bank card accounts (银行账号): 12-19 digits with an ISO/IEC 7812 Luhn check digit."""

from __future__ import annotations

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Hint, Normalised
from tierhub.standards import FieldRule


class Luhn(FieldCheck):
    name = "luhn"
    rules = ("LUHN_CHECKSUM",)
    hint = Hint(
        zh="12至19位银行卡号（社保卡金融账户），按卡片原件填写",
        en="12–19 digit bank card number (ISO/IEC 7812, Luhn check digit)",
    )

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        return Normalised(f"regexp_replace({column}, '[\\s\\-]', '', 'g')")

    def reasons_sql(self, field: FieldSql) -> list[str]:
        v = field.value
        return [
            field.when(
                f"{field.present} AND NOT (regexp_full_match({v}, '\\d{{12,19}}') "
                f"AND right({v}, 1) = th_luhn_check(left({v}, length({v}) - 1)))",
                "LUHN_CHECKSUM",
            )
        ]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return [
            Expected(kit.tx.ExpectColumnValuesToPassLuhn(column=kit.value), f"{kit.rule.field} passes the Luhn check")
        ]


CHECK = Luhn()
