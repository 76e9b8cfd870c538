"""What every request needs: the portal's parts, the caller's address, session, user and language.

Sessions are server-side (portal/state.py): the cookie carries a random token, HttpOnly and
SameSite=Strict, Secure behind TLS. Client addresses and the TLS flag come from
X-Forwarded-For / X-Forwarded-Proto only when the direct peer is a trusted proxy.
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from portal.auth import Principal, Throttle, principal
from portal.dashboard import BoardCache, warm_boards
from portal.i18n import LANGUAGES, Labels, labels
from portal.sql_worker import SqlRunner
from portal.state import PortalState, Session, now
from tierhub.clock import shown
from tierhub.errors import TierhubError
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings
from warehouse.queries import last_commit
from warehouse.readers import SnapshotReader

COOKIE = "tierhub_session"
LANG_COOKIE = "tierhub_lang"
TEMPLATES = Path(__file__).parent / "templates"
# Activity is written at most this often per session (the idle timeout is counted in minutes).
TOUCH_EVERY = dt.timedelta(seconds=30)


class NeedLogin(Exception):
    """No valid signed-in session: the handler redirects to the login page."""

    def __init__(self, next_path: str = "/") -> None:
        self.next_path = next_path


class NeedPassword(Exception):
    """The account's password was reset: nothing but the change-password page until it is changed."""


class Forbidden(TierhubError):
    """The role may not use this page."""


class CsrfRejected(TierhubError):
    """A form arrived without the session's CSRF token (or from another site)."""


class Portal:
    """The app's long-lived parts: settings, state file, warehouse reader, templates."""

    def __init__(self, settings: TierhubSettings, warehouse: Path | None = None) -> None:
        self.settings = settings
        self.warehouse = warehouse or settings.warehouse_file
        self.state = PortalState(settings.portal_state_file)
        self.throttle = Throttle(
            settings.portal_max_failures,
            dt.timedelta(minutes=settings.portal_lockout_minutes),
            settings.portal_ip_max_failures,
        )
        self._reader: SnapshotReader | None = None
        self._reader_lock = threading.Lock()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["shown"] = shown
        self.person_key_secret = self.state.secret("person_key")
        self._sql_runner: SqlRunner | None = None
        self.boards = BoardCache()  # dashboards per published generation (portal.dashboard)

    @property
    def sql_runner(self) -> SqlRunner:
        """Where analyst SQL runs: worker processes with hard limits (started on first use)."""
        with self._reader_lock:
            if self._sql_runner is None:
                self._sql_runner = SqlRunner(self.settings.portal_sql_workers)
            return self._sql_runner

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the last published warehouse state (opened on first use)."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = SnapshotReader(
                    self.warehouse, key=self.settings.warehouse_key(), on_open=self._warm_dashboards
                )
            reader = self._reader
        return reader.cursor()

    def _warm_dashboards(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """Build the opening dashboards of the city and district accounts of this portal for a new generation."""
        scopes = set()
        for user in self.state.users():
            who = principal(user)
            if not user.disabled and who.may.dashboards and divisions().get(who.scope).level in ("city", "district"):
                scopes.add(who.scope)
        warm_boards(con, path, sorted(scopes), self.boards, self.settings)

    @property
    def published(self) -> Path:
        """The file readers currently read (for the analyst sandbox)."""
        from warehouse.readers import published_file

        return published_file(self.warehouse)


@dataclass
class Ctx:
    """One request as the pages see it."""

    portal: Portal
    request: Request
    client_ip: str
    secure: bool
    lang: str
    words: Labels
    session: Session | None = None
    token: str | None = None
    user: Principal | None = None
    must_change_password: bool = False
    new_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def who(self) -> Principal:
        """The signed-in user (pages behind ``signed_in`` only)."""
        assert self.user is not None
        return self.user

    def audit(self, action: str, target: str, *, results: int | None = None, detail: str | None = None) -> None:
        """Write one audit row for the signed-in user."""
        who = self.who
        self.portal.state.audit(
            username=who.username,
            role=who.role.value,
            scope=who.scope,
            action=action,
            target=target,
            client_ip=self.client_ip,
            results=results,
            detail=detail,
        )


def portal_of(request: Request) -> Portal:
    """The portal the app was built with."""
    found: Portal = request.app.state.portal
    return found


def client_address(request: Request, trusted: list[str]) -> tuple[str, bool]:
    """(client IP, came over TLS): forwarded headers are believed only from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    secure = request.url.scheme == "https"
    if peer not in trusted:
        return peer, secure
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    # The rightmost address no trusted proxy added is the client's; the others are claims.
    client = next((h for h in reversed(hops) if h not in trusted), peer)
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return client, secure or proto == "https"


def context(request: Request) -> Ctx:
    """Build the request context (no login required): address, language, session if any."""
    portal = portal_of(request)
    ip, secure = client_address(request, portal.settings.portal_trusted_proxies)
    asked = request.query_params.get("lang")
    lang = asked if asked in LANGUAGES else request.cookies.get(LANG_COOKIE, "zh")
    if lang not in LANGUAGES:
        lang = "zh"
    ctx = Ctx(portal, request, ip, secure or portal.settings.portal_secure_cookies, lang, labels(lang))
    if asked in LANGUAGES:
        ctx.new_cookies[LANG_COOKIE] = lang
    token = request.cookies.get(COOKIE)
    if token and len(token) < 100:
        session = portal.state.session(token)
        if session is not None and _alive(portal, session):
            ctx.session, ctx.token = session, token
            if session.username:
                user = portal.state.user(session.username)
                if user is not None and not user.disabled:
                    ctx.user = principal(user)
                    ctx.must_change_password = user.must_change_password
    return ctx


def _alive(portal: Portal, session: Session) -> bool:
    settings = portal.settings
    moment = now()
    idle = moment - session.last_seen_at > dt.timedelta(minutes=settings.portal_session_idle_minutes)
    old = moment - session.created_at > dt.timedelta(hours=settings.portal_session_max_hours)
    if idle or old:
        portal.state.end_session(session.token_hash)
        return False
    return True


def signed_in(request: Request) -> Ctx:
    """The request context of a signed-in user; otherwise the login page."""
    ctx = context(request)
    if ctx.user is None or ctx.session is None:
        target = request.url.path if request.method == "GET" else "/"
        raise NeedLogin(target)
    if ctx.must_change_password and request.url.path != "/account/password":
        raise NeedPassword()
    if now() - ctx.session.last_seen_at > TOUCH_EVERY:
        ctx.portal.state.touch_session(ctx.session)
    return ctx


async def checked_form(ctx: Ctx) -> dict[str, str]:
    """The POSTed form, after the CSRF check: the session's token, and no foreign Origin."""
    request = ctx.request
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1].rstrip("/") != host:
            raise CsrfRejected(f"form posted from {origin}", fix="submit the form from the portal's own page")
    form = await request.form()
    sent = form.get("csrf_token")
    if ctx.session is None or not isinstance(sent, str) or not hmac.compare_digest(sent, ctx.session.csrf_token):
        raise CsrfRejected("the form's security token is missing or stale", fix="reload the page and submit again")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def refuse_cross_site(ctx: Ctx) -> None:
    """Audited GETs (person lookups) only from the portal's own pages or the address bar.

    A link or image on another site must not make a signed-in browser record a lookup in
    the user's name. SameSite=Strict keeps the cookie off such requests in browsers that
    honour it; this refuses what the browser says came from elsewhere (``Sec-Fetch-Site``
    ``cross-site``/``same-site``) and any foreign ``Origin``.
    """
    request = ctx.request
    fetched_from = request.headers.get("sec-fetch-site", "").lower()
    if fetched_from in ("cross-site", "same-site"):
        raise CsrfRejected(f"a lookup requested from another site ({fetched_from})", fix="search from the portal")
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1].rstrip("/") != request.headers.get("host", ""):
        raise CsrfRejected(f"a lookup requested from {origin}", fix="search from the portal")


