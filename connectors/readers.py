"""Read CSV and Excel exports into bounded Arrow batches of raw cell text.

Each batch has ``_row_number`` (the row as a spreadsheet shows it, 1-based), ``_sheet``
and one string column per recognised canonical field, holding the cell exactly as read
(numbers rendered as Excel displays them, so an ID stored as a number shows up as
``1.20101199001011E+17`` and is caught as damaged, never silently "repaired").
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from tierhub.errors import HeaderMismatch, UnreadableFile
from tierhub.reference import header_index, normalise_label

HEADER_SCAN_ROWS = 20
MIN_KNOWN_HEADERS = 2
SAMPLE_BYTES = 256 * 1024
TOTAL_MARKERS = ("合计", "小计", "总计")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

Cell = str | int | float | bool | dt.date | dt.datetime | dt.time | dt.timedelta | None


@dataclass
class FileRead:
    """A file being read: what was found about it, and its batches (consumed once)."""

    path: Path
    sheet: str
    header_row: int
    columns: dict[int, str]  # column position → canonical field
    unknown_headers: list[str]
    encoding: str | None
    batches: Iterator[pa.RecordBatch]
    skipped_rows: list[int] = field(default_factory=list)  # blank and 合计/小计 rows


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV export: a BOM if present, else UTF-8 if it decodes, else GB18030."""
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"  # a superset of GBK and GB2312, what Chinese Excel writes


def cell_text(value: Cell) -> str | None:
    """A cell as text, the way Excel displays it in the General format."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15G}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def map_header(cells: Sequence[str | None]) -> tuple[dict[int, str], list[str]]:
    """Known columns (position → field) and the unknown header texts of a header row."""
    index = header_index()
    columns: dict[int, str] = {}
    unknown: list[str] = []
    for position, text in enumerate(cells):
        if text is None or not text.strip():
            continue
        canonical = index.get(normalise_label(text))
        if canonical is None or canonical in columns.values():
            unknown.append(text.strip())
        else:
            columns[position] = canonical
    return columns, unknown


def find_header(rows: Sequence[Sequence[str | None]], path: Path, source_id: str | None) -> int:
    """Index of the header row: the first of the top rows naming enough known fields."""
    for i, cells in enumerate(rows[:HEADER_SCAN_ROWS]):
        if len(map_header(cells)[0]) >= MIN_KNOWN_HEADERS:
            return i
    seen = next((c for c in rows if any(x for x in c)), [])
    shown = "、".join(str(x) for x in seen if x)[:200] or "(empty)"
    raise HeaderMismatch(
        f"no header row with known columns in the first {HEADER_SCAN_ROWS} rows; first row: {shown}",
        source_id=source_id,
        path=str(path),
        fix="export with the standard column headers (see the handbook), or add the headers "
        "as aliases in field_dictionary.csv",
    )


def _is_skippable(cells: Sequence[str | None]) -> bool:
    texts = [c.strip() for c in cells if c is not None and c.strip()]
    return not texts or any(texts[0].replace(" ", "").startswith(m) for m in TOTAL_MARKERS)


class _BatchBuilder:
    """Accumulates rows into Arrow batches of at most ``size`` rows."""

    def __init__(self, columns: dict[int, str], sheet: str, size: int) -> None:
        self.columns = columns
        self.sheet = sheet
        self.size = size
        self.rows: list[int] = []
        self.values: dict[str, list[str | None]] = {f: [] for f in columns.values()}

    def add(self, row_number: int, cells: Sequence[str | None]) -> pa.RecordBatch | None:
        self.rows.append(row_number)
        width = len(cells)
        for position, name in self.columns.items():
            self.values[name].append(cells[position] if position < width else None)
        return self.flush() if len(self.rows) >= self.size else None

    def flush(self) -> pa.RecordBatch | None:
        if not self.rows:
            return None
        arrays = [pa.array(self.rows, pa.int64()), pa.array([self.sheet] * len(self.rows), pa.string())]
        arrays += [pa.array(v, pa.string()) for v in self.values.values()]
        batch = pa.RecordBatch.from_arrays(arrays, names=["_row_number", "_sheet", *self.values])
        self.rows = []
        self.values = {f: [] for f in self.values}
        return batch


def _batches(
    rows: Iterator[tuple[int, Sequence[str | None]]],
    read: FileRead,
    size: int,
) -> Iterator[pa.RecordBatch]:
    builder = _BatchBuilder(read.columns, read.sheet, size)
    pending_skips: list[int] = []
    for row_number, cells in rows:
        if _is_skippable(cells):
            pending_skips.append(row_number)
            continue
        # A blank or 合计 row followed by data is still recorded as skipped (it holds no record).
        read.skipped_rows.extend(pending_skips)
        pending_skips = []
        batch = builder.add(row_number, cells)
        if batch is not None:
            yield batch
    read.skipped_rows.extend(pending_skips)
    last = builder.flush()
    if last is not None:
        yield last


def read_csv(
    path: Path, *, encoding: str | None = None, batch_rows: int = 50_000, source_id: str | None = None
) -> FileRead:
    """Open a CSV export: detect its encoding, find its header, stream its rows."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise UnreadableFile("the file is empty", source_id=source_id, path=str(path), fix="re-export the data")
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile(
            "the file holds binary data, not CSV text",
            source_id=source_id,
            path=str(path),
            fix="export as CSV (逗号分隔) or XLSX",
        )
    chosen = encoding or detect_encoding(sample)
    text = io.TextIOWrapper(path.open("rb"), encoding=chosen, newline="")
    reader = csv.reader(text)
    try:
        head = [[c or None for c in row] for _, row in zip(range(HEADER_SCAN_ROWS), reader, strict=False)]
    except UnicodeDecodeError as exc:
        text.close()
        raise UnreadableFile(
            f"cannot decode as {chosen}: {exc.reason} at byte {exc.start}",
            source_id=source_id,
            path=str(path),
            fix="save the file as UTF-8 or GBK, or set the source's encoding",
        ) from exc
    header_at = find_header(head, path, source_id)
    columns, unknown = map_header(head[header_at])

    def rows() -> Iterator[tuple[int, Sequence[str | None]]]:
        number = len(head)
        try:
            yield from enumerate(head[header_at + 1 :], start=header_at + 2)
            for record in reader:
                number += 1
                yield number, [c or None for c in record]
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"cannot decode as {chosen} after row {number}: {exc.reason}",
                source_id=source_id,
                path=str(path),
                fix="save the whole file in one encoding (UTF-8 or GBK)",
            ) from exc
        finally:
            text.close()

    read = FileRead(path, "", header_at + 1, columns, unknown, chosen, iter(()))
    read.batches = _batches(rows(), read, batch_rows)
    return read


