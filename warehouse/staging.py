"""Step 5a of a sync: register each new export once and stage its rows for the judge.

An export whose (source, fingerprint) is already registered is not read again: it only moves
the cursor. A new one gets a provisional file id (-1, -2, … in identity order; the commit swaps
in ids of the warehouse's sequence) and a registry entry that records what reading it found —
or, if it cannot be read, its error, as ``rejected`` with no rows.

Small files can be read in worker processes (``read_workers``, decision 0034): they are handed
over in chunks of one item's files, and a worker reads and conforms them and returns the
chunk's rows as one Arrow table, staged as a whole. Large files, and every file when there are
few, are read here, streamed batch by batch. The rows staged are the same either way; only
their order within an item's staging table differs, and nothing reads that order (the judge
finds duplicates by row number, the load orders by file and row).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from connectors.exports import Export, ExportRows
from connectors.files import FileExport, unreadable
from connectors.readahead import Job, ReadFacts, forget_pool, read_pool, read_whole, start_read_workers
from quality.lookups import install_lookups
from quality.verdicts import FileToJudge, Stager, conform, read_schema, standard_fields
from tierhub.errors import TierhubError
from tierhub.reference import divisions
from tierhub.reference.local import LocalAliases, active_local_aliases, use_local_aliases
from tierhub.standards import Catalogue, ItemStandard
from warehouse.load import CursorRow, RegistryEntry

# Items are staged (and then judged) on this many connections to the scratch database, in turn.
# Judging an item is one large query whose planning and start-up cost ~0.1-0.2 s whatever its
# rows, on one core: a batch of 34 items judges on both cores when its items are split between
# two connections (flows.pipeline judges each connection's items on its own thread).
JUDGE_CONNECTIONS = max(1, min(os.cpu_count() or 1, 4))


log = logging.getLogger("tierhub.warehouse")

AHEAD_MAX_BYTES = 4 * 2**20  # larger files are streamed here, batch by batch (bounded memory)
AHEAD_MIN_FILES = 48  # fewer small new files: reading them here costs less than starting workers
CHUNK_FILES = 32  # one item's files per task: a hand-over costs ~0.3 ms, a small file's read ~1 ms
CHUNK_BYTES = 8 * 2**20  # and at most this many bytes of files per task
CHUNKS_AHEAD = 4  # tasks in flight per worker: with CHUNK_BYTES, bounds the rows waiting to be staged
PRELOAD = ("warehouse.staging",)  # what the read workers' fork server imports


@dataclass
class Staged:
    """What staging a batch's exports produced."""

    entries: list[RegistryEntry] = field(default_factory=list)  # new exports, provisional ids
    cursor: list[CursorRow] = field(default_factory=list)  # every export taken
    same_content: list[str] = field(default_factory=list)  # source of each export already registered
    stagers: dict[str, Stager] = field(default_factory=dict)  # item code → its staged rows
    # The scratch connection and its cursors (each has its own temp tables) the stagers use.
    connections: list[duckdb.DuckDBPyConnection] = field(default_factory=list)

    def connection_for_next(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """The connection the next item's stager uses: ``con`` and its cursors in turn, each with the
        lookups installed once, when it joins (every cursor has its own temp tables)."""
        turn = len(self.stagers) % JUDGE_CONNECTIONS
        while len(self.connections) <= turn:
            joining = con.cursor() if self.connections else con
            install_lookups(joining)
            self.connections.append(joining)
        return self.connections[turn]

    def stager(self, item: ItemStandard, con: duckdb.DuckDBPyConnection) -> Stager:
        """The item's stager, made on the next connection the first time."""
        if item.code not in self.stagers:
            self.stagers[item.code] = Stager(self.connection_for_next(con), item, lookups=False)
        return self.stagers[item.code]

    def close_cursors(self) -> None:
        """Close the cursors opened for staging (the scratch connection itself stays open)."""
        for cursor in self.connections[1:]:
            cursor.close()
        del self.connections[1:]


@dataclass
class _New:
    """A new export on its way to staging: its registry entry, item and export date."""

    export: Export
    entry: RegistryEntry
    item: ItemStandard
    export_date: dt.date | None


def _record(entry: RegistryEntry, item: ItemStandard, read: ExportRows | ReadFacts) -> None:
    """What reading found, on the file's registry entry (a reader's ``skipped_rows`` is the list it fills)."""
    entry.sheet, entry.encoding, entry.header_row = read.sheet, read.encoding, read.header_row
    entry.unknown_headers = read.unknown_headers
    entry.skipped_rows = read.skipped_rows
    carried = getattr(read, "fields", None)
    if carried is not None:
        entry.missing_columns = missing_columns(item, entry.export_date, carried)


def stage_export(
    new: _New, staged: Staged, con: duckdb.DuckDBPyConnection, batch_rows: int, encoding: str | None
) -> None:
    """Read one export here, streamed into its item's staging table, filling in its registry entry."""
    read = new.export.open(batch_rows=batch_rows, encoding=encoding)
    _record(new.entry, new.item, read)  # skipped rows and missing columns fill in as the rows are read
    source = divisions().get(new.export.source_id)
    new.entry.rows_in = staged.stager(new.item, con).add(
        FileToJudge(new.entry.file_id, source.code, source.prefix, new.export_date, read.batches)
    )


def missing_columns(item: ItemStandard, export_date: dt.date | None, carried: frozenset[str]) -> list[str]:
    """The required fields of the version in force on the export date that the export has no column for.

    Reported once per file (COLUMN_MISSING, a warning); the rows are not failed for them, except
    for identity columns (who, where, when), whose absence holds every row.
    """
    version = item.version_on(export_date)
    return [r.field for r in version.fields if r.required and r.field not in carried]


def _reject(entry: RegistryEntry, exc: Exception, export: Export) -> None:
    """The file is registered as rejected with its error and no rows."""
    error = exc if isinstance(exc, TierhubError) else unreadable(exc, export.source_id, export.identity)
    entry.status, entry.error, entry.rows_in = "rejected", str(error), 0


def stage_exports(
    con: duckdb.DuckDBPyConnection,
    exports: Iterable[Export],
    known: dict[tuple[str, str], int],
    standards: Catalogue,
    batch_rows: int,
    encoding_for: Callable[[str], str | None],
    report: Callable[[str, int, int], None],
    read_workers: int = 0,
) -> Staged:
    """Register and stage every export not registered yet; ``known`` maps (source, fingerprint) → file id.

    With ``read_workers``, small files are read in that many worker processes (see the module).
    """
    staged = Staged()
    ordered = sorted(exports, key=lambda e: e.identity)
    fresh: list[tuple[Export, RegistryEntry]] = []
    for export in ordered:
        file_id = known.get((export.source_id, export.fingerprint))
        if file_id is None:
            entry = RegistryEntry(
                file_id=-(len(staged.entries) + 1),
                source_id=export.source_id,
                path=export.identity,
                sha256=export.fingerprint,
                size=export.size,
                modified_at=export.received_at,
            )
            staged.entries.append(entry)
            known[(export.source_id, export.fingerprint)] = file_id = entry.file_id
            fresh.append((export, entry))
        else:
            staged.same_content.append(export.source_id)
        staged.cursor.append(
            CursorRow(
                export.source_id,
                export.identity,
                export.size,
                export.received_at,
                export.fingerprint,
                file_id,
                export.position,
            )
        )
    described: list[_New] = []
    for export, entry in fresh:
        try:
            item, export_date = export.describe(standards)
        except TierhubError as exc:
            _reject(entry, exc, export)
            continue
        entry.item_code, entry.export_date = item.code, export_date
        described.append(_New(export, entry, item, export_date))
    small = [n for n in described if isinstance(n.export, FileExport) and n.export.size <= AHEAD_MAX_BYTES]
    pool = read_pool(read_workers, PRELOAD) if len(small) >= AHEAD_MIN_FILES else None
    ahead = small if pool is not None else []
    reads = _ReadAhead(pool, ahead, batch_rows, encoding_for, read_workers)
    handed = {id(n) for n in ahead}

    def stage_here(new: _New) -> None:
        try:
            stage_export(new, staged, con, batch_rows, encoding_for(new.export.source_id))
        except Exception as exc:  # one file's surprise (a reader bug, a library error) refuses that file only
            _reject(new.entry, exc, new.export)

    done = 0
    try:
        for new in (n for n in described if id(n) not in handed):  # the workers read meanwhile
            if done % 50 == 0:
                report("read", done, len(described))
            stage_here(new)
            done += 1
        for chunk, facts, table in reads.results():
            report("read", done, len(described))
            done += len(chunk)
            _stage_chunk(chunk, facts, table, staged, con)
        for new in reads.left:  # the workers died: what they had not read is read here
            stage_here(new)
    finally:
        reads.close()
    return staged


def warm_read_workers(workers: int) -> None:
    """Start the read workers in the background (~0.5 s to import the readers), for a run that will read."""
    if workers > 0:
        threading.Thread(target=start_read_workers, args=(workers, PRELOAD), name="warm-readers", daemon=True).start()


def _stage_chunk(
    chunk: list[_New],
    facts: list[ReadFacts | TierhubError],
    table: pa.Table | None,
    staged: Staged,
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A worker's chunk: each file's facts on its entry, the chunk's rows into the item's stager."""
    for new, found in zip(chunk, facts, strict=True):
        if isinstance(found, TierhubError):
            _reject(new.entry, found, new.export)
        else:
            _record(new.entry, new.item, found)
            new.entry.rows_in = found.rows_in
    if table is not None and table.num_rows:
        staged.stager(chunk[0].item, con).add_table(table)


ChunkRead = tuple[list[ReadFacts | TierhubError], pa.Table | None]  # each file's facts or error, the rows
Chunk = tuple[list[Job], list[tuple[int, str, str, dt.date | None]], list[str], LocalAliases]


def read_chunk(
    jobs: list[Job],
    files: list[tuple[int, str, str, dt.date | None]],
    fields: list[str],
    aliases: LocalAliases,
) -> ChunkRead:
    """In a worker: read one item's files and conform their rows, as one table.

    ``files`` holds each file's (provisional id, source code, source prefix, export date).
    A file that fails part-way leaves no rows in the table; its error names it.
    """
    use_local_aliases(aliases)  # the parent's, so this worker reads as the parent would
    facts: list[ReadFacts | TierhubError] = []
    batches: list[pa.RecordBatch] = []
    for job, (file_id, source_code, prefix, export_date) in zip(jobs, files, strict=True):
        read = read_whole(job)
        if isinstance(read, TierhubError):
            facts.append(read)
            continue
        try:
            conformed = list(conform([FileToJudge(file_id, source_code, prefix, export_date, read.rows)], fields))
        except Exception as exc:  # a library's surprise refuses this file only
            facts.append(unreadable(exc, job[2], job[1]))
            continue
        batches += conformed
        facts.append(read.facts)
    if not batches:
        return facts, None
    return facts, pa.Table.from_batches(batches, schema=read_schema(fields)).combine_chunks()


def _chunks(files: list[_New]) -> Iterator[list[_New]]:
    """One item's files in chunks of at most ``CHUNK_FILES`` files and ``CHUNK_BYTES`` bytes."""
    chunk: list[_New] = []
    size = 0
    for new in files:
        if chunk and (len(chunk) == CHUNK_FILES or size + new.export.size > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(new)
        size += new.export.size
    if chunk:
        yield chunk


class _ReadAhead:
    """Hands small files to the read workers in chunks of one item's files, a window at a time."""

    def __init__(
        self,
        pool: ProcessPoolExecutor | None,
        ahead: list[_New],
        batch_rows: int,
        encoding_for: Callable[[str], str | None],
        workers: int,
    ) -> None:
        self.pool = pool
        self.batch_rows = batch_rows
        self.encoding_for = encoding_for
        self.window = CHUNKS_AHEAD * max(workers, 1)
        by_item: dict[str, list[_New]] = {}
        for new in ahead:
            by_item.setdefault(new.item.code, []).append(new)
        self.waiting: deque[list[_New]] = deque(chunk for files in by_item.values() for chunk in _chunks(files))
        self.in_flight: deque[tuple[list[_New], Future[ChunkRead]]] = deque()
        self.aliases = active_local_aliases()
        self.left: list[_New] = []  # handed over but not read: the workers died
        self._top_up()

    def _top_up(self) -> None:
        while self.pool is not None and self.waiting and len(self.in_flight) < self.window:
            chunk = self.waiting.popleft()
            try:
                self.in_flight.append((chunk, self.pool.submit(read_chunk, *self._task(chunk))))
            except BrokenProcessPool as exc:
                self.waiting.appendleft(chunk)
                self._abandon(exc)

    def _abandon(self, exc: BrokenProcessPool) -> None:
        """A worker died (killed, out of memory): everything not read yet is read in process."""
        log.warning("a read worker died (%s); the batch's remaining files are read in process", exc)
        forget_pool(self.pool)
        self.left += [new for chunk, _ in self.in_flight for new in chunk] + [new for c in self.waiting for new in c]
        self.pool = None
        self.in_flight.clear()
        self.waiting.clear()

    def _task(self, chunk: list[_New]) -> Chunk:
        jobs: list[Job] = []
        files: list[tuple[int, str, str, dt.date | None]] = []
        for new in chunk:
            record = new.export.record if isinstance(new.export, FileExport) else None
            assert record is not None  # only files are handed over
            jobs.append(
                (
                    str(record.local_path),
                    record.path,
                    record.source_id,
                    self.batch_rows,
                    self.encoding_for(record.source_id),
                )
            )
            source = divisions().get(record.source_id)
            files.append((new.entry.file_id, source.code, source.prefix, new.export_date))
        return jobs, files, standard_fields(chunk[0].item), self.aliases

    def results(self) -> Iterator[tuple[list[_New], list[ReadFacts | TierhubError], pa.Table | None]]:
        """Each chunk as its worker finishes it, in the order handed over."""
        while self.in_flight:
            chunk, future = self.in_flight.popleft()
            try:
                facts, table = future.result()
            except BrokenProcessPool as exc:
                self.left += chunk
                self._abandon(exc)
                return
            self._top_up()
            yield chunk, facts, table

    def close(self) -> None:
        """Drop what was handed over and not taken (a batch that failed part-way)."""
        for _, future in self.in_flight:
            future.cancel()
        self.in_flight.clear()
        self.waiting.clear()
