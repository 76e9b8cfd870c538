"""The calendar past chinese-calendar's last year: a year file is used, a year without one is loud."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import chinese_calendar
import pytest
from typer.testing import CliRunner

from tierhub.calendar import (
    SHIPPED_HOLIDAYS,
    calendar_warnings,
    clear_calendar_cache,
    has_holiday_data,
    is_working_day,
    read_year_file,
    working_day_index,
)
from tierhub.errors import ConfigError, ReferenceDataError

# A test-local 2027: NOT the State Council's arrangement (unpublished when this was written).
TEST_2027 = """\
# test data only — not the official 2027 arrangement
date,kind,name
2027-01-01,休,元旦
2027-02-05,休,春节
2027-02-08,休,春节
2027-02-13,班,春节调休
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tierhub home whose holidays/ folder the calendar reads; caches cleared around the test."""
    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path))
    (tmp_path / "holidays").mkdir()
    clear_calendar_cache()
    yield tmp_path
    monkeypatch.undo()
    clear_calendar_cache()


def test_shipped_example_agrees_with_chinese_calendar(home: Path) -> None:
    shutil.copy(SHIPPED_HOLIDAYS / "example-2026.csv", home / "holidays" / "2026.csv")
    clear_calendar_cache()
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        assert is_working_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_year_file_in_the_home_decides_2027(home: Path) -> None:
    assert not has_holiday_data(2027)
    (home / "holidays" / "2027.csv").write_text(TEST_2027, encoding="utf-8")
    clear_calendar_cache()
    assert has_holiday_data(2027)
    assert not is_working_day(dt.date(2027, 1, 1))  # a Friday off
    assert not is_working_day(dt.date(2027, 2, 5))
    assert is_working_day(dt.date(2027, 2, 13))  # a Saturday worked
    assert is_working_day(dt.date(2027, 1, 4)) and not is_working_day(dt.date(2027, 1, 2))
    index = working_day_index().to_pandas().set_index("day")["idx"]
    assert index[dt.date(2027, 2, 8)] - index[dt.date(2027, 2, 4)] == 0  # 5th (Fri) and 8th (Mon) off
    assert calendar_warnings(dt.date(2027, 3, 1)) == []


def test_year_without_holiday_data_is_loud(home: Path) -> None:
    [warning] = calendar_warnings(dt.date(2027, 3, 1))
    assert "no holiday data for 2027" in warning and str(home / "holidays" / "2027.csv") in warning
    assert calendar_warnings(dt.date(2026, 6, 1)) == []
    assert calendar_warnings(dt.date(2026, 12, 15))  # December warns about the coming year


def test_warehouse_check_fails_without_this_years_holidays(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cli import app
    from warehouse.schema import open_warehouse

    open_warehouse(home / "w.duckdb").close()
    monkeypatch.setattr("tierhub.calendar.missing_years", lambda today: [2027])
    result = CliRunner().invoke(app, ["warehouse", "check", "--warehouse", str(home / "w.duckdb")])
    assert isinstance(result.exception, ConfigError) and "no holiday data for 2027" in str(result.exception)


def test_broken_year_file_names_its_row(home: Path) -> None:
    path = home / "holidays" / "2027.csv"
    path.write_text("date,kind,name\n2027-01-01,休,元旦\n2027-13-01,休,x\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"2027.csv, row 3: '2027-13-01' is not a date"):
        read_year_file(path)
    path.write_text("date,kind,name\n2027-01-01,放,元旦\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="neither 休 nor 班"):
        read_year_file(path)
    path.write_text("date,kind,name\n2028-01-01,休,元旦\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="not in 2027"):
        read_year_file(path)


def test_sync_summary_and_report_carry_the_warning(home: Path) -> None:
    from flows.sync import SyncSummary, summary_markdown

    summary = SyncSummary(warehouse="w", batches=[], warnings=calendar_warnings(dt.date(2027, 3, 1)))
    assert "⚠ no holiday data for 2027" in summary_markdown(summary)
    summary.skipped = "a holiday"
    assert "no holiday data for 2027" in summary_markdown(summary)


def test_working_days_follow_chinese_calendar_wherever_no_local_notice_overrides_it() -> None:
    from tierhub.calendar import is_working_day, year_arrangements

    day, checked = dt.date(2003, 12, 1), 0
    while day <= dt.date(2027, 1, 31):
        if day.year not in year_arrangements():
            try:
                expected = chinese_calendar.is_workday(day)
            except NotImplementedError:  # a year the library has no data for: Monday to Friday
                expected = day.weekday() < 5
            assert is_working_day(day) == expected, day
            checked += 1
        day += dt.timedelta(days=1)
    assert checked > 8_000
