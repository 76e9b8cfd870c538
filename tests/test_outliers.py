"""Outliers per service point (warehouse/outliers.py, decision 0027): the injected ones found, few others."""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tierhub.synth.anomalies import KINDS, read_anomalies, report_week
from tierhub.synth.city import GeneratedCity, generate_city, select_sources
from warehouse.marts import Period
from warehouse.outliers import (
    HISTORY_WEEKS,
    THRESHOLD,
    Outlier,
    _peer_medians,
    _Point,
    outliers,
    score_amounts,
    score_pass_rate,
    score_volume,
)
from warehouse.schema import open_warehouse

CITY = "120000000000"
# What each injected kind must be flagged as.
EXPECTED = {"surge": ("volume", "surge"), "silence": ("volume", "silence"), "drift": ("amount", "drift_up")}
STEADY = [9.0, 11, 8, 10, 12, 9, 10, 7, 11, 10, 9, 10]

# (history, this week, peers' median ratio, expected kind or None)
VOLUME_CASES = [
    (STEADY, 95.0, 1.0, "surge"),  # ten times the usual week
    (STEADY, 15.0, 1.0, None),  # a busy week, not an outlier
    (STEADY, 95.0, 8.0, None),  # the whole district surged (a campaign): the peers explain it
    ([1.0] * 12, 3.0, 1.0, None),  # a MAD of 0: the Poisson floor keeps 3 from scoring infinity
    ([1.0] * 12, 14.0, 1.0, "surge"),
    ([*STEADY[:10], 0.0, 0.0], 0.0, 1.0, "silence"),  # three silent weeks where ~10 a week came
    (STEADY, 0.0, 1.0, "silence"),  # one silent week of a busy centre: 10 expected, none came
    ([*STEADY[:10], 0.0, 0.0], 0.0, 0.3, None),  # everyone went quiet (a holiday week)
    ([2.0, 1, 2, 1, 1, 2, 1, 0, 0, 0, 0, 0], 0.0, 1.0, None),  # a quiet workstation: the completeness report's job
    ([0.0] * 12, 0.0, 1.0, None),
]


@pytest.mark.parametrize(("history", "value", "peers", "kind"), VOLUME_CASES)
def test_volume_scoring(history: list[float], value: float, peers: float, kind: str | None) -> None:
    verdict = score_volume(history, value, peers)
    assert (verdict.kind if verdict else None) == kind
    if verdict is not None and kind == "surge":
        assert verdict.score >= THRESHOLD == verdict.threshold and verdict.centre == statistics.median(history)


def test_a_silence_that_runs_into_a_holiday_counts_its_working_weeks() -> None:
    """Silent two working weeks, then through the Spring Festival week in which everyone was quiet."""
    history = [*STEADY[:10], 0.0, 0.0]
    working = [1.0] * 12
    verdict = score_volume(history, 0.0, 0.2, working)
    assert verdict is not None and verdict.kind == "silence"
    assert verdict.score == statistics.fmean(STEADY[:10]) * 2  # two working weeks expected, not three
    quiet_before = [*working[:11], 0.3]  # the week before was a holiday too: one working week, ~10 expected
    assert score_volume(history, 0.0, 0.2, quiet_before) is not None
    assert score_volume(history, 0.0, 0.2, [*working[:10], 0.3, 0.3]) is None  # silent only while everyone was
    assert score_volume(history, 0.0, 0.2) is None  # nothing known of the weeks before: as the period


def test_peer_medians_leave_each_point_out() -> None:
    points = {c: _Point(c, c, "street") for c in ("120101001000", "120101002000", "120101003000", "120101004000")}
    points["120102001000"] = _Point("120102001000", "x", "street")  # another district: not a peer
    values = dict(zip(points, [1.0, 2.0, 3.0, 10.0, 50.0], strict=True))
    found = _peer_medians(values, points)
    for code in values:
        peers = [v for c, v in values.items() if c != code and points[c].group == points[code].group]
        assert found[code] == ((statistics.median(peers) if peers else None), len(peers))


def test_pass_rate_scoring() -> None:
    history = [0.97, 0.95, 0.96, 0.98, 0.94, 0.97]
    drop = score_pass_rate(history, 0.55, 0.95)
    assert drop is not None and drop.kind == "drop" and drop.score <= -THRESHOLD
    assert score_pass_rate(history, 0.90, 0.95) is None  # a few points lower: ordinary
    assert score_pass_rate(history, 0.55, 0.60) is None  # the district's pass rate fell with it (a new standard)
    assert score_pass_rate(history[:3], 0.10, 0.95) is None  # too little history to judge


