"""How identifiers are masked: by what a value is, as Python and as DuckDB SQL.

Which role sees what is the portal's policy (``portal/masking.py``); how an ID number, a
phone or an account number looks when masked is written once here, for the portal's pages,
the analysts' views (``warehouse/analyst_views.py``) and every export.
"""

from __future__ import annotations

import re

from tierhub.sql import ident

# Fields holding identifiers, by kind (names from tierhub/reference/data/field_dictionary.csv).
SENSITIVE_FIELDS = {
    "id_number": "id",
    "mobile_phone": "phone",
    "landline": "phone",
    "bank_account_no": "account",
    "ss_card_no": "account",
    "disability_cert_no": "account",
}

# Addresses (free text): shown or withheld whole, per role (decision 0019).
ADDRESS_FIELDS = ("hukou_address", "residence_address")

# Fields that hold what another field held before or after a change (SB02, SK05).
CHANGE_VALUE_FIELDS = ("value_before", "value_after")

# Fields holding a person's name (the person, an employer's contact, the clerk).
NAME_FIELDS = ("name", "contact_name", "handler_name")

# What a change record's value_before/value_after hold, by its change_item
# (tierhub/reference/data/code_tables/local_change_item.csv), not by their own name.
CHANGE_ITEM_KINDS = {
    "01": "name",
    "02": "id",
    "04": "birth_date",
    "06": "phone",
    "07": "address",
    "08": "address",
    "09": "account",
}

# Identifiers typed by hand into any field: an ID number, a mobile, any other run of seven or
# more digits (a landline, a card or account number). Found whatever the field is called.
ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|(?<!\d)\d{15}(?!\d)")
MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)")
NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?:\(?0\d{2,3}\)?[\s-]?)?\d{7,}(?!\d)")


def mask_id(value: str) -> str:
    """``120101********123X``: the address code and the last four characters stay."""
    text = value.strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_phone(value: str) -> str:
    """``138****1234``: the first three and the last four digits stay."""
    text = value.strip()
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def mask_account(value: str) -> str:
    """Only the last four characters of a card, account or certificate number stay."""
    text = value.strip()
    return "*" * max(len(text) - 4, 0) + text[-4:]


def mask_name(value: str) -> str:
    """``张*``, ``欧阳**``: only the first character of a name stays."""
    text = value.strip()
    return text[:1] + "*" * (len(text) - 1)


def mask_birth_date(value: str) -> str:
    """``1980-**-**``: a birth date as its year; every digit after the first four is hidden."""
    text = value.strip()
    return text[:4] + re.sub(r"\d", "*", text[4:])


def mask_address(value: str) -> str:
    """An address withheld whole: one ``*`` per character."""
    return "*" * len(value.strip())


def mask_identifiers(text: str) -> str:
    """Free text with every ID number, mobile and other run of seven or more digits in it masked."""
    text = ID_IN_TEXT.sub(lambda m: mask_id(m.group()), text)
    text = MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)
    return NUMBER_IN_TEXT.sub(lambda m: (mask_phone if len(m.group()) <= 13 else mask_account)(m.group()), text)


_MASKS = {
    "id": mask_id,
    "phone": mask_phone,
    "account": mask_account,
    "name": mask_name,
    "birth_date": mask_birth_date,
    "address": mask_address,
}


def mask_value(field: str, value: str, change_item: str | None = None) -> str:
    """``value`` of ``field`` with nothing that identifies a person left readable.

    For readers who may see no identifier at all (the district's Data Docs, decision 0021):
    the field's kind decides the mask (``value_before``/``value_after`` take the kind of the
    field their ``change_item`` names), and whatever is left is scanned for numbers typed in.
    """
    if field in SENSITIVE_FIELDS:
        kind: str | None = SENSITIVE_FIELDS[field]
    elif field in NAME_FIELDS:
        kind = "name"
    elif field == "birth_date":
        kind = "birth_date"
    elif field in ADDRESS_FIELDS:
        kind = "address"
    elif field in CHANGE_VALUE_FIELDS:
        kind = CHANGE_ITEM_KINDS.get(change_item or "")
    else:
        kind = None
    masked = _MASKS[kind](value) if kind else value
    return mask_identifiers(masked)


def mask_sql(field: str, column: str) -> str:
    """A DuckDB expression masking ``column`` the way ``portal.masking.show`` masks ``field`` (analysts' views)."""
    kind = SENSITIVE_FIELDS[field]
    c = f"trim({ident(column)})"
    if kind in ("id", "phone"):
        head, tail = (6, 4) if kind == "id" else (3, 4)
        keep = head + tail
        return (
            f"CASE WHEN length({c}) <= {keep} THEN repeat('*', length({c})) "
            f"ELSE left({c}, {head}) || repeat('*', length({c}) - {keep}) || right({c}, {tail}) END"
        )
    return f"repeat('*', greatest(length({c}) - 4, 0)) || right({c}, 4)"


def mask_text_sql(column: str) -> str:
    """A DuckDB expression hiding every run of seven or more digits in free text but its last four (analysts)."""
    c = ident(column)
    return f"regexp_replace({c}, '\\d{{3,}}(\\d{{4}})', '*******\\1', 'g')"
