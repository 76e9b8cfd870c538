"""The sync of one batch of sources as plain functions: scan → fetch → read → judge → load.

No Prefect here: ``flows.sync`` wraps these in tasks, and tests call them directly.

1. survey every source — an outbox of files or a database (refused files are recorded with
   their reason);
2. skip files whose (path, size, mtime) the cursor already holds — nothing is fetched — and
   database rows at or below the cursor value last committed;
3. wait for files still being written (listed twice, ``settle_seconds`` apart, or a
   ``.done`` marker), which are left for the next sync;
4. take the rest as ``Export``s (SFTP downloads run in parallel, a few connections per host);
5. register and stage the exports per item, judge each item in one query, and commit the
   batch — records, quarantine, registry, cursor, refusals — in one transaction.

Steps 1–4 are ``connectors.gather``, step 5's staging ``warehouse.staging``; this module
orchestrates them and keeps the judge and the commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connectors.exports import Known, Selection
from connectors.gather import Gathered, Surveyed, gather
from connectors.outboxes import Outboxes
from connectors.records import Listing, Refusal
from quality.rules import JudgeContext
from quality.verdicts import JudgeSummary, Stager, judge_staged, take_judged
from tierhub.standards import Catalogue, catalogue
from warehouse.load import (
    CursorRow,
    JudgedBatch,
    LoadResult,
    RegistryEntry,
    commit_batch,
    cursors,
    positions,
    registered_files,
)
from warehouse.source_status import FileSeen, SourceStatus, last_file_times, source_states
from warehouse.staging import stage_exports

__all__ = [
    "BatchOutcome",
    "BatchState",
    "PreparedBatch",
    "Selection",
    "batch_state",
    "batch_status",
    "commit_prepared",
    "prepare_batch",
    "sync_sources",
]

Progress = Callable[[str, int, int], None]  # (stage: fetch / read / judge, done, total)
TAKE_ALL = Selection()


def _no_progress(stage: str, done: int, total: int) -> None:
    """No one is listening."""


@dataclass
class BatchOutcome:
    """What syncing one batch of sources did."""

    sources: int
    load: LoadResult
    entries: list[RegistryEntry]
    same_content: list[str] = field(default_factory=list)  # source of each file fetched whose content was loaded
    refusals: list[Refusal] = field(default_factory=list)
    waiting: list[Listing] = field(default_factory=list)  # still being written
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (source, error)
    unselected: list[str] = field(default_factory=list)  # source of each file left out by ``since`` or ``items``
    unchanged: list[Listing] = field(default_factory=list)  # cursor unchanged: not fetched
    status: list[SourceStatus] = field(default_factory=list)  # per source, after the commit

    @property
    def unchanged_files(self) -> int:
        """Files whose cursor was unchanged: not fetched."""
        return len(self.unchanged)

    @property
    def same_content_files(self) -> int:
        """Files fetched whose content was already loaded."""
        return len(self.same_content)

    @property
    def unselected_files(self) -> int:
        """Files left out by ``since`` or ``items``."""
        return len(self.unselected)

    @property
    def skipped_files(self) -> int:
        """Files that needed no load."""
        return self.unchanged_files + self.same_content_files


@dataclass
class BatchState:
    """What the warehouse knew of a batch's sources when the sync started (read once, passed on)."""

    seen: dict[tuple[str, str], tuple[int, dt.datetime]]  # (source, path) → (size, mtime) last taken
    known: dict[tuple[str, str], int]  # (source, sha256) → file id already registered
    last_file_at: dict[str, dt.datetime]  # source → newest file registered
    positions: dict[tuple[str, str], str] = field(default_factory=dict)  # (source, item) → database cursor
    # The outboxes as the run listed them to size its batches (``flows.runs.size_batches``): the
    # batch's preparation takes these listings instead of listing every outbox again.
    surveyed: Surveyed | None = None

    def outbox_known(self) -> Known:
        """What a survey compares the outboxes with: the cursor and the database positions."""
        return Known(self.seen, self.positions)

    def split(self, groups: list[list[str]]) -> list[BatchState]:
        """One state per group of its sources (disjoint), each entry routed once: a province's
        backfill splits ~10^5 cursor rows into hundreds of batches."""
        group_of = {code: n for n, codes in enumerate(groups) for code in codes}
        parts = [BatchState({}, {}, {}, {}, None if self.surveyed is None else {}) for _ in groups]
        for key, seen in self.seen.items():
            parts[group_of[key[0]]].seen[key] = seen
        for key, file_id in self.known.items():
            parts[group_of[key[0]]].known[key] = file_id
        for code, at in self.last_file_at.items():
            parts[group_of[code]].last_file_at[code] = at
        for key, position in self.positions.items():
            parts[group_of[key[0]]].positions[key] = position
        for code, found in (self.surveyed or {}).items():
            surveyed = parts[group_of[code]].surveyed
            assert surveyed is not None
            surveyed[code] = found
        return parts

    @classmethod
    def merged(cls, states: list[BatchState]) -> BatchState:
        """One state for the sources of several batches (their sources are disjoint)."""
        surveyed = [s.surveyed for s in states]
        return cls(
            seen={k: v for s in states for k, v in s.seen.items()},
            known={k: v for s in states for k, v in s.known.items()},
            last_file_at={k: v for s in states for k, v in s.last_file_at.items()},
            positions={k: v for s in states for k, v in s.positions.items()},
            surveyed=None if any(x is None for x in surveyed) else {k: v for x in surveyed if x for k, v in x.items()},
        )


