"""A contact number (联系电话): a mainland mobile if it looks like one, else a Tianjin landline.

Village and elderly residents often give the house phone. Accepted, after NFKC folding:

- a mobile ``1[3-9]`` + 9 digits, with spaces, dashes, brackets and +86/0086/86 stripped
  (as the ``mobile`` check does);
- a landline: ``022-23456789``, ``02223456789``, ``(022)23456789``, ``+86 22 2345 6789``,
  ``0086-22-…``, or the bare 8-digit local number ``[2-9]\\d{7}`` (spaces and a dash inside
  the 8 digits allowed), optionally followed by an extension of 1-6 digits written
  ``转123``, ``分机123``, ``ext 123`` / ``ext.123`` or ``-123``.

The normalised value is one canonical form: a mobile as its 11 digits, a landline as ``022``
+ 8 digits, with the extension kept as ``-NNN`` (``02223456789-123``) — a switchboard number
without its extension does not reach the person. Anything else keeps its text (spaces and
brackets removed) and fails ``PHONE_FORMAT``.
"""

from __future__ import annotations

from quality.checks._base import Hint, Normalised, PatternCheck, regex_literal
from quality.checks.mobile import MOBILE, mobile_text
from tierhub.standards import FieldRule

# A Tianjin landline in the folded text (spaces and brackets gone, lower case):
# optional country/area code, the 8-digit number (groups 1 and 2), an optional extension (group 3).
LANDLINE = (
    r"(?:(?:(?:\+?86|0086)-?22|022)-?)?([2-9]\d{3})-?(\d{4})"
    r"(?:(?:-|转|分机|ext\.?)(\d{1,6}))?"
)
# What a valid contact number normalises to.
CANONICAL = rf"{MOBILE}|022[2-9]\d{{7}}(?:-\d{{1,6}})?"


class ContactPhone(PatternCheck):
    name = "contact_phone"
    rules = ("PHONE_FORMAT",)
    hint = Hint(
        zh="手机号码（11位），或天津固定电话（022加8位号码，可只填8位，分机号写在“转”或“-”后）",
        en="11-digit mobile number, or a Tianjin landline (022 and 8 digits, or the 8 digits alone; "
        "an extension after 转 or -)",
    )
    pattern = CANONICAL
    meaning = "a mobile number or a Tianjin landline"

    def value_sql(self, rule: FieldRule, column: str) -> Normalised:
        mobile = mobile_text(column)
        bare = f"regexp_replace({column}, '[\\s()]', '', 'g')"
        folded = f"lower({bare})"
        landline = regex_literal(LANDLINE)
        # No extension leaves '02223456789-': the trailing dash goes.
        canonical = f"rtrim(regexp_replace({folded}, '^{landline}$', '022\\1\\2-\\3'), '-')"
        return Normalised(
            f"CASE WHEN regexp_full_match({mobile}, '{regex_literal(MOBILE)}') THEN {mobile} "
            f"WHEN regexp_full_match({folded}, '{landline}') THEN {canonical} "
            f"ELSE {bare} END"
        )


CHECK = ContactPhone()
