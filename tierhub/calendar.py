"""The working-day calendar of mainland China: weekends, public holidays and adjusted weekends.

Time limits (办结时限) and the street centres' weekly schedule count working days. The State
Council's holiday arrangements (放假安排) come from, in order:

1. a year file ``<TIERHUB_HOME>/holidays/<year>.csv`` of this installation — the bureau adds a
   year as soon as the State Council publishes its notice, without a tierhub release;
2. a year file shipped in ``tierhub/reference/data/holidays/<year>.csv``;
3. chinese-calendar (docs/decisions/0004), which knows the years up to its release.

A year none of them knows falls back to Monday–Friday, and that is never silent: every run
summary and report carries ``calendar_warnings`` and ``tierhub warehouse check`` fails
(``missing_years``). The file format is in ``tierhub/reference/data/holidays/README.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import chinese_calendar
import pyarrow as pa

from tierhub.errors import ReferenceDataError

# The span of days the working-day index covers (see docs/decisions/0004).
CALENDAR_START = dt.date(1990, 1, 1)
CALENDAR_END = dt.date(2040, 12, 31)
SHIPPED_HOLIDAYS = Path(__file__).parent / "reference" / "data" / "holidays"
DAY_OFF = ("休", "holiday")
WORKDAY = ("班", "workday")
# In its last weeks a year warns if the next one has no holiday data yet (deadlines cross over).
LOOKAHEAD_DAYS = 31


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's 放假安排: days off on working weekdays and weekend days worked (调休上班)."""

    year: int
    days_off: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str  # the file it came from


def holiday_folders() -> list[Path]:
    """Where year files are looked for, the installation's own first."""
    from tierhub.settings import TierhubSettings

    return [TierhubSettings().home / "holidays", SHIPPED_HOLIDAYS]


def read_year_file(path: Path) -> YearArrangement:
    """Parse ``<year>.csv`` (``date,kind,name``; kind 休 or 班); errors name the file, the line and the fix."""
    year = int(path.stem)
    days_off: set[dt.date] = set()
    workdays: set[dt.date] = set()
    fix = "one row per day: 2027-01-01,休,元旦 (休 = day off, 班 = adjusted working day); see holidays/README.md"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = (line for line in handle if line.strip() and not line.lstrip().startswith("#"))
        reader = csv.DictReader(lines)
        if reader.fieldnames is None or not {"date", "kind"} <= set(reader.fieldnames):
            raise ReferenceDataError("a holiday file needs the columns date,kind,name", path=str(path), fix=fix)
        for number, row in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                problem = f"{row.get('date')!r} is not a date"
                raise ReferenceDataError(problem, path=str(path), row=number, fix=fix) from None
            kind = (row.get("kind") or "").strip()
            if day.year != year:
                raise ReferenceDataError(f"{day} is not in {year}", path=str(path), row=number, fix=fix)
            if kind in DAY_OFF:
                days_off.add(day)
            elif kind in WORKDAY:
                workdays.add(day)
            else:
                raise ReferenceDataError(f"kind {kind!r} is neither 休 nor 班", path=str(path), row=number, fix=fix)
    if not days_off:
        raise ReferenceDataError(f"no day off listed for {year}", path=str(path), fix=fix)
    return YearArrangement(year, frozenset(days_off), frozenset(workdays), str(path))


@cache
def year_arrangements() -> dict[int, YearArrangement]:
    """Every year file found, by year (the installation's file wins over the shipped one)."""
    found: dict[int, YearArrangement] = {}
    for folder in reversed(holiday_folders()):
        if folder.is_dir():
            for path in sorted(folder.glob("[0-9][0-9][0-9][0-9].csv")):
                found[int(path.stem)] = read_year_file(path)
    return found


def clear_calendar_cache() -> None:
    """Forget the year files and the working-day index read so far (after adding a year file)."""
    year_arrangements.cache_clear()
    working_day_index.cache_clear()
    has_holiday_data.cache_clear()
    is_working_day.cache_clear()


@cache
def has_holiday_data(year: int) -> bool:
    """Whether the State Council's arrangement for ``year`` is known (a year file or chinese-calendar)."""
    if year in year_arrangements():
        return True
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China (adjusted weekends included).

    A year without holiday data counts Monday to Friday; ``calendar_warnings`` says so.
    Cached per day (the marts ask it for every slot's deadline, tens of thousands of times
    per dashboard; a year without data costs an exception per call otherwise).
    """
    arrangement = year_arrangements().get(day.year)
    if arrangement is not None:
        if day in arrangement.days_off:
            return False
        return day in arrangement.workdays or day.weekday() < 5
    first, last, days_off, workdays = _library_days()
    if first <= day.year <= last:  # chinese_calendar.is_workday's own rule, without its per-call checks
        return day in workdays or (day.weekday() < 5 and day not in days_off)
    return day.weekday() < 5


@cache
def _library_days() -> tuple[int, int, frozenset[dt.date], frozenset[dt.date]]:
    """chinese_calendar's years, holidays and adjusted workdays. Its ``is_workday`` finds the years'
    bounds in its whole table on every call: 0.46 s (cProfile) for the 18,628 days of ``working_day_index``."""
    from chinese_calendar.constants import holidays, workdays

    years = [d.year for d in holidays]
    return min(years), max(years), frozenset(holidays), frozenset(workdays)


def missing_years(today: dt.date) -> list[int]:
    """This year if its holidays are unknown, and next year too once it is near."""
    years = {today.year, (today + dt.timedelta(days=LOOKAHEAD_DAYS)).year}
    return sorted(y for y in years if not has_holiday_data(y))


def calendar_warnings(today: dt.date) -> list[str]:
    """One line per year without holiday data that a run on ``today`` relies on (empty when all is known)."""
    return [
        f"no holiday data for {year} (法定节假日安排缺失): working days in {year} are counted Monday to Friday, "
        f"so time limits and the daily schedule ignore its holidays and 调休 weekends — add "
        f"{holiday_folders()[0] / f'{year}.csv'} from the State Council's notice (see holidays/README.md)"
        for year in missing_years(today)
    ]


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
