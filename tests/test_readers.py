"""Readers on real-looking exports: encodings, title rows, Excel damage, bad files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from tierhub.errors import HeaderMismatch, UnreadableFile, UnsupportedFile

SAMPLES = Path(__file__).parent / "samples"


def read_all(path: Path) -> tuple[pa.Table, object]:
    read = open_export(path, batch_rows=1_000)
    return pa.Table.from_batches(list(read.batches)), read


@pytest.mark.parametrize(
    ("name", "encoding"),
    [("utf8", "utf-8"), ("bom", "utf-8-sig"), ("gbk", "gb18030"), ("utf16", "utf-16")],
)
def test_csv_in_every_encoding_reads_the_same(name: str, encoding: str) -> None:
    table, read = read_all(SAMPLES / f"失业登记_120101001000_20261127_{name}.csv")
    assert read.encoding == encoding  # type: ignore[attr-defined]
    assert table.column("name").to_pylist() == ["张伟", "阿依古丽·买买提"]
    assert table.column("id_number").to_pylist() == ["120101198001010014", "11010519491231002x"]
    assert table.column("_row_number").to_pylist() == [2, 3]
    assert read.unknown_headers == ["备用栏"]  # type: ignore[attr-defined]
    # Raw text is kept as sent: full-width digits are folded later, by the standard.
    assert table.column("mobile_phone").to_pylist()[1] == "１３９１２３４５６７８"


def test_xlsx_title_rows_numbers_dates_and_total_row() -> None:
    table, read = read_all(SAMPLES / "失业登记_120101001000_20261127.xlsx")
    assert (read.sheet, read.header_row) == ("台账", 3)  # type: ignore[attr-defined]
    [row] = table.to_pylist()
    assert row["_row_number"] == 4
    assert row["id_number"] == "1.2010119800101E+17"  # damaged by Excel, shown as Excel shows it
    assert row["mobile_phone"] == "13812345678"
    assert row["registration_date"] == "2026-11-02"
    assert row["handled_at"] == "46330"  # a serial number: the standard parses it as a date
    assert read.skipped_rows == [5, 6]  # type: ignore[attr-defined]


def test_batches_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "失业登记_120101001000_20261127.csv"
    path.write_text("姓名,身份证号\n" + "".join(f"人{i},{i}\n" for i in range(2_500)), encoding="utf-8")
    sizes = [b.num_rows for b in open_export(path, batch_rows=1_000).batches]
    assert sizes == [1_000, 1_000, 500]


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("empty.csv", UnreadableFile, "empty"),
        ("garbage.csv", UnreadableFile, "binary"),
        ("no_known_headers.csv", HeaderMismatch, "甲、乙、丙"),
    ],
)
def test_bad_files_raise_errors_naming_the_file(name: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        open_export(SAMPLES / name, source_id="120101001000")
    message = str(caught.value)
    assert words in message and name in message and "120101001000" in message


def test_corrupt_workbook(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnreadableFile, match="not a readable Excel workbook"):
        open_export(path)


@pytest.mark.parametrize(
    ("filename", "item", "source"),
    [
        ("失业登记_120101001000_20261127.csv", "失业登记", "120101001000"),
        ("JY02_120101001001_20261127.XLSX", "JY02", "120101001001"),
        ("城乡居民养老保险参保登记_120117115209_20261127_第2批.xls", "城乡居民养老保险参保登记", "120117115209"),
    ],
)
def test_drop_names(filename: str, item: str, source: str) -> None:
    name = parse_drop_name(filename)
    assert (name.item, name.source_code) == (item, source)


@pytest.mark.parametrize(
    "filename",
    [
        "失业登记.csv",
        "失业登记_1201_20261127.csv",
        "失业登记_120101001000_20261327.csv",
        "失业登记_120101001000_20261127.pdf",
    ],
)
def test_bad_drop_names(filename: str) -> None:
    with pytest.raises(UnsupportedFile, match="120101001001"):
        parse_drop_name(filename)
