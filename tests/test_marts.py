"""Marts: periods and deadlines, scope, reconciliation, completeness and lateness, the correction loop."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tests.cases import BASE, SOURCE, TODAY, with_check
from tests.test_history import write_export
from tierhub.reference import divisions
from tierhub.synth.city import FILES, GeneratedCity, select_sources
from warehouse import marts
from warehouse.marts import TZ, Period, week_of
from warehouse.queries import district_counts
from warehouse.schema import open_warehouse

DISTRICT = SOURCE[:6] + "000000"
OTHER = {**BASE, "name": "李娜", "id_number": with_check("12010119900202002"), "sex": "女", "birth_date": "1990-02-02"}
WEEK_A, WEEK_B, WEEK_C = week_of(dt.date(2026, 11, 2)), week_of(dt.date(2026, 11, 9)), week_of(dt.date(2026, 11, 16))


def drop(drops: Path, source: str, name: str, rows: list[dict[str, str | None]], at: dt.datetime) -> None:
    """Write an export into a source's outbox, as if uploaded at ``at``."""
    outbox = drops / source[:6] / source
    write_export(outbox, name, rows)
    os.utime(outbox / name, (at.timestamp(), at.timestamp()))


def correction_history(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """One street's record of 张伟: wrong in week A, still wrong (and late) in week B, corrected in week C."""
    drops = tmp_path / "drops"
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    weeks = [
        ("20261105", {**BASE, "mobile_phone": "1381234567"}, dt.datetime(2026, 11, 6, 10, tzinfo=TZ)),
        ("20261112", {**BASE, "mobile_phone": "138123"}, dt.datetime(2026, 11, 17, 10, tzinfo=TZ)),  # late
        ("20261119", BASE, dt.datetime(2026, 11, 19, 10, tzinfo=TZ)),
    ]
    for day, row, at in weeks:
        drop(drops, SOURCE, f"失业登记_{SOURCE}_{day}.csv", [row, OTHER], at)
        sync_sources(con, drops, [SOURCE], today=TODAY, sleep=lambda _: None)
    return con


def test_periods_are_iso_weeks_or_ranges() -> None:
    week = week_of(dt.date(2026, 11, 25))
    assert (week.start, week.end, week.label) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29), "2026-W48")
    assert marts.last_week(dt.date(2026, 11, 25)).label == "2026-W47"
    assert [p.label for p in marts.trailing(week, 3)] == ["2026-W46", "2026-W47", "2026-W48"]
    month = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert month.label == "2026-11-01~2026-11-30" and not month.is_week
    assert week.periods_since(dt.date(2026, 11, 24)) == 0
    assert week.periods_since(dt.date(2026, 11, 22)) == 1
    assert week.periods_since(dt.date(2026, 11, 8)) == 3
    with pytest.raises(Exception, match="ends before it starts"):
        Period(dt.date(2026, 11, 2), dt.date(2026, 11, 1))


def test_deadline_counts_working_days_past_holidays() -> None:
    # Week 2025-09-29..10-05 holds National Day; 10-06..10-08 are holidays too: due on Thursday 10-09.
    assert marts.deadline(dt.date(2025, 10, 5), 1) == dt.datetime(2025, 10, 9, 23, 59, 59, tzinfo=TZ)
    # An ordinary week: due by the end of Monday; two working days: Tuesday.
    assert marts.deadline(dt.date(2026, 11, 29), 1).date() == dt.date(2026, 11, 30)
    assert marts.deadline(dt.date(2026, 11, 29), 2).date() == dt.date(2026, 12, 1)


