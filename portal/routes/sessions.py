"""Sign in, sign out, change password.

The login form has its own anonymous session (so it has a CSRF token); a successful login
ends it and starts a new session with a new token — an id planted before login is worthless
after it (session fixation).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from portal.auth import LoginRefused, authenticate, hash_password
from portal.context import COOKIE, Ctx, checked_form, context, finish, render, set_session_cookie, signed_in
from tierhub.errors import ConfigError

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may follow a login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if target.startswith("/person/"):
        return "/"  # a lookup chosen by whoever made the link is not made in the user's name at login
    return target


@router.get("/login")
def login_form(ctx: Annotated[Ctx, Depends(context)], next: str = "/") -> Response:
    """The login page (starts an anonymous session for its CSRF token)."""
    if ctx.user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    response: Response
    if ctx.session is None:
        idle = dt.timedelta(minutes=ctx.portal.settings.portal_session_idle_minutes)
        token, session = ctx.portal.state.create_session(None, ctx.client_ip, anonymous_idle=idle)
        ctx.session, ctx.token = session, token
        response = render(ctx, "login.html", next=_safe_next(next), error=None)
        set_session_cookie(ctx, response, token)
        return response
    return render(ctx, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password (throttled), then start a fresh session."""
    ctx = context(request)
    form = await checked_form(ctx)
    username = form.get("username", "").strip()
    target = _safe_next(form.get("next"))
    state = ctx.portal.state
    try:
        user = authenticate(state, username, form.get("password", ""), ctx.client_ip, ctx.portal.throttle)
    except LoginRefused as refused:
        until = refused.until.astimezone().strftime("%H:%M") if refused.until else ""
        message = (
            ctx.words(refused.reason, until=until)
            if refused.reason != "bad_credentials"
            else ctx.words("bad_credentials")
        )
        return render(
            ctx, "login.html", status=401 if refused.reason == "bad_credentials" else 429, next=target, error=message
        )
    if ctx.session is not None:
        state.end_session(ctx.session.token_hash)
    token, _ = state.create_session(user.username, ctx.client_ip)
    state.audit(
        username=user.username,
        role=user.role,
        scope=user.division_code,
        action="login.ok",
        target=user.username,
        client_ip=ctx.client_ip,
    )
    response = RedirectResponse("/account/password" if user.must_change_password else target, status_code=303)
    set_session_cookie(ctx, response, token)
    finish(ctx, response)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    ctx = context(request)
    await checked_form(ctx)
    if ctx.session is not None:
        ctx.portal.state.end_session(ctx.session.token_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/account/password")
def password_form(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The change-password page."""
    return render(ctx, "password.html", error=None)


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    """Set a new password: every session of the account ends, including this one."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    state = ctx.portal.state
    who = ctx.who
    try:
        authenticate(state, who.username, form.get("current", ""), ctx.client_ip, ctx.portal.throttle)
        new_hash = hash_password(form.get("new", ""), who.username)
    except LoginRefused:
        return render(ctx, "password.html", status=400, error=ctx.words("bad_credentials"))
    except ConfigError as exc:
        return render(ctx, "password.html", status=400, error=str(exc))
    state.set_password(who.username, new_hash, must_change=False)
    ctx.audit("account.password", who.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
