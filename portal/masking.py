"""Who may see full ID numbers and phones, and how the others see them masked.

The policy is one table (docs/decisions/0010-portal.md): a clerk who serves the person in
front of them needs the ID number to check it against the card, a community workstation
answering by name does not need every neighbour's number in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from tierhub.masking import (
    ADDRESS_FIELDS,
    CHANGE_ITEM_KINDS,
    CHANGE_VALUE_FIELDS,
    ID_IN_TEXT,
    MOBILE_IN_TEXT,
    NUMBER_IN_TEXT,
    SENSITIVE_FIELDS,
    mask_account,
    mask_id,
    mask_phone,
)


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


class Shown(StrEnum):
    """How much of one piece of a person a role sees."""

    full = "full"
    masked = "masked"  # ID 120101********123X, phone 138****1234, account ****1234
    year = "year only"  # a birth date as its year
    none = "—"  # not shown at all


# The pieces of a person, in the order of decision 0019's table.
PERSON_PIECES = ("id_number", "birth_date", "age", "sex", "phone", "address", "account")


@dataclass(frozen=True, slots=True)
class Visibility:
    """What a role may do, and how much of each piece of a person it sees (``PERSON_PIECES``)."""

    person_lookup: bool  # may open a person's records (person 360)
    analyst_sql: bool
    dashboards: bool
    admin: bool
    sees: Mapping[str, Shown]

    @property
    def full_ids(self) -> bool:
        """Full ID numbers (and so full birth dates and account numbers)."""
        return self.sees["id_number"] is Shown.full

    @property
    def full_phones(self) -> bool:
        """Full phone numbers."""
        return self.sees["phone"] is Shown.full


def _sees(id_number: Shown, birth_date: Shown, phone: Shown, address: Shown, account: Shown) -> dict[str, Shown]:
    age = sex = Shown.full if birth_date is not Shown.none else Shown.none
    return {
        "id_number": id_number,
        "birth_date": birth_date,
        "age": age,
        "sex": sex,
        "phone": phone,
        "address": address,
        "account": account,
    }


F, M, Y, N = Shown.full, Shown.masked, Shown.year, Shown.none
# Decision 0019 prints this table (tests/adversarial/test_privacy.py checks they agree). A role
# that sees a masked ID sees the birth year only: the eight hidden digits are the birth date.
POLICY: dict[Role, Visibility] = {
    Role.city: Visibility(True, False, True, False, _sees(F, F, F, F, F)),
    Role.district: Visibility(True, False, True, False, _sees(F, F, F, F, F)),
    # Street centres check the ID card against the record; they rarely need the phone.
    Role.street: Visibility(True, False, True, False, _sees(F, F, M, F, F)),
    # Community workstations serve residents at their address, by name; numbers masked.
    Role.community: Visibility(True, False, True, False, _sees(M, Y, M, F, M)),
    # Analysts count: a pseudonym instead of the ID, no address (with name, sex and birth
    # year it would single a person out of the district).
    Role.analyst: Visibility(False, True, True, False, _sees(M, Y, M, N, M)),
    # Admins read the audit log, which names the IDs looked up; they open no person.
    Role.admin: Visibility(False, False, True, True, _sees(F, N, N, N, N)),
}
del F, M, Y, N


def policy_table() -> str:
    """POLICY as the Markdown table of decision 0019."""
    head = "| role | " + " | ".join(PERSON_PIECES) + " |"
    rule = "|---" * (len(PERSON_PIECES) + 1) + "|"
    rows = [
        f"| {role.value} | " + " | ".join(POLICY[role].sees[p].value for p in PERSON_PIECES) + " |" for role in Role
    ]
    return "\n".join([head, rule, *rows])


# What the change values (CHANGE_VALUE_FIELDS) hold is named by the record's change_item
# (local_change_item.csv), not by their own name.
# Names and addresses follow the role's policy as whole fields; the identifiers are masked here.
CHANGED_FIELD_KINDS = {c: k for c, k in CHANGE_ITEM_KINDS.items() if k in ("id", "birth_date", "phone", "account")}
# Free text (remarks, addresses, a changed value) may hold identifiers typed by hand: an ID number,
# a mobile, a landline, a card or account number (patterns in tierhub.masking).
_ID_IN_TEXT, _MOBILE_IN_TEXT, _NUMBER_IN_TEXT = ID_IN_TEXT, MOBILE_IN_TEXT, NUMBER_IN_TEXT


def _mask_kind(kind: str, value: str, role: Role) -> str:
    seen = POLICY[role]
    if kind == "address":
        return value if seen.sees["address"] is Shown.full else "—"
    if kind == "id":
        return value if seen.full_ids else mask_id(value)
    if kind == "phone":
        return value if seen.full_phones else mask_phone(value)
    if kind == "birth_date":
        return value if seen.full_ids else "*" * len(value.strip())
    return value if seen.sees["account"] is Shown.full else mask_account(value)


def mask_text(value: str, role: Role) -> str:
    """Free text as ``role`` may see it: identifiers inside it masked by what they look like."""
    seen = POLICY[role]
    if seen.full_ids and seen.full_phones:
        return value
    text = _ID_IN_TEXT.sub(lambda m: _mask_kind("id", m.group(), role), value)
    text = _MOBILE_IN_TEXT.sub(lambda m: _mask_kind("phone", m.group(), role), text)
    # Any other run of seven or more digits: a landline, card or account number.
    return _NUMBER_IN_TEXT.sub(
        lambda m: _mask_kind("phone" if len(m.group()) <= 13 else "account", m.group(), role), text
    )


def show(field: str, value: object, role: Role, changed: str | None = None) -> object:
    """The value of ``field`` as ``role`` may see it.

    ``changed``: for ``value_before``/``value_after``, the record's change_item code — the
    field whose old or new value this is, masked as that field would be.
    """
    if not isinstance(value, str):
        return value
    kind = SENSITIVE_FIELDS.get(field) or ("address" if field in ADDRESS_FIELDS else None)
    if kind is not None:
        return _mask_kind(kind, value, role)
    if field in CHANGE_VALUE_FIELDS and changed in CHANGED_FIELD_KINDS:
        value = _mask_kind(CHANGED_FIELD_KINDS[changed], value, role)
    # Whatever the field claims to hold, a number typed into it is masked by what it looks like.
    return mask_text(value, role)


def show_birth_date(day: dt.date | None, role: Role) -> str:
    """A birth date as ``role`` may see it: the year only where the ID number is masked.

    The masked ID hides exactly the eight birth-date digits; the full date beside it would
    give them back (issue #15).
    """
    shown = POLICY[role].sees["birth_date"]
    if day is None or shown is Shown.none:
        return ""
    return day.isoformat() if shown is Shown.full else f"{day.year}"


def show_fields(fields: Mapping[str, object], role: Role) -> dict[str, object]:
    """Every field of one record as ``role`` may see it (identifiers in free text included)."""
    changed = fields.get("change_item")
    code = changed if isinstance(changed, str) else None
    return {k: show(k, v, role, changed=code) for k, v in fields.items()}