def read_workbook(path: Path, *, batch_rows: int = 50_000, source_id: str | None = None) -> FileRead:
    """Open an XLSX/XLS export: the first sheet with a recognisable header row."""
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise UnreadableFile(
            f"not a readable Excel workbook: {exc}",
            source_id=source_id,
            path=str(path),
            fix="re-export the workbook from Excel or WPS",
        ) from exc
    last_error: HeaderMismatch | None = None
    for name in workbook.sheet_names:
        sheet = workbook.get_sheet_by_name(name)
        start_row = sheet.start[0] if sheet.start else 0
        rows_iter = iter(sheet.iter_rows())
        head = [[cell_text(c) for c in row] for _, row in zip(range(HEADER_SCAN_ROWS), rows_iter, strict=False)]
        try:
            header_at = find_header(head, path, source_id)
        except HeaderMismatch as exc:
            last_error = exc
            continue
        columns, unknown = map_header(head[header_at])

        def rows(
            head: list[list[str | None]] = head,
            header_at: int = header_at,
            rows_iter: Iterator[list[Any]] = rows_iter,
            start_row: int = start_row,
        ) -> Iterator[tuple[int, Sequence[str | None]]]:
            for i, row in enumerate(head[header_at + 1 :], start=start_row + header_at + 2):
                yield i, row
            for i, raw in enumerate(rows_iter, start=start_row + len(head) + 1):
                yield i, [cell_text(c) for c in raw]

        read = FileRead(path, name, start_row + header_at + 1, columns, unknown, None, iter(()))
        read.batches = _batches(rows(), read, batch_rows)
        return read
    raise last_error or UnreadableFile("the workbook has no sheets", source_id=source_id, path=str(path))


def open_export(
    path: Path, *, batch_rows: int = 50_000, encoding: str | None = None, source_id: str | None = None
) -> FileRead:
    """Open a CSV or Excel export by its extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, encoding=encoding, batch_rows=batch_rows, source_id=source_id)
    if suffix in (".xlsx", ".xls"):
        return read_workbook(path, batch_rows=batch_rows, source_id=source_id)
    raise UnreadableFile(
        f"unsupported extension {suffix!r}", source_id=source_id, path=str(path), fix="send CSV, XLSX or XLS"
    )
