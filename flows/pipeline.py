"""The sync of one batch of sources as plain functions: list → read → judge → load.

No Prefect here: ``flows.sync`` wraps these in tasks, and tests call them directly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from connectors.filenames import parse_drop_name
from connectors.local import list_files
from connectors.readers import open_export
from connectors.records import FileRecord
from quality.rules import JudgeContext
from quality.standards import Catalogue, ItemStandard, catalogue
from quality.verdicts import FileToJudge, Stager, judge_staged
from tierhub.errors import TierhubError
from tierhub.reference import divisions
from warehouse.load import LoadResult, RegistryEntry, already_registered, commit_batch, next_file_id


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What syncing one batch of sources did."""

    sources: int
    skipped_files: int  # already registered: nothing to do
    load: LoadResult
    entries: list[RegistryEntry]


def _registry_entry(con: duckdb.DuckDBPyConnection, record: FileRecord) -> RegistryEntry:
    return RegistryEntry(
        file_id=next_file_id(con),
        source_id=record.source_id,
        path=record.path,
        sha256=record.sha256,
        size=record.size,
        modified_at=record.modified_at,
    )


def _stage(
    root: Path,
    record: FileRecord,
    entry: RegistryEntry,
    stagers: dict[str, Stager],
    con: duckdb.DuckDBPyConnection,
    standards: Catalogue,
    batch_rows: int,
) -> None:
    """Read one file into its item's staging table, filling in its registry entry."""
    name = parse_drop_name(Path(record.path).name)
    if name.source_code != record.source_id:
        raise TierhubError(
            f"the file name says source {name.source_code} but it lies in the outbox of {record.source_id}",
            source_id=record.source_id,
            path=record.path,
            fix="each source drops only its own exports into its own outbox",
        )
    item = standards.find(name.item)
    entry.item_code, entry.export_date = item.code, name.export_date
    read = open_export(root / record.path, batch_rows=batch_rows, source_id=record.source_id)
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
    root: Path,
    source_codes: Iterable[str],
    *,
    today: dt.date | None = None,
    run_label: str = "",
    batch_rows: int = 50_000,
    standards: Catalogue | None = None,
) -> BatchOutcome:
    """Sync every new file of these sources from a local folder into the warehouse.

    A file that cannot be read is registered as rejected with its error and the other
    files go on; the batch commits in one transaction or not at all.
    """
    started = dt.datetime.now(dt.UTC)
    standards = standards or catalogue()
    ctx = JudgeContext(today=today or dt.date.today())
    stagers: dict[str, Stager] = {}
    entries: list[RegistryEntry] = []
    skipped = 0
    codes = list(source_codes)
    for code in codes:
        known = already_registered(con, code)
        for record in list_files(root, code):
            if record.sha256 in known:
                skipped += 1
                continue
            known.add(record.sha256)
            entry = _registry_entry(con, record)
            entries.append(entry)
            try:
                _stage(root, record, entry, stagers, con, standards, batch_rows)
            except TierhubError as exc:
                entry.status, entry.error, entry.rows_in = "rejected", str(exc), 0
    items: list[ItemStandard] = []
    for code, stager in stagers.items():
        stager.flush()
        item = standards.items[code]
        items.append(item)
        for file_id, summary in judge_staged(con, item, ctx).items():
            entry = next(e for e in entries if e.file_id == file_id)
            entry.rows_loaded, entry.rows_quarantined = summary.valid, summary.quarantined
    load = commit_batch(
        con,
        load_id=uuid.uuid4().hex,
        started_at=started,
        run_label=run_label,
        entries=entries,
        items=items,
    )
    return BatchOutcome(sources=len(codes), skipped_files=skipped, load=load, entries=entries)
