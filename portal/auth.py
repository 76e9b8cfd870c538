"""Accounts: argon2 password hashes, roles bound to a division node, login throttling.

Throttling (docs/decisions/0010-portal.md): ``max_failures`` failed logins of one account
within ``lockout`` lock it until ``lockout`` after the last failure; ``ip_max_failures``
failures from one address within the same window refuse that address. While locked, the
password is not even checked, so guessing cannot continue. Unknown accounts are hashed
against a dummy and count failures like real ones, so neither timing nor lockout tells
which names exist.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.masking import POLICY, STAFF_LEVEL, Role, Visibility
from portal.state import PortalState, User, now
from tierhub.errors import ConfigError, TierhubError
from tierhub.reference import divisions

MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,64}")


class LoginRefused(TierhubError):
    """A login did not succeed; ``reason`` is bad_credentials, locked or rate_limited."""

    def __init__(self, reason: str, *, until: dt.datetime | None = None) -> None:
        self.reason = reason
        self.until = until
        super().__init__(
            f"login refused: {reason}",
            fix="check the user name and password" if reason == "bad_credentials" else "wait and try again",
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user as every page sees them: name, role, scope and what the role may see."""

    username: str
    display_name: str
    role: Role
    scope: str  # the division node the user is bound to: nothing outside its subtree is shown

    @property
    def may(self) -> Visibility:
        """What this role may do and see."""
        return POLICY[self.role]


def principal(user: User) -> Principal:
    """The principal of an account."""
    return Principal(user.username, user.display_name, Role(user.role), user.division_code)


def hash_password(password: str, username: str = "") -> str:
    """An argon2id hash of a password that meets the policy (raises ConfigError if it does not)."""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password has {len(password)} characters", fix=f"use at least {MIN_PASSWORD} characters")
    if username and password.lower() == username.lower():
        raise ConfigError("the password equals the user name", fix="choose a password that is not the user name")
    return _hasher.hash(password)


def check_binding(role: Role, division_code: str) -> None:
    """Staff roles sit at their own level (a district clerk at a district node, …)."""
    node = divisions().get(division_code)
    wanted = STAFF_LEVEL.get(role)
    if wanted is not None and node.level != wanted:
        raise ConfigError(
            f"role {role.value} must be bound to a {wanted} node; {division_code} ({node.name}) is a {node.level}",
            fix=f"give a {wanted} code, or choose the role {node.level}",
        )


def new_password() -> str:
    """A random temporary password (for `tierhub users reset`)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class Throttle:
    """Login throttling limits."""

    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    ip_max_failures: int = 30


def authenticate(state: PortalState, username: str, password: str, client_ip: str, limits: Throttle) -> User:
    """The account if the password is right and neither the account nor the address is throttled."""
    since = now() - limits.lockout
    ip_failures, ip_last = state.failures(client_ip=client_ip, since=since)
    if ip_failures >= limits.ip_max_failures:
        raise LoginRefused("rate_limited", until=(ip_last or now()) + limits.lockout)
    failures, last = state.failures(username=username, since=since)
    if failures >= limits.max_failures:
        raise LoginRefused("locked", until=(last or now()) + limits.lockout)
    user = state.user(username) if USERNAME.fullmatch(username) else None
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and not user.disabled
    state.record_attempt(username[:64], client_ip, ok)
    if not ok or user is None:
        if failures + 1 >= limits.max_failures:
            raise LoginRefused("locked", until=now() + limits.lockout)
        raise LoginRefused("bad_credentials")
    if _hasher.check_needs_rehash(user.password_hash):
        state.set_password(user.username, _hasher.hash(password), must_change=user.must_change_password)
    return user