def batch_state(con: duckdb.DuckDBPyConnection, source_codes: list[str]) -> BatchState:
    """Read the cursor, the registry and the last file times of these sources."""
    return BatchState(
        cursors(con, source_codes),
        registered_files(con, source_codes),
        last_file_times(con, source_codes),
        positions(con, source_codes),
    )


@dataclass
class PreparedBatch:
    """A batch scanned, read and judged; nothing of it is in the warehouse yet.

    New files carry provisional ids -1, -2, … (in path order) in ``outcome.entries``, the
    cursor rows and the judged tables; ``commit_prepared`` swaps in ids from the
    warehouse's sequence. ``judged`` holds each item's judged rows as Arrow, so a batch can
    be prepared in another process (or on another machine) and committed by the one writer.
    """

    outcome: BatchOutcome
    cursor: list[CursorRow]
    judged: dict[str, pa.Table]
    started_at: dt.datetime
    run_label: str
    last_file_at: dict[str, dt.datetime]
    calendars: dict[str, str]


def prepare_batch(
    scratch: duckdb.DuckDBPyConnection,
    outboxes: Outboxes | Path,
    source_codes: Iterable[str],
    state: BatchState,
    *,
    today: dt.date | None = None,
    run_label: str = "",
    batch_rows: int = 50_000,
    standards: Catalogue | None = None,
    selection: Selection = TAKE_ALL,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    read_workers: int = 0,
) -> PreparedBatch:
    """Survey, take, stage and judge what is new at these sources, using ``scratch`` for staging.

    ``scratch`` may be the warehouse connection or any other DuckDB connection (an
    in-memory one in a Dask worker): only temp tables are written to it. ``progress`` is
    called as ``(stage, done, total)`` while exports are fetched and read and items judged.
    ``read_workers`` processes read small files ahead of staging (0: all read here).
    """
    report = progress or _no_progress
    started = dt.datetime.now(dt.UTC)
    boxes = Outboxes.folder(outboxes) if isinstance(outboxes, Path) else outboxes
    standards = standards or catalogue()
    codes = list(source_codes)
    # 1–4: survey, compare with the cursor, settle, take.
    gathered = gather(boxes, codes, state.outbox_known(), selection, standards, sleep, report, state.surveyed)
    outcome = _outcome_of(len(codes), gathered)
    # 5: register and stage, then judge.
    staged = stage_exports(
        scratch,
        gathered.exports,
        dict(state.known),
        standards,
        batch_rows,
        lambda code: boxes.config.override_for(code).encoding,
        report,
        read_workers,
    )
    outcome.entries, outcome.same_content = staged.entries, staged.same_content
    try:
        judged = _judge_items(staged.stagers, outcome.entries, standards, today, report)
    finally:
        staged.close_cursors()
    outcome.load = _prepared_counts(outcome.entries)
    calendars = {c: str(boxes.config.override_for(c).calendar or "weekly") for c in codes}
    return PreparedBatch(outcome, staged.cursor, judged, started, run_label, dict(state.last_file_at), calendars)


def _outcome_of(sources: int, gathered: Gathered) -> BatchOutcome:
    """The outcome's account of what the sources offered and what was left, before staging."""
    return BatchOutcome(
        sources=sources,
        load=LoadResult("", 0, 0, 0, 0, 0),
        entries=[],
        refusals=gathered.refusals,
        waiting=gathered.waiting,
        unreachable=gathered.unreachable,
        unselected=gathered.unselected,
        unchanged=gathered.unchanged,
    )


