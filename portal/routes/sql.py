"""Analyst SQL: one read-only SELECT over views filtered to the analyst's scope (portal/sandbox.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from portal.context import Ctx, Forbidden, checked_form, render, signed_in
from portal.sandbox import Limits, SqlFailed, SqlRefused, SqlResult, ViewInfo
from portal.sql_worker import Job

router = APIRouter()
_views: dict[tuple[str, str], tuple[float, list[ViewInfo]]] = {}


def _limits(ctx: Ctx) -> Limits:
    s = ctx.portal.settings
    return Limits(
        seconds=s.portal_sql_seconds,
        rows=s.portal_sql_rows,
        memory=s.portal_sql_memory,
        result_bytes=s.portal_sql_result_bytes,
    )


def _job(ctx: Ctx, sql: str | None) -> Job:
    if not ctx.who.may.analyst_sql:
        raise Forbidden(f"role {ctx.who.role.value} has no SQL access")
    return Job(
        ctx.portal.published,
        ctx.who.scope,
        ctx.portal.person_key_secret,
        not ctx.who.may.full_ids,
        _limits(ctx),
        ctx.portal.settings.warehouse_key(),
        sql,
    )


def _cached_views(ctx: Ctx) -> list[ViewInfo] | None:
    cached = _views.get((ctx.who.scope, str(ctx.portal.published)))
    return cached[1] if cached and time.monotonic() - cached[0] < 300 else None


def _remember_views(ctx: Ctx, views: list[ViewInfo]) -> None:
    _views[(ctx.who.scope, str(ctx.portal.published))] = (time.monotonic(), views)


@router.get("/sql")
def sql_form(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The SQL box and the views beside it (described in a worker process, like every query)."""
    job = _job(ctx, None)
    views = _cached_views(ctx)
    if views is None:
        views, _ = ctx.portal.sql_runner.run(job)
        _remember_views(ctx, views)
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
    job = _job(ctx, text)
    views = _cached_views(ctx) or []
    try:
        # Off the event loop, in a process of its own (portal/sql_worker.py): the portal's
        # other users do not wait for this query, whatever it does.
        views, result = await run_in_threadpool(ctx.portal.sql_runner.run, job)
        _remember_views(ctx, views)
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
