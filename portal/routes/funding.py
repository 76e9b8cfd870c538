"""以事定费: each street centre's workload-based funding for a month beside its staff, and Table 1.

For the city (every district) and for a district user (their own district). Prices come from
``<TIERHUB_HOME>/prices.csv``, else the shipped example — then the page says, in red, that
the prices are an example and not official.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from portal.casework import FUNDING_ROLES, require, words
from portal.context import Ctx, render, signed_in
from tierhub.clock import bureau_time
from tierhub.reference import divisions
from tierhub.scope import Scope
from warehouse.funding import centre_funding, load_prices
from warehouse.roster import AGE_BANDS, EDUCATION_GROUPS, table_one
from warehouse.worklists import month_of

router = APIRouter()
MONTH = re.compile(r"(\d{4})-(\d{2})")


@router.get("/funding")
def funding_page(
    ctx: Annotated[Ctx, Depends(signed_in)], node: str | None = None, month: str | None = None
) -> Response:
    """The centres of the user's area (or a district inside it) for a month (default: last month)."""
    require(ctx, FUNDING_ROLES, "funding")
    scope = Scope(ctx.who.scope).narrow(node if node and re.fullmatch(r"\d{12}", node) else None)
    today = bureau_time(dt.datetime.now(dt.UTC)).date()
    period = month_of(today.replace(day=1) - dt.timedelta(days=1))
    found = MONTH.fullmatch(month or "")
    if found and 1 <= int(found[2]) <= 12:
        period = month_of(dt.date(int(found[1]), int(found[2]), 1))
    con = ctx.portal.cursor()
    funding = centre_funding(con, scope, period, load_prices(ctx.portal.settings.home))
    staff = table_one(con, scope, by="district" if scope.level == "city" else "street", as_of=period.end)
    ctx.audit("funding.view", str(scope), results=len(funding.centres), detail=period.label)
    districts = [(d.code, d.name) for d in divisions().children.get(str(scope), [])] if scope.level == "city" else []
    return render(
        ctx,
        "funding.html",
        w=words(ctx.lang),
        funding=funding,
        staff=staff,
        bands=[label for _, _, label in AGE_BANDS],
        groups=EDUCATION_GROUPS,
        node=scope,
        node_name=scope.division.name,
        districts=districts,
        month=f"{period.start:%Y-%m}",
    )
