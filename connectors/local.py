"""Local-folder sources: a shared drive or USB import holding each source's outbox.

Layout: ``<root>/<6-digit district code>/<12-digit source code>/<export files>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from connectors.records import FileRecord, sha256_file


def outbox(root: Path, source_code: str) -> Path:
    """The folder a source drops its exports into."""
    return root / source_code[:6] / source_code


def list_files(root: Path, source_code: str) -> Iterator[FileRecord]:
    """Every regular file in a source's outbox, in name order (hidden files skipped)."""
    folder = outbox(root, source_code)
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.is_symlink():
            continue
        stat = path.stat()
        yield FileRecord(
            source_id=source_code,
            path=path.relative_to(root).as_posix(),
            size=stat.st_size,
            modified_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
            sha256=sha256_file(path),
        )
