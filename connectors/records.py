"""The record types every connector yields, whatever the backend."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Listing:
    """A file seen in a source's outbox, before it is fetched.

    ``path`` is relative to the connector's root (``<district6>/<source>/<name>`` by
    default); ``modified_at`` is UTC truncated to whole seconds, which both local stat and
    SFTP report.
    """

    source_id: str
    path: str
    size: int
    modified_at: dt.datetime

    @property
    def name(self) -> str:
        """The file's name without folders."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A file in an outbox that tierhub will not take, and why (reported, never silent)."""

    source_id: str
    path: str
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A fetched file, ready to read: where it is locally and what its bytes hash to.

    ``source_id`` is the 12-digit division code of the submitting street centre or
    community/village workstation; ``path`` is relative to the connector's root;
    ``local_path`` is where the bytes are on this machine; ``modified_at`` is UTC.
    """

    source_id: str
    path: str
    size: int
    modified_at: dt.datetime
    sha256: str
    local_path: Path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def utc_seconds(timestamp: float) -> dt.datetime:
    """A POSIX timestamp as an aware UTC datetime in whole seconds."""
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
