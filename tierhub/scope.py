"""A part of the division tree that a user, a query or a report is bound to.

Every division filter in tierhub — a portal user's area, a mart's or a query's scope, a
report's district — is a :class:`Scope`: a 12-digit division code that knows its subtree's
code prefix and refuses to widen. It is a ``str`` (it prints, binds as a SQL parameter and
compares as its code), so it travels through templates and SQL unchanged.
"""

from __future__ import annotations

import re

from tierhub.errors import ConfigError, ScopeError
from tierhub.reference import Division, divisions

CITY_CODE = "120000000000"
_CODE = re.compile(r"\d{12}")


class Scope(str):
    """A division node and everything below it."""

    __slots__ = ()

    def __new__(cls, code: str) -> Scope:
        if isinstance(code, Scope):
            return code
        text = str(code)
        if not _CODE.fullmatch(text) or text not in divisions().by_code:
            raise ScopeError(f"{text[:40]!r} is not a division code", fix="use a 12-digit NBS division code")
        return super().__new__(cls, text)

    @classmethod
    def district(cls, code: str) -> Scope:
        """A district's scope from its 6- or 12-digit code (ConfigError if the code is not a district)."""
        full = code.ljust(12, "0") if len(code) == 6 else code
        node = divisions().by_code.get(full)
        if node is None or node.level != "district":
            raise ConfigError(f"{code} is not a Tianjin district code", fix="use a district code such as 120101")
        return cls(full)

    @classmethod
    def city(cls) -> Scope:
        """The whole city."""
        return cls(CITY_CODE)

    @property
    def division(self) -> Division:
        """The division node itself."""
        return divisions().get(str(self))

    @property
    def prefix(self) -> str:
        """The code prefix every division inside shares (``1201``, ``120101``, ``120101001``…)."""
        return self.division.prefix

    @property
    def level(self) -> str:
        """city, district, street or community."""
        return self.division.level

    def contains(self, code: str) -> bool:
        """Whether the division (or source) ``code`` lies inside this scope."""
        return bool(_CODE.fullmatch(code)) and code.startswith(self.prefix)

    def narrow(self, code: str | None) -> Scope:
        """The narrower scope ``code`` (this one when empty); ScopeError if it is not inside."""
        if not code or code == self:
            return self
        inner = Scope(code)
        if not self.contains(inner):
            raise ScopeError(f"{inner} is outside the scope {self}")
        return inner


def district_of(code: str) -> str:
    """The 12-digit district a division or source code lies in (6 or 12 digits; raises if none)."""
    full = code.ljust(12, "0") if len(code) == 6 else code
    node = divisions().by_code.get(full)
    if node is None or node.district_code is None:
        raise ConfigError(
            f"{code!r} is not a Tianjin district or a division inside one", fix="use a code such as 120101"
        )
    return node.district_code
