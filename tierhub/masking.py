"""How identifiers are masked: by what a value is, as Python and as DuckDB SQL.

Which role sees what is the portal's policy (``portal/masking.py``); how an ID number, a
phone or an account number looks when masked is written once here, for the portal's pages,
the analysts' views (``warehouse/analyst_views.py``) and every export.
"""

from __future__ import annotations

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
