"""Sources that drop export files into an outbox (a folder or an SFTP server), as ``Export``s.

``FileSource`` turns any file ``Outbox`` into a ``Source``: it compares the listing with the
cursor, lets files being written settle, fetches, and hands each file over as a
``FileExport`` that the CSV/Excel readers open.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from connectors.config import FolderEndpoint, SftpEndpoint
from connectors.exports import ExportRows, Known, Selection, Survey
from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from connectors.records import FileRecord, Listing, Refusal
from connectors.safety import refuse_long_lines, refuse_workbook
from tierhub.errors import TierhubError, UnreadableFile, UnsupportedFile
from tierhub.standards import Catalogue, ItemStandard


class Outbox(Protocol):
    """What a file backend offers (``LocalOutbox``, ``SftpOutbox``)."""

    @property
    def endpoint(self) -> FolderEndpoint | SftpEndpoint: ...

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]: ...
    def probe(self, source_code: str) -> str: ...
    def restat(self, listing: Listing) -> Listing | None: ...
    def fetch(self, listing: Listing) -> FileRecord: ...
    def upload(self, local: Path, source_code: str, name: str | None = None) -> str: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FileExport:
    """A fetched export file: its record, read by the CSV/Excel readers."""

    record: FileRecord

    @property
    def source_id(self) -> str:
        """The submitting source."""
        return self.record.source_id

    @property
    def identity(self) -> str:
        """The file's path in its outbox."""
        return self.record.path

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the file's bytes."""
        return self.record.sha256

    @property
    def size(self) -> int:
        """Bytes."""
        return self.record.size

    @property
    def received_at(self) -> dt.datetime:
        """The file's modification time (UTC)."""
        return self.record.modified_at

    @property
    def position(self) -> str | None:
        """Files have no cursor value: (path, size, mtime) is their cursor."""
        return None

    def describe(self, standards: Catalogue) -> tuple[ItemStandard, dt.date | None]:
        """Item and export date from the file name, which must name the outbox's own source."""
        name = parse_drop_name(Path(self.record.path).name)
        if name.source_code != self.record.source_id:
            raise UnsupportedFile(
                f"the file name says source {name.source_code} but it lies in the outbox of {self.record.source_id}",
                source_id=self.record.source_id,
                path=self.record.path,
                fix="each source drops only its own exports into its own outbox",
            )
        return standards.find(name.item), name.export_date

    def open(self, *, batch_rows: int, encoding: str | None) -> ExportRows:
        """Open the file with the CSV or Excel reader (zip bombs and endless lines are refused first).

        Whatever goes wrong while the file is read — now or while its batches are consumed —
        is raised as a ``TierhubError`` naming this file, so it refuses this file only.
        """
        return read_guarded(self.record.local_path, self.record.path, self.record.source_id, batch_rows, encoding)


def read_guarded(local: Path, path: str, source_id: str, batch_rows: int, encoding: str | None) -> ExportRows:
    """Open an export file so that any failure reading it is an ``UnreadableFile`` naming it."""
    try:
        refused = refuse_workbook(local) or refuse_long_lines(local)
        if refused:
            raise UnsupportedFile(refused, source_id=source_id, path=path, fix="re-export the file")
        read = open_export(local, batch_rows=batch_rows, source_id=source_id, encoding=encoding)
    except TierhubError:
        raise
    except Exception as exc:  # a reader's bug or a library's surprise refuses this file, not the batch
        raise unreadable(exc, source_id, path) from exc
    read.batches = _guarded(read.batches, source_id, path)
    return read


def _guarded(batches: Iterator[pa.RecordBatch], source_id: str, path: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except TierhubError:
        raise
    except Exception as exc:
        raise unreadable(exc, source_id, path) from exc


def unreadable(exc: Exception, source_id: str, path: str) -> UnreadableFile:
    """An unexpected failure while reading one file, as that file's refusal (with the reader's words)."""
    text = str(exc).replace("\n", " ")[:300] or "(no message)"
    if isinstance(exc, csv.Error) and "field limit" in text:
        problem = f"a cell is longer than {csv.field_size_limit():,} characters ({text})"
        fix = 'check the export for an unclosed quote (") or a pasted document in a cell, and re-export'
    else:
        problem = f"the file cannot be read: {type(exc).__name__}: {text}"
        fix = "re-export the file from the source system; if it opens in Excel, report it to the tierhub team"
    return UnreadableFile(problem, source_id=source_id, path=path, fix=fix)


class FileSource:
    """A file ``Outbox`` as a ``Source``: cursor check, settling, fetch → ``FileExport``."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @property
    def endpoint(self) -> FolderEndpoint | SftpEndpoint:
        """The outbox's endpoint."""
        return self.outbox.endpoint

    def survey(
        self, source_code: str, known: Known, selection: Selection, standards: Catalogue, now: dt.datetime
    ) -> Survey:
        """Files not yet taken: the cursor's (path, size, mtime) skips unchanged ones unfetched."""
        listings, refusals, markers = self.outbox.scan(source_code)
        survey = Survey(refusals=refusals)
        endpoint = self.endpoint
        for listing in listings:
            if not selection.takes(listing, standards):
                survey.unselected += 1
            elif known.seen.get((source_code, listing.path)) == (listing.size, listing.modified_at):
                survey.unchanged.append(listing)
            elif endpoint.stable == "done_marker":
                (survey.candidates if listing.name in markers else survey.waiting).append(listing)
            elif (now - listing.modified_at).total_seconds() < endpoint.settle_seconds + 1:
                survey.fresh.append(listing)
            else:
                survey.candidates.append(listing)
        return survey

    def settle(self, fresh: list[Listing], sleep: Callable[[float], None]) -> tuple[list[Listing], list[Listing]]:
        """List recently modified files again after ``settle_seconds``: (stable, still changing)."""
        if not fresh:
            return [], []
        sleep(self.endpoint.settle_seconds)
        stable: list[Listing] = []
        waiting: list[Listing] = []
        for listing in fresh:
            (stable if self.outbox.restat(listing) == listing else waiting).append(listing)
        return stable, waiting

    def take(self, listing: Listing) -> FileExport:
        """Download (or hash in place) the file."""
        return FileExport(self.outbox.fetch(listing))

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]:
        """The outbox's files, refused files and ``.done`` markers."""
        return self.outbox.scan(source_code)

    def probe(self, source_code: str) -> str:
        """Where the source's outbox is; raises ``SourceUnreachable`` if it cannot be listed."""
        return self.outbox.probe(source_code)

    def upload(self, local: Path, source_code: str, name: str | None = None) -> str:
        """Put a file into the source's outbox atomically."""
        return self.outbox.upload(local, source_code, name)

    def close(self) -> None:
        """Close the outbox's connections."""
        self.outbox.close()
