"""Dashboards: drill down city → district → street → community per item and month; export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from portal import dashboard
from portal.charts import Bar, bar_chart
from portal.context import Ctx, Forbidden, finish, render, signed_in
from portal.exports import to_csv, to_xlsx

router = APIRouter()


def _board(ctx: Ctx, node: str | None, month: str | None, item: str | None) -> dashboard.Dashboard:
    if not ctx.who.may.dashboards:
        raise Forbidden(f"role {ctx.who.role.value} has no dashboards")
    con = ctx.portal.cursor()
    known = {code for code, _, _ in dashboard.item_choices(con)}
    return dashboard.build(
        con, ctx.who.scope, node, month, item if item in known else None, ctx.portal.settings, lang=ctx.lang
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@router.get("/dashboard")
def show(
    ctx: Annotated[Ctx, Depends(signed_in)], node: str | None = None, month: str | None = None, item: str | None = None
) -> Response:
    """The dashboard of one node (default: the user's own)."""
    board = _board(ctx, node, month, item)
    t = ctx.words
    charts = [
        bar_chart(
            t("chart_pass"), [Bar(f.name, f.pass_rate or 0, _percent(f.pass_rate)) for f in board.children], maximum=1.0
        ),
        bar_chart(t("chart_workload"), [Bar(f.name, f.workload, f"{f.workload:,}") for f in board.children]),
    ]
    items = dashboard.item_choices(ctx.portal.cursor())
    return render(ctx, "dashboard.html", board=board, charts=charts, items=items, percent=_percent)


@router.get("/dashboard/export.{kind}")
def export(
    kind: str,
    ctx: Annotated[Ctx, Depends(signed_in)],
    node: str | None = None,
    month: str | None = None,
    item: str | None = None,
) -> Response:
    """The dashboard's figures as CSV or Excel."""
    if kind not in ("csv", "xlsx"):
        from starlette.exceptions import HTTPException

        raise HTTPException(404)
    board = _board(ctx, node, month, item)
    ctx.audit(
        "dashboard.export",
        board.node.code,
        results=len(board.children),
        detail=f"{kind} {board.month} {board.item or '*'}",
    )
    name = f"tierhub-{board.node.code}-{board.month}{'-' + board.item if board.item else ''}.{kind}"
    if kind == "csv":
        response = Response(to_csv(board, ctx.words), media_type="text/csv; charset=utf-8")
    else:
        response = Response(
            to_xlsx(board, ctx.words), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    finish(ctx, response)
    return response
