"""Dashboards: drill down city → district → street → community, any range of months with the trend
month by month; every table sortable, filterable and exported as CSV or Excel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from portal import dashboard
from portal.charts import Bar, bar_chart
from portal.context import Ctx, Forbidden, finish, render, signed_in
from portal.i18n import Labels
from portal.tables import SHOWN_ROWS, Column, Table, arranged, shown, sort_url, to_csv, to_xlsx
from warehouse.figures import Figures

router = APIRouter()
# Where another section plugs in (the outliers per service point, issue #18 item 4): a function
# (ctx, board) → Table. Its table is shown below the others, sorted,
# filtered and exported like them.
EXTRA_TABLES: list[Callable[[Ctx, dashboard.Dashboard], Table]] = []


def _board(ctx: Ctx) -> dashboard.Dashboard:
    if not ctx.who.may.dashboards:
        raise Forbidden(f"role {ctx.who.role.value} has no dashboards")
    params = ctx.request.query_params
    con = ctx.portal.cursor()
    item = params.get("item") or None
    known = {code for code, _, _ in dashboard.item_choices(con)}
    node, month, until = params.get("node") or None, params.get("month") or None, params.get("until") or None
    item = item if item in known else None
    key = dashboard.board_key(ctx.portal.published, ctx.who.scope, node, month, until, item, ctx.lang, dt.date.today())
    return ctx.portal.boards.get(
        key,
        lambda: dashboard.build(con, ctx.who.scope, node, month, item, ctx.portal.settings, until=until, lang=ctx.lang),
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _base_query(board: dashboard.Dashboard) -> dict[str, str]:
    query = {"node": board.node.code, "month": board.start_month, "until": board.end_month}
    if board.item:
        query["item"] = board.item
    return query


def _figure_row(f: Figures) -> dict[str, object]:
    return {
        "code": f.code,
        "name": f.name,
        "files": f.files,
        "rows_in": f.rows_in,
        "rows_loaded": f.rows_loaded,
        "rows_quarantined": f.rows_quarantined,
        "pass_rate": f.pass_rate,
        "completeness": f.completeness,
        "workload": f.workload,
    }


def _figure_columns(t: Labels, first: str, *, completeness: bool = True) -> tuple[Column, ...]:
    cols = [
        Column("name", t(first)),
        Column("code", t("code"), "code"),
        Column("files", t("files"), "int"),
        Column("rows_in", t("rows_in"), "int"),
        Column("rows_loaded", t("rows_loaded"), "int"),
        Column("rows_quarantined", t("rows_quarantined"), "int"),
        Column("pass_rate", t("pass_rate"), "percent"),
    ]
    if completeness:
        cols.append(Column("completeness", t("completeness"), "percent"))
    cols.append(Column("workload", t("workload"), "int"))
    return tuple(cols)


def tables(ctx: Ctx, board: dashboard.Dashboard) -> list[Table]:
    """The dashboard's tables, unsorted: children (with total), items, service points, trend."""
    t = ctx.words
    base = _base_query(board)
    links = {}
    for i, f in enumerate(board.children):
        if board.drillable and f.code != board.node.code:
            links[i] = "/dashboard?" + urlencode({**base, "node": f.code})
    children_rows = []
    for f in board.children:
        row = _figure_row(f)
        if f.code == board.node.code and board.node.level == "street":
            row["name"] = f"{f.name} {t('centre_itself')}"
        children_rows.append(row)
    centre_links = {
        i: "/dashboard?" + urlencode({**base, "node": f.code})
        for i, f in enumerate(board.centres)
        if f.code != board.node.code and len(f.code) == 12
    }
    return [
        Table(
            "children",
            t("table_children"),
            _figure_columns(t, "division"),
            children_rows,
            total=_figure_row(board.total),
            links=links,
        ),
        Table(
            "items", t("by_item"), _figure_columns(t, "item", completeness=False), [_figure_row(f) for f in board.items]
        ),
        Table(
            "centres",
            t("workload_by_centre"),
            (Column("name", t("centre")), Column("code", t("code"), "code"), Column("workload", t("workload"), "int")),
            [{"name": f.name, "code": f.code, "workload": f.workload} for f in board.centres],
            links=centre_links,
        ),
        Table(
            "trend",
            t("trend"),
            (
                Column("month", t("month"), "code"),
                Column("rows_in", t("rows_in"), "int"),
                Column("rows_loaded", t("rows_loaded"), "int"),
                Column("pass_rate", t("pass_rate"), "percent"),
                Column("workload", t("workload"), "int"),
            ),
            [{"month": p.month, **_figure_row(p.figures)} for p in board.trend],
        ),
        *(extra(ctx, board) for extra in EXTRA_TABLES),
    ]


@router.get("/dashboard")
def show_board(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The dashboard of one node (default: the user's own)."""
    board = _board(ctx)
    t = ctx.words
    params = dict(ctx.request.query_params)
    charts = [
        bar_chart(
            t("chart_pass"), [Bar(f.name, f.pass_rate or 0, _percent(f.pass_rate)) for f in board.children], maximum=1.0
        ),
        bar_chart(t("chart_workload"), [Bar(f.name, f.workload, f"{f.workload:,}") for f in board.children]),
        bar_chart(
            t("chart_trend_workload"),
            [Bar(p.month, p.figures.workload, f"{p.figures.workload:,}") for p in board.trend],
        ),
        bar_chart(
            t("chart_trend_pass"),
            [Bar(p.month, p.figures.pass_rate or 0, _percent(p.figures.pass_rate)) for p in board.trend],
            maximum=1.0,
        ),
    ]
    shown_tables = [arranged(table, params) for table in tables(ctx, board)]
    base = _base_query(board)
    return render(
        ctx,
        "dashboard.html",
        board=board,
        charts=charts,
        items=dashboard.item_choices(ctx.portal.cursor()),
        tables=shown_tables,
        params=params,
        base=base,
        sort_url=lambda table, key: sort_url("/dashboard", params, table, key),
        export_url=lambda kind, table: (
            f"/dashboard/export.{kind}?" + urlencode({**params, **({"table": table} if table else {})})
        ),
        cell=shown,
        shown_rows=SHOWN_ROWS,
    )


@router.get("/dashboard/export.{kind}")
def export(kind: str, ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """One table as CSV or Excel (``table=``; Excel without it: every table, one sheet each),
    sorted and filtered as on the page."""
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404)
    params = dict(ctx.request.query_params)
    wanted = params.get("table") or ("children" if kind == "csv" else "")
    board = _board(ctx)
    chosen = [arranged(table, params) for table in tables(ctx, board) if not wanted or table.name == wanted]
    if not chosen:
        raise HTTPException(404)
    ctx.audit(
        "dashboard.export",
        board.node.code,
        results=sum(len(table.rows) for table in chosen),
        detail=f"{kind} {wanted or 'all'} {board.month} {board.item or '*'}",
    )
    heading = f"{board.node.name} {board.month} {board.item or ctx.words('all_items')}"
    name = f"tierhub-{board.node.code}-{board.month.replace('~', '_')}{'-' + board.item if board.item else ''}"
    name += f"-{wanted}" if wanted else ""
    if kind == "csv":
        response = Response(to_csv(chosen[0], heading), media_type="text/csv; charset=utf-8")
    else:
        response = Response(
            to_xlsx(chosen, heading), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    finish(ctx, response)
    return response
