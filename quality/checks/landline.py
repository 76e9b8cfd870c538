"""Tianjin landlines (固定电话): area code 022 and 8 digits; a bare 8-digit local number gets 022."""

from __future__ import annotations

from quality.checks._base import Hint, Normalised, PatternCheck
from tierhub.standards import FieldRule


class Landline(PatternCheck):
    name = "landline"
    rules = ("LANDLINE_FORMAT",)
    hint = Hint(
        zh="天津固定电话，022加8位号码（只填8位的自动补022）",
        en="Tianjin landline, 022 and 8 digits (a bare 8-digit number gets 022)",
    )
    pattern = r"022[2-9]\d{7}"
    meaning = "a Tianjin landline"

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        # 022-2345 6789, (022)23456789, +86 22 2345 6789 and a bare 23456789 all mean 02223456789.
        bare = f"regexp_replace({column}, '[\\s()\\-]', '', 'g')"
        bare = f"regexp_replace({bare}, '^(\\+?86|0086)(22\\d{{8}})$', '0\\2')"
        return Normalised(f"CASE WHEN regexp_full_match({bare}, '[2-9]\\d{{7}}') THEN '022' || {bare} ELSE {bare} END")


CHECK = Landline()
