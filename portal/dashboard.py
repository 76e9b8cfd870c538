"""The dashboard's figures for one node, item and range of months, from the marts.

Drill-down city → district → street → community: the rows are the node's children — at a
street they are its service points, the street centre itself included; a community shows
itself. The node must lie inside the user's scope (ScopeError otherwise); the marts then
apply the node as scope. The figures are ``warehouse.figures.Figures``, computed by the
same function as the district report's street lines (one source of truth, decision 0024).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tierhub.reference import Division, divisions
from tierhub.scope import Scope
from tierhub.settings import TierhubSettings
from warehouse.figures import Figures, division_figures, item_figures, summed
from warehouse.marts import Level, Period, completeness, counts, workload
from warehouse.obligations import source_obligations

__all__ = ["Dashboard", "Figures", "TrendPoint", "build", "month_period", "months_period"]

CHILD_LEVEL: dict[str, Level] = {"city": "district", "district": "street", "street": "source", "community": "source"}
MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One month of the node's trend: its figures (all children added up)."""

    month: str
    figures: Figures


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard page and its exports show."""

    node: Division
    trail: list[Division]  # from the user's scope node down to ``node``
    period: Period
    month: str  # the label of the range: ``2026-11`` or ``2026-09~2026-11``
    item: str | None
    children: list[Figures]
    total: Figures
    items: list[Figures]  # per item inside the node
    centres: list[Figures]  # workload per service point inside the node, largest first
    drillable: bool
    trend: list[TrendPoint] = field(default_factory=list)  # month by month, oldest first
    start_month: str = ""
    end_month: str = ""


def month_period(month: str | None, today: dt.date) -> tuple[str, Period]:
    """``YYYY-MM`` (default: this month) as a period of whole days."""
    match = MONTH.fullmatch(month or "")
    year, number = (int(match.group(1)), int(match.group(2))) if match else (today.year, today.month)
    if not 1 <= number <= 12 or not 2000 <= year <= 2100:
        year, number = today.year, today.month
    start = dt.date(year, number, 1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return f"{year:04d}-{number:02d}", Period(start, end)


def months_period(start: str | None, end: str | None, today: dt.date) -> tuple[str, str, Period]:
    """From month ``start`` to month ``end`` (either defaults to the other, both to this month),
    swapped when given the wrong way round; at most 36 months (the earliest are dropped)."""
    first, first_period = month_period(start or end, today)
    last, last_period = month_period(end or start, today)
    if last_period.start < first_period.start:
        first, first_period, last, last_period = last, last_period, first, first_period
    months = month_starts(Period(first_period.start, last_period.end))
    if len(months) > MAX_MONTHS:
        first, first_period = month_period(f"{months[-MAX_MONTHS]:%Y-%m}", today)
    return first, last, Period(first_period.start, last_period.end)


MAX_MONTHS = 36
TREND_MONTHS = 6  # a single month shows the trend of the months up to it


def month_starts(period: Period) -> list[dt.date]:
    """The first day of every month the period touches."""
    day, found = period.start.replace(day=1), []
    while day <= period.end:
        found.append(day)
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return found


def _month_of(first_day: dt.date) -> Period:
    end = (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return Period(first_day, end)


class BoardCache:
    """Dashboards already built, per published generation and question.

    A published snapshot never changes, so the same dashboard asked again (another manager of
    the city, a reload, a sort or an export of one of its tables) is the same answer: building
    the city's costs ~0.5 s of queries and of walking every source's calendar slots. An entry
    lives ``ttl`` seconds, which bounds how late a "deadline passed" state or an edit of the
    sources file shows; a new generation is a new key.
    """

    def __init__(self, ttl: float = 60.0, size: int = 64) -> None:
        self.ttl = ttl
        self.size = size
        self._boards: OrderedDict[tuple[object, ...], tuple[float, Dashboard]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...], build: Callable[[], Dashboard]) -> Dashboard:
        """The cached dashboard for ``key``, or ``build()``'s (two requests may build it at once: both are right)."""
        now = time.monotonic()
        with self._lock:
            found = self._boards.get(key)
            if found is not None and now - found[0] < self.ttl:
                self._boards.move_to_end(key)
                return found[1]
        board = build()
        with self._lock:
            self._boards[key] = (now, board)
            self._boards.move_to_end(key)
            while len(self._boards) > self.size:
                self._boards.popitem(last=False)
        return board


def board_key(
    published: Path,
    scope: str,
    node: str | None,
    month: str | None,
    until: str | None,
    item: str | None,
    lang: str,
    today: dt.date,
) -> tuple[object, ...]:
    """What a dashboard answers, as a cache key: the generation read (path and modification time — a
    warehouse read directly, before any publish, changes its time when written), the user's scope and
    the question asked."""
    return (str(published), published.stat().st_mtime_ns, str(scope), node, month, until, item, lang, today)


def warm_boards(
    con: duckdb.DuckDBPyConnection, published: Path, scopes: Iterable[str], cache: BoardCache, settings: TierhubSettings
) -> None:
    """Build the opening dashboard (this month, all items, in Chinese) of each scope into ``cache``.

    Run when the portal opens a new generation, so the first manager to look after a publish does
    not wait for the city's ~0.5 s build.
    """
    today = dt.date.today()
    for scope in scopes:
        key = board_key(published, scope, None, None, None, None, "zh", today)
        cache.get(key, functools.partial(build, con, scope, None, None, None, settings, lang="zh", today=today))


