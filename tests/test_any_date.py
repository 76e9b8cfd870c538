"""The suite must pass on any date: the generator-dependent checks, swept over a year of as-of dates.

The session's demo city is generated as of today, so a property that holds only on some
weekdays or months (no 残疾人 among a Sunday's rows, a phone typed into a change record on
some days) passes or fails by the calendar. This test generates and syncs the demo city for
seven days spread over the next ten months, one on each weekday, and runs on each
the checks that depend on what the generator wrote: the generator's own properties, the
verdicts against the ground truth, the row reconciliation, and masking of identifiers in
whatever field they were typed into.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from portal.masking import Role, show_fields
from tests import test_generator as generator_tests
from tests import test_outliers as outlier_tests
from tests import test_pipeline as pipeline_tests
from tierhub.synth.city import GeneratedCity, generate_city, select_sources
from warehouse.schema import open_warehouse

# The run's day (tests/conftest.py), so every pytest-xdist worker collects the same seven tests.
TODAY = dt.date.fromisoformat(os.environ.get("TIERHUB_TEST_RUN_DAY") or dt.date.today().isoformat())
pytestmark = pytest.mark.slow
# Seven days 52 days apart from tomorrow: every weekday once (52 ≡ 3 mod 7, so the weekdays all
# differ), spread over the next ten months and crossing a new year and its holidays. The session's
# own demo city (as of today) is an eighth day.
SWEEP = [TODAY + dt.timedelta(days=1 + 52 * k) for k in range(7)]
assert len({day.weekday() for day in SWEEP}) == 7

GENERATOR_PROPERTIES: list[Callable[[GeneratedCity], None]] = [
    generator_tests.test_file_names_and_sources,
    generator_tests.test_every_item_is_reported_and_the_demo_keeps_its_size,
    generator_tests.test_social_insurance_and_card_items_carry_most_rows,
    generator_tests.test_every_field_of_every_item_gets_values,
    generator_tests.test_every_defect_kind_is_injected,
    generator_tests.test_defects_only_break_fields_the_item_checks,
    generator_tests.test_formats_and_encodings_are_mixed,
    generator_tests.test_clean_rows_hold_the_hard_valid_cases,
    generator_tests.test_some_people_are_served_at_several_points,
]
WAREHOUSE_PROPERTIES: list[Callable[[GeneratedCity, duckdb.DuckDBPyConnection], None]] = [
    pipeline_tests.test_every_injected_defect_is_quarantined_or_warned_by_its_severity,
    pipeline_tests.test_no_clean_row_is_quarantined,
    pipeline_tests.test_rows_in_equal_loaded_plus_quarantined,
    outlier_tests.check_outliers,
]
MOBILE = re.compile(r"1[3-9]\d{9}")
ID_NUMBER = re.compile(r"\d{17}[\dXx]")


def masking_holds(con: duckdb.DuckDBPyConnection) -> None:
    """No full mobile or ID number of anyone reaches a community clerk through any field of any record."""
    tables = [r[0] for r in con.execute("SELECT fact_table FROM ref.items ORDER BY code").fetchall()]
    for table in tables:
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            shown = show_fields(dict(zip(names, row, strict=True)), Role.community)
            for field, value in shown.items():
                if isinstance(value, str):
                    assert not MOBILE.search(value) and not ID_NUMBER.search(value), (table, field, value)


def described(exc: AssertionError) -> str:
    """The assertion's message and the line that failed."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{str(exc)[:300]} [{Path(frame.filename).name}:{frame.lineno}: {frame.line}]"


def check_day(day: dt.date, root: Path) -> list[str]:
    """Every failure of the generator-dependent checks on the demo city as of ``day``."""
    failures: list[str] = []
    city = generate_city(root / "city", scale="demo", seed=7, as_of=day)
    for prop in GENERATOR_PROPERTIES:
        try:
            prop(city)
        except AssertionError as exc:
            failures.append(f"{day} {prop.__name__}: {described(exc)}")
    path = root / "warehouse.duckdb"
    con = open_warehouse(path)
    try:
        codes = [s.code for s in select_sources("demo")]
        sync_sources(con, city.drops, codes, today=day)  # one batch: a batch costs a fixed time per item
        checks: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
            *((p.__name__, functools.partial(p, city)) for p in WAREHOUSE_PROPERTIES),
            (masking_holds.__name__, masking_holds),
        ]
        for name, check in checks:
            try:
                check(con)
            except AssertionError as exc:
                failures.append(f"{day} {name}: {described(exc)}")
    finally:
        con.close()
    return failures


def check_day_in_scratch(day: dt.date) -> list[str]:
    """``check_day`` in a scratch folder of its own, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"tierhub-any-date-{day.isoformat()}-"))
    try:
        return check_day(day, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("day", SWEEP, ids=lambda day: f"{day:%Y-%m-%d-%a}")
def test_generator_dependent_checks_hold_on_every_date(day: dt.date) -> None:
    # One test per day (its own city, its own warehouse): pytest-xdist spreads them over the cores.
    assert check_day_in_scratch(day) == []