def set_session_cookie(ctx: Ctx, response: Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict (no cross-site request carries it), Secure behind TLS."""
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=ctx.secure,
        path="/",
        max_age=ctx.portal.settings.portal_session_max_hours * 3600,
    )


def data_as_of(ctx: Ctx) -> dt.datetime | None:
    """When the last sync the portal reads committed."""
    try:
        return last_commit(ctx.portal.cursor())
    except (TierhubError, duckdb.Error):
        return None


def render(ctx: Ctx, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page in the caller's language, with the "data as of" line and the CSRF token."""
    page = ctx.portal.templates.get_template(template)
    html = page.render(
        t=ctx.words,
        lang=ctx.lang,
        user=ctx.user,
        csrf_token=ctx.session.csrf_token if ctx.session else "",
        as_of=data_as_of(ctx) if ctx.user else None,
        path=ctx.request.url.path,
        other_lang_url=_other_lang_url(ctx),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    finish(ctx, response)
    return response


def _other_lang_url(ctx: Ctx) -> str:
    """This page in the other language (GET pages keep their query; forms go home)."""
    other = "en" if ctx.lang == "zh" else "zh"
    request = ctx.request
    if request.method != "GET":
        return f"/?lang={other}"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = other
    return f"{request.url.path}?{urlencode(query)}"


def finish(ctx: Ctx, response: Response) -> None:
    """Cookies the request decided on (language), and no caching of pages with personal data."""
    for name, value in ctx.new_cookies.items():
        response.set_cookie(name, value, httponly=True, samesite="lax", secure=ctx.secure, max_age=365 * 86400)
    response.headers["Cache-Control"] = "no-store"