def node_inside(scope: str, node: str | None) -> Division:
    """The node to show: ``node`` if it lies inside ``scope`` (else ScopeError), or the scope itself."""
    return Scope(scope).narrow(node).division


def build(
    con: duckdb.DuckDBPyConnection,
    scope: str,
    node_code: str | None,
    month: str | None,
    item: str | None,
    settings: TierhubSettings,
    *,
    until: str | None = None,
    period: Period | None = None,
    lang: str = "zh",
    today: dt.date | None = None,
) -> Dashboard:
    """The dashboard of ``node_code`` (inside ``scope``) from ``month`` to ``until`` for an item (None: all).

    ``period`` (any range of days, e.g. an ISO week) replaces the months when given.
    """
    today = today or dt.date.today()
    node = node_inside(scope, node_code)
    if period is None:
        start_month, end_month, period = months_period(month, until, today)
        label = start_month if start_month == end_month else f"{start_month}~{end_month}"
    else:
        start_month, end_month, label = f"{period.start:%Y-%m}", f"{period.end:%Y-%m}", period.label
    level = CHILD_LEVEL[node.level]
    tree = divisions()
    # The four parts read the snapshot independently: each on its own cursor and thread, so one
    # part's DuckDB time overlaps another's Python (the full city's build in one process: 586 → 400 ms).
    cursors = [con.cursor() for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="dashboard") as pool:
            names = _item_names(con, lang)
            items_part = pool.submit(item_figures, cursors[0], node.code, period, names, item=item)
            workload_part = pool.submit(workload, cursors[1], node.code, [period], by="source")
            trend_part = pool.submit(trend, cursors[2], node, period, item=item)
            sources = completeness(con, node.code, period, source_obligations(settings, period))
            rows = division_figures(con, node.code, period, sources, by=level, item=item)
            items, worked, points = items_part.result(), workload_part.result(), trend_part.result()
    finally:
        for cursor in cursors:
            cursor.close()
    children = [f for code, f in rows.items() if code.startswith(node.prefix) and code in tree.by_code]
    if node.level == "community":
        children = [f for f in children if f.code == node.code]
    total = summed(node.code, node.name, children)
    centres: dict[str, int] = {}
    for w in worked:
        if not item or w.item_code == item:
            centres[w.division_code] = centres.get(w.division_code, 0) + w.records
    trail = [d for d in _ancestors(node) if d.code.startswith(Scope(scope).prefix)]
    top = sorted(centres.items(), key=lambda kv: (-kv[1], kv[0]))
    return Dashboard(
        node=node,
        trail=trail,
        period=period,
        month=label,
        item=item,
        children=children,
        total=total,
        items=items,
        centres=[
            Figures(code, tree.by_code[code].name if code in tree.by_code else code, workload=n) for code, n in top
        ],
        drillable=node.level in ("city", "district", "street"),
        trend=points,
        start_month=start_month,
        end_month=end_month,
    )


def trend(con: duckdb.DuckDBPyConnection, node: Division, period: Period, *, item: str | None) -> list[TrendPoint]:
    """The node's rows, pass rate and workload month by month over ``period`` (the last
    ``TREND_MONTHS`` months up to it, for one month): one query per mart for all months.

    Completeness is left out of the trend: the marts compute it per source and slot in Python
    (~0.5 s per month for the city at demo scale), and the range's completeness is shown above.
    """
    starts = month_starts(period)
    if len(starts) == 1:
        first = starts[0]
        for _ in range(TREND_MONTHS - 1):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        starts = month_starts(Period(first, period.end))
    months = [_month_of(day) for day in starts]
    level = CHILD_LEVEL[node.level]
    points = {m: Figures(node.code, node.name) for m in months}

    def inside(code: str) -> bool:
        return code == node.code if node.level == "community" else code.startswith(node.prefix)

    for c in counts(con, node.code, months, by=level):
        if inside(c.division_code) and (not item or c.item_code == item) and c.period in points:
            f = points[c.period]
            f.files += c.files
            f.rows_in += c.rows_in
            f.rows_loaded += c.rows_loaded
            f.rows_quarantined += c.rows_quarantined
    for w in workload(con, node.code, months, by=level):
        if inside(w.division_code) and (not item or w.item_code == item) and w.period in points:
            points[w.period].workload += w.records
    return [TrendPoint(f"{m.start:%Y-%m}", points[m]) for m in months]


def _ancestors(node: Division) -> list[Division]:
    chain = [node]
    tree = divisions()
    while chain[-1].parent_code:
        chain.append(tree.get(chain[-1].parent_code))
    return list(reversed(chain))


def _item_names(con: duckdb.DuckDBPyConnection, lang: str) -> dict[str, str]:
    column = "name_en" if lang == "en" else "name_zh"
    return {str(c): str(n) for c, n in con.execute(f"SELECT code, {column} FROM ref.items").fetchall()}


def item_choices(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every item in the warehouse's catalogue (ref.items)."""
    return [
        (str(c), str(z), str(e))
        for c, z, e in con.execute("SELECT code, name_zh, name_en FROM ref.items ORDER BY code").fetchall()
    ]
