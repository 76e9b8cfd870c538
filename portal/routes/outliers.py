"""Service points out of line (warehouse.outliers): the dashboards' outlier page, inside the user's scope."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from portal.context import Ctx, Forbidden, render, signed_in
from tierhub.clock import BUREAU_TIME
from warehouse.marts import Period, last_week, week_of
from warehouse.outliers import HISTORY_WEEKS, outliers

router = APIRouter()


def chosen_week(week: str | None) -> Period:
    """The ISO week holding the day ``week`` (YYYY-MM-DD); default: last week, Beijing time."""
    if week:
        try:
            return week_of(dt.date.fromisoformat(week))
        except ValueError:
            pass
    return last_week(dt.datetime.now(BUREAU_TIME).date())


@router.get("/outliers")
def show(ctx: Annotated[Ctx, Depends(signed_in)], week: str | None = None) -> Response:
    """The service points inside the user's scope whose week departs from their history and peers."""
    if not ctx.who.may.dashboards:
        raise Forbidden(f"role {ctx.who.role.value} has no dashboards")
    period = chosen_week(week)
    found = outliers(ctx.portal.cursor(), ctx.who.scope, period)
    return render(ctx, "outliers.html", found=found, period=period, weeks=HISTORY_WEEKS)
