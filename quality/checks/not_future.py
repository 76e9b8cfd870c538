"""A date that cannot lie in the future (a registration, an application): not after the judging day."""

from __future__ import annotations

import datetime as dt

from quality.checks._base import Expected, FieldCheck, FieldSql, GxKit, Requirement
from tierhub.sql import lit


class NotFuture(FieldCheck):
    name = "not_future"
    rules = ("DATE_FUTURE",)
    requires = Requirement(field_type="date")

    def reasons_sql(self, field: FieldSql) -> list[str]:
        return [field.when(f"{field.value} > {lit(field.today)}", "DATE_FUTURE")]

    def expectations(self, kit: GxKit) -> list[Expected]:
        return [
            Expected(
                kit.gxe.ExpectColumnValuesToBeBetween(
                    column=kit.value, max_value=dt.datetime.combine(kit.today, dt.time.min)
                ),
                f"{kit.rule.field} not after {kit.today}",
            )
        ]


CHECK = NotFuture()
