"""Export file names: ``<item>_<12-digit source code>_<YYYYMMDD>.<ext>``.

``<item>`` is a service item's Chinese name, alias or code (e.g. ``失业登记`` or ``JY02``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from tierhub.errors import UnsupportedFile

# .txt/.tsv: Excel/WPS 另存为 → Unicode 文本 (UTF-16, tab-separated) or 文本文件(制表符分隔).
EXTENSIONS = (".csv", ".txt", ".tsv", ".xlsx", ".xls")
_NAME = re.compile(r"(?P<item>.+?)_(?P<source>\d{12})_(?P<date>\d{8})(?:_[^.]*)?\.(?P<ext>[A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class DropName:
    """What an export's file name says: item, submitting source, export date, format."""

    item: str
    source_code: str
    export_date: dt.date
    extension: str


def parse_drop_name(filename: str) -> DropName:
    """Parse an export file name, or raise ``UnsupportedFile`` saying what was expected."""
    name = unicodedata.normalize("NFKC", filename)
    match = _NAME.fullmatch(name)
    expected = (
        "expected <事项名称或代码>_<12位区划代码>_<YYYYMMDD>.csv|txt|xlsx|xls, e.g. 失业登记_120101001001_20261127.csv"
    )
    if match is None:
        raise UnsupportedFile(
            f"file name {filename!r} does not follow the export naming rule", path=filename, fix=expected
        )
    ext = "." + match["ext"].lower()
    if ext not in EXTENSIONS:
        raise UnsupportedFile(f"extension {ext!r} is not an export format", path=filename, fix=expected)
    try:
        day = dt.datetime.strptime(match["date"], "%Y%m%d").date()
    except ValueError:
        raise UnsupportedFile(
            f"{match['date']!r} in the file name is not a date", path=filename, fix=expected
        ) from None
    return DropName(item=match["item"], source_code=match["source"], export_date=day, extension=ext)
