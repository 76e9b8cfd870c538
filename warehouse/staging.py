"""Step 5a of a sync: register each new export once and stage its rows for the judge.

An export whose (source, fingerprint) is already registered is not read again: it only moves
the cursor. A new one gets a provisional file id (-1, -2, … in identity order; the commit swaps
in ids of the warehouse's sequence) and a registry entry that records what reading it found —
or, if it cannot be read, its error, as ``rejected`` with no rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb

from connectors.exports import Export
from connectors.files import unreadable
from quality.verdicts import FileToJudge, Stager
from tierhub.errors import TierhubError
from tierhub.reference import divisions
from tierhub.standards import Catalogue, ItemStandard
from warehouse.load import CursorRow, RegistryEntry


@dataclass
class Staged:
    """What staging a batch's exports produced."""

    entries: list[RegistryEntry] = field(default_factory=list)  # new exports, provisional ids
    cursor: list[CursorRow] = field(default_factory=list)  # every export taken
    same_content: list[str] = field(default_factory=list)  # source of each export already registered
    stagers: dict[str, Stager] = field(default_factory=dict)  # item code → its staged rows


def stage_export(
    export: Export,
    entry: RegistryEntry,
    stagers: dict[str, Stager],
    con: duckdb.DuckDBPyConnection,
    standards: Catalogue,
    batch_rows: int,
    encoding: str | None,
) -> None:
    """Read one export into its item's staging table, filling in its registry entry."""
    item, export_date = export.describe(standards)
    entry.item_code, entry.export_date = item.code, export_date
    read = export.open(batch_rows=batch_rows, encoding=encoding)
    entry.sheet, entry.encoding, entry.header_row = read.sheet, read.encoding, read.header_row
    entry.unknown_headers = read.unknown_headers
    if item.code not in stagers:
        stagers[item.code] = Stager(con, item)
    source = divisions().get(export.source_id)
    entry.rows_in = stagers[item.code].add(
        FileToJudge(entry.file_id, source.code, source.prefix, export_date, read.batches)
    )
    entry.skipped_rows = read.skipped_rows
    carried = getattr(read, "fields", None)
    if carried is not None:
        entry.missing_columns = missing_columns(item, export_date, carried)


def missing_columns(item: ItemStandard, export_date: dt.date | None, carried: frozenset[str]) -> list[str]:
    """The required fields of the version in force on the export date that the export has no column for.

    Reported once per file (COLUMN_MISSING, a warning); the rows are not failed for them, except
    for identity columns (who, where, when), whose absence holds every row.
    """
    version = item.version_on(export_date)
    return [r.field for r in version.fields if r.required and r.field not in carried]


def stage_exports(
    con: duckdb.DuckDBPyConnection,
    exports: Iterable[Export],
    known: dict[tuple[str, str], int],
    standards: Catalogue,
    batch_rows: int,
    encoding_for: Callable[[str], str | None],
    report: Callable[[str, int, int], None],
) -> Staged:
    """Register and stage every export not registered yet; ``known`` maps (source, fingerprint) → file id."""
    staged = Staged()
    ordered = sorted(exports, key=lambda e: e.identity)
    for done, export in enumerate(ordered):
        if done % 50 == 0:
            report("read", done, len(ordered))
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
            try:
                stage_export(export, entry, staged.stagers, con, standards, batch_rows, encoding_for(export.source_id))
            except TierhubError as exc:
                entry.status, entry.error, entry.rows_in = "rejected", str(exc), 0
            except Exception as exc:  # one file's surprise (a reader bug, a library error) refuses that file only
                error = unreadable(exc, export.source_id, export.identity)
                entry.status, entry.error, entry.rows_in = "rejected", str(error), 0
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
    return staged