def _judge_items(
    stagers: dict[str, Stager],
    entries: list[RegistryEntry],
    standards: Catalogue,
    today: dt.date | None,
    report: Progress,
) -> dict[str, pa.Table]:
    """Judge each item's staged rows in one query; counts go onto the registry entries.

    Items staged on different connections (``warehouse.staging.JUDGE_CONNECTIONS``) are judged
    at once, one thread per connection: DuckDB releases the GIL while a query runs.
    """
    ctx = JudgeContext(today=today or dt.date.today())
    by_id = {e.file_id: e for e in entries}
    groups: dict[int, list[str]] = {}
    for code, stager in stagers.items():
        groups.setdefault(id(stager.con), []).append(code)

    def judge(code: str) -> tuple[dict[int, JudgeSummary], pa.Table]:
        stager, item = stagers[code], standards.items[code]
        stager.flush()
        return judge_staged(stager.con, item, ctx), take_judged(stager.con, item)

    started = itertools.count()  # shared by the judging threads (next() is atomic)

    def judge_group(codes: list[str]) -> list[tuple[str, dict[int, JudgeSummary], pa.Table]]:
        done = []
        for code in codes:
            report("judge", next(started), len(stagers))
            done.append((code, *judge(code)))
        return done

    results: list[tuple[str, dict[int, JudgeSummary], pa.Table]] = []
    if len(groups) <= 1:
        results = judge_group(list(stagers))
    else:
        with ThreadPoolExecutor(len(groups), thread_name_prefix="judge") as pool:
            for found in pool.map(judge_group, groups.values()):
                results += found
    order = {code: n for n, code in enumerate(stagers)}
    judged: dict[str, pa.Table] = {}
    for code, summaries, table in sorted(results, key=lambda r: order[r[0]]):
        for file_id, summary in summaries.items():
            by_id[file_id].rows_loaded, by_id[file_id].rows_quarantined = summary.valid, summary.quarantined
            by_id[file_id].rows_warned = summary.warned
        judged[code] = table
    return judged


def _prepared_counts(entries: list[RegistryEntry]) -> LoadResult:
    """What committing the prepared entries would load (no load id yet)."""
    rows_loaded = sum(e.rows_loaded for e in entries)
    rows_quarantined = sum(e.rows_quarantined for e in entries)
    return LoadResult(
        "",
        len(entries),
        sum(e.status == "rejected" for e in entries),
        rows_loaded + rows_quarantined,
        rows_loaded,
        rows_quarantined,
    )


def batch_status(prepared: PreparedBatch, now: dt.datetime | None = None) -> list[SourceStatus]:
    """Each source's state (ok / failed / late / silent) after this batch."""
    outcome = prepared.outcome
    by_path = {e.path: e for e in outcome.entries}
    files = [
        FileSeen(
            c.source_id,
            c.modified_at,
            new=c.path in by_path,
            rejected=c.path in by_path and by_path[c.path].status == "rejected",
            rows_loaded=by_path[c.path].rows_loaded if c.path in by_path else 0,
            rows_quarantined=by_path[c.path].rows_quarantined if c.path in by_path else 0,
            error=by_path[c.path].error if c.path in by_path else None,
        )
        for c in prepared.cursor
    ] + [FileSeen(x.source_id, x.modified_at, new=False) for x in outcome.unchanged]
    return source_states(
        [s for s in prepared.calendars],
        files=files,
        refused=[(r.source_id, f"refused {r.path}: {r.reason}") for r in outcome.refusals],
        waiting=[w.source_id for w in outcome.waiting],
        unreachable=outcome.unreachable,
        last_file_at=prepared.last_file_at,
        calendars=prepared.calendars,
        now=now or dt.datetime.now(dt.UTC),
    )


def commit_prepared(
    con: duckdb.DuckDBPyConnection, prepared: PreparedBatch, *, standards: Catalogue | None = None
) -> BatchOutcome:
    """Commit a prepared batch into the warehouse ``con`` (the one writer) in one transaction.

    Provisional file ids become ids of the warehouse's sequence, in the same order. The
    per-source status commits in the same transaction as the rows.
    """
    outcome = prepared.outcome
    for code, table in prepared.judged.items():
        # Only new files are staged, so every judged row carries a provisional (negative) id.
        highest = pc.max(table["_file_id"]).as_py()
        if highest is not None and highest >= 0:
            raise ValueError(f"judged rows of {code} carry a real file id ({highest}); expected provisional ids")
    outcome.status = batch_status(prepared)
    batch = JudgedBatch(
        started_at=prepared.started_at,
        run_label=prepared.run_label,
        entries=outcome.entries,
        judged=prepared.judged,
        cursor=prepared.cursor,
        refusals=outcome.refusals,
        status=outcome.status,
    )
    outcome.load = commit_batch(con, batch, standards=standards)
    prepared.cursor = batch.cursor
    return outcome


def sync_sources(
    con: duckdb.DuckDBPyConnection,
    outboxes: Outboxes | Path,
    source_codes: Iterable[str],
    *,
    today: dt.date | None = None,
    run_label: str = "",
    batch_rows: int = 50_000,
    standards: Catalogue | None = None,
    selection: Selection = TAKE_ALL,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Sync every new file of these sources into the warehouse.

    A file that cannot be read is registered as rejected with its error, an unreachable
    source is reported, and the other files go on; the batch commits in one transaction
    or not at all. ``dry_run`` reads and judges everything but commits nothing: the
    outcome says what a real run would load.
    """
    codes = list(source_codes)
    prepared = prepare_batch(
        con,
        outboxes,
        codes,
        batch_state(con, codes),
        today=today,
        run_label=run_label,
        batch_rows=batch_rows,
        standards=standards,
        selection=selection,
        sleep=sleep,
    )
    if dry_run:
        prepared.outcome.status = batch_status(prepared)
        return prepared.outcome
    return commit_prepared(con, prepared, standards=standards)
