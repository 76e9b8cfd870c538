"""SQL text for DuckDB: quoted identifiers and literals, written once for every package."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def lit(value: object) -> str:
    """A SQL literal for a Python str, int, Decimal or date (``NULL`` for None)."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