def test_amount_scoring() -> None:
    history = [float(a) for a in range(300, 3001, 300)]  # 10 ordinary contributions
    drifted = [a * 3 for a in history[:8]]
    verdict = score_amounts(history, drifted, history, history)
    assert verdict is not None and verdict.kind == "drift_up" and verdict.value == 3 * 1350
    assert score_amounts(history, history[:8], history, history) is None
    assert score_amounts(history, drifted, history, [a * 3 for a in history]) is None  # district-wide change
    assert score_amounts(history, drifted[:3], history, history) is None  # too few recent amounts
    narrow = [float(a) for a in range(1000, 1901, 100)]
    low = score_amounts(narrow, [a / 10 for a in narrow[:8]], narrow, narrow)
    assert low is not None and low.kind == "drift_down" and low.score <= -THRESHOLD


def scored(found: list[Outlier], anomalies_root: Path, sources: int) -> list[str]:
    """What is wrong with ``found`` against the city's ground truth (empty: all found, ≤ 1 % others)."""
    truth = read_anomalies(anomalies_root)
    problems: list[str] = []
    if {a.kind for a in truth} != set(KINDS):
        problems.append(f"the city lacks an anomaly kind: {sorted(a.kind for a in truth)}")
    for anomaly in truth:
        measure, kind = EXPECTED[anomaly.kind]
        hits = [o for o in found if o.source_id == anomaly.source_code and (o.measure, o.kind) == (measure, kind)]
        if anomaly.kind == "drift":
            hits = [o for o in hits if (o.item_code, o.field) == (anomaly.item_code, anomaly.field)]
        if not hits:
            problems.append(f"not found: {anomaly}")
    odd = {a.source_code for a in truth}
    others = sorted({o.source_id for o in found} - odd)
    if len(others) > 0.01 * (sources - len(odd)):
        problems.append(f"{len(others)} of {sources - len(odd)} other service points flagged: {others}")
    return problems


def check_outliers(city: GeneratedCity, con: duckdb.DuckDBPyConnection) -> None:
    """The outlier list of the report week finds every injected anomaly and flags ≤ 1 % of the others.

    The city's as-of date is where its silences end (tests/test_any_date.py sweeps it over a year).
    """
    as_of = max(a.end for a in read_anomalies(city.root) if a.kind == "silence")
    start, end = report_week(as_of)
    period = Period(start, end)
    found = outliers(con, CITY, period)
    assert scored(found, city.root, city.sources) == []
    for o in found:
        assert o.period == period and len(o.series) == len(o.weeks) == HISTORY_WEEKS + 1
        assert o.weeks[-1] == period.label and o.history_min <= o.centre <= o.history_max
        assert abs(o.score) >= abs(o.threshold)


def test_the_demo_city_s_anomalies_are_found(city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    check_outliers(city, warehouse_ro)


def test_outliers_stay_inside_the_scope(city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    start, end = report_week(dt.date.today())
    everywhere = outliers(warehouse_ro, CITY, Period(start, end))
    anomaly = read_anomalies(city.root)[0]
    street = anomaly.source_code
    mine = outliers(warehouse_ro, street, Period(start, end))
    assert mine and {o.source_id for o in mine} == {street}
    assert mine == [o for o in everywhere if o.source_id == street]  # peers are the district's, whatever the scope


@pytest.mark.slow
def test_anomalies_are_found_with_another_seed_on_a_fixed_date(tmp_path: Path) -> None:
    """Another seed, as of the Monday after the Spring Festival 2026 (a holiday fortnight in the history).

    ``tests/test_any_date.py`` runs ``check_outliers`` on its 14 dates swept over a year.
    """
    failures: list[str] = []
    for day in (dt.date(2026, 2, 23),):
        root = tmp_path / day.isoformat()
        city = generate_city(root / "city", scale="demo", seed=11, as_of=day)
        con = open_warehouse(root / "warehouse.duckdb")
        try:
            codes = [s.code for s in select_sources("demo")]
            sync_sources(con, city.drops, codes, today=day)  # one batch: a batch costs a fixed time per item
            start, end = report_week(day)
            failures += [
                f"{day}: {p}" for p in scored(outliers(con, CITY, Period(start, end)), city.root, city.sources)
            ]
        finally:
            con.close()
        shutil.rmtree(root)
    assert failures == []
