"""One clock: every time staff see is Beijing time, with its zone named."""

from __future__ import annotations

import datetime as dt

from tierhub.clock import bureau_time, shown


def test_a_utc_moment_is_shown_in_beijing_time_with_its_label() -> None:
    moment = dt.datetime(2026, 12, 31, 20, 5, tzinfo=dt.UTC)
    assert shown(moment) == "2027-01-01 04:05 北京时间"
    assert shown(moment, "en") == "2027-01-01 04:05 Beijing time"


def test_a_naive_timestamp_from_duckdb_is_taken_as_utc() -> None:
    assert bureau_time(dt.datetime(2026, 6, 1, 0, 0)).hour == 8
