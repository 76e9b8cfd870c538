"""The division figures both the dashboard and the district report show — one type, one computation.

``Figures`` is the counters of one division (or item) in one period: files and rows received,
rows loaded and quarantined, expected and received submissions, and the workload (records
handled, 以事定费). The portal's dashboard rows and the report's street lines are both built by
:func:`division_figures` from the same marts, so for the same division and period they cannot
disagree (issue #18; decision 0024). The report's street line extends it with what only the
report lists (reasons, silent and late sources, the correction loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from tierhub.reference import ByDivision
from warehouse.marts import Level, Period, RowsPassRate, SourceCompleteness, counts, workload

COUNTERS = ("files", "rows_in", "rows_loaded", "rows_quarantined", "expected", "received", "workload")


@dataclass
class Figures(RowsPassRate):
    """The counters of one division (or item) in one period."""

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
    def completeness(self) -> float | None:
        """Expected submissions received ÷ expected (None: nothing expected)."""
        return self.received / self.expected if self.expected else None

    def add(self, other: Figures) -> None:
        """Add ``other``'s counters to this one's."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def summed(code: str, name: str, parts: Iterable[Figures]) -> Figures:
    """A total: ``parts`` added up under ``code``/``name``."""
    total = Figures(code, name)
    for part in parts:
        total.add(part)
    return total


def group_code(source_id: str, level: Level) -> str:
    """The division at ``level`` a source belongs to (its district, its street, or itself)."""
    if level == "district":
        return source_id[:6] + "000000"
    if level == "street":
        return source_id[:9] + "000"
    return source_id


def division_figures(
    con: duckdb.DuckDBPyConnection,
    scope: str,
    period: Period,
    sources: Sequence[SourceCompleteness],
    *,
    by: Level,
    item: str | None = None,
) -> dict[str, Figures]:
    """Per division at level ``by`` inside ``scope``: the figures of ``period``.

    ``sources`` is ``marts.completeness`` for the same scope and period (the caller often lists
    it too); completeness counts every item a source owes, whatever ``item`` is. ``item``
    narrows files, rows and workload to one service item.
    """
    found = ByDivision(Figures)
    for c in counts(con, scope, [period], by=by):
        if item and c.item_code != item:
            continue
        f = found[c.division_code]
        f.files += c.files
        f.rows_in += c.rows_in
        f.rows_loaded += c.rows_loaded
        f.rows_quarantined += c.rows_quarantined
    for w in workload(con, scope, [period], by=by):
        if not item or w.item_code == item:
            found[w.division_code].workload += w.records
    for s in sources:
        f = found[group_code(s.source_id, by)]
        f.expected += s.expected
        f.received += s.received
    return dict(sorted(found.items()))


def item_figures(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, names: dict[str, str], *, item: str | None = None
) -> list[Figures]:
    """Per service item inside ``scope``: files, rows and workload of ``period`` (no completeness)."""
    found: dict[str, Figures] = {}
    for c in counts(con, scope, [period], by="source"):
        code = c.item_code or "?"
        if item and code != item:
            continue
        f = found.setdefault(code, Figures(code, names.get(code, code)))
        f.files += c.files
        f.rows_in += c.rows_in
        f.rows_loaded += c.rows_loaded
        f.rows_quarantined += c.rows_quarantined
    for w in workload(con, scope, [period], by="source"):
        if item and w.item_code != item:
            continue
        found.setdefault(w.item_code, Figures(w.item_code, names.get(w.item_code, w.item_code))).workload += w.records
    return [found[k] for k in sorted(found)]