def test_marts_never_leave_the_scope(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    week = week_of(dt.date.today())
    street = next(s.code for s in divisions().at_level("street") if s.code.startswith("120117"))
    prefix = divisions().get(street).prefix
    found = [c.division_code for c in marts.counts(warehouse_ro, street, [week], by="source")]
    found += [w.division_code for w in marts.workload(warehouse_ro, street, marts.trailing(week, 20))]
    found += [c.source_id for c in marts.completeness(warehouse_ro, street, week, marts.default_expectations(week.end))]
    found += [line.source_id for line in marts.failing_lines(warehouse_ro, street, week)]
    found += [t.division_code for t in marts.reason_tallies(warehouse_ro, street, week, by="source")]
    assert found and all(code.startswith(prefix) for code in found)
    assert marts.counts(warehouse_ro, "120101001000", [week], by="district") == []  # a street is no district


def test_counts_reconcile_with_the_registry(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    week = week_of(dt.date.today())
    for district in district_counts(warehouse_ro):
        rows = marts.counts(warehouse_ro, district.district_code, [week], by="street")
        assert sum(c.rows_in for c in rows) == district.rows_in
        assert sum(c.rows_loaded for c in rows) == district.rows_loaded
        assert sum(c.files for c in rows) == district.files
        rate = marts.pass_rates(warehouse_ro, district.district_code, [week], by="district")
        assert [(r.rows_in, r.rows_quarantined) for r in rate] == [(district.rows_in, district.rows_quarantined)]
        failing = {(x.file_id, x.row_number) for x in marts.failing_lines(warehouse_ro, district.district_code, week)}
        assert len(failing) == district.rows_quarantined  # the demo has no resubmissions: every row is open


def test_workload_counts_each_current_record_once(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    everything = Period(dt.date(1990, 1, 1), dt.date.today())
    total = sum(w.records for w in marts.workload(warehouse_ro, "120000000000", [everything], by="district"))
    # No resubmissions in the demo: every loaded row is a current record, and every one counts
    # but the staff roster's (a list, not a service: ``workload: false`` in the catalogue).
    [(facts, roster)] = warehouse_ro.execute(
        "SELECT sum(rows_loaded) FILTER (WHERE item_code IS DISTINCT FROM 'JC03'), "
        "sum(rows_loaded) FILTER (WHERE item_code = 'JC03') FROM ops.files"
    ).fetchall()
    assert total == facts and roster > 0
    assert not any(w.item_code == "JC03" for w in marts.workload(warehouse_ro, "120000000000", [everything]))
    weeks = marts.trailing(week_of(dt.date.today()), 30)
    by_week = marts.workload(warehouse_ro, "120117000000", weeks, by="street")
    assert len({w.period for w in by_week}) > 8  # business dates spread over the last months


def test_completeness_lists_silent_sources(city_silent: tuple[set[str], duckdb.DuckDBPyConnection]) -> None:
    silent, con = city_silent
    week = week_of(dt.date.today())
    rows = marts.completeness(con, "120117000000", week, marts.default_expectations(week.end))
    assert {r.source_id for r in rows if r.silent} == {s for s in silent if s.startswith("120117")}
    street = next(r for r in rows if r.level == "street" and not r.silent)
    assert street.expected == len(marts.default_expectations(week.end).street_items)
    assert all(r.expected == 1 for r in rows if r.level == "community")  # any one export


@pytest.fixture
def city_silent(
    city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection
) -> tuple[set[str], duckdb.DuckDBPyConnection]:
    """Sources of the demo city that wrote no file, from the generator's own inventory."""
    with (city.root / FILES).open(encoding="utf-8") as handle:
        sending = {r["source_id"] for r in csv.DictReader(handle)}
    return {s.code for s in select_sources("demo")} - sending, warehouse_ro


def test_lateness_follows_upload_time_and_deadline(tmp_path: Path) -> None:
    con = correction_history(tmp_path)
    expect = marts.Expectations(street_items=("JY02",))
    source = {c.source_id: c for c in marts.completeness(con, SOURCE, WEEK_A, expect)}[SOURCE]
    assert (source.expected, source.received, source.on_time, source.late) == (1, 1, 1, ())
    late = {c.source_id: c for c in marts.completeness(con, SOURCE, WEEK_B, expect)}[SOURCE]
    assert (late.received, late.on_time) == (1, 0)
    assert late.late[0].path.endswith("_20261112.csv")
    assert late.late[0].due == dt.datetime(2026, 11, 16, 23, 59, 59, tzinfo=TZ)
    two = marts.Expectations(street_items=("JY02", "SB01"))
    missing = {c.source_id: c for c in marts.completeness(con, SOURCE, WEEK_C, two)}[SOURCE]
    assert [s.item_code for s in missing.missing] == ["SB01"]
    monthly = marts.Expectations(street_items=("JY02",), overrides={SOURCE: (None, "monthly")})
    november = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert {c.source_id: c for c in marts.completeness(con, SOURCE, november, monthly)}[SOURCE].expected == 1
    assert {c.source_id: c for c in marts.completeness(con, SOURCE, WEEK_B, monthly)}[SOURCE].expected == 0


def test_a_record_is_open_until_a_correction_arrives(tmp_path: Path) -> None:
    con = correction_history(tmp_path)
    first = marts.failing_lines(con, DISTRICT, WEEK_A)
    assert [(x.status, x.age, x.field, x.value) for x in first] == [("open", 0, "mobile_phone", "1381234567")]
    second = marts.failing_lines(con, DISTRICT, WEEK_B)
    assert [(x.status, x.age, x.value, x.first_day) for x in second] == [("open", 1, "138123", dt.date(2026, 11, 5))]
    assert second[0].record_key == first[0].record_key  # the same record, followed across submissions
    assert marts.escalations(second, 1) == second and marts.escalations(second, 2) == []
    third = marts.failing_lines(con, DISTRICT, WEEK_C)
    corrected = f"{SOURCE[:6]}/{SOURCE}/失业登记_{SOURCE}_20261119.csv"
    assert [(x.status, x.fixed_by_path) for x in third] == [("fixed", corrected)]
    assert marts.failing_lines(con, DISTRICT, WEEK_C.shifted(1)) == []  # fixed before: no longer listed


@pytest.mark.parametrize("district", ["120101000000", "120117000000"])
def test_dashboard_and_district_report_give_the_same_figures(
    warehouse_ro: duckdb.DuckDBPyConnection, district: str, tmp_path: Path
) -> None:
    """One source of truth (decision 0009): completeness, rows and workload per street agree, month by month."""
    from portal.dashboard import build, month_period
    from reports.model import build_report
    from tierhub.settings import TierhubSettings
    from warehouse.obligations import source_obligations

    settings = TierhubSettings(home=tmp_path)
    today = dt.date.today()
    months = [f"{today:%Y-%m}", f"{(today.replace(day=1) - dt.timedelta(days=1)):%Y-%m}"]
    compared = 0
    for month in months:
        _, period = month_period(month, today)
        board = build(warehouse_ro, "120000000000", district, month, None, settings, today=today)
        report = build_report(warehouse_ro, district, period, expectations=source_obligations(settings, period))
        streets = {s.code: s for s in report.streets}
        for child in board.children:
            street = streets[child.code]
            assert (child.expected, child.received) == (street.expected, street.received), (month, child.code)
            assert (child.rows_in, child.rows_loaded) == (street.rows_in, street.rows_loaded), (month, child.code)
            assert child.workload == street.workload, (month, child.code)
            compared += 1
    assert compared >= len(streets)
