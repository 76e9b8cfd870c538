"""The seam between sources and staging: what a source offers (``Survey``) and hands over (``Export``).

A source kind — folders and SFTP servers of export files (``connectors.files``), SQL
databases (``connectors.database``) — surveys a source for what is new, and turns each new
thing into an ``Export``: provenance (source, a stable identity, a fingerprint of its content,
when it was received) plus a way to read its rows as Arrow batches whose columns are already
the canonical fields. Staging reads exports, never paths, so a kind that is not a file needs
no change in the pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from connectors.config import DatabaseEndpoint, FolderEndpoint, SftpEndpoint
from connectors.filenames import parse_drop_name
from connectors.records import Listing, Refusal
from tierhub.errors import TierhubError
from tierhub.standards import Catalogue, ItemStandard


class ExportRows(Protocol):
    """An export being read: what the reader found, and its batches (consumed once).

    Each batch has ``_row_number`` (1-based), ``_sheet`` and one string column per recognised
    canonical field. ``skipped_rows`` fills while the batches are read.
    """

    @property
    def sheet(self) -> str: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def header_row(self) -> int: ...
    @property
    def unknown_headers(self) -> list[str]: ...
    @property
    def skipped_rows(self) -> list[int]: ...
    @property
    def batches(self) -> Iterator[pa.RecordBatch]: ...


class Export(Protocol):
    """One export to stage, whatever produced it.

    ``identity`` is stable across versions of the same export (a file's path in its outbox, a
    database item's ``database/<item>/<cursor>``); ``fingerprint`` is the SHA-256 of a file's
    bytes or of a database slice's definition — the file registry takes each (source,
    fingerprint) once. ``position`` is the cursor value a database export advances to.
    """

    @property
    def source_id(self) -> str: ...
    @property
    def identity(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def received_at(self) -> dt.datetime: ...
    @property
    def position(self) -> str | None: ...

    def describe(self, standards: Catalogue) -> tuple[ItemStandard, dt.date | None]:
        """The item the export holds and its export date (raises ``UnsupportedFile`` if unknown)."""
        ...

    def open(self, *, batch_rows: int, encoding: str | None) -> ExportRows:
        """Start reading the rows (raises a ``TierhubError`` if they cannot be read)."""
        ...


@dataclass(frozen=True, slots=True)
class Selection:
    """Which exports a sync takes: all by default.

    ``since``: only files modified at or after it (a database's cursor decides for itself);
    ``items``: only exports of these item codes (a file whose name names no known item is left
    out when ``items`` is given).
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
            return self.takes_item(parse_drop_name(listing.name).item, standards)
        except TierhubError:
            return False

    def takes_item(self, item: str, standards: Catalogue) -> bool:
        """Whether the sync should take exports of this item (a code, name or alias)."""
        return self.items is None or standards.find(item).code in self.items


@dataclass(frozen=True, slots=True)
class Known:
    """What the warehouse holds of the sources being synced (read once per batch).

    ``seen``: (source, identity) → (size, mtime) last taken; ``positions``: (source, identity)
    → the cursor value a database item was last committed at.
    """

    seen: Mapping[tuple[str, str], tuple[int, dt.datetime]]
    positions: Mapping[tuple[str, str], str]


@dataclass
class Survey:
    """What one source has: to take now, to leave, to wait for, and refused."""

    candidates: list[Listing] = field(default_factory=list)  # take now
    fresh: list[Listing] = field(default_factory=list)  # modified a moment ago: list again after settling
    waiting: list[Listing] = field(default_factory=list)  # still being written: next sync
    unchanged: list[Listing] = field(default_factory=list)  # the cursor holds them: not fetched
    unselected: int = 0  # left out by ``since`` or ``items``
    refusals: list[Refusal] = field(default_factory=list)


AnyEndpoint = FolderEndpoint | SftpEndpoint | DatabaseEndpoint


class Source(Protocol):
    """What the pipeline needs of a source kind (one object per endpoint, see ``connectors.outboxes``)."""

    @property
    def endpoint(self) -> AnyEndpoint: ...

    def survey(
        self, source_code: str, known: Known, selection: Selection, standards: Catalogue, now: dt.datetime
    ) -> Survey:
        """What the source has that the warehouse has not taken (raises ``SourceUnreachable``)."""
        ...

    def settle(self, fresh: list[Listing], sleep: Callable[[float], None]) -> tuple[list[Listing], list[Listing]]:
        """Split freshly modified listings into (stable, still changing)."""
        ...

    def take(self, listing: Listing) -> Export:
        """Fetch what a listing names and hand it over as an export."""
        ...

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]:
        """Everything the source offers now, refused items and ``.done`` markers (``sources check``)."""
        ...

    def probe(self, source_code: str) -> str:
        """Where the source is; raises ``SourceUnreachable`` if it is missing or cannot be reached."""
        ...

    def upload(self, local: Path, source_code: str, name: str | None = None) -> str:
        """Put a file (a receipt, a report) where the source reads it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
