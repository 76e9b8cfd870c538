"""Wild dialects (``tierhub generate --dialects wild``): exports as offices really save them.

The plain generator writes CSV in UTF-8/GBK with commas and XLSX ledgers. Real street offices
also send what Excel and WPS write on 另存为 / 导出, and type values their own way. In wild mode
each text export of the city is rewritten in one dialect (its own random stream per file, so the
plain city's draws are untouched), with its ground truth in ``dialects.csv`` and ``onboarding.csv``:

- **Files**: Excel's "Unicode 文本" (UTF-16LE with BOM, tab-separated, ``.txt``), the same under a
  数据透视 title band, GBK CSV with commas or semicolons, WPS's UTF-8-with-BOM CSV with pipes, and
  WPS "导出为 Excel" (tab-separated UTF-16 text named ``.xls``); some with a 序号 column and a
  合计 line below the rows.
- **Headers**: any header of ``field_dictionary.csv`` (the plain generator already draws them),
  with full-width brackets as a Chinese IME types them.
- **Values**: per file and column one spelling of each code that the shipped tables know (第5档 /
  五档 / 5, 男性 / 1, 低保户 / 低保家庭人员 …), dates as 2026年11月4日 or 2026.11.04, contact
  numbers given as Tianjin landlines (022-2345 6789, (022)23456789, 23456789, …转123) where the
  field takes a contact number, and digits typed full-width.
- **Onboarding**: a few rows name a code in a spelling no shipped table knows (协商解除 for
  解除劳动合同, …). They are held as ``CODE_UNKNOWN`` until a data engineer maps the spelling
  (``<home>/aliases/codes.yaml``) and runs ``tierhub rejudge``; ``onboarding.csv`` lists each
  such row with the alias that fixes it.

Every transformation keeps a row's verdict: a clean row stays clean (only spellings the
validator accepts), a defective row keeps its defect (``manifest.csv``), and row numbers in the
ground truth follow the title rows added above the header.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tierhub.reference import shipped_code_tables
from tierhub.standards import StandardVersion
from tierhub.synth.writers import Cell

DIALECTS_FILE = "dialects.csv"
ONBOARDING_FILE = "onboarding.csv"
WILD = "wild"
PLAIN = "plain"
DIALECT_MODES = (PLAIN, WILD)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one office saves an export."""

    name: str
    extension: str
    encoding: str  # utf-16le-bom | gbk | utf-8-bom
    delimiter: str
    title_rows: int  # rows above the header (a 数据透视 title band)
    serial_column: bool  # a 序号 column first
    total_row: bool  # a 合计 line below the rows


DIALECTS: tuple[Dialect, ...] = (
    Dialect("excel_unicode_text", ".txt", "utf-16le-bom", "\t", 0, False, False),
    Dialect("excel_unicode_text_pivot", ".txt", "utf-16le-bom", "\t", 2, True, True),
    Dialect("excel_gbk_csv", ".csv", "gbk", ",", 0, True, False),
    Dialect("excel_gbk_semicolon", ".csv", "gbk", ";", 1, False, False),
    Dialect("wps_utf8_bom_pipe", ".csv", "utf-8-bom", "|", 0, False, True),
    Dialect("wps_export_as_xls", ".xls", "utf-16le-bom", "\t", 1, True, False),
)
BY_NAME = {d.name: d for d in DIALECTS}

# Spellings no shipped table knows, as offices write them, with the code they mean:
# (code table, text, code). The demo and the scoring test map them as a data engineer would.
ONBOARDING_SPELLINGS: tuple[tuple[str, str, str], ...] = (
    ("local_unemployment_reason", "协商解除", "1"),
    ("local_unemployment_reason", "劳动合同终止", "2"),
    ("local_unemployment_reason", "个人原因离职", "5"),
)
ONBOARDING_SHARE = 0.35  # of the clean rows of a file whose item has such a field
LANDLINE_SHARE = 0.4  # of the clean rows' contact numbers
FULL_WIDTH_SHARE = 0.3  # of the files: one column's digits typed full-width
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_STYLES = ("{y}年{m}月{d}日", "{y}.{m:02d}.{d:02d}", "{y}/{m}/{d}", "{y}{m:02d}{d:02d}")


def wild_rng(seed: int, source_code: str, item_code: str) -> random.Random:
    """The random stream of one wild file (apart from the plain generator's, which stays as it was)."""
    return random.Random(f"{seed}:{source_code}:{item_code}:wild")


