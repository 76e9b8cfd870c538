"""``create_app(settings)``: the portal's FastAPI app — routes, error pages, security headers.

Errors become pages here and only here: a scope error is a plain 404 (nothing says the
person exists elsewhere), a CSRF failure a 403, a library error its message, anything
else a 500 without details.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.context import CsrfRejected, Forbidden, NeedLogin, NeedPassword, Portal, context, render
from portal.routes import admin, cases, dashboard, funding, guide, outliers, people, sessions, sql, worklists
from tierhub.errors import ScopeError, TierhubError
from tierhub.settings import TierhubSettings

log = logging.getLogger("tierhub.portal")

# No script runs on any page; styles and images only from the portal itself.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'none'; object-src 'none'; frame-ancestors 'none'; "
        b"base-uri 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds the security headers to every response (a plain ASGI wrapper: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: TierhubSettings | None = None, *, warehouse: Path | None = None) -> FastAPI:
    """The portal over ``warehouse`` (default: the settings' warehouse) with state in the settings' SQLite file."""
    settings = settings or TierhubSettings()
    app = FastAPI(title="tierhub portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = Portal(settings, warehouse)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (sessions, people, dashboard, outliers, sql, admin, guide):
        app.include_router(module.router)
    app.include_router(cases.router)  # 协查 cases and the regional check (decision 0025)
    app.include_router(worklists.router)  # community worklists (decision 0025)
    app.include_router(funding.router)  # 以事定费 and Table 1 (decision 0025)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        target = exc.next_path if exc.next_path.startswith("/") and not exc.next_path.startswith("//") else "/"
        return RedirectResponse(f"/login?next={target}" if target != "/" else "/login", status_code=303)

    @app.exception_handler(NeedPassword)
    async def need_password(request: Request, exc: NeedPassword) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        return _error(request, 403, "csrf")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, "forbidden")

    @app.exception_handler(ScopeError)
    async def outside_scope(request: Request, exc: ScopeError) -> Response:
        return _error(request, 404, "not_found")

    @app.exception_handler(TierhubError)
    async def tierhub_error(request: Request, exc: TierhubError) -> Response:
        return _error(request, 400, None, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        key = {404: "not_found", 403: "forbidden"}.get(exc.status_code)
        return _error(request, exc.status_code, key, None if key else str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 404, "not_found")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("portal request %s %s failed", request.method, request.url.path)
        return _error(request, 500, "server_error")

    return app


def _error(request: Request, status: int, key: str | None, message: str | None = None) -> Response:
    ctx = context(request)
    return render(ctx, "error.html", status=status, key=key, message=message)


def warm_up(app: FastAPI) -> None:
    """Open the warehouse reader and load what the first requests would wait for."""
    from portal.sandbox import person_key

    portal: Portal = app.state.portal
    person_key(b"warm", "120101199001011234")
    try:
        portal.cursor().execute("SELECT count(*) FROM core.cases").fetchall()
    except TierhubError as exc:
        log.warning("the warehouse is not readable yet: %s", exc)


def from_environment() -> FastAPI:
    """The app built from the environment's settings (for `tierhub serve --workers N`)."""
    app = create_app(TierhubSettings())
    warm_up(app)
    return app
