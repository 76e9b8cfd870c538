"""The sync of one batch of sources as plain functions: scan → fetch → read → judge → load.

No Prefect here: ``flows.sync`` wraps these in tasks, and tests call them directly.

1. scan every source's outbox (refused files are recorded with their reason);
2. skip files whose (path, size, mtime) the cursor already holds — nothing is fetched;
3. wait for files still being written (listed twice, ``settle_seconds`` apart, or a
   ``.done`` marker), which are left for the next sync;
4. fetch the rest (SFTP downloads run in parallel, a few connections per host) and hash them;
5. read and stage them per item, judge each item in one query, and commit the batch —
   records, quarantine, registry, cursor, refusals — in one transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connectors.filenames import parse_drop_name
from connectors.outboxes import Outbox, Outboxes
from connectors.readers import open_export
from connectors.records import FileRecord, Listing, Refusal
from connectors.safety import refuse_workbook
from quality.rules import JudgeContext
from quality.verdicts import FileToJudge, Stager, judge_staged, take_judged
from tierhub.errors import TierhubError, UnsupportedFile
from tierhub.reference import divisions
from tierhub.standards import Catalogue, catalogue
from warehouse.load import (
    CursorRow,
    JudgedBatch,
    LoadResult,
    RegistryEntry,
    commit_batch,
    cursors,
    registered_files,
)
from warehouse.source_status import FileSeen, SourceStatus, last_file_times, source_states

In = TypeVar("In")
Out = TypeVar("Out")
Progress = Callable[[str, int, int], None]  # (stage: fetch / read / judge, done, total)


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


def _settled(
    outbox: Outbox, fresh: list[Listing], sleep: Callable[[float], None]
) -> tuple[list[Listing], list[Listing]]:
    """Split recently modified files into (stable, still changing) by listing them again."""
    if not fresh:
        return [], []
    sleep(outbox.endpoint.settle_seconds)
    stable: list[Listing] = []
    waiting: list[Listing] = []
    for listing in fresh:
        (stable if outbox.restat(listing) == listing else waiting).append(listing)
    return stable, waiting


def _stage(
    record: FileRecord,
    entry: RegistryEntry,
    stagers: dict[str, Stager],
    con: duckdb.DuckDBPyConnection,
    standards: Catalogue,
    batch_rows: int,
    encoding: str | None,
) -> None:
    """Read one fetched file into its item's staging table, filling in its registry entry."""
    name = parse_drop_name(Path(record.path).name)
    if name.source_code != record.source_id:
        raise UnsupportedFile(
            f"the file name says source {name.source_code} but it lies in the outbox of {record.source_id}",
            source_id=record.source_id,
            path=record.path,
            fix="each source drops only its own exports into its own outbox",
        )
    item = standards.find(name.item)
    entry.item_code, entry.export_date = item.code, name.export_date
    refused = refuse_workbook(record.local_path)
    if refused:
        raise UnsupportedFile(refused, source_id=record.source_id, path=record.path, fix="re-export the workbook")
    read = open_export(record.local_path, batch_rows=batch_rows, source_id=record.source_id, encoding=encoding)
    entry.sheet, entry.encoding, entry.header_row = read.sheet, read.encoding, read.header_row
    entry.unknown_headers = read.unknown_headers
    if item.code not in stagers:
        stagers[item.code] = Stager(con, item)
    source = divisions().get(record.source_id)
    entry.rows_in = stagers[item.code].add(
        FileToJudge(entry.file_id, source.code, source.prefix, name.export_date, read.batches)
    )
    entry.skipped_rows = read.skipped_rows


@dataclass
class BatchState:
    """What the warehouse knew of a batch's sources when the sync started (read once, passed on)."""

    seen: dict[tuple[str, str], tuple[int, dt.datetime]]  # (source, path) → (size, mtime) last taken
    known: dict[tuple[str, str], int]  # (source, sha256) → file id already registered
    last_file_at: dict[str, dt.datetime]  # source → newest file registered


