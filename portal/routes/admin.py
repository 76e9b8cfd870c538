"""Administrators: the audit log, and the accounts — create, disable/enable, reset the password,
change role and scope — in the browser (the `tierhub users` CLI stays for automation).

Every change is a POST with the session's CSRF token (``checked_form``), allowed to the admin
role only, and audited (``account.*``). A new or reset password is random, shown once, and
must be changed at the next sign-in. An administrator cannot disable or demote their own
account (nobody would be left to undo it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from portal.auth import USERNAME, check_binding, hash_password, new_password
from portal.context import Ctx, Forbidden, checked_form, render, signed_in
from portal.masking import Role
from tierhub.errors import ConfigError, TierhubError

router = APIRouter()
PAGE = 200


def _admin(ctx: Ctx) -> None:
    if not ctx.who.may.admin:
        raise Forbidden(f"role {ctx.who.role.value} is not an administrator")


@router.get("/admin/audit")
def audit(
    ctx: Annotated[Ctx, Depends(signed_in)],
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: int | None = None,
) -> Response:
    """Who looked up whom, when and from where — newest first, filterable."""
    _admin(ctx)
    entries = ctx.portal.state.audit_entries(
        username=(user or None) and user[:64],
        action=(action or None) and action[:40],
        target=(target or None) and target[:200],
        before_id=before,
        limit=PAGE,
    )
    older = entries[-1].id if len(entries) == PAGE else None
    return render(
        ctx,
        "audit.html",
        entries=entries,
        user_filter=user or "",
        action_filter=action or "",
        target_filter=target or "",
        older=older,
    )


@router.get("/admin/users")
def users(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """Every account with its role, node and state, and the forms that change them."""
    _admin(ctx)
    return _users_page(ctx)


def _users_page(
    ctx: Ctx, *, status: int = 200, done: str | None = None, error: str | None = None, password: str | None = None
) -> Response:
    return render(
        ctx,
        "users.html",
        status=status,
        accounts=ctx.portal.state.users(),
        roles=[r.value for r in Role],
        done=done,
        error=error,
        password=password,
    )


ACTIONS = ("create", "disable", "enable", "reset", "rebind")


@router.post("/admin/users/{action}")
async def change_account(action: str, request: Request) -> Response:
    """One change to one account (the form's ``username``); audited as ``account.<action>``."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    _admin(ctx)
    if action not in ACTIONS:
        raise Forbidden(f"no account action {action!r}")
    username = form.get("username", "").strip()[:64]
    state = ctx.portal.state
    try:
        if action == "create":
            password = _create(ctx, username, form)
            ctx.audit("account.create", username, detail=f"{form.get('role')} {form.get('division')}")
            return _users_page(ctx, done="account_created", password=password)
        account = state.user(username)
        if account is None:
            raise ConfigError(f"no account {username!r}", fix="choose an account from the list")
        own = username == ctx.who.username
        if action in ("disable", "enable"):
            if own and action == "disable":
                raise ConfigError("an administrator cannot disable their own account", fix="ask another administrator")
            state.set_disabled(username, action == "disable")
            ctx.audit(f"account.{action}", username)
            return _users_page(ctx, done=f"account_{action}d")
        if action == "reset":
            password = new_password()
            state.set_password(username, hash_password(password), must_change=True)
            ctx.audit("account.reset", username)
            return _users_page(ctx, done="account_reset", password=password)
        role, division = _binding(form)
        if own and role is not Role.admin:
            raise ConfigError("an administrator cannot take away their own admin role", fix="ask another administrator")
        state.set_binding(username, role.value, division)
        ctx.audit(
            "account.rebind", username, detail=f"{account.role} {account.division_code} → {role.value} {division}"
        )
        return _users_page(ctx, done="account_rebound")
    except TierhubError as exc:
        ctx.audit(f"account.{action}", username or "—", results=0, detail=f"refused: {exc}"[:200])
        return _users_page(ctx, status=400, error=str(exc))


def _binding(form: dict[str, str]) -> tuple[Role, str]:
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise ConfigError(
            f"no role {form.get('role', '')!r}", fix=f"choose one of {', '.join(r.value for r in Role)}"
        ) from None
    division = form.get("division", "").strip()
    if not (len(division) == 12 and division.isdigit()):
        raise ConfigError(f"division {division!r} is not a 12-digit code", fix="give a code such as 120101000000")
    check_binding(role, division)
    return role, division


def _create(ctx: Ctx, username: str, form: dict[str, str]) -> str:
    if not USERNAME.fullmatch(username):
        raise ConfigError(f"user name {username!r} is not allowed", fix="use 2–64 letters, digits, _ . @ -")
    if ctx.portal.state.user(username) is not None:
        raise ConfigError(f"account {username} exists", fix="choose another name, or reset its password")
    role, division = _binding(form)
    password = new_password()
    display = form.get("display_name", "").strip()[:64] or username
    ctx.portal.state.add_user(username, display, role.value, division, hash_password(password, username))
    ctx.portal.state.set_password(username, hash_password(password, username), must_change=True)
    return password
