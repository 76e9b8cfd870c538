"""Install the lookup tables, macros and functions the compiled rules use.

They are TEMP objects of the connection passed in (prefixed ``th_``), so the verdict
engine works on any DuckDB connection: the warehouse's, a benchmark's or a test's.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import chinese_calendar
import duckdb
import pyarrow as pa
from duckdb.func import FunctionNullHandling, PythonUDFType
from stdnum import luhn

from quality.checkdigits import id_check_characters, uscc_check_characters
from tierhub.reference import code_tables, divisions

# chinese-calendar knows the State Council's holiday arrangements for these years only;
# outside them a working day is Monday to Friday (see docs/decisions/0004).
CALENDAR_START = dt.date(1990, 1, 1)
CALENDAR_END = dt.date(2040, 12, 31)

DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)


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


def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China (adjusted weekends included)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


@cache
def working_day_index() -> pa.Table:
    """Each calendar day with the count of working days up to and including it."""
    days: list[dt.date] = []
    index: list[int] = []
    count = 0
    day = CALENDAR_START
    while day <= CALENDAR_END:
        count += is_working_day(day)
        days.append(day)
        index.append(count)
        day += dt.timedelta(days=1)
    return pa.table({"day": pa.array(days, pa.date32()), "idx": pa.array(index, pa.int32())})


@cache
def code_lookup_table() -> pa.Table:
    """Every accepted folded text of every code table with its code."""
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
    """Create the ``th_*`` temp tables, macros and functions on ``con`` (idempotent)."""
    if con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'th_workdays'"
    ).fetchall() == [(1,)]:
        return
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
        "CREATE OR REPLACE TEMP MACRO th_date(x) AS CASE "
        # Excel serial dates (days since 1899-12-30) arrive as 5-digit numbers.
        r"WHEN regexp_full_match(x, '\d{5}(\.0+)?') "
        "THEN DATE '1899-12-30' + CAST(CAST(x AS DOUBLE) AS INTEGER) "
        f"ELSE CAST(try_strptime(x, [{formats}]) AS DATE) END"
    )
    for name, function in (("th_id_check", id_check_characters), ("th_uscc_check", uscc_check_characters)):
        con.create_function(name, function, ["VARCHAR"], "VARCHAR", type=PythonUDFType.ARROW)
    # DuckDB may evaluate the Luhn function on values its guard has already rejected (an
    # Excel-damaged "6.22202E+18"): it returns NULL for them, so NULLs must be allowed.
    con.create_function(
        "th_luhn_check",
        luhn_check_characters,
        ["VARCHAR"],
        "VARCHAR",
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )
