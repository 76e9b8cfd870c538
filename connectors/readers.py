"""Read CSV and Excel exports into bounded Arrow batches of raw cell text.

Each batch has ``_row_number`` (the row as a spreadsheet shows it, 1-based), ``_sheet``
and one string column per recognised canonical field, holding the cell exactly as read
(numbers rendered as Excel displays them, so an ID stored as a number shows up as
``1.20101199001011E+17`` and is caught as damaged, never silently "repaired").

Headers are found below title rows and may span rows: a group row of merged cells
(个人信息 over 姓名/公民身份号码) above the column labels, with some labels (序号, 备注)
merged down over both rows. In Excel data, a value merged down over several rows applies to
each of them; a value merged across columns stays in its first column.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from tierhub.errors import DuplicateHeaders, HeaderMismatch, UnreadableFile
from tierhub.reference import field_dictionary, header_index, normalise_label

HEADER_SCAN_ROWS = 20
MIN_KNOWN_HEADERS = 2
HEADER_BAND_ROWS = 3  # a header spans at most this many rows: group rows above the labels
SAMPLE_BYTES = 256 * 1024
TOTAL_MARKERS = ("合计", "小计", "总计")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Delimiters of the text exports offices write: comma (CSV), tab (Excel/WPS 另存为 → Unicode 文本 or
# 文本文件(制表符分隔)), semicolon (CSV from European-locale Excel), pipe (system dumps). Comma wins ties.
DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
DUPLICATE_MARK = "⇒"

Cell = str | int | float | bool | dt.date | dt.datetime | dt.time | dt.timedelta | None


@dataclass
class FileRead:
    """A file being read: what was found about it, and its batches (consumed once)."""

    path: Path
    sheet: str
    header_row: int  # 1-based; the header's last row when it spans several
    columns: dict[int, str]  # column position → canonical field
    unknown_headers: list[str]
    encoding: str | None
    batches: Iterator[pa.RecordBatch]
    skipped_rows: list[int] = field(default_factory=list)  # blank and 合计/小计 rows
    delimiter: str | None = None  # text exports only
    headers: list[str | None] = field(default_factory=list)  # the header's label per column, as written

    @property
    def fields(self) -> frozenset[str]:
        """The canonical fields this export carries a column for."""
        return frozenset(self.columns.values())


def _looks_utf16(sample: bytes) -> str | None:
    """UTF-16 without a BOM: most odd (LE) or even (BE) bytes of ASCII-heavy text are NUL."""
    head = sample[:4096]
    if len(head) < 4:
        return None
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > len(head) // 4 and even == 0:
        return "utf-16-le"
    if even > len(head) // 4 and odd == 0:
        return "utf-16-be"
    return None


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text export: a BOM if present, UTF-16 by its NUL bytes, else UTF-8 if
    it decodes, else GB18030 (a superset of GBK and GB2312, what Chinese Excel and WPS write)."""
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    utf16 = _looks_utf16(sample)
    if utf16:
        return utf16
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


def detect_delimiter(lines: Sequence[str]) -> str:
    """The delimiter of a text export from its first lines (decoded).

    The candidate whose split names the most known header fields wins; without a known
    header, the one splitting most lines into the same number (> 1) of cells; comma on a tie.
    """
    best: tuple[int, int, int] | None = None
    chosen = ","
    index = header_index()
    # Every delimiter absent from the lines splits them alike (one cell per line, quotes
    # handled the same): the first absent one is scored, the others reuse its figures.
    absent: tuple[int, int] | None = None
    for rank, delimiter in enumerate(DELIMITERS):
        missing = not any(delimiter in line for line in lines)
        if missing and absent is not None:
            known, shape = absent
        else:
            rows = list(csv.reader(lines, delimiter=delimiter))
            # Most rows hold no known label at all (data, titles): each cell is folded once.
            known = max((_known_fields(_fields_of(row, index)) for row in rows[:HEADER_SCAN_ROWS]), default=0)
            widths = [len(r) for r in rows if len(r) > 1]
            modal = max(set(widths), key=widths.count) if widths else 1
            shape = widths.count(modal) * (modal - 1)
            if missing:
                absent = (known, shape)
        score = (known, shape, -rank)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _fields_of(cells: Sequence[str | None], index: dict[str, str]) -> list[str | None]:
    """The field each cell's text names (None: blank or not a known label)."""
    return [index.get(normalise_label(c)) if c else None for c in cells]


def _known_fields(fields: Sequence[str | None]) -> int:
    """How many fields a header row maps: those named by exactly one column (as ``map_header``)."""
    counts: dict[str, int] = {}
    for f in fields:
        if f is not None:
            counts[f] = counts.get(f, 0) + 1
    return sum(1 for n in counts.values() if n == 1)


def map_header(cells: Sequence[str | None]) -> tuple[dict[int, str], list[str]]:
    """Known columns (position → field) and the unknown header texts of a header row.

    Two columns naming one field (联系电话 and 手机号码) are both left out — which one holds the
    record's value is a guess — and reported as unknown, marked ``header ⇒ field``.
    """
    index = header_index()
    columns: dict[int, str] = {}
    unknown: list[str] = []
    seen: dict[str, list[int]] = {}
    for position, text in enumerate(cells):
        if text is None or not text.strip():
            continue
        canonical = index.get(normalise_label(text))
        if canonical is None:
            unknown.append(text.strip())
        else:
            seen.setdefault(canonical, []).append(position)
    for canonical, positions in seen.items():
        if len(positions) == 1:
            columns[positions[0]] = canonical
        else:
            unknown.extend(f"{str(cells[p]).strip()} {DUPLICATE_MARK} {canonical}" for p in positions)
    return dict(sorted(columns.items())), unknown


def duplicate_headers(unknown: Sequence[str]) -> dict[str, list[str]]:
    """Field → the header texts that named it twice or more (from ``map_header``'s unknown list)."""
    found: dict[str, list[str]] = {}
    for text in unknown:
        if f" {DUPLICATE_MARK} " in text:
            header, canonical = text.rsplit(f" {DUPLICATE_MARK} ", 1)
            found.setdefault(canonical, []).append(header)
    return found


def column_letter(position: int) -> str:
    """A 0-based column position as a spreadsheet shows it: 0 → A, 26 → AA."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def refuse_duplicate_headers(
    labels: Sequence[str | None], path: Path, source_id: str | None, first_column: int = 0
) -> None:
    """Raise ``DuplicateHeaders`` if two columns of the header name one field, saying which columns.

    Taking either would be a guess (联系电话 and 手机号码 both name mobile_phone), taking neither
    would drop a value the street sent: the file is refused until one of them is renamed.
    """
    index = header_index()
    seen: dict[str, list[int]] = {}
    for position, text in enumerate(labels):
        canonical = index.get(normalise_label(text)) if text and text.strip() else None
        if canonical is not None:
            seen.setdefault(canonical, []).append(position)
    twice = {f: p for f, p in seen.items() if len(p) > 1}
    if not twice:
        return
    described = {
        f: [f"{str(labels[p]).strip()} (column {column_letter(p + first_column)})" for p in positions]
        for f, positions in twice.items()
    }
    fields = field_dictionary()
    problem = "; ".join(f"{' and '.join(d)} name {f} ({fields[f].zh_header})" for f, d in described.items())
    zh = "；".join(
        "、".join(f"{str(labels[p]).strip()}（{column_letter(p + first_column)}列）" for p in positions)
        + f"都是“{fields[f].zh_header}”"
        for f, positions in twice.items()
    )
    raise DuplicateHeaders(
        f"two columns name one field, so neither can be taken: {problem} (表头有两列对应同一字段：{zh})",
        duplicates=described,
        source_id=source_id,
        path=str(path),
        fix="keep one of the columns, or rename the other to a header that names no field, and re-export "
        "(保留其中一列，或将另一列改为其他列名后重新导出)",
    )


def header_labels(band: Sequence[Sequence[str | None]]) -> list[str | None]:
    """One label per column of a header spanning ``band``'s rows.

    Bottom-up, the first text that names a known field, else the lowest text: the labels row
    beats the group row above it, and a label merged down over the band (its text only in the
    top row) still counts.
    """
    index = header_index()
    labels: list[str | None] = []
    for column in range(max((len(row) for row in band), default=0)):
        texts = [t for row in reversed(band) if column < len(row) and (t := row[column]) is not None and t.strip()]
        known = [t for t in texts if normalise_label(t) in index]
        labels.append(known[0] if known else texts[0] if texts else None)
    return labels


def find_header(
    rows: Sequence[Sequence[str | None]], path: Path, source_id: str | None
) -> tuple[int, list[str | None]]:
    """The header among the top rows: the index of its last row, and its label per column.

    The header is the band of up to ``HEADER_BAND_ROWS`` rows naming the most known fields;
    on a tie the one ending first, then the one with fewer rows. So a title above the header
    never counts, and a group row (merged cells) joins the labels below it only when it adds
    a field of its own.
    """
    top = rows[:HEADER_SCAN_ROWS]
    index = header_index()
    # Each cell of the top rows is folded and looked up once (not once per band it falls in):
    # a band's label per column is, bottom-up, the first cell naming a field (``header_labels``),
    # so a band's count of known fields follows from these lookups alone.
    fields = [_fields_of(row, index) for row in top]
    # A band none of whose rows holds a known label names no field: most bands are data rows.
    labelled = [any(f is not None for f in row) for row in fields]
    best: tuple[int, int, int] | None = None  # (known fields, -last row, -rows in band)
    for last in range(len(top)):
        for first in range(last, max(-1, last - HEADER_BAND_ROWS), -1):
            if not any(labelled[first : last + 1]):
                continue
            band = fields[first : last + 1]
            width = max(len(row) for row in band)
            per_column = [
                next((row[c] for row in reversed(band) if c < len(row) and row[c] is not None), None)
                for c in range(width)
            ]
            known = _known_fields(per_column)
            rank = (known, -last, first - last)
            if known >= MIN_KNOWN_HEADERS and (best is None or rank > best):
                best = rank
    if best is not None:
        last, first = -best[1], -best[1] + best[2]
        return last, header_labels(top[first : last + 1])
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
    """A blank row, or one whose first text is a 合计/小计/总计 marker."""
    for cell in cells:
        if cell is not None and (text := cell.strip()):
            return text.replace(" ", "").startswith(TOTAL_MARKERS)
    return True


class _BatchBuilder:
    """Accumulates rows into Arrow batches of at most ``size`` rows.

    Each row keeps only its known columns' cells (one ``itemgetter`` call); a flush turns
    them column-wise with ``zip`` and makes each column one Arrow array, with empty text as null.
    """

    def __init__(self, columns: dict[int, str], sheet: str, size: int) -> None:
        self.names = list(columns.values())
        self.width = max(columns, default=-1) + 1
        positions = list(columns)
        # itemgetter of one position returns the cell itself, not a 1-tuple.
        take = operator.itemgetter(*positions) if positions else (lambda cells: ())
        self.take: Callable[[Sequence[str | None]], Any] = (
            take if len(positions) != 1 else (lambda cells: (cells[positions[0]],))
        )
        self.sheet = sheet
        self.size = size
        self.rows: list[int] = []
        self.picked: list[Sequence[str | None]] = []

    def add(self, row_number: int, cells: Sequence[str | None]) -> pa.RecordBatch | None:
        self.rows.append(row_number)
        if len(cells) < self.width:  # a short row: its missing cells are empty
            cells = [*cells, *([None] * (self.width - len(cells)))]
        self.picked.append(self.take(cells))
        return self.flush() if len(self.rows) >= self.size else None

    def flush(self) -> pa.RecordBatch | None:
        if not self.rows:
            return None
        n = len(self.rows)
        arrays = [pa.array(self.rows, pa.int64()), pa.repeat(pa.scalar(self.sheet, pa.string()), n)]
        for values in zip(*self.picked, strict=True) if self.names else ():
            arrays.append(pa.array([v or None for v in values], pa.string()))
        batch = pa.RecordBatch.from_arrays(arrays, names=["_row_number", "_sheet", *self.names])
        self.rows, self.picked = [], []
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
    utf16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(sample) is not None
    if b"\x00" in sample and not utf16:
        raise UnreadableFile(
            "the file holds binary data, not CSV text",
            source_id=source_id,
            path=str(path),
            fix="export as CSV (逗号分隔) or XLSX",
        )
    chosen = encoding or detect_encoding(sample)
    try:
        lines = codecs.getincrementaldecoder(chosen)(errors="replace").decode(sample, final=False).splitlines()
    except LookupError as exc:
        raise UnreadableFile(
            f"unknown encoding {chosen!r}", source_id=source_id, path=str(path), fix="set a valid encoding"
        ) from exc
    delimiter = detect_delimiter(lines[: HEADER_SCAN_ROWS + 20])
    text = io.TextIOWrapper(path.open("rb"), encoding=chosen, newline="")
    reader = csv.reader(text, delimiter=delimiter)
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
    try:
        header_at, headers = find_header(head, path, source_id)
        refuse_duplicate_headers(headers, path, source_id)
    except HeaderMismatch:
        text.close()
        raise
    columns, unknown = map_header(headers)

    def rows() -> Iterator[tuple[int, Sequence[str | None]]]:
        number = len(head)
        try:
            yield from enumerate(head[header_at + 1 :], start=header_at + 2)
            for record in reader:
                number += 1
                yield number, record  # empty cells become null in the batch builder
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"cannot decode as {chosen} after row {number}: {exc.reason}",
                source_id=source_id,
                path=str(path),
                fix="save the whole file in one encoding (UTF-8 or GBK)",
            ) from exc
        finally:
            text.close()

    read = FileRead(path, "", header_at + 1, columns, unknown, chosen, iter(()), delimiter=delimiter, headers=headers)
    read.batches = _batches(rows(), read, batch_rows)
    return read


def _merged_down(
    ranges: Sequence[tuple[tuple[int, int], tuple[int, int]]], header_at: int, first_column: int
) -> dict[int, list[tuple[int, int]]]:
    """Merged cells below the header spanning rows, by 1-based first row: (column, last row)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for (top, left), (bottom, _right) in ranges:
        if top > header_at and bottom > top:
            spans.setdefault(top + 1, []).append((left - first_column, bottom + 1))
    return spans


