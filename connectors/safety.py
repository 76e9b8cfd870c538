"""What tierhub refuses to take from an outbox, and why.

Remote names are untrusted: no path separators or traversal, no control characters, only
export extensions, a size limit, and workbooks that would inflate far beyond their size
(zip bombs) are refused before a reader opens them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from connectors.filenames import EXTENSIONS

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED = 1024 * 1024 * 1024
MAX_XLSX_RATIO = 200
MARKER_SUFFIX = ".done"


def refuse_name(name: str) -> str | None:
    """Why a remote file name is refused, or None if it is acceptable."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        return f"unsafe file name {name!r}: a name must be one path component"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"file name {name!r} contains control characters"
    if name.startswith("."):
        return f"hidden or temporary file {name!r} is not an export"
    suffix = Path(name).suffix.lower()
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
    except (zipfile.BadZipFile, OSError):
        return None
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > MAX_XLSX_UNCOMPRESSED or total / packed > MAX_XLSX_RATIO:
        return (
            f"workbook would expand to {total:,} bytes ({total / packed:.0f}× its packed size): "
            "refused as a possible zip bomb"
        )
    return None
