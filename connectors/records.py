"""The one record type every connector yields for a file it found."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file in a source's outbox.

    ``source_id`` is the 12-digit division code of the submitting street centre or
    community/village workstation; ``path`` is relative to the connector's root;
    ``modified_at`` is UTC.
    """

    source_id: str
    path: str
    size: int
    modified_at: dt.datetime
    sha256: str


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
