"""Verdict cases as a table: a clean base row, the cells a case changes, the rules expected.

The base row is valid for 失业登记 (JY02) submitted by 和平区劝业场街道 (120101001000).
"""

from __future__ import annotations

import datetime as dt

from quality.checkdigits import id_check_character

TODAY = dt.date(2026, 11, 27)
SOURCE = "120101001000"


def with_check(first17: str) -> str:
    """An ID number with its correct check character."""
    return first17 + id_check_character(first17)


BASE = {
    "name": "张伟",
    "id_number": with_check("12010119800101001"),  # odd sequence → male
    "sex": "男",
    "birth_date": "1980-01-01",
    "ethnicity": "汉族",
    "mobile_phone": "13812345678",
    "community_code": "120101001001",
    "registration_date": "2026-11-02",
    "handled_at": "2026-11-04",
    "documents": "身份证、离职证明",
}

# (case id, changed cells, expected rule codes — exactly these)
CASES: list[tuple[str, dict[str, str | None], set[str]]] = [
    ("clean", {}, set()),
    (
        "abolished county code 宁河 120221",
        {"id_number": with_check("12022119500305002"), "sex": "女", "birth_date": "1950-03-05"},
        set(),
    ),
    (
        "abolished county code 塘沽 120107",
        {"id_number": with_check("12010719700101003"), "birth_date": "1970-01-01"},
        set(),
    ),
    ("lower-case x check digit", {"id_number": "11010519491231002x", "sex": "女", "birth_date": "1949-12-31"}, set()),
    ("minority name with middle dot", {"name": "买买提·艾力", "ethnicity": "维吾尔族"}, set()),
    ("minority name with bullet look-alike", {"name": "买买提•艾力", "ethnicity": "维吾尔"}, set()),
    ("full-width digits and U+3000 space", {"mobile_phone": "１３８１２３４５６７８\u3000"}, set()),
    ("mobile with +86 prefix", {"mobile_phone": "+86 138-1234-5678"}, set()),
    ("date as Excel serial", {"registration_date": "46328"}, set()),
    ("date with slashes", {"handled_at": "2026/11/4"}, set()),
    ("bad check digit", {"id_number": with_check("12010119800101001")[:-1] + "0"}, {"ID_CHECKSUM"}),
    ("float-damaged ID", {"id_number": "1.20101E+17"}, {"ID_FLOAT_DAMAGED"}),
    ("17-character ID", {"id_number": with_check("12010119800101001")[:17]}, {"ID_LENGTH"}),
    ("legacy 15-digit ID", {"id_number": "120101800101001"}, {"ID_LEGACY_15"}),
    ("ID with a letter inside", {"id_number": "12010119800101A01X"}, {"ID_FORMAT"}),
    (
        "future birth in ID",
        {"id_number": with_check("12010120990101001"), "birth_date": "2099-01-01"},
        {"ID_BIRTH_DATE", "DATE_ORDER"},
    ),
    ("sex contradicts ID", {"sex": "女"}, {"SEX_ID_MISMATCH"}),
    ("birth date contradicts ID", {"birth_date": "1980-01-02"}, {"BIRTH_ID_MISMATCH"}),
    ("unknown ethnicity", {"ethnicity": "火星族"}, {"CODE_UNKNOWN"}),
    ("unreadable date", {"registration_date": "去年"}, {"DATE_FORMAT"}),
    ("future registration", {"registration_date": "2026-12-30", "handled_at": "2026-12-30"}, {"DATE_FUTURE"}),
    ("handled before registered", {"handled_at": "2026-10-30"}, {"DATE_ORDER"}),
    ("time limit exceeded", {"registration_date": "2026-10-09", "handled_at": "2026-11-20"}, {"TIME_LIMIT_EXCEEDED"}),
    ("community of another street", {"community_code": "120101002013"}, {"DIVISION_OUTSIDE_SOURCE"}),
    ("community code that does not exist", {"community_code": "120101001999"}, {"DIVISION_UNKNOWN"}),
    ("street code where a community is expected", {"community_code": "120101001000"}, {"DIVISION_LEVEL"}),
    ("missing name", {"name": None}, {"REQUIRED_MISSING"}),
    ("blank mobile (spaces only)", {"mobile_phone": "   "}, {"REQUIRED_MISSING"}),
    ("missing termination proof", {"documents": "身份证"}, {"DOC_MISSING"}),
    ("bad mobile", {"mobile_phone": "1381234567"}, {"MOBILE_FORMAT"}),
    ("bad employer credit code", {"employer_uscc": "91120101MA05K0JQ0X"}, {"USCC_CHECKSUM"}),
    ("letter-led village collective code", {"employer_uscc": "N2120101MA05K0JQ0P"}, set()),
]
