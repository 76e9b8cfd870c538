"""Masking, tested directly: each mask hides what it must, and each role sees what POLICY says.

Written so that the mutants listed in docs/decisions/0018-mutation-testing.md fail here: a mask
that returns its input, a community role that sees full IDs, a SQL mask that drifts from the
Python one.
"""

from __future__ import annotations

import duckdb
import pytest

from portal.masking import (
    POLICY,
    Role,
    mask_account,
    mask_id,
    mask_phone,
    mask_text,
    show,
    show_birth_date,
    show_fields,
)
from tierhub.masking import mask_sql, mask_text_sql

ID = "12010119800101001X"
PHONE = "13812345678"
ACCOUNT = "6222021234567890123"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (ID, "120101********001X"),
        (f" {ID} ", "120101********001X"),
        ("120101800101001", "120101*****1001"),  # 15-digit first-generation ID
        ("1234567890", "**********"),
        ("12345678901", "123456*8901"),
        ("", ""),
    ],
)
def test_mask_id_keeps_area_code_and_last_four(value: str, masked: str) -> None:
    assert mask_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [(PHONE, "138****5678"), ("1234567", "*******"), ("12345678", "123*5678"), (" 13812345678", "138****5678")],
)
def test_mask_phone_keeps_first_three_and_last_four(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"), [(ACCOUNT, "***************0123"), ("1234", "1234"), ("12345", "*2345"), ("", "")]
)
def test_mask_account_keeps_last_four(value: str, masked: str) -> None:
    assert mask_account(value) == masked


def test_no_mask_returns_its_input() -> None:
    for mask, value in ((mask_id, ID), (mask_phone, PHONE), (mask_account, ACCOUNT)):
        assert mask(value) != value and len(mask(value)) == len(value)


EXPECTED = {  # role: (full ids, full phones, person lookup, analyst sql, dashboards, admin)
    Role.city: (True, True, True, False, True, False),
    Role.district: (True, True, True, False, True, False),
    Role.street: (True, False, True, False, True, False),
    Role.community: (False, False, True, False, True, False),
    Role.analyst: (False, False, False, True, True, False),
    Role.admin: (True, False, False, False, True, True),  # decision 0019: IDs only as audit targets
}


@pytest.mark.parametrize("role", list(Role))
def test_policy_is_the_published_table(role: Role) -> None:
    seen = POLICY[role]
    assert (
        seen.full_ids,
        seen.full_phones,
        seen.person_lookup,
        seen.analyst_sql,
        seen.dashboards,
        seen.admin,
    ) == EXPECTED[role]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_ids_phones_and_accounts_as_policy_says(role: Role) -> None:
    full_ids, full_phones = EXPECTED[role][:2]
    assert show("id_number", ID, role) == (ID if full_ids else mask_id(ID))
    assert show("mobile_phone", PHONE, role) == (PHONE if full_phones else mask_phone(PHONE))
    full_accounts = POLICY[role].sees["account"].value == "full"
    assert show("bank_account_no", ACCOUNT, role) == (ACCOUNT if full_accounts else mask_account(ACCOUNT))
    birth = {"full": "1980-01-01", "year only": "1980", "—": ""}[POLICY[role].sees["birth_date"].value]
    assert show_birth_date(__import__("datetime").date(1980, 1, 1), role) == birth
    assert show("name", "张伟", role) == "张伟" and show("rows", 3, role) == 3


def test_community_role_never_sees_a_full_id_anywhere() -> None:
    role = Role.community
    assert ID not in str(show("id_number", ID, role))
    assert ID not in str(show("remark", f"代办人身份证{ID}，电话{PHONE}", role))
    assert PHONE not in str(show("remark", f"电话{PHONE}", role))
    assert ID not in str(show("value_after", ID, role, changed="02"))
    assert "19800101" not in str(show("value_before", "19800101", role, changed="04"))


def test_free_text_keeps_what_is_not_an_identifier() -> None:
    assert mask_text("第3号，共12户", Role.community) == "第3号，共12户"
    assert mask_text(f"身份证{ID}", Role.city) == f"身份证{ID}"
    assert mask_text("座机022-23456789", Role.street).endswith("6789")
    assert "23456789" not in mask_text("座机022-23456789", Role.street)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id_number", ID), ("id_number", "12345"), ("mobile_phone", PHONE), ("bank_account_no", ACCOUNT)],
)
def test_sql_masks_equal_the_python_masks(field: str, value: str) -> None:
    con = duckdb.connect()
    [(masked,)] = con.execute(f"SELECT {mask_sql(field, 'v')} FROM (SELECT ? AS v)", [value]).fetchall()
    assert masked == show(field, value, Role.analyst)
    [(text,)] = con.execute(f"SELECT {mask_text_sql('v')} FROM (SELECT ? AS v)", [f"备注{PHONE}"]).fetchall()
    assert PHONE not in text and text.endswith("5678")


@pytest.mark.parametrize(
    ("field", "value", "masked"),
    [
        ("landline", "022-23456789", "022*****6789"),
        ("ss_card_no", "A12345678", "*****5678"),
        ("disability_cert_no", "12010119800101001X42", "****************1X42"),
        ("bank_account_no", ACCOUNT, "***************0123"),
    ],
)
def test_every_sensitive_field_is_masked_as_its_kind(field: str, value: str, masked: str) -> None:
    assert show(field, value, Role.community) == masked
    assert show(field, value, Role.city) == value


@pytest.mark.parametrize(
    ("changed", "value", "masked"),
    [
        ("02", ID, "120101********001X"),  # an ID number changed
        ("04", "1980-01-01", "**********"),  # a birth date changed: nothing of it shows
        ("06", PHONE, "138****5678"),
        ("09", "AB1234567", "*****4567"),  # not digits: only the change item says it is an account
    ],
)
def test_changed_values_are_masked_as_the_field_they_changed(changed: str, value: str, masked: str) -> None:
    for field in ("value_before", "value_after"):
        assert show(field, value, Role.community, changed=changed) == masked
        assert show(field, value, Role.city, changed=changed) == value
    assert show("value_after", "张伟AB12", Role.community, changed="01") == "张伟AB12"  # a name change
    assert show("remark", "AB123456", Role.community, changed="09") == "AB123456"  # only value_* follow it


def test_show_fields_masks_a_whole_record_by_its_change_item() -> None:
    record = {"id_number": ID, "name": "张伟", "change_item": "09", "value_after": "AB1234567", "rows": 2}
    assert show_fields(record, Role.community) == {
        "id_number": "120101********001X",
        "name": "张伟",
        "change_item": "09",
        "value_after": "*****4567",
        "rows": 2,
    }
    assert show_fields(record, Role.district) == record


def test_identifiers_in_free_text_are_masked_by_what_they_look_like() -> None:
    assert mask_text(f"代办人{ID}", Role.community) == "代办人120101********001X"
    assert mask_text("电话+86 138 1234 5678", Role.community) == "电话+86**********5678"
    assert mask_text("卡号1234567890123", Role.community) == "卡号123******0123"  # 13 digits: a number
    assert mask_text("卡号12345678901234", Role.community) == "卡号**********1234"  # 14: an account
    assert mask_text(f"{ID} {PHONE}", Role.street) == f"{ID} 138****5678"  # street: full IDs, masked phones


def test_birth_date_of_nobody_is_blank() -> None:
    assert show_birth_date(None, Role.city) == ""
