"""Profile exports without loading them: how tierhub reads each file, and what it would not accept.

For onboarding a new export dialect (decision 0022): per file the detected encoding, delimiter
and header row, each column mapped to its field, the columns not mapped, two columns naming one
field, the required columns missing, and per code field the values no code table accepts, with
counts and up to three suggested codes. Nothing is written anywhere; the header and code
aliases in force (shipped plus ``<home>/aliases``) apply as in a sync.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from connectors.filenames import EXTENSIONS, parse_drop_name
from connectors.files import read_guarded
from connectors.outboxes import Outboxes
from connectors.readers import DELIMITER_NAMES, DUPLICATE_MARK
from connectors.records import Refusal
from quality.aliases import Suggestion, code_parts, is_known_code, suggest_codes
from tierhub.errors import DuplicateHeaders, TierhubError
from tierhub.standards import Catalogue, catalogue

BATCH_ROWS = 50_000


@dataclass
class UnknownValue:
    """A cell text no code of the field's table accepts, how often, and what it may mean."""

    text: str
    count: int
    suggestions: list[Suggestion]


@dataclass
class UnknownCodes:
    """The unknown values of one code field of a file (most frequent first)."""

    field: str
    code_table: str
    values: list[UnknownValue]

    @property
    def rows(self) -> int:
        """Cells holding an unknown value."""
        return sum(v.count for v in self.values)


@dataclass
class FileProfile:
    """How one export would be read, and what of it the standard would not accept."""

    path: str
    item: str | None = None  # item code
    version: str | None = None
    source_id: str | None = None
    encoding: str | None = None
    delimiter: str | None = None  # comma, tab, semicolon, pipe (text files)
    sheet: str | None = None  # workbooks
    header_row: int | None = None  # 1-based, the header's last row
    rows: int = 0  # data rows (blank and 合计 rows not counted)
    mapped: list[tuple[str, str]] = field(default_factory=list)  # (header as written, field)
    unmapped: list[str] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # field → the columns naming it (file refused)
    missing_required: list[str] = field(default_factory=list)
    missing_identity: list[str] = field(default_factory=list)  # without these the file is held whole
    unknown_codes: list[UnknownCodes] = field(default_factory=list)
    error: str | None = None  # why the file cannot be read (or its item not known)

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        data = asdict(self)
        data["mapped"] = [{"header": h, "field": f} for h, f in self.mapped]
        return data


@dataclass
class FolderProfile:
    """The profiles of every export in a folder (or a source's outbox)."""

    root: str
    files: list[FileProfile]
    seconds: float


def export_files(root: Path) -> list[Path]:
    """The export files under ``root`` (recursively), in path order; ``root`` itself if it is a file."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def profile_file(
    path: Path,
    *,
    item: str | None = None,
    standards: Catalogue | None = None,
    encoding: str | None = None,
    source_id: str | None = None,
    shown: str | None = None,
) -> FileProfile:
    """Read one export as a sync would and report what it found; never raises for the file's content.

    ``item`` names the service item when the file name does not (else it comes from the name).
    """
    standards = standards or catalogue()
    profile = FileProfile(path=shown or str(path))
    export_date: dt.date | None = None
    try:
        drop = parse_drop_name(path.name)
        profile.source_id, export_date = source_id or drop.source_code, drop.export_date
        item = item or drop.item
    except TierhubError as exc:
        if item is None:
            profile.error = f"{exc} (or name the item with --item)"
    standard = None
    try:
        standard = standards.find(item) if item else None
    except TierhubError as exc:
        profile.error = str(exc)
    try:
        read = read_guarded(path, profile.path, profile.source_id or "", BATCH_ROWS, encoding)
    except DuplicateHeaders as exc:
        profile.duplicates = exc.duplicates
        profile.error = exc.problem + (f" — {exc.fix}" if exc.fix else "")
        return profile
    except TierhubError as exc:
        profile.error = exc.problem + (f" — {exc.fix}" if exc.fix else "")
        return profile
    profile.encoding = read.encoding
    profile.delimiter = DELIMITER_NAMES.get(getattr(read, "delimiter", None) or "", None)
    profile.sheet = read.sheet or None
    profile.header_row = read.header_row
    columns: dict[int, str] = getattr(read, "columns", {})
    headers: list[str | None] = getattr(read, "headers", [])
    profile.mapped = [(str(headers[p]).strip() if p < len(headers) else f, f) for p, f in columns.items()]
    profile.unmapped = [h for h in read.unknown_headers if f" {DUPLICATE_MARK} " not in h]
    version = standard.version_on(export_date) if standard else None
    rules = {r.field: r for r in version.fields if r.code_table} if version else {}
    counts: dict[str, Counter[str]] = {f: Counter() for f in rules}
    try:
        for batch in read.batches:
            profile.rows += batch.num_rows
            for name in counts.keys() & set(batch.schema.names):
                rule = rules[name]
                for text, n in Counter(batch.column(name).to_pylist()).items():
                    if text is not None:
                        for part in code_parts(text, rule.multiple):
                            counts[name][part] += n
    except TierhubError as exc:
        profile.error = exc.problem + (f" — {exc.fix}" if exc.fix else "")
    if standard is None or version is None:
        return profile
    profile.item, profile.version = standard.code, version.version
    carried = set(columns.values())
    profile.missing_required = [r.field for r in version.fields if r.required and r.field not in carried]
    profile.missing_identity = [f for f in version.identity_fields if f not in carried]
    for name, counter in counts.items():
        table = rules[name].code_table or ""
        unknown = [(t, n) for t, n in counter.items() if not is_known_code(table, t)]
        unknown.sort(key=lambda x: (-x[1], x[0]))
        if unknown:
            values = [UnknownValue(t, n, suggest_codes(table, t)) for t, n in unknown]
            profile.unknown_codes.append(UnknownCodes(name, table, values))
    return profile


def profile_folder(root: Path, *, item: str | None = None, encoding: str | None = None) -> FolderProfile:
    """Profile every export under a folder (or one file)."""
    started = time.perf_counter()
    standards = catalogue()
    files = [
        profile_file(p, item=item, standards=standards, encoding=encoding, shown=str(p)) for p in export_files(root)
    ]
    return FolderProfile(str(root), files, time.perf_counter() - started)


def profile_source(
    boxes: Outboxes, source_code: str, *, item: str | None = None, encoding: str | None = None
) -> FolderProfile:
    """Profile every export a configured source offers now (downloaded to landing, never loaded)."""
    started = time.perf_counter()
    standards = catalogue()
    source = boxes.for_source(source_code)
    listings, refusals, _markers = source.scan(source_code)
    files: list[FileProfile] = []
    for listing in sorted(listings, key=lambda x: x.path):
        export = source.take(listing)
        local = getattr(getattr(export, "record", None), "local_path", None)
        if local is None:
            files.append(FileProfile(path=listing.path, error="not a file export: profile reads files only"))
            continue
        shown = listing.path
        files.append(profile_file(Path(local), item=item, standards=standards, encoding=encoding, shown=shown))
    files += [FileProfile(path=r.path, error=r.reason) for r in _refusals(refusals)]
    return FolderProfile(f"source {source_code}", files, time.perf_counter() - started)


def _refusals(refusals: Iterable[Refusal]) -> list[Refusal]:
    return sorted(refusals, key=lambda r: r.path)
