"""One clock for what staff see: Beijing time (Asia/Shanghai), labelled; UTC only in machine fields."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BUREAU_TIME = ZoneInfo("Asia/Shanghai")
LABELS = {"zh": "北京时间", "en": "Beijing time"}


def bureau_time(moment: dt.datetime) -> dt.datetime:
    """``moment`` in Beijing time (a naive value is taken as UTC, as DuckDB's TIMESTAMPTZ reads back)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(BUREAU_TIME)


def shown(moment: dt.datetime, language: str = "zh") -> str:
    """``2026-12-02 16:05 北京时间``: a time as staff read it, with its zone named."""
    return f"{bureau_time(moment):%Y-%m-%d %H:%M} {LABELS.get(language, LABELS['en'])}"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_us(moment: dt.datetime) -> int:
    """Microseconds since the epoch of an aware moment, as DuckDB's ``epoch_us`` gives them."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def from_epoch_us(microseconds: int) -> dt.datetime:
    """A UTC moment from DuckDB's ``epoch_us(timestamptz)``: far cheaper than fetching the TIMESTAMPTZ,
    which DuckDB turns into a pytz-aware datetime per row (~6 µs each; 10,006 cursor rows: 60-80 → 25 ms)."""
    return _EPOCH + dt.timedelta(microseconds=microseconds)
