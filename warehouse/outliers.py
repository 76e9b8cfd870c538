"""Outliers per service point: weekly volume, pass rate and amounts against the point's own history and its peers.

DHIS2's outlier analysis is the model (decision 0027): each unit is compared with its own
history — a modified z-score, ``(x − median) / (1.4826 · MAD)``, robust to the outliers it
looks for — and the history's min–max is shown beside it. A flag also needs the point to depart
from its **peers** (the street centres, or the community workstations, of the same district): a
week in which the whole district doubles, or goes quiet over a holiday, flags nobody.

Three measures, each over ``HISTORY_WEEKS`` ISO weeks before the period plus the period:

- **volume** — accepted records per week by business date (the workload mart, 以事定费):
  a *surge* (far above the usual rate) or a *silence* (nothing for weeks where records
  were expected);
- **pass rate** — rows that passed every check per week, by the files' export date: a *drop*;
- **amounts** — benefit, subsidy, contribution and loan amounts per item: a *drift* of the
  median over the last ``DRIFT_WEEKS`` weeks against the weeks before.

Counts are small at a community workstation (a few records a week), so the spread of a count
is never taken below its Poisson spread √median — without that floor a point whose history is
"1, 1, 1, …" would be flagged for registering 3.

Each ``Outlier`` carries what makes it one: the weekly series, centre and spread, score,
threshold, the history's min–max and the peers' figure. Scope as in ``warehouse.marts``:
only points inside the caller's scope are returned; peers are the scope's district(s).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from tierhub.scope import Scope
from tierhub.standards import catalogue
from warehouse.marts import Period, counts, trailing, workload

HISTORY_WEEKS = 12
THRESHOLD = 3.5  # modified z (Iglewicz & Hoaglin 1993); DHIS2 offers 3.0 by default, we see small counts
MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of a normal distribution
SURGE_RATIO = 3.0  # a surge is at least 3× the usual weekly rate …
SURGE_EXCESS = 10  # … and at least 10 records above it
SILENCE_EXPECTED = 8.0  # records expected over the silent weeks (Poisson: P(none) = e⁻⁸ ≈ 0.03 %)
SILENCE_BASELINE_WEEKS = 4  # weeks with history before the silence, at least
SILENCE_MIN_WEEKLY = 3.0  # … whose median is ≥ 3 records: below that a quiet spell is ordinary (and a
# point that owes exports and sends none is the completeness report's 未报送单位)
PEER_FACTOR = 3.0  # a surge's ratio to its usual rate is ≥ 3× its peers' median ratio
PEER_QUIET = 0.5  # a silence counts only if the peers' median ratio stayed above 0.5
RATE_FLOOR = 0.05  # the spread of a pass rate is never taken below 5 points
RATE_DROP = 0.20  # a pass rate drop is at least 20 points, against history and peers
RATE_HISTORY_WEEKS = 4
DRIFT_WEEKS = 6
DRIFT_RATIO = 1.5  # a drift moves the median amount by at least half (or to ⅔ and below)
DRIFT_MIN_RECENT, DRIFT_MIN_HISTORY = 5, 5  # amounts needed in the recent weeks and before
MEDIAN_SE = 1.2533  # √(π/2): standard error of a median = this × σ / √n


@dataclass(frozen=True, slots=True)
class Outlier:
    """One service point flagged for one measure, with the history that makes it an outlier.

    ``measure``: volume | pass_rate | amount; ``kind``: surge | silence | drop | drift_up |
    drift_down. ``weeks`` and ``series`` are the weekly history then the period (None: no
    value that week — no file, no amount). ``value`` is what was judged (the period's count
    or pass rate, the recent median amount), ``centre``/``spread`` the history's median and
    scaled MAD (the silence's mean weekly rate before it), ``score`` against ``threshold``.
    ``peer_figure`` is the peers' median (ratio to usual, pass rate, or drift ratio).
    """

    source_id: str
    source_name: str
    tier: str  # street | community
    measure: str
    kind: str
    item_code: str | None
    field: str | None
    period: Period
    weeks: tuple[str, ...]
    series: tuple[float | None, ...]
    value: float
    centre: float
    spread: float
    score: float
    threshold: float
    history_min: float
    history_max: float
    peer_figure: float | None
    peers: int

    def figure(self, value: float | None) -> str:
        """A value of this outlier's series as staff read it: records, a pass rate, or an amount in yuan."""
        if value is None:
            return "—"
        if self.measure == "pass_rate":
            return f"{value:.1%}"
        if self.measure == "amount":
            return f"{value:,.2f}"
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of scoring one series (pure: ``score_volume`` and friends, unit-tested)."""

    kind: str
    value: float
    centre: float
    spread: float
    score: float
    threshold: float


def mad(values: Sequence[float], centre: float) -> float:
    """The median absolute deviation of ``values`` around ``centre``."""
    return statistics.median(abs(v - centre) for v in values)


def usual_ratio(history: Sequence[float], value: float) -> float:
    """``(value + 1) / (median + 1)``: how a week compares with the usual one (peers compare these)."""
    return (value + 1) / (statistics.median(history) + 1)


def score_volume(
    history: Sequence[float],
    value: float,
    peer_ratio: float | None,
    peer_history: Sequence[float | None] | None = None,
) -> Verdict | None:
    """A surge or a silence in weekly record counts ``history`` + the period's ``value``; None: neither.

    ``peer_ratio``: the median ``usual_ratio`` of the peers in the period (None: no peers).
    ``peer_history``: the same for each week of ``history`` (None: not known — every silent week
    is taken to be like the period). A silent week counts towards a silence only where the peers
    were not quiet too (ratio ≥ 0.5): a centre silent for two working weeks and then through the
    Spring Festival is silent for two weeks, not three, and not zero.
    """
    centre = statistics.median(history)
    spread = max(MAD_SCALE * mad(history, centre), math.sqrt(max(centre, 1.0)))
    score = (value - centre) / spread
    ratio = usual_ratio(history, value)
    peers_ok = peer_ratio is None or ratio >= PEER_FACTOR * peer_ratio
    if score >= THRESHOLD and value >= SURGE_RATIO * max(centre, 1.0) and value - centre >= SURGE_EXCESS and peers_ok:
        return Verdict("surge", value, centre, spread, score, THRESHOLD)
    series = [*history, value]
    peers = [*(peer_history if peer_history is not None else [peer_ratio] * len(history)), peer_ratio]
    silent = 0
    while silent < len(series) and series[-1 - silent] == 0:
        silent += 1
    before = series[: len(series) - silent]
    if silent == 0 or len(before) < SILENCE_BASELINE_WEEKS:
        return None
    # The silent weeks in which the peers kept working (a week with no peers' figure counts).
    working = sum(1 for r in peers[len(before) :] if r is None or r >= PEER_QUIET)
    rate = statistics.fmean(before)
    expected = rate * working
    if expected >= SILENCE_EXPECTED and statistics.median(before) >= SILENCE_MIN_WEEKLY:
        return Verdict("silence", value, rate, math.sqrt(rate), expected, SILENCE_EXPECTED)
    return None


def score_pass_rate(history: Sequence[float], value: float, peer_rate: float | None) -> Verdict | None:
    """A drop of the period's pass rate ``value`` below the weeks with files in ``history``."""
    if len(history) < RATE_HISTORY_WEEKS:
        return None
    centre = statistics.median(history)
    spread = max(MAD_SCALE * mad(history, centre), RATE_FLOOR)
    score = (value - centre) / spread
    peers_ok = peer_rate is None or value <= peer_rate - RATE_DROP
    if score <= -THRESHOLD and value <= centre - RATE_DROP and peers_ok:
        return Verdict("drop", value, centre, spread, score, -THRESHOLD)
    return None


def drift_ratio(history: Sequence[float], recent: Sequence[float]) -> float | None:
    """Recent median amount / earlier median amount (None: too few amounts, or none above zero before)."""
    if len(recent) < DRIFT_MIN_RECENT or len(history) < DRIFT_MIN_HISTORY:
        return None
    centre = statistics.median(history)
    return statistics.median(recent) / centre if centre > 0 else None


def score_amounts(
    history: Sequence[float],
    recent: Sequence[float],
    peer_history: Sequence[float] = (),
    peer_recent: Sequence[float] = (),
) -> Verdict | None:
    """A drift of the median amount of ``recent`` records away from the ``history`` amounts.

    The score is the change of median in standard errors of the recent median
    (``1.2533 · σ / √n``, σ = 1.4826 · MAD, never below the peers' pooled σ: a point with a few
    alike amounts has an accidentally small MAD); the drift must also be ≥ 1.5× (or ≤ ⅔) and
    ≥ 1.5× the peers' pooled ratio (their recent amounts' median over their earlier ones'),
    so a change of the amounts district-wide (a new contribution tier) flags nobody.
    """
    ratio = drift_ratio(history, recent)
    if ratio is None:
        return None
    peer_ratio = drift_ratio(peer_history, peer_recent)
    centre = statistics.median(history)
    value = statistics.median(recent)
    peer_sd = MAD_SCALE * mad(peer_history, statistics.median(peer_history)) if peer_history else 0.0
    sd = max(MAD_SCALE * mad(history, centre), peer_sd, 0.01 * centre)
    spread = MEDIAN_SE * sd / math.sqrt(len(recent))
    score = (value - centre) / spread
    relative = ratio / peer_ratio if peer_ratio else ratio
    if score >= THRESHOLD and ratio >= DRIFT_RATIO and relative >= DRIFT_RATIO:
        return Verdict("drift_up", value, centre, spread, score, THRESHOLD)
    if score <= -THRESHOLD and ratio <= 1 / DRIFT_RATIO and relative <= 1 / DRIFT_RATIO:
        return Verdict("drift_down", value, centre, spread, score, -THRESHOLD)
    return None


# ---------------------------------------------------------------- reading the warehouse


@dataclass(frozen=True, slots=True)
class _Point:
    code: str
    name: str
    tier: str

    @property
    def group(self) -> tuple[str, str]:
        """The peers: same district, same tier."""
        return self.code[:6], self.tier


def _points(con: duckdb.DuckDBPyConnection, prefix: str) -> dict[str, _Point]:
    rows = con.execute(
        "SELECT code, name, level FROM ref.divisions WHERE starts_with(code, ?) AND level IN ('street', 'community')",
        [prefix],
    ).fetchall()
    return {str(c): _Point(str(c), str(n), str(lv)) for c, n, lv in rows}


def _peer_medians(values: dict[str, float], points: dict[str, _Point]) -> dict[str, tuple[float | None, int]]:
    """For each point of ``values``: the median over its peers (not itself), and how many there were.

    One sort per peer group; the median without one member is read off the sorted list.
    """
    groups: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for code, value in values.items():
        if code in points:
            groups.setdefault(points[code].group, []).append((value, code))
    found: dict[str, tuple[float | None, int]] = {}
    for members in groups.values():
        members.sort()
        n = len(members) - 1  # peers of each member
        ordered = [value for value, _ in members]
        for i, (_, code) in enumerate(members):
            if n == 0:
                found[code] = (None, 0)
                continue
            # The j-th of the peers in order is ordered[j] below i and ordered[j + 1] from i on.
            middle = [ordered[j if j < i else j + 1] for j in ((n // 2,) if n % 2 else (n // 2 - 1, n // 2))]
            found[code] = (statistics.fmean(middle), n)
    return found


def _analysis_scope(scope: str) -> Scope:
    """Peers are a district's: a scope below a district is analysed over its whole district."""
    narrow = Scope(scope)
    return Scope(narrow.prefix[:6] + "000000") if len(narrow.prefix) > 6 else narrow


def _analysis_window(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, history_weeks: int
) -> tuple[Scope, list[Period], dict[str, _Point]]:
    """What every measure analyses: the district scope, its weeks (history and ``period``'s) and its points."""
    area = _analysis_scope(scope)
    return area, trailing(period, history_weeks + 1), _points(con, area.prefix)


def _outlier(
    point: _Point,
    measure: str,
    verdict: Verdict,
    item: str | None,
    field: str | None,
    weeks: Sequence[Period],
    series: Sequence[float | None],
    history: Sequence[float],
    peer: tuple[float | None, int],
) -> Outlier:
    return Outlier(
        point.code,
        point.name,
        point.tier,
        measure,
        verdict.kind,
        item,
        field,
        weeks[-1],
        tuple(w.label for w in weeks),
        tuple(series),
        verdict.value,
        verdict.centre,
        verdict.spread,
        verdict.score,
        verdict.threshold,
        min(history) if history else 0.0,
        max(history) if history else 0.0,
        peer[0],
        peer[1],
    )


def volume_outliers(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, history_weeks: int = HISTORY_WEEKS
) -> list[Outlier]:
    """Surges and silences of weekly accepted records per service point inside ``scope``."""
    area, weeks, points = _analysis_window(con, scope, period, history_weeks)
    series: dict[str, list[float]] = {}
    for w in workload(con, area, weeks, by="source"):
        row = series.setdefault(w.division_code, [0.0] * len(weeks))
        row[weeks.index(w.period)] += w.records
    # Each point's ratio to its usual week, for every week (the usual week: its history's median).
    usual = {code: statistics.median(s[:-1]) + 1 for code, s in series.items() if code in points}
    weekly = {code: [(v + 1) / usual[code] for v in series[code]] for code in usual}  # usual_ratio, each week
    peers_by_week = [_peer_medians({c: r[k] for c, r in weekly.items()}, points) for k in range(len(weeks))]
    found: list[Outlier] = []
    for code, values in sorted(series.items()):
        if code not in points or not Scope(scope).contains(code):
            continue
        peer = peers_by_week[-1][code]
        verdict = score_volume(values[:-1], values[-1], peer[0], [p[code][0] for p in peers_by_week[:-1]])
        if verdict is not None:
            found.append(_outlier(points[code], "volume", verdict, None, None, weeks, values, values[:-1], peer))
    return found


def pass_rate_outliers(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, history_weeks: int = HISTORY_WEEKS
) -> list[Outlier]:
    """Drops of the weekly pass rate (rows passing every check, by export date) per service point."""
    area, weeks, points = _analysis_window(con, scope, period, history_weeks)
    tallies: dict[str, list[list[int]]] = {}
    for c in counts(con, area, weeks, by="source"):
        row = tallies.setdefault(c.division_code, [[0, 0] for _ in weeks])
        cell = row[weeks.index(c.period)]
        cell[0] += c.rows_in
        cell[1] += c.rows_loaded
    rates = {code: [b / a if a else None for a, b in row] for code, row in tallies.items()}
    current = {code: r[-1] for code, r in rates.items() if r[-1] is not None and code in points}
    peers = _peer_medians(current, points)
    found: list[Outlier] = []
    for code, values in sorted(rates.items()):
        if code not in current or not Scope(scope).contains(code):
            continue
        history = [v for v in values[:-1] if v is not None]
        peer = peers[code]
        verdict = score_pass_rate(history, current[code], peer[0])
        if verdict is not None:
            found.append(_outlier(points[code], "pass_rate", verdict, None, None, weeks, values, history, peer))
    return found


def amount_fields() -> list[tuple[str, str]]:
    """(item code, field) of every amount the catalogue carries: decimal fields named ``*_amount``."""
    found: dict[tuple[str, str], None] = {}
    for item in catalogue():
        for version in item.versions:
            for rule in version.fields:
                if rule.type == "decimal" and rule.field.endswith("_amount"):
                    found[item.code, rule.field] = None
    return sorted(found)


def amount_outliers(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, history_weeks: int = HISTORY_WEEKS
) -> list[Outlier]:
    """Drifts of an item's amounts (benefit, subsidy, contribution, loan…) per service point."""
    area, weeks, points = _analysis_window(con, scope, period, history_weeks)
    recent_from = weeks[-min(DRIFT_WEEKS, len(weeks))].start
    existing = {str(t) for (t,) in con.execute("SELECT fact_table FROM ref.items").fetchall()}
    tables = dict(con.execute("SELECT code, fact_table FROM ref.items").fetchall())
    columns = {
        (str(t), str(c))
        for t, c in con.execute(
            "SELECT schema_name || '.' || table_name, column_name FROM duckdb_columns() WHERE schema_name = 'core'"
        ).fetchall()
    }
    found: list[Outlier] = []
    for item_code, field in amount_fields():
        table = tables.get(item_code)
        if table is None or table not in existing or (table, field) not in columns:
            continue
        dates = ", ".join(dict.fromkeys(f'"{v.business_date}"' for v in catalogue().find(item_code).versions))
        rows = con.execute(
            f"""SELECT source_id, CAST(coalesce({dates}) AS DATE) AS day, CAST("{field}" AS DOUBLE)
                FROM {table} WHERE superseded_by_load IS NULL AND starts_with(source_id, ?) AND "{field}" IS NOT NULL
                  AND CAST(coalesce({dates}) AS DATE) BETWEEN ? AND ?""",
            [area.prefix, weeks[0].start, period.end],
        ).fetchall()
        by_source: dict[str, list[tuple[dt.date, float]]] = {}
        for source, day, amount in rows:
            by_source.setdefault(str(source), []).append((day, float(amount)))
        split = {
            code: ([a for d, a in values if d < recent_from], [a for d, a in values if d >= recent_from])
            for code, values in by_source.items()
            if code in points
        }
        for code, (history, recent) in sorted(split.items()):
            if not Scope(scope).contains(code):
                continue
            group = [c for c in split if c != code and points[c].group == points[code].group]
            peer_history = [a for c in group for a in split[c][0]]
            peer_recent = [a for c in group for a in split[c][1]]
            verdict = score_amounts(history, recent, peer_history, peer_recent)
            if verdict is None:
                continue
            peer = (drift_ratio(peer_history, peer_recent), len(group))
            weekly: list[float | None] = []
            for w in weeks:
                amounts = [a for d, a in by_source[code] if w.contains(d)]
                weekly.append(statistics.median(amounts) if amounts else None)
            found.append(_outlier(points[code], "amount", verdict, item_code, field, weeks, weekly, history, peer))
    return found


def outliers(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, history_weeks: int = HISTORY_WEEKS
) -> list[Outlier]:
    """Every outlier of ``period`` inside ``scope``: volume, pass rate and amounts, by service point."""
    found = [
        *volume_outliers(con, scope, period, history_weeks=history_weeks),
        *pass_rate_outliers(con, scope, period, history_weeks=history_weeks),
        *amount_outliers(con, scope, period, history_weeks=history_weeks),
    ]
    return sorted(found, key=lambda o: (o.source_id, o.measure, o.item_code or "", o.field or ""))
