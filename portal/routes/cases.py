"""协查 cases and the regional check: list, detail, confirm/clear/close with a reason; the receipt.

Everything is scoped on the server: a case outside the user's scope is a plain 404 (nothing
says it exists), a case the user sees but that is routed elsewhere can be read, not moved
(``transition`` checks the routed division again in the same transaction). Evidence outside
the scope shows only item, date and district (decision 0020). Every view and decision is
audited with the case's ID number as target; decisions are POST forms with the CSRF token.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from portal.case_file import field_labels
from portal.casework import CASE_ROLES, decide, require, words
from portal.context import Ctx, checked_form, refuse_cross_site, render, signed_in
from portal.masking import show, show_fields
from warehouse.crosscases import STATUSES, TRANSITIONS, CrossCase, Evidence, cases_in_scope
from warehouse.regional import regional_check

router = APIRouter()
CASE_ID = re.compile(r"[0-9a-f]{16}")
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
ACTIONS = {"confirm": "confirmed", "clear": "cleared", "close": "closed"}


def _evidence(ctx: Ctx, e: Evidence) -> dict[str, object]:
    t = words(ctx.lang)
    labels = field_labels(ctx.lang)
    return {
        "item": f"{e.item_code} {ctx.words.pick(e.item_name_zh, e.item_name_en)}",
        "date": e.business_date.isoformat(),
        "district": e.district_name,
        "place": e.place if e.in_scope else t("outside_scope"),
        "in_scope": e.in_scope,
        "fields": [(labels.get(k, k), str(v)) for k, v in show_fields(e.fields, ctx.who.role).items()],
    }


def _row(ctx: Ctx, case: CrossCase) -> dict[str, object]:
    return {
        "case_id": case.case_id,
        "title": ctx.words.pick(case.title_zh, case.title_en),
        "status": case.status,
        "reason": case.reason or "",
        "routed_to": case.act_division,
        "routed_here": case.routed_here,
        "id_number": show("id_number", case.id_number, ctx.who.role),
        "message": case.message(ctx.lang),
        "opened": case.opened_at,
        "first": _evidence(ctx, case.first),
        "second": _evidence(ctx, case.second),
    }


@router.get("/cases")
def case_list(ctx: Annotated[Ctx, Depends(signed_in)], status: str | None = "open") -> Response:
    """The cases routed to the user's area or citing its records."""
    require(ctx, CASE_ROLES, "cases")
    chosen = (status,) if status in STATUSES else STATUSES
    cases = cases_in_scope(ctx.portal.cursor(), ctx.who.scope, statuses=chosen, with_fields=False)
    ctx.audit("cases.list", ctx.who.scope, results=len(cases), detail=status if status in STATUSES else "all")
    return render(
        ctx,
        "cases.html",
        w=words(ctx.lang),
        rows=[_row(ctx, c) for c in cases],
        chosen=status if status in STATUSES else "",
        statuses=STATUSES,
    )


def _visible(ctx: Ctx, case_id: str) -> CrossCase:
    if not CASE_ID.fullmatch(case_id):
        raise HTTPException(404)
    found = cases_in_scope(ctx.portal.cursor(), ctx.who.scope, case_id=case_id)
    if not found:
        ctx.audit("case.view", case_id, results=0)
        raise HTTPException(404)
    return found[0]


@router.get("/cases/{case_id}")
def case_detail(case_id: str, ctx: Annotated[Ctx, Depends(signed_in)], done: str | None = None) -> Response:
    """One case: both records (masked outside the scope), the history, the actions allowed."""
    require(ctx, CASE_ROLES, "cases")
    refuse_cross_site(ctx)
    case = _visible(ctx, case_id)
    ctx.audit("case.view", case.id_number, results=1, detail=f"case {case.case_id}")
    history = (
        ctx.portal.cursor()
        .execute(
            "SELECT from_status, to_status, actor, happened_at, reason FROM ops.crosscheck_events "
            "WHERE case_id = ? ORDER BY happened_at, to_status",
            [case.case_id],
        )
        .fetchall()
    )
    allowed = TRANSITIONS.get(case.status, ()) if case.routed_here else ()
    actions = [a for a, to in ACTIONS.items() if to in allowed]
    return render(
        ctx,
        "case.html",
        w=words(ctx.lang),
        c=_row(ctx, case),
        history=history,
        actions=actions,
        done=done if done in STATUSES else None,
    )


@router.post("/cases/{case_id}")
async def case_decision(case_id: str, request: Request) -> Response:
    """Confirm, clear (with a reason) or close a case routed to the user's area (audited)."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    require(ctx, CASE_ROLES, "cases")
    case = _visible(ctx, case_id)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise HTTPException(400, "unknown action")
    reason = form.get("reason", "").strip()[:500] or None
    try:
        decide(ctx, case.case_id, ACTIONS[action], reason)
    except Exception as exc:
        ctx.audit(f"case.{action}", case.id_number, results=0, detail=f"case {case.case_id} refused: {exc}"[:500])
        raise
    ctx.audit(f"case.{action}", case.id_number, results=1, detail=f"case {case.case_id}: {reason or ''}"[:500])
    return RedirectResponse(f"/cases/{case.case_id}?done={ACTIONS[action]}", status_code=303)


@router.get("/regional")
def regional_form(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The 协查 page: an ID number in, a printable receipt out."""
    require(ctx, CASE_ROLES, "regional check")
    return render(ctx, "regional.html", w=words(ctx.lang), q="", receipt=None, error=None)


@router.post("/regional")
async def regional_answer(request: Request) -> Response:
    """Answer the regional check for the ID number entered (audited like a person lookup)."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    require(ctx, CASE_ROLES, "regional check")
    q = form.get("q", "").strip().upper()[:18]
    w = words(ctx.lang)
    if not ID_NUMBER.fullmatch(q):
        return render(ctx, "regional.html", status=400, w=w, q=q, receipt=None, error=w("bad_id"))
    receipt = regional_check(ctx.portal.cursor(), q, ctx.who.scope)
    found = sum(f.found for f in receipt.findings)
    ctx.audit("regional.check", q, results=found, detail=f"receipt {receipt.sha256[:16]}")
    return render(ctx, "regional.html", w=w, q=q, receipt=receipt, error=None)
