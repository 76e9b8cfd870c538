"""The working-day calendar of mainland China: weekends, public holidays and adjusted weekends.

Time limits (办结时限) and the street centres' weekly schedule count working days. The
State Council's holiday arrangements come from chinese-calendar (docs/decisions/0004).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import chinese_calendar
import pyarrow as pa

# The span of days the working-day index covers; outside chinese-calendar's years a working
# day is Monday to Friday (see docs/decisions/0004).
CALENDAR_START = dt.date(1990, 1, 1)
CALENDAR_END = dt.date(2040, 12, 31)


def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China (adjusted weekends included)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


@cache
def working_day_index() -> pa.Table:
    """Each calendar day with the count of working days up to and including it."""
    days: list[dt.date] = []
    index: list[int] = []
    count = 0
    day = CALENDAR_START
    while day <= CALENDAR_END:
        count += is_working_day(day)
        days.append(day)
        index.append(count)
        day += dt.timedelta(days=1)
    return pa.table({"day": pa.array(days, pa.date32()), "idx": pa.array(index, pa.int32())})