def _fill_merged_down(
    rows: Iterator[tuple[int, list[str | None]]], merged_down: dict[int, list[tuple[int, int]]]
) -> Iterator[tuple[int, Sequence[str | None]]]:
    """Copy each value merged down over rows into the rows below its cell.

    A row with nothing of its own stays empty (and is skipped as blank).
    """
    carried: dict[int, tuple[str | None, int]] = {}  # column → (value, last row of the merge)
    for number, cells in rows:
        if any(cells):
            for column, (value, last) in carried.items():
                if number <= last and column < len(cells) and cells[column] is None:
                    cells[column] = value
        for column, last in merged_down.get(number, ()):
            if column < len(cells):
                carried[column] = (cells[column], last)
        yield number, cells


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
        # iter_rows pads the empty rows above the data (row i is the sheet's row i + 1) but
        # starts at the first used column.
        first_column = sheet.start[1] if sheet.start else 0
        rows_iter = iter(sheet.iter_rows())
        head = [[cell_text(c) for c in row] for _, row in zip(range(HEADER_SCAN_ROWS), rows_iter, strict=False)]
        try:
            header_at, labels = find_header(head, path, source_id)
        except HeaderMismatch as exc:
            last_error = exc
            continue
        refuse_duplicate_headers(labels, path, source_id, first_column)
        columns, unknown = map_header(labels)
        merged_down = _merged_down(sheet.merged_cell_ranges or [], header_at, first_column)

        def rows(
            head: list[list[str | None]] = head,
            header_at: int = header_at,
            rows_iter: Iterator[list[Any]] = rows_iter,
            merged_down: dict[int, list[tuple[int, int]]] = merged_down,
        ) -> Iterator[tuple[int, Sequence[str | None]]]:
            data = itertools.chain(head[header_at + 1 :], ([cell_text(c) for c in raw] for raw in rows_iter))
            yield from _fill_merged_down(enumerate(data, start=header_at + 2), merged_down)

        read = FileRead(path, name, header_at + 1, columns, unknown, None, iter(()), headers=labels)
        read.batches = _batches(rows(), read, batch_rows)
        return read
    raise last_error or UnreadableFile("the workbook has no sheets", source_id=source_id, path=str(path))


WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # XLSX (zip), XLS (OLE2)


def _is_text_posing_as_workbook(path: Path) -> bool:
    """An .xls/.xlsx that is really delimited text (no zip or OLE2 signature, no NUL outside UTF-16)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head or head.startswith(WORKBOOK_MAGIC) or head.lstrip().startswith(b"<"):
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(head):
        return True
    return b"\x00" not in head and (b"\t" in head or b"," in head)


def open_export(
    path: Path, *, batch_rows: int = 50_000, encoding: str | None = None, source_id: str | None = None
) -> FileRead:
    """Open a CSV or Excel export by its extension."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_csv(path, encoding=encoding, batch_rows=batch_rows, source_id=source_id)
    if suffix in (".xlsx", ".xls"):
        if _is_text_posing_as_workbook(path):
            # Old systems and WPS "导出为 Excel" often write tab-separated text named .xls.
            return read_csv(path, encoding=encoding, batch_rows=batch_rows, source_id=source_id)
        return read_workbook(path, batch_rows=batch_rows, source_id=source_id)
    raise UnreadableFile(
        f"unsupported extension {suffix!r}",
        source_id=source_id,
        path=str(path),
        fix="send CSV, TXT (Unicode 文本), XLSX or XLS",
    )
