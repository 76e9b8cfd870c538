"""Per-source status of every sync: ok, failed, late or silent, with counts and the error.

A sync batches hundreds of sources into one Prefect task, so Prefect cannot show which
village failed; ``ops.source_status`` does. One row per (source, load): what this run saw
of the source's outbox and what became of its files. ``ops.source_latest`` is the newest row
per source — what the Prefect artifact, the CLI table and the portal show.

States, first match wins:

- ``failed``: the outbox could not be reached (host down, refused host key, login failed),
  a file could not be fetched, or a file was rejected or refused this run;
- ``silent``: reachable, but the warehouse has never received a file from it;
- ``late``: reachable, but its newest file is older than its calendar allows
  (``LATE_AFTER``: daily 3 days — a weekend —, weekly 8 days, monthly 32 days);
- ``ok``: everything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from tierhub.clock import from_epoch_us
from tierhub.sql import in_list

DDL = """
CREATE TABLE IF NOT EXISTS ops.source_status (
    source_id VARCHAR NOT NULL,
    load_id VARCHAR NOT NULL,
    run_label VARCHAR,
    checked_at TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL,             -- ok | failed | late | silent
    files_new INTEGER NOT NULL,
    files_unchanged INTEGER NOT NULL,
    files_rejected INTEGER NOT NULL,
    files_refused INTEGER NOT NULL,
    files_waiting INTEGER NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    last_file_at TIMESTAMPTZ,
    error VARCHAR,
    PRIMARY KEY (source_id, load_id)
);
CREATE OR REPLACE VIEW ops.source_latest AS
SELECT * FROM ops.source_status
QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY checked_at DESC, load_id DESC) = 1;
"""

STATES = ("ok", "failed", "late", "silent")
LATE_AFTER = {"daily": dt.timedelta(days=3), "weekly": dt.timedelta(days=8), "monthly": dt.timedelta(days=32)}


@dataclass
class SourceStatus:
    """What one sync saw of one source."""

    source_id: str
    state: str = "ok"
    files_new: int = 0
    files_unchanged: int = 0
    files_rejected: int = 0
    files_refused: int = 0
    files_waiting: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    last_file_at: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FileSeen:
    """One file a sync handled, reduced to what the status needs."""

    source_id: str
    modified_at: dt.datetime
    new: bool
    rejected: bool = False
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None


def source_states(
    codes: Iterable[str],
    *,
    files: Iterable[FileSeen],
    refused: Iterable[tuple[str, str]],
    waiting: Iterable[str],
    unreachable: Iterable[tuple[str, str]],
    last_file_at: Mapping[str, dt.datetime],
    calendars: Mapping[str, str],
    now: dt.datetime,
) -> list[SourceStatus]:
    """The status of each source from what a batch saw (pure: no warehouse access).

    ``refused`` and ``unreachable`` are (source, message); ``waiting`` names the source of
    each file still being written; ``last_file_at`` is the newest file the warehouse held
    before this batch; ``calendars`` maps sources to daily/weekly/monthly (default weekly).
    """
    status = {code: SourceStatus(code, last_file_at=last_file_at.get(code)) for code in codes}
    errors: dict[str, list[str]] = {}
    for seen in files:
        s = status[seen.source_id]
        if seen.new:
            s.files_new += 1
            s.files_rejected += seen.rejected
            s.rows_loaded += seen.rows_loaded
            s.rows_quarantined += seen.rows_quarantined
            if seen.error:
                errors.setdefault(seen.source_id, []).append(seen.error)
        else:
            s.files_unchanged += 1
        if s.last_file_at is None or seen.modified_at > s.last_file_at:
            s.last_file_at = seen.modified_at
    for code, reason in refused:
        status[code].files_refused += 1
        errors.setdefault(code, []).append(reason)
    for code in waiting:
        status[code].files_waiting += 1
    for code, error in unreachable:
        errors.setdefault(code, []).insert(0, error)
        status[code].state = "failed"
    for s in status.values():
        if s.source_id in errors:
            s.error = "; ".join(errors[s.source_id])[:2000]
        if s.state == "failed" or s.files_rejected or s.files_refused:
            s.state = "failed"
        elif s.last_file_at is None:
            s.state = "silent"
        elif now - s.last_file_at > LATE_AFTER.get(calendars.get(s.source_id) or "weekly", LATE_AFTER["weekly"]):
            s.state = "late"
    return list(status.values())


def ensure_source_status(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``ops.source_status`` and its ``ops.source_latest`` view if missing."""
    con.execute(DDL)


def last_file_times(con: duckdb.DuckDBPyConnection, codes: Sequence[str]) -> dict[str, dt.datetime]:
    """The newest file (by modification time) the warehouse registered from each source."""
    rows = con.execute(
        f"SELECT source_id, epoch_us(max(modified_at)) FROM ops.files WHERE {in_list('source_id')} GROUP BY ALL",
        [list(codes)],
    ).fetchall()
    return {str(code): from_epoch_us(us) for code, us in rows if us is not None}


def record_source_status(
    con: duckdb.DuckDBPyConnection, load_id: str, run_label: str, states: Sequence[SourceStatus]
) -> None:
    """Write one row per source for this load (call inside the load's transaction when possible)."""
    ensure_source_status(con)
    table = pa.Table.from_pylist(
        [{"source_id": s.source_id, "load_id": load_id, "run_label": run_label, **_counts(s)} for s in states],
        schema=_SCHEMA,
    )
    con.register("_th_source_status", table)
    try:
        con.execute(
            "INSERT OR REPLACE INTO ops.source_status SELECT source_id, load_id, run_label, now(), state, files_new, "
            "files_unchanged, files_rejected, files_refused, files_waiting, rows_loaded, rows_quarantined, "
            "last_file_at, error FROM _th_source_status"
        )
    finally:
        con.unregister("_th_source_status")


def _counts(s: SourceStatus) -> dict[str, object]:
    return {k: v for k, v in vars(s).items() if k != "source_id"}


_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("load_id", pa.string()),
        ("run_label", pa.string()),
        ("state", pa.string()),
        *[
            (name, pa.int64())
            for name in (
                "files_new",
                "files_unchanged",
                "files_rejected",
                "files_refused",
                "files_waiting",
                "rows_loaded",
                "rows_quarantined",
            )
        ],
        ("last_file_at", pa.timestamp("us", tz="UTC")),
        ("error", pa.string()),
    ]
)


def prune_source_status(con: duckdb.DuckDBPyConnection, keep_days: int) -> int:
    """Delete status rows older than ``keep_days`` (the newest row of each source is kept)."""
    ensure_source_status(con)
    [(deleted,)] = con.execute(
        "DELETE FROM ops.source_status s WHERE checked_at < now() - to_days(?) AND NOT EXISTS "
        "(SELECT 1 FROM ops.source_latest l WHERE l.source_id = s.source_id AND l.load_id = s.load_id)",
        [keep_days],
    ).fetchall()
    return int(deleted)