def full_width(text: str) -> str:
    """ASCII digits and letters as a Chinese IME types them full-width (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def _date_text(cell: Cell, style: str) -> Cell:
    day: dt.date | None = None
    if isinstance(cell, dt.date):
        day = cell
    elif isinstance(cell, str) and (m := _ISO.fullmatch(cell)):
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    return style.format(y=day.year, m=day.month, d=day.day) if day is not None else cell


def _landline(rng: random.Random) -> str:
    number = f"{rng.randint(2, 9)}{rng.randint(0, 9_999_999):07d}"
    style = rng.randrange(5)
    if style == 0:
        return f"022-{number}"
    if style == 1:
        return f"(022){number}"
    if style == 2:
        return number
    if style == 3:
        return f"022 {number[:4]} {number[4:]}"
    return f"022-{number}转{rng.randint(100, 899)}"


def _spelling_map(rng: random.Random, table: str) -> dict[str, str]:
    """One accepted spelling per code of ``table`` for this file: folded text → text written."""
    known = shipped_code_tables()[table]
    by_code: dict[str, list[str]] = {}
    for label, code in sorted(known.lookup.items()):
        by_code.setdefault(code, []).append(label)
    chosen = {code: rng.choice(labels) for code, labels in by_code.items()}
    return {label: chosen[code] for label, code in known.lookup.items()}


def wild_cells(
    rng: random.Random,
    version: StandardVersion,
    order: Sequence[str],
    cells: list[list[Cell]],
    clean: Sequence[bool],
    defect_fields: Sequence[str | None],
) -> list[tuple[int, str, str, str, str]]:
    """Rewrite ``cells`` (rows × ``order``) in place as one office types them; the onboarding rows.

    ``clean``: rows that may take a spelling needing an alias (no defect, no injected situation);
    ``defect_fields``: the field each row's defect is in. Returns ``(row index, field, table, text,
    code)`` per onboarding row. Code spellings are per file and column (a copied duplicate keeps its key).
    """
    onboarding: list[tuple[int, str, str, str, str]] = []
    tables = shipped_code_tables()
    for column, field in enumerate(order):
        rule = version.field(field)
        if rule is None:
            continue
        if rule.code_table and not rule.multiple and rule.code_table in tables:
            spelling = _spelling_map(rng, rule.code_table)
            # Never in a duplicate key: a copied row must keep the text of the row it copies.
            spellings = [s for s in ONBOARDING_SPELLINGS if s[0] == rule.code_table]
            spellings = [] if field in version.duplicate_key else spellings
            for index, row in enumerate(cells):
                text = row[column]
                if not isinstance(text, str):
                    continue
                key = tables[rule.code_table].resolve(text)
                if key is None:
                    continue  # an injected unknown code stays unknown
                if spellings and clean[index] and rng.random() < ONBOARDING_SHARE:
                    table, new, code = rng.choice(spellings)
                    row[column] = new
                    onboarding.append((index, field, table, new, code))
                    continue
                folded = re.sub(r"\s", "", text).lower()
                row[column] = spelling.get(folded, text)
        elif rule.type == "date":
            style = rng.choice(_DATE_STYLES)
            for row in cells:
                row[column] = _date_text(row[column], style)
        elif rule.check == "contact_phone":
            for index, row in enumerate(cells):
                if defect_fields[index] != field and row[column] is not None and rng.random() < LANDLINE_SHARE:
                    row[column] = _landline(rng)
    candidates = [i for i, f in enumerate(order) if f in ("id_number", "mobile_phone", "contact_phone")]
    if candidates and rng.random() < FULL_WIDTH_SHARE:
        column = rng.choice(candidates)
        for row in cells:
            if isinstance(row[column], str):
                row[column] = full_width(str(row[column]))
    return onboarding


def _header_text(rng: random.Random, label: str) -> str:
    return label.replace("(", "（").replace(")", "）") if rng.random() < 0.5 else label


def _encode(text: str, encoding: str) -> tuple[bytes, str]:
    if encoding == "utf-16le-bom":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le"), encoding
    if encoding == "gbk":
        try:
            return text.encode("gbk"), encoding
        except UnicodeEncodeError:  # a rare character GBK lacks: the office saves as UTF-8 instead
            pass
    return codecs.BOM_UTF8 + text.encode("utf-8"), "utf-8-bom"


def _cell_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell)


def write_wild(
    folder: Path,
    stem: str,
    title: str,
    header: Sequence[str],
    cells: list[list[Cell]],
    rng: random.Random,
    *,
    dialect: Dialect | None = None,
) -> tuple[Path, Dialect, str, int]:
    """Write one export in ``dialect`` (else one drawn from ``rng``): (path, dialect, encoding written, first row)."""
    dialect = dialect or rng.choice(DIALECTS)
    width = len(header) + dialect.serial_column
    day = re.search(r"_(\d{4})(\d{2})(\d{2})", stem)
    filled = f"填报日期：{day[1]}年{day[2]}月{day[3]}日" if day else "填报单位：劳动保障服务中心"
    band = [[title] + [""] * (width - 1), [filled] + [""] * (width - 1)]
    lines: list[list[str]] = band[: dialect.title_rows]
    labels = [_header_text(rng, h) for h in header]
    lines.append(["序号", *labels] if dialect.serial_column else labels)
    for number, row in enumerate(cells, 1):
        texts = [_cell_text(c) for c in row]
        lines.append([str(number), *texts] if dialect.serial_column else texts)
    if dialect.total_row:
        lines.append(["合计", f"{len(cells)}人"] + [""] * (width - 2))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n").writerows(lines)
    data, encoding = _encode(buffer.getvalue(), dialect.encoding)
    path = folder / f"{stem}{dialect.extension}"
    path.write_bytes(data)
    return path, dialect, encoding, dialect.title_rows + 2


def write_dialect_truth(
    out: Path, files: list[tuple[str, str, str, str, int]], onboarding: list[tuple[str, int, str, str, str, str]]
) -> None:
    """``dialects.csv`` (file, dialect, encoding, delimiter, first data row) and ``onboarding.csv``."""
    with (out / DIALECTS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "dialect", "encoding", "delimiter", "first_row"])
        writer.writerows(files)
    with (out / ONBOARDING_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "row_number", "field", "table", "text", "code"])
        writer.writerows(onboarding)


def read_onboarding(out: Path) -> list[tuple[str, int, str, str, str, str]]:
    """The rows of a wild city held until an alias is mapped: (file, row, field, table, text, code)."""
    path = out / ONBOARDING_FILE
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (r["file"], int(r["row_number"]), r["field"], r["table"], r["text"], r["code"])
            for r in csv.DictReader(handle)
        ]


class WildWriter:
    """Writes a city's text exports in wild dialects and collects their ground truth (``generate_city``'s hook)."""

    def __init__(self, seed: int, drops: Path) -> None:
        self.seed = seed
        self.drops = drops
        self.files: list[tuple[str, str, str, str, int]] = []
        self.onboarding: list[tuple[str, int, str, str, str, str]] = []

    def write(
        self,
        path: Path,
        street_name: str,
        version: StandardVersion,
        order: Sequence[str],
        header: Sequence[str],
        cells: list[list[Cell]],
        defects: Sequence[str | None],
        protected: int,
    ) -> tuple[Path, int, str, str]:
        """Write the export ``path`` names (its extension replaced) in a wild dialect.

        ``defects``: per row the field of its injected defect, ``""`` for a defect with no field, or
        None; the first ``protected`` rows (injected situations) take no onboarding spelling.
        Returns (path written, first data row, format, encoding).
        """
        source_code, item_name = path.parent.name, path.stem.split("_", 1)[0]
        rng = wild_rng(self.seed, source_code, path.stem)
        clean = [d is None and i >= protected for i, d in enumerate(defects)]
        onboarding = wild_cells(rng, version, order, cells, clean, defects)
        title = f"{street_name}{item_name}统计表（数据透视）"
        written, dialect, encoding, first_row = write_wild(path.parent, path.stem, title, header, cells, rng)
        relative = written.relative_to(self.drops).as_posix()
        self.files.append((relative, dialect.name, encoding, repr(dialect.delimiter), first_row))
        self.onboarding += [(relative, first_row + i, f, t, text, c) for i, f, t, text, c in onboarding]
        return written, first_row, dialect.extension.lstrip("."), encoding

    def finish(self, out: Path) -> None:
        """Write ``dialects.csv`` and ``onboarding.csv`` beside the manifest."""
        write_dialect_truth(out, self.files, self.onboarding)
