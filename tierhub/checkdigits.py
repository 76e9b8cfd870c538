"""Check characters of national identifiers, vectorised over Arrow arrays.

The arithmetic comes from python-stdnum (``iso7064.mod_11_2`` for GB 11643, whose
``cn.ric.calc_check_digit`` expects the check digit already appended). Its full
``cn.ric.validate`` is not used: it
rejects valid IDs whose county code was abolished (120221–120225, 120107–120109) and
accepts future birth dates, so the validator applies its own date and sex rules.
Its ``cn.uscc.validate`` rejects letter-led codes (N… village collectives, Y…), so only
``calc_check_digit`` is used there too.
"""

from __future__ import annotations

import re

import pyarrow as pa
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

_ID17 = re.compile(r"\d{17}")
_USCC17 = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{17}")


def id_check_character(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) for 17 digits."""
    return str(mod_11_2.calc_check_digit(first17))


def uscc_check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    return str(uscc.calc_check_digit(first17))


def id_check_characters(values: pa.Array) -> pa.Array:
    """Expected check characters for an array of 17-digit prefixes (null where not 17 digits)."""
    return pa.array(
        [id_check_character(v) if v is not None and _ID17.fullmatch(v) else None for v in values.to_pylist()],
        type=pa.string(),
    )


def uscc_check_characters(values: pa.Array) -> pa.Array:
    """Expected check characters for an array of 17-character credit-code prefixes."""
    return pa.array(
        [uscc_check_character(v) if v is not None and _USCC17.fullmatch(v) else None for v in values.to_pylist()],
        type=pa.string(),
    )
