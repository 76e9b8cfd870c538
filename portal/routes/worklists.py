"""Worklists for community staff: entitlement checks (pre-cleared or home visit) and hardship follow-ups.

The area is the user's node or a node inside it (``?node=``); names are listed for a street or
a community, larger areas get the per-community summary. ID numbers are masked as the role's
policy says, on the page and in the Excel download. Views and downloads are audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from portal.casework import WORKLIST_ROLES, require, words
from portal.context import Ctx, finish, render, signed_in
from portal.masking import show
from reports.casework import life_text, worklist_workbook
from tierhub.clock import bureau_time
from tierhub.reference import divisions
from tierhub.scope import Scope
from warehouse.worklists import EVIDENCE_DAYS, Worklists, month_of, worklists

router = APIRouter()
MONTH = re.compile(r"(\d{4})-(\d{2})")


def _lists(ctx: Ctx, node: str | None, month: str | None) -> Worklists:
    require(ctx, WORKLIST_ROLES, "worklists")
    scope = Scope(ctx.who.scope).narrow(node if node and re.fullmatch(r"\d{12}", node) else None)
    today = bureau_time(dt.datetime.now(dt.UTC)).date()
    period = month_of(today)
    found = MONTH.fullmatch(month or "")
    if found and 1 <= int(found[2]) <= 12:
        period = month_of(dt.date(int(found[1]), int(found[2]), 1))
    lists = worklists(ctx.portal.cursor(), scope, period, today=today, viewer=ctx.who.scope)
    role = ctx.who.role
    lists.pensions = [
        dataclasses.replace(p, id_number=str(show("id_number", p.id_number, role))) for p in lists.pensions
    ]
    lists.follow_ups = [
        dataclasses.replace(f, id_number=str(show("id_number", f.id_number, role))) for f in lists.follow_ups
    ]
    return lists


@router.get("/worklists")
def worklist_page(
    ctx: Annotated[Ctx, Depends(signed_in)], node: str | None = None, month: str | None = None
) -> Response:
    """The worklists of an area for a month (default: the user's node, this month)."""
    lists = _lists(ctx, node, month)
    scope = Scope(lists.scope)
    detailed = scope.level in ("street", "community")
    ctx.audit("worklists.view", lists.scope, results=len(lists.pensions), detail=lists.period.label)
    tree = divisions()
    children = [(d.code, d.name) for d in tree.children.get(str(scope), [])] if scope.level != "community" else []
    return render(
        ctx,
        "worklists.html",
        w=words(ctx.lang),
        lists=lists,
        node=scope,
        node_name=scope.division.name,
        children=children,
        detailed=detailed,
        month=f"{lists.period.start:%Y-%m}",
        life_text=life_text,
        evidence_days=EVIDENCE_DAYS,
    )


@router.get("/worklists/export.xlsx")
def worklist_export(
    ctx: Annotated[Ctx, Depends(signed_in)], node: str | None = None, month: str | None = None
) -> Response:
    """The worklists as an Excel workbook (IDs masked as on the page)."""
    lists = _lists(ctx, node, month)
    ctx.audit("worklists.export", lists.scope, results=len(lists.pensions), detail=lists.period.label)
    response = Response(
        worklist_workbook(lists, ctx.lang),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"worklist-{lists.scope}-{lists.period.start:%Y-%m}.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    finish(ctx, response)
    return response
