"""Who may see full ID numbers and phones, and how the others see them masked.

The policy is one table (docs/decisions/0010-portal.md): a clerk who serves the person in
front of them needs the ID number to check it against the card, a community workstation
answering by name does not need every neighbour's number in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a portal user does; each user is bound to one division node."""

    city = "city"  # 市级 staff of the city bureau
    district = "district"  # 区级 staff of a district bureau
    street = "street"  # 街道/乡镇 劳动保障服务中心
    community = "community"  # 社区/村 劳动保障工作站
    analyst = "analyst"  # statistics: dashboards and SQL, masked identifiers
    admin = "admin"  # accounts and the audit log


# The division level a staff role is bound to; analysts and admins may sit at any node.
STAFF_LEVEL = {Role.city: "city", Role.district: "district", Role.street: "street", Role.community: "community"}


@dataclass(frozen=True, slots=True)
class Visibility:
    """What a role sees of a person's identifiers."""

    full_ids: bool
    full_phones: bool
    person_lookup: bool  # may open a person's records (person 360)
    analyst_sql: bool
    dashboards: bool
    admin: bool


POLICY: dict[Role, Visibility] = {
    Role.city: Visibility(
        full_ids=True, full_phones=True, person_lookup=True, analyst_sql=False, dashboards=True, admin=False
    ),
    Role.district: Visibility(True, True, True, False, True, False),
    Role.street: Visibility(True, False, True, False, True, False),
    Role.community: Visibility(False, False, True, False, True, False),
    Role.analyst: Visibility(False, False, False, True, True, False),
    Role.admin: Visibility(True, True, False, False, True, True),
}

# Fields holding identifiers, by kind (names from tierhub/reference/data/field_dictionary.csv).
SENSITIVE_FIELDS = {
    "id_number": "id",
    "mobile_phone": "phone",
    "landline": "phone",
    "bank_account_no": "account",
    "ss_card_no": "account",
    "disability_cert_no": "account",
}


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


def show(field: str, value: object, role: Role) -> object:
    """The value of ``field`` as ``role`` may see it."""
    kind = SENSITIVE_FIELDS.get(field)
    if kind is None or not isinstance(value, str):
        return value
    seen = POLICY[role]
    if kind == "id":
        return value if seen.full_ids else mask_id(value)
    if kind == "phone":
        return value if seen.full_phones else mask_phone(value)
    return value if seen.full_ids else mask_account(value)


def mask_sql(field: str, column: str) -> str:
    """A DuckDB expression masking ``column`` the way :func:`show` masks ``field`` (for analysts' views)."""
    kind = SENSITIVE_FIELDS[field]
    c = f'trim("{column}")'
    if kind in ("id", "phone"):
        head, tail = (6, 4) if kind == "id" else (3, 4)
        keep = head + tail
        return (
            f"CASE WHEN length({c}) <= {keep} THEN repeat('*', length({c})) "
            f"ELSE left({c}, {head}) || repeat('*', length({c}) - {keep}) || right({c}, {tail}) END"
        )
    return f"repeat('*', greatest(length({c}) - 4, 0)) || right({c}, 4)"
