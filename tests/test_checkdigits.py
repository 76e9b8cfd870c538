"""The SQL check-character macros agree with python-stdnum on every input tried."""

from __future__ import annotations

import random

import duckdb
import pytest
from stdnum import luhn

from quality.lookups import install_lookups
from tierhub.checkdigits import id_check_character, uscc_check_character

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    install_lookups(connection)
    return connection


def sql(con: duckdb.DuckDBPyConnection, macro: str, values: list[str]) -> list[str | None]:
    rows = con.execute(f"SELECT {macro}(v) FROM unnest(?) t(v)", [values]).fetchall()
    return [r[0] for r in rows]


def test_gb11643_matches_stdnum(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(11643)
    prefixes = ["11010519491231002", "12022119300101001", "00000000000000000", "99999999999999999"]
    prefixes += ["".join(rng.choice("0123456789") for _ in range(17)) for _ in range(3000)]
    assert sql(con, "th_id_check", prefixes) == [id_check_character(p) for p in prefixes]
    assert sql(con, "th_id_check", ["1234567890123456", "1.20101E+16", "", "1101051949123100X"]) == [None] * 4


def test_gb32100_matches_stdnum(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(32100)
    prefixes = ["91120101MA05UKXW1", "N2120225MF2H4K8Q0", "Y1120101000000000"]
    prefixes += ["".join(rng.choice(USCC_ALPHABET) for _ in range(17)) for _ in range(3000)]
    assert sql(con, "th_uscc_check", prefixes) == [uscc_check_character(p) for p in prefixes]
    assert sql(con, "th_uscc_check", ["91120101MA05UKXWI", "short"]) == [None, None]


def test_luhn_matches_stdnum(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(7812)
    payloads = ["7992739871", "622202100112345678"[:-1], "0"]
    payloads += ["".join(rng.choice("0123456789") for _ in range(rng.randint(11, 18))) for _ in range(3000)]
    assert sql(con, "th_luhn_check", payloads) == [luhn.calc_check_digit(p) for p in payloads]
    assert sql(con, "th_luhn_check", ["6.22202E+18", "12a4"]) == [None, None]
