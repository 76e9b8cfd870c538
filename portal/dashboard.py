"""The dashboard's figures for one node, item and period, from the marts (warehouse/marts.py).

Drill-down city → district → street → community: the rows are the node's children — at a
street they are its service points, the street centre itself included. The node must lie
inside the user's scope (ScopeError otherwise); the marts then apply the node as scope.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import duckdb

from tierhub.reference import Division, divisions
from tierhub.scope import Scope
from tierhub.settings import TierhubSettings
from warehouse.marts import Level, Period, completeness, counts, workload
from warehouse.obligations import source_obligations

CHILD_LEVEL: dict[str, Level] = {"city": "district", "district": "street", "street": "source", "community": "source"}
MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of the dashboard: a child division (or an item) with its figures."""

    code: str
    name: str
    files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    expected: int = 0
    received: int = 0
    workload: int = 0

    @property
    def pass_rate(self) -> float | None:
        """Rows that passed every check ÷ rows received."""
        return self.rows_loaded / self.rows_in if self.rows_in else None

    @property
    def completeness(self) -> float | None:
        """Expected submissions received ÷ expected."""
        return self.received / self.expected if self.expected else None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard page and its exports show."""

    node: Division
    trail: list[Division]  # from the user's scope node down to ``node``
    period: Period
    month: str
    item: str | None
    children: list[Figures]
    total: Figures
    items: list[Figures]  # per item inside the node
    centres: list[Figures]  # workload per service point inside the node, largest first
    drillable: bool


def month_period(month: str | None, today: dt.date) -> tuple[str, Period]:
    """``YYYY-MM`` (default: this month) as a period of whole days."""
    match = MONTH.fullmatch(month or "")
    year, number = (int(match.group(1)), int(match.group(2))) if match else (today.year, today.month)
    if not 1 <= number <= 12 or not 2000 <= year <= 2100:
        year, number = today.year, today.month
    start = dt.date(year, number, 1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return f"{year:04d}-{number:02d}", Period(start, end)


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
    lang: str = "zh",
    today: dt.date | None = None,
) -> Dashboard:
    """The dashboard of ``node_code`` (inside ``scope``) for a month and an item (None: all)."""
    today = today or dt.date.today()
    node = node_inside(scope, node_code)
    label, period = month_period(month, today)
    level = CHILD_LEVEL[node.level]
    tree = divisions()
    prefix = node.prefix

    rows: dict[str, dict[str, int]] = {}
    per_item: dict[str, dict[str, int]] = {}
    for c in counts(con, node.code, [period], by=level):
        if item and c.item_code != item:
            continue
        acc = rows.setdefault(c.division_code, {})
        for key, value in (
            ("files", c.files),
            ("rows_in", c.rows_in),
            ("rows_loaded", c.rows_loaded),
            ("rows_quarantined", c.rows_quarantined),
        ):
            acc[key] = acc.get(key, 0) + value
            per_item.setdefault(c.item_code or "?", {})[key] = per_item.get(c.item_code or "?", {}).get(key, 0) + value
    centres: dict[str, int] = {}
    for w in workload(con, node.code, [period], by=level):
        if item and w.item_code != item:
            continue
        acc = rows.setdefault(w.division_code, {})
        acc["workload"] = acc.get("workload", 0) + w.records
        per_item.setdefault(w.item_code, {})["workload"] = per_item.get(w.item_code, {}).get("workload", 0) + w.records
    for w in workload(con, node.code, [period], by="source"):
        if not item or w.item_code == item:
            centres[w.division_code] = centres.get(w.division_code, 0) + w.records
    expectations = source_obligations(settings, period)
    for source in completeness(con, node.code, period, expectations):
        key = _child_code(source.source_id, level)
        acc = rows.setdefault(key, {})
        acc["expected"] = acc.get("expected", 0) + source.expected
        acc["received"] = acc.get("received", 0) + source.received
    children = [
        Figures(code, tree.by_code[code].name, **values)
        for code, values in sorted(rows.items())
        if code.startswith(prefix) and code in tree.by_code
    ]
    total = Figures(
        node.code,
        node.name,
        **{
            k: sum(getattr(f, k) for f in children)
            for k in ("files", "rows_in", "rows_loaded", "rows_quarantined", "expected", "received", "workload")
        },
    )
    names = _item_names(con, lang)
    items = [Figures(code, names.get(code, code), **values) for code, values in sorted(per_item.items())]
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
        drillable=node.level in ("city", "district", "street") and level != "source",
    )


def _child_code(source: str, level: Level) -> str:
    if level == "district":
        return source[:6] + "000000"
    if level == "street":
        return source[:9] + "000"
    return source


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
