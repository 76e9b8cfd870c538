"""What tierhub refuses to take from an outbox, and why.

Remote names are untrusted: no path separators or traversal, no control characters, only
export extensions, a size limit, and workbooks that would inflate far beyond their size
(zip bombs) are refused before a reader opens them.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from connectors.filenames import EXTENSIONS

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED = 1024 * 1024 * 1024
MAX_XLSX_RATIO = 200
MARKER_SUFFIX = ".done"
# A CSV line this long is no export row (a few hundred columns of text are a few KiB): a file
# with one is refused before the csv module builds millions of fields in memory, or stops at
# its 131,072-character field limit (docs/decisions/0005-connectors.md).
MAX_CSV_LINE_BYTES = 4 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCAN_CHUNK = 1024 * 1024  # chunks no longer than the limit: a line inside one is never too long


def refuse_name(name: str) -> str | None:
    """Why a remote file name is refused, or None if it is acceptable."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        return f"unsafe file name {name!r}: a name must be one path component"
    if _CONTROL.search(name):
        return f"file name {name!r} contains control characters"
    if name.startswith("."):
        return f"hidden or temporary file {name!r} is not an export"
    suffix = os.path.splitext(name)[1].lower().rstrip(".")  # "x." has no extension, as in pathlib
    if suffix not in EXTENSIONS:
        return f"extension {suffix or '(none)'!r} is not an export format (accepted: {', '.join(EXTENSIONS)})"
    return None


def refuse_size(size: int, limit: int = MAX_FILE_BYTES) -> str | None:
    """Why a file is refused for its size, or None."""
    if size > limit:
        return f"file is {size:,} bytes, over the {limit:,}-byte limit"
    return None


def refuse_workbook(path: Path) -> str | None:
    """Why an XLSX file is refused before parsing (zip bomb guard), or None.

    Legacy XLS and CSV files are not archives and pass; a broken archive is left to the
    reader, which reports it as unreadable.
    """
    if path.suffix.lower() != ".xlsx":
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, EOFError):
        return None  # a damaged container (bad header, unknown zip version): the reader refuses it
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > MAX_XLSX_UNCOMPRESSED or total / packed > MAX_XLSX_RATIO:
        return (
            f"workbook would expand to {total:,} bytes ({total / packed:.0f}× its packed size): "
            "refused as a possible zip bomb"
        )
    return None


def refuse_long_lines(path: Path, limit: int = MAX_CSV_LINE_BYTES) -> str | None:
    """Why a CSV file is refused for a line longer than ``limit`` bytes, or None.

    One pass in 1 MiB chunks: only the run of bytes since the last newline can grow past
    the limit, so the scan is a ``find`` and an ``rfind`` per chunk.
    """
    if path.suffix.lower() != ".csv":
        return None
    run = 0  # bytes since the last newline
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(min(_SCAN_CHUNK, max(limit, 1))):
            first = chunk.find(b"\n")
            if run + (len(chunk) if first < 0 else first) > limit:
                return (
                    f"line {line} is longer than {limit:,} bytes (a missing line break or an unclosed quote): "
                    "refused unread"
                )
            if first >= 0:
                line += chunk.count(b"\n")
                run = len(chunk) - chunk.rfind(b"\n") - 1
            else:
                run += len(chunk)
    return None
