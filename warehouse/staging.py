"""Step 5a of a sync: register each new export once and stage its rows for the judge.

An export whose (source, fingerprint) is already registered is not read again: it only moves
the cursor. A new one gets a provisional file id (-1, -2, … in identity order; the commit swaps
in ids of the warehouse's sequence) and a registry entry that records what reading it found —
or, if it cannot be read, its error, as ``rejected`` with no rows.
"""

from __future__ import annotations

import datetime as dt
import os
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

# Items are staged (and then judged) on this many connections to the scratch database, in turn.
# Judging an item is one large query whose planning and start-up cost ~0.1-0.2 s whatever its
# rows, on one core: a batch of 34 items judges on both cores when its items are split between
# two connections (flows.pipeline judges each connection's items on its own thread).
JUDGE_CONNECTIONS = max(1, min(os.cpu_count() or 1, 4))


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
        """The connection the next item's stager uses: ``con`` and its cursors in turn."""
        if not self.connections:
            self.connections.append(con)
        turn = len(self.stagers) % JUDGE_CONNECTIONS
        while len(self.connections) <= turn:
            self.connections.append(con.cursor())
        return self.connections[turn]

    def close_cursors(self) -> None:
        """Close the cursors opened for staging (the scratch connection itself stays open)."""
        for cursor in self.connections[1:]:
            cursor.close()
        del self.connections[1:]


def stage_export(
    export: Export,
    entry: RegistryEntry,
    staged: Staged,
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
    if item.code not in staged.stagers:
        staged.stagers[item.code] = Stager(staged.connection_for_next(con), item)
    source = divisions().get(export.source_id)
    entry.rows_in = staged.stagers[item.code].add(
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
                stage_export(export, entry, staged, con, standards, batch_rows, encoding_for(export.source_id))
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
