"""Install the lookup tables, macros and functions the compiled rules use.

They are TEMP objects of the connection passed in (prefixed ``th_``), so the verdict
engine works on any DuckDB connection: the warehouse's, a benchmark's or a test's.
"""

from __future__ import annotations

import functools
import hashlib
import re
from functools import cache

import duckdb
import pyarrow as pa
from stdnum import luhn

from tierhub.calendar import working_day_index
from tierhub.reference import code_tables, divisions
from tierhub.reference.local import active_local_aliases

DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",  # Excel's default date-time display (2026/11/2 9:30)
    "%Y/%m/%d %H:%M",
)
# A parsed year outside these is a dialect misread, not a date: 26/11/2 (two-digit year) would
# otherwise become the year 26 and load. Every row is parsed on its own (decision 0022).
DATE_YEARS = (1900, 2199)


_DIGITS = re.compile(r"\d{1,30}")


def luhn_check_characters(values: pa.Array) -> pa.Array:
    """The Luhn (ISO/IEC 7812) check digit for each digit string (null where not digits).

    The arithmetic is python-stdnum's ``luhn.calc_check_digit``; bank card numbers on
    social security cards and benefit accounts carry it.
    """
    return pa.array(
        [luhn.calc_check_digit(v) if v is not None and _DIGITS.fullmatch(v) else None for v in values.to_pylist()],
        type=pa.string(),
    )


def code_lookup_table() -> pa.Table:
    """Every accepted folded text of every code table with its code (local aliases included)."""
    return _code_lookup_table(active_local_aliases().codes)


def _aliases_key() -> str:
    return hashlib.sha1(repr(active_local_aliases().codes).encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def _code_lookup_table(local: tuple[tuple[str, str, str], ...]) -> pa.Table:
    tables, labels, codes = [], [], []
    for name, table in code_tables().items():
        for label, code in table.lookup.items():
            tables.append(name)
            labels.append(label)
            codes.append(code)
    return pa.table({"tbl": tables, "label": labels, "code": codes})


@cache
def division_table() -> pa.Table:
    """Code and level of every division."""
    nodes = list(divisions().by_code.values())
    return pa.table({"code": [d.code for d in nodes], "level": [d.level for d in nodes]})


def install_lookups(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``th_*`` temp tables, macros and functions on ``con`` (idempotent).

    The code lookup is rebuilt when the local aliases in force changed since it was made.
    """
    if con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'th_workdays'"
    ).fetchall() == [(1,)]:
        key = _aliases_key()
        if con.execute("SELECT key FROM th_code_lookup_key").fetchall() != [(key,)]:
            con.register("_th_src", code_lookup_table())
            con.execute("CREATE OR REPLACE TEMP TABLE th_code_lookup AS SELECT * FROM _th_src")
            con.unregister("_th_src")
            con.execute("CREATE OR REPLACE TEMP TABLE th_code_lookup_key AS SELECT ? AS key", [key])
        return
    con.execute("CREATE OR REPLACE TEMP TABLE th_code_lookup_key AS SELECT ? AS key", [_aliases_key()])
    for name, table in (
        ("th_workdays", working_day_index()),
        ("th_code_lookup", code_lookup_table()),
        ("th_divisions", division_table()),
    ):
        con.register("_th_src", table)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM _th_src")
        con.unregister("_th_src")
    formats = ", ".join(f"'{f}'" for f in DATE_FORMATS)
    con.execute(
        "CREATE OR REPLACE TEMP MACRO th_date_parsed(x) AS CASE "
        # Excel serial dates (days since 1899-12-30) arrive as 5-digit numbers.
        r"WHEN regexp_full_match(x, '\d{5}(\.0+)?') "
        "THEN DATE '1899-12-30' + CAST(CAST(x AS DOUBLE) AS INTEGER) "
        f"ELSE CAST(try_strptime(x, [{formats}]) AS DATE) END"
    )
    # The parsed date if its year lies in DATE_YEARS, else NULL, with the parser written once: a
    # CASE naming it twice doubled every date's parser in each judge statement (decision 0033).
    con.execute(
        "CREATE OR REPLACE TEMP MACRO th_date(x) AS "
        f"list_filter([th_date_parsed(x)], d -> year(d) BETWEEN {DATE_YEARS[0]} AND {DATE_YEARS[1]})[1]"
    )
    # Check characters in SQL: the Python UDFs they replace cost a third of the verdict time
    # (bench/verdicts.py). The arithmetic is the standards' own; tests/test_checkdigits.py
    # compares every macro with python-stdnum on random and edge-case input.
    for statement in CHECK_DIGIT_MACROS:
        con.execute(statement)


# GB 11643 (ISO 7064 MOD 11-2), GB 32100 and ISO/IEC 7812 (Luhn) check characters of a prefix;
# NULL when the prefix has the wrong form, as python-stdnum would refuse it. The weighted sums
# are unrolled (17 terms) rather than list lambdas: DuckDB vectorises them, ~3x faster.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ID_SUM = " + ".join(f"CAST(x[{i + 1}] AS INTEGER) * {w}" for i, w in enumerate(_ID_WEIGHTS))
_USCC_SUM = " + ".join(f"(strpos('{_USCC_ALPHABET}', x[{i + 1}]) - 1) * {w}" for i, w in enumerate(_USCC_WEIGHTS))
CHECK_DIGIT_MACROS = (
    "CREATE OR REPLACE TEMP MACRO th_id_check(x) AS CASE WHEN regexp_full_match(x, '\\d{17}') THEN "
    f"substr('10X98765432', CAST(({_ID_SUM}) % 11 + 1 AS BIGINT), 1) END",
    "CREATE OR REPLACE TEMP MACRO th_uscc_check(x) AS CASE WHEN regexp_full_match(x, '[0-9A-HJ-NP-RTUW-Y]{17}') "
    f"THEN substr('{_USCC_ALPHABET}', CAST((31 - ({_USCC_SUM}) % 31) % 31 + 1 AS BIGINT), 1) END",
    # Luhn: from the right of the payload, every first, third, … digit is doubled (minus 9 above 9).
    "CREATE OR REPLACE TEMP MACRO th_luhn_check(x) AS CASE WHEN regexp_full_match(x, '\\d{1,30}') THEN "
    "CAST((10 - list_sum(list_transform(range(length(x)), lambda i: CASE WHEN i % 2 = 0 THEN "
    "(CAST(substr(x, CAST(length(x) - i AS BIGINT), 1) AS INTEGER) * 2) "
    "- CASE WHEN CAST(substr(x, CAST(length(x) - i AS BIGINT), 1) AS INTEGER) > 4 THEN 9 ELSE 0 END "
    "ELSE CAST(substr(x, CAST(length(x) - i AS BIGINT), 1) AS INTEGER) END)) % 10) % 10 AS VARCHAR) END",
)
