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
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from connectors.filenames import parse_drop_name
from connectors.outboxes import Outbox, Outboxes
from connectors.readers import open_export
from connectors.records import FileRecord, Listing, Refusal
from connectors.safety import refuse_workbook
from quality.rules import JudgeContext
from quality.standards import Catalogue, ItemStandard, catalogue
from quality.verdicts import FileToJudge, Stager, judge_staged
from tierhub.errors import TierhubError, UnsupportedFile
from tierhub.reference import divisions
from warehouse.load import (
    CursorRow,
    LoadResult,
    RegistryEntry,
    commit_batch,
    cursors,
    next_file_id,
    registered_files,
)

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class BatchOutcome:
    """What syncing one batch of sources did."""

    sources: int
    load: LoadResult
    entries: list[RegistryEntry]
    unchanged_files: int = 0  # cursor unchanged: not fetched
    same_content_files: int = 0  # fetched, but the content was already loaded
    refusals: list[Refusal] = field(default_factory=list)
    waiting: list[Listing] = field(default_factory=list)  # still being written
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (source, error)

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


def sync_sources(
    con: duckdb.DuckDBPyConnection,
    outboxes: Outboxes | Path,
    source_codes: Iterable[str],
    *,
    today: dt.date | None = None,
    run_label: str = "",
    batch_rows: int = 50_000,
    standards: Catalogue | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Sync every new file of these sources into the warehouse.

    A file that cannot be read is registered as rejected with its error, an unreachable
    source is reported, and the other files go on; the batch commits in one transaction
    or not at all.
    """
    started = dt.datetime.now(dt.UTC)
    boxes = Outboxes.folder(outboxes) if isinstance(outboxes, Path) else outboxes
    standards = standards or catalogue()
    codes = list(source_codes)
    seen = cursors(con, codes)
    known = registered_files(con, codes)
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
            if seen.get((code, listing.path)) == (listing.size, listing.modified_at):
                outcome.unchanged_files += 1
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
    def fetch(listing: Listing) -> FileRecord | tuple[Listing, TierhubError]:
        try:
            return boxes.for_source(listing.source_id).fetch(listing)
        except TierhubError as exc:
            return listing, exc

    records: list[FileRecord] = []
    for fetched in _parallel(boxes, candidates, fetch):
        if isinstance(fetched, FileRecord):
            records.append(fetched)
        else:
            outcome.unreachable.append((fetched[0].source_id, str(fetched[1])))

    # 5: read, stage, judge, commit.
    ctx = JudgeContext(today=today or dt.date.today())
    stagers: dict[str, Stager] = {}
    cursor_rows: list[CursorRow] = []
    for record in sorted(records, key=lambda r: r.path):
        file_id = known.get((record.source_id, record.sha256))
        if file_id is None:
            entry = RegistryEntry(
                file_id=next_file_id(con),
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
                _stage(record, entry, stagers, con, standards, batch_rows, encoding)
            except TierhubError as exc:
                entry.status, entry.error, entry.rows_in = "rejected", str(exc), 0
        else:
            outcome.same_content_files += 1
        cursor_rows.append(
            CursorRow(record.source_id, record.path, record.size, record.modified_at, record.sha256, file_id)
        )
    items: list[ItemStandard] = []
    by_id = {e.file_id: e for e in outcome.entries}
    for code, stager in stagers.items():
        stager.flush()
        item = standards.items[code]
        items.append(item)
        for file_id, summary in judge_staged(con, item, ctx).items():
            by_id[file_id].rows_loaded, by_id[file_id].rows_quarantined = summary.valid, summary.quarantined
    outcome.load = commit_batch(
        con,
        load_id=uuid.uuid4().hex,
        started_at=started,
        run_label=run_label,
        entries=outcome.entries,
        items=items,
        cursor=cursor_rows,
        refusals=outcome.refusals,
    )
    return outcome


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
