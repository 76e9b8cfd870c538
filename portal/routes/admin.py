"""Administrators: the audit log and the accounts (changes go through `tierhub users`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from portal.context import Ctx, Forbidden, render, signed_in

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
    """Every account with its role, node and state."""
    _admin(ctx)
    return render(ctx, "users.html", accounts=ctx.portal.state.users())
