"""Analyst SQL: one read-only SELECT over views filtered to the analyst's scope (portal/sandbox.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from portal.context import Ctx, Forbidden, checked_form, render, signed_in
from portal.sandbox import Limits, Sandbox, SqlFailed, SqlRefused, SqlResult, ViewInfo

router = APIRouter()
_views: dict[tuple[str, str], tuple[float, list[ViewInfo]]] = {}


def _limits(ctx: Ctx) -> Limits:
    s = ctx.portal.settings
    return Limits(seconds=s.portal_sql_seconds, rows=s.portal_sql_rows, memory=s.portal_sql_memory)


def _sandbox(ctx: Ctx) -> Sandbox:
    if not ctx.who.may.analyst_sql:
        raise Forbidden(f"role {ctx.who.role.value} has no SQL access")
    return Sandbox(
        ctx.portal.published,
        ctx.who.scope,
        secret=ctx.portal.person_key_secret,
        masked=not ctx.who.may.full_ids,
        limits=_limits(ctx),
        key=ctx.portal.settings.warehouse_key(),
    )


def _describe(ctx: Ctx, box: Sandbox) -> list[ViewInfo]:
    key = (ctx.who.scope, str(ctx.portal.published))
    cached = _views.get(key)
    if cached and time.monotonic() - cached[0] < 300:
        return cached[1]
    views = box.describe()
    _views[key] = (time.monotonic(), views)
    return views


@router.get("/sql")
def sql_form(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The SQL box and the views beside it."""
    with _sandbox(ctx) as box:
        views = _describe(ctx, box)
    return render(
        ctx,
        "sql.html",
        sql="SELECT item_code, count(*) AS records FROM cases GROUP BY ALL ORDER BY 2 DESC",
        views=views,
        result=None,
        error=None,
        limits=_limits(ctx),
        key=ctx.portal.settings.warehouse_key(),
    )


@router.post("/sql")
async def sql_run(request: Request) -> Response:
    """Run one SELECT; the statement is audited whether or not it ran."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    text = form.get("sql", "")
    result: SqlResult | None = None
    error: str | None = None
    with _sandbox(ctx) as box:
        views = _describe(ctx, box)
        try:
            result = box.run(text)
        except (SqlRefused, SqlFailed) as exc:
            error = str(exc)
    ctx.audit(
        "sql.run",
        text[:2000],
        results=len(result.rows) if result else None,
        detail=None if error is None else f"refused: {error[:300]}",
    )
    return render(
        ctx,
        "sql.html",
        status=200 if error is None else 400,
        sql=text,
        views=views,
        result=result,
        error=error,
        limits=_limits(ctx),
        key=ctx.portal.settings.warehouse_key(),
    )
