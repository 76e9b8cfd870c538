"""SQL text for DuckDB: quoted identifiers and literals, written once for every package."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
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


def in_list(column: str) -> str:
    """SQL: ``column`` is one of the strings of a list parameter (``?``).

    A semi-join with the unnested list: ``list_contains(?, column)`` tests the whole list on every
    row, 2–9× slower for the 2,000 sources of a batch (0.62 → 0.07 s over the full city's cursor).
    """
    return f"{column} IN (SELECT unnest(?::VARCHAR[]))"


def union_all(parts: Iterable[str]) -> str:
    """SQL: the ``SELECT``s of ``parts`` as one parenthesised subquery (a load's items in one statement)."""
    return "(" + " UNION ALL ".join(parts) + ")"
