"""Verdict cases as a table: a clean base row, the cells a case changes, the rules expected.

The base row is valid for 失业登记 (JY02) submitted by 和平区劝业场街道 (120101001000).
"""

from __future__ import annotations

import datetime as dt

from tierhub.checkdigits import id_check_character

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

# -- the catalogue's other checks, one item at a time ---------------------------------------
BANK_ACCOUNT = "6222021234567890128"  # Luhn check digit 8
DISABILITY_CERT = BASE["id_number"] + "41"  # limb (4), grade 1

# Contact numbers (check contact_phone) as written → their normalised value (None: PHONE_FORMAT).
# Mobiles become 11 digits, landlines 022 + 8 digits with the extension kept as -NNN.
CONTACT_PHONES: list[tuple[str, str | None]] = [
    ("13812345678", "13812345678"),
    ("+86 138-1234-5678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("0086 138 1234 5678", "13812345678"),
    ("１３８１２３４５６７８", "13812345678"),  # full-width digits: NFKC folds them
    ("022-23456789", "02223456789"),
    ("02223456789", "02223456789"),
    ("(022)23456789", "02223456789"),
    ("（022）2345 6789", "02223456789"),  # full-width brackets
    ("+86 22 2345 6789", "02223456789"),
    ("0086-22-23456789", "02223456789"),
    ("23456789", "02223456789"),
    ("2345-6789", "02223456789"),
    ("022-2345-6789", "02223456789"),
    ("23456789转123", "02223456789-123"),
    ("022-23456789转8001", "02223456789-8001"),
    ("022-23456789-123", "02223456789-123"),
    ("(022)2345 6789-1", "02223456789-1"),
    ("022 23456789 ext 123", "02223456789-123"),
    ("022-23456789 EXT.45", "02223456789-45"),
    ("23456789分机12", "02223456789-12"),
    ("1381234567", None),  # a mobile short of a digit
    ("12812345678", None),  # no mobile starts 12
    ("022-2345678", None),  # a landline short of a digit
    ("010-62345678", None),  # a Beijing landline
    ("0222345678901", None),  # digits after the number without an extension mark
    ("12345678", None),  # a local number cannot start with 1
    ("022-23456789-", None),  # an extension mark without an extension
    ("23456789转1234567", None),  # extensions have at most 6 digits
    ("13812345678转12", None),  # a mobile has no extension
    ("电话同上", None),
]

# Clean base rows of other items, submitted by the same street.
ITEM_BASES: dict[str, dict[str, str | None]] = {
    "JY07": {
        **{k: BASE[k] for k in ("name", "id_number", "sex", "birth_date", "mobile_phone", "community_code")},
        "employment_status": "失业",
        "training_course": "中式烹调师",
        "training_start_date": "2026-09-01",
        "training_end_date": "2026-10-15",
        "subsidy_amount": "1,200.00",
        "bank_account_no": BANK_ACCOUNT,
        "bank_name": "中国工商银行",
        "registration_date": "2026-11-02",
        "handled_at": "2026-11-04",
        "documents": "身份证、职业技能等级证书",
    },
    "JC01": {
        **{k: BASE[k] for k in ("name", "id_number", "sex", "birth_date", "community_code")},
        "hukou_address": "天津市和平区劝业场街道",
        "employment_status": "就业",
        "hardship_category": "残疾人、低保",
        "disability_cert_no": DISABILITY_CERT,
        "landline": "022-23456789",
        "registration_date": "2026-11-02",
    },
    "SB09": {
        **{k: BASE[k] for k in ("name", "id_number", "community_code")},
        "insurance_types": "城乡居民养老、城乡居民医保",
        "period_from": "202601",
        "period_to": "2026-10",
        "registration_date": "2026-11-02",
        "handled_at": "2026-11-02",
        "documents": "身份证",
    },
    "LD02": {
        **{k: BASE[k] for k in ("name", "id_number", "mobile_phone", "community_code")},
        "employer_name": "天津市宏达商贸有限公司",
        "dispute_type": "劳动报酬",
        "registration_date": "2026-11-02",
        "handled_at": "2026-11-17",
        "documents": "身份证、调解申请书",
    },
    "SB12": {
        "employer_name": "天津市海河餐饮有限公司",
        "employer_uscc": "N2120101MA05K0JQ0P",
        "industry": "餐饮",
        "employee_count": "12",
        "insured_count": "10",
        "survey_result": "部分参保",
        "contact_name": "王芳",
        "community_code": BASE["community_code"],
        "registration_date": "2026-11-02",
        "documents": "营业执照",
    },
    "YB02": {
        **{k: BASE[k] for k in ("name", "id_number", "sex", "birth_date", "mobile_phone", "community_code")},
        "hospital_name": "北京协和医院",
        "admission_date": "2026-09-01",
        "discharge_date": "2026-09-10",
        "medical_total_amount": "23456.7",
        "invoice_count": "3",
        "bank_account_no": BANK_ACCOUNT,
        "registration_date": "2026-10-09",
        "handled_at": "2026-10-30",
        "documents": "身份证、发票、出院小结",
    },
    "SB01": {
        **{
            k: BASE[k]
            for k in ("name", "id_number", "sex", "birth_date", "ethnicity", "mobile_phone", "community_code")
        },
        "hukou_address": "天津市和平区劝业场街道",
        "contribution_tier": "第二档",
        "registration_date": "2026-11-02",
        "handled_at": "2026-11-04",
        "documents": "身份证、户口簿、参保登记表",
    },
    "JY04": {
        **{k: BASE[k] for k in ("name", "id_number", "sex", "birth_date", "mobile_phone", "community_code")},
        "hardship_category": "4050人员",
        "registration_date": "2026-10-09",
        "notice_date": "2026-10-16",
        "handled_at": "2026-11-05",
        "documents": "身份证、户口簿、认定情况表",
    },
}

# (case id, item code, changed cells, expected rule codes — exactly these)
ITEM_CASES: list[tuple[str, str, dict[str, str | None], set[str]]] = [
    *((f"{code} clean", code, {}, set()) for code in ITEM_BASES),
    ("amount with ￥ and 元", "JY07", {"subsidy_amount": "￥1200元"}, set()),
    ("amount in full-width digits", "JY07", {"subsidy_amount": "１２００．５"}, set()),
    ("amount in 万", "JY07", {"subsidy_amount": "1.2万"}, {"NUMBER_FORMAT"}),
    ("amount with three decimals", "JY07", {"subsidy_amount": "12.345"}, {"NUMBER_FORMAT"}),
    ("amount above the cap", "JY07", {"subsidy_amount": "12000"}, {"VALUE_RANGE"}),
    ("amount of zero", "JY07", {"subsidy_amount": "0"}, {"VALUE_RANGE"}),
    ("bank account with spaces", "JY07", {"bank_account_no": "6222 0212 3456 7890 128"}, set()),
    ("bank account digit mistyped", "JY07", {"bank_account_no": BANK_ACCOUNT[:-1] + "9"}, {"LUHN_CHECKSUM"}),
    ("bank account too short", "JY07", {"bank_account_no": "62220212345"}, {"LUHN_CHECKSUM"}),
    ("bank account damaged by Excel", "JY07", {"bank_account_no": "6.22202E+18"}, {"LUHN_CHECKSUM"}),
    # A contact number (联系电话, check contact_phone): a mobile, else a Tianjin landline.
    *(
        (f"contact number {raw!r}", "SB01", {"mobile_phone": raw}, set() if canonical else {"PHONE_FORMAT"})
        for raw, canonical in CONTACT_PHONES
    ),
    ("training ends before it starts", "JY07", {"training_end_date": "2026-08-30"}, {"DATE_ORDER"}),
    ("unknown local code", "JY07", {"employment_status": "待业中"}, {"CODE_UNKNOWN"}),
    ("bare 8-digit landline", "JC01", {"landline": "23456789"}, set()),
    ("landline in brackets with spaces", "JC01", {"landline": "(022)2345 6789"}, set()),
    ("landline with +86", "JC01", {"landline": "+86 22 2345 6789"}, set()),
    ("landline with a digit missing", "JC01", {"landline": "022-2345678"}, {"LANDLINE_FORMAT"}),
    ("landline of another city", "JC01", {"landline": "010-62345678"}, {"LANDLINE_FORMAT"}),
    (
        "disability certificate of another person",
        "JC01",
        {"disability_cert_no": with_check("12010119800101003") + "41"},
        {"DISABILITY_CERT_MISMATCH"},
    ),
    (
        "disability category out of range",
        "JC01",
        {"disability_cert_no": BASE["id_number"] + "81"},
        {"DISABILITY_CERT_MISMATCH"},
    ),
    (
        "disability certificate with lower-case x",
        "JC01",
        {
            "id_number": "11010519491231002X",
            "sex": "女",
            "birth_date": "1949-12-31",
            "disability_cert_no": "11010519491231002x12",
        },
        set(),
    ),
    (
        "bad ID is not also a certificate mismatch",
        "JC01",
        {"id_number": BASE["id_number"][:-1] + "0"},
        {"ID_CHECKSUM"},
    ),
    ("several codes by name", "JC01", {"hardship_category": "4050；残疾"}, set()),
    ("one of several codes unknown", "JC01", {"hardship_category": "残疾人,火星人"}, {"CODE_UNKNOWN"}),
    ("only separators", "JC01", {"hardship_category": "、"}, {"CODE_UNKNOWN"}),
    ("insurance types by code", "SB09", {"insurance_types": "170 390"}, set()),
    ("year and month with a slash", "SB09", {"period_from": "2026/01"}, {"PATTERN_MISMATCH"}),
    ("month 13", "SB09", {"period_to": "202613"}, {"PATTERN_MISMATCH"}),
    ("on-the-spot item handled next day", "SB09", {"handled_at": "2026-11-03"}, {"TIME_LIMIT_EXCEEDED"}),
    ("mediation closed on day 16", "LD02", {"handled_at": "2026-11-18"}, {"TIME_LIMIT_EXCEEDED_CALENDAR"}),
    ("count written as 12.0", "SB12", {"employee_count": "12.0"}, set()),
    ("count in Chinese numerals", "SB12", {"employee_count": "十二"}, {"NUMBER_FORMAT"}),
    ("count of zero", "SB12", {"employee_count": "0"}, {"VALUE_RANGE"}),
    ("half a person", "SB12", {"insured_count": "3.5"}, {"NUMBER_FORMAT"}),
    # Versions: a row is judged by the version in force on its business date.
    (
        "2025 reimbursement needs the itemised bill",
        "YB02",
        {
            "admission_date": "2025-09-01",
            "discharge_date": "2025-09-10",
            "registration_date": "2025-10-09",
            "handled_at": "2025-10-30",
        },
        {"DOC_MISSING"},
    ),
    ("2026 reimbursement within 20 working days", "YB02", {}, set()),
    ("2026 reimbursement after 26 working days", "YB02", {"handled_at": "2026-11-13"}, {"TIME_LIMIT_EXCEEDED"}),
    (
        "2025 reimbursement may take 26 working days",
        "YB02",
        {
            "admission_date": "2025-09-01",
            "discharge_date": "2025-09-10",
            "registration_date": "2025-10-09",
            "handled_at": "2025-11-13",
            "documents": "身份证、发票、出院小结、费用清单",
        },
        set(),
    ),
    ("recognition under the 2022 method: 20 working days", "JY04", {}, set()),
    (
        "recognition under the earlier method: 15 working days",
        "JY04",
        {"registration_date": "2021-10-08", "notice_date": "2021-10-15", "handled_at": "2021-11-04"},
        {"TIME_LIMIT_EXCEEDED"},
    ),
]
