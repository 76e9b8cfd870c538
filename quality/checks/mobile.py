"""Mainland mobile numbers (手机号码): 11 digits 1[3-9]…, after +86/0086/86, spaces, dashes and brackets go."""

from __future__ import annotations

from quality.checks._base import Hint, Normalised, PatternCheck
from tierhub.standards import FieldRule

MOBILE = r"1[3-9]\d{9}"


def mobile_text(column: str) -> str:
    """SQL: the number without spaces, dashes, brackets and a +86/0086/86 country code before 11 digits."""
    bare = f"regexp_replace({column}, '[\\s()\\-]', '', 'g')"
    return f"regexp_replace({bare}, '^(\\+?86|0086)(1\\d{{10}})$', '\\2')"


class Mobile(PatternCheck):
    name = "mobile"
    rules = ("MOBILE_FORMAT",)
    hint = Hint(zh="11位手机号码", en="11-digit mobile number")
    pattern = MOBILE
    meaning = "a mainland mobile number"

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        return Normalised(mobile_text(column))


CHECK = Mobile()