def batch_state(con: duckdb.DuckDBPyConnection, source_codes: list[str]) -> BatchState:
    """Read the cursor, the registry and the last file times of these sources."""
    return BatchState(
        cursors(con, source_codes), registered_files(con, source_codes), last_file_times(con, source_codes)
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """Which files of the outboxes a sync takes: all by default.

    ``since``: only files modified at or after it; ``items``: only exports of these item
    codes (a file whose name names no known item is left out when ``items`` is given).
    """

    since: dt.datetime | None = None
    items: frozenset[str] | None = None

    def takes(self, listing: Listing, standards: Catalogue) -> bool:
        """Whether the sync should take this file."""
        if self.since is not None and listing.modified_at < self.since:
            return False
        if self.items is None:
            return True
        try:
            return standards.find(parse_drop_name(listing.name).item).code in self.items
        except TierhubError:
            return False


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
    selection: Selection = Selection(),
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> PreparedBatch:
    """Scan, fetch, read and judge the new files of these sources, using ``scratch`` for staging.

    ``scratch`` may be the warehouse connection or any other DuckDB connection (an
    in-memory one in a Dask worker): only temp tables are written to it. ``progress`` is
    called as ``(stage, done, total)`` while files are fetched and read and items judged.
    """
    report = progress or _no_progress
    started = dt.datetime.now(dt.UTC)
    boxes = Outboxes.folder(outboxes) if isinstance(outboxes, Path) else outboxes
    standards = standards or catalogue()
    codes = list(source_codes)
    seen, known = state.seen, dict(state.known)
    outcome = BatchOutcome(sources=len(codes), load=LoadResult("", 0, 0, 0, 0, 0), entries=[])

    # 1–3: scan, compare with the cursor, let files being written settle.
    def scan(code: str) -> tuple[str, list[Listing], list[Refusal], set[str]] | tuple[str, TierhubError]:
        try:
            listings, refusals, markers = boxes.for_source(code).scan(code)
        except TierhubError as exc:
            return code, exc
        return code, listings, refusals, markers

    candidates: list[Listing] = []
    fresh: dict[int, list[Listing]] = {}
    now = dt.datetime.now(dt.UTC)
    for result in _parallel(boxes, codes, scan):
        if len(result) == 2:
            outcome.unreachable.append((result[0], str(result[1])))
            continue
        code, listings, refusals, markers = result
        outbox = boxes.for_source(code)
        outcome.refusals += refusals
        for listing in listings:
            if not selection.takes(listing, standards):
                outcome.unselected.append(code)
            elif seen.get((code, listing.path)) == (listing.size, listing.modified_at):
                outcome.unchanged.append(listing)
            elif outbox.endpoint.stable == "done_marker":
                (candidates if listing.name in markers else outcome.waiting).append(listing)
            elif (now - listing.modified_at).total_seconds() < outbox.endpoint.settle_seconds + 1:
                fresh.setdefault(id(outbox), []).append(listing)
            else:
                candidates.append(listing)
    for listings in fresh.values():
        stable, waiting = _settled(boxes.for_source(listings[0].source_id), listings, sleep)
        candidates += stable
        outcome.waiting += waiting

    # 4: fetch (download or hash) in parallel per host.
    fetched_count = itertools.count(1)  # shared by the fetching threads (next() is atomic)

    def fetch(listing: Listing) -> FileRecord | tuple[Listing, TierhubError]:
        try:
            return boxes.for_source(listing.source_id).fetch(listing)
        except TierhubError as exc:
            return listing, exc
        finally:
            if (done := next(fetched_count)) % 50 == 0:
                report("fetch", done, len(candidates))

    records: list[FileRecord] = []
    report("fetch", 0, len(candidates))
    for fetched in _parallel(boxes, candidates, fetch):
        if isinstance(fetched, FileRecord):
            records.append(fetched)
        else:
            outcome.unreachable.append((fetched[0].source_id, str(fetched[1])))

    # 5: read, stage, judge.
    ctx = JudgeContext(today=today or dt.date.today())
    stagers: dict[str, Stager] = {}
    cursor_rows: list[CursorRow] = []
    for done, record in enumerate(sorted(records, key=lambda r: r.path)):
        if done % 50 == 0:
            report("read", done, len(records))
        file_id = known.get((record.source_id, record.sha256))
        if file_id is None:
            entry = RegistryEntry(
                file_id=-(len(outcome.entries) + 1),
                source_id=record.source_id,
                path=record.path,
                sha256=record.sha256,
                size=record.size,
                modified_at=record.modified_at,
            )
            outcome.entries.append(entry)
            known[(record.source_id, record.sha256)] = file_id = entry.file_id
            encoding = boxes.config.override_for(record.source_id).encoding
            try:
                _stage(record, entry, stagers, scratch, standards, batch_rows, encoding)
            except TierhubError as exc:
                entry.status, entry.error, entry.rows_in = "rejected", str(exc), 0
        else:
            outcome.same_content.append(record.source_id)
        cursor_rows.append(
            CursorRow(record.source_id, record.path, record.size, record.modified_at, record.sha256, file_id)
        )
    judged: dict[str, pa.Table] = {}
    by_id = {e.file_id: e for e in outcome.entries}
    for done, (code, stager) in enumerate(stagers.items()):
        report("judge", done, len(stagers))
        stager.flush()
        item = standards.items[code]
        for file_id, summary in judge_staged(scratch, item, ctx).items():
            by_id[file_id].rows_loaded, by_id[file_id].rows_quarantined = summary.valid, summary.quarantined
        judged[code] = take_judged(scratch, item)
    rows_loaded = sum(e.rows_loaded for e in outcome.entries)
    rows_quarantined = sum(e.rows_quarantined for e in outcome.entries)
    outcome.load = LoadResult(
        "",
        len(outcome.entries),
        sum(e.status == "rejected" for e in outcome.entries),
        rows_loaded + rows_quarantined,
        rows_loaded,
        rows_quarantined,
    )
    calendars = {c: str(boxes.config.override_for(c).calendar or "weekly") for c in codes}
    return PreparedBatch(outcome, cursor_rows, judged, started, run_label, dict(state.last_file_at), calendars)


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
    selection: Selection = Selection(),
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


def _parallel(boxes: Outboxes, inputs: list[In], work: Callable[[In], Out]) -> list[Out]:
    """Run ``work`` over ``inputs``: threads bounded by the largest endpoint pool (I/O bound)."""
    if not inputs:
        return []
    endpoints = [boxes.config.default, *boxes.config.districts.values()]
    width = max(e.max_connections for e in endpoints)
    if width == 1:
        return [work(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(work, inputs))
