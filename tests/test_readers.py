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


SHOWN = ("row_no", "name", "community_code", "registration_date", "handled_at", "documents", "remarks")
MERGED_CASES = [
    pytest.param(
        "失业登记_120101001000_20261128_merged.xlsx",
        ("台账", 4),
        [
            "row_no",
            "name",
            "id_number",
            "sex",
            "mobile_phone",
            "residence_address",
            "community_code",
            "registration_date",
            "documents",
            "remarks",
        ],
        [
            # (row, 序号, 姓名, 所属社区, 登记日期, 提交材料, 备注): the SHOWN fields the file has
            (5, "1", "张伟", "120101001001", "2026-11-02", "身份证、离职证明", None),
            # 所属社区 and 登记日期 merged down; 提交材料 merged across into 备注 stays 提交材料.
            (6, "2", "李娜", "120101001001", "2026-11-02", "身份证、解除劳动合同证明", None),
            (7, "3", "阿依古丽·买买提", "120101001001", "2026-11-05", "社保卡", "补录"),
        ],
        [8],  # the merged 合计 row
        id="group-row-naming-known-fields",
    ),
    pytest.param(
        "失业登记_120117001000_20261128_merged_offset.xlsx",
        ("明细", 4),  # after a notes sheet; the table starts at B2
        ["name", "id_number", "registration_date", "handled_at", "documents", "remarks"],
        [
            # (row, 姓名, 登记日期, 经办日期, 提交材料, 备注)
            (5, "王芳", "2026-11-20", "2026-11-21", "身份证、离职证明", None),
            (6, "赵强", "2026-11-20", "2026-11-21", "身份证", "同一批次"),
            (7, "刘洋", "2026-11-22", "2026-11-21", "身份证", None),
        ],
        [],
        id="labels-merged-down-over-the-header-offset-table",
    ),
]


@pytest.mark.parametrize(("name", "where", "fields", "rows", "skipped"), MERGED_CASES)
def test_merged_title_two_level_header_and_merged_data(
    name: str,
    where: tuple[str, int],
    fields: list[str],
    rows: list[tuple[object, ...]],
    skipped: list[int],
) -> None:
    table, read = read_all(SAMPLES / name)
    assert (read.sheet, read.header_row) == where  # type: ignore[attr-defined]
    assert list(read.columns.values()) == fields  # type: ignore[attr-defined]
    assert read.unknown_headers == []  # type: ignore[attr-defined]  (group labels are not columns)
    shown = ["_row_number"] + [f for f in SHOWN if f in fields]
    assert [tuple(r[f] for f in shown) for r in table.to_pylist()] == rows
    assert read.skipped_rows == skipped  # type: ignore[attr-defined]


def test_two_level_header_in_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "失业登记_120101001000_20261128.csv"
    path.write_text(
        "失业登记台账,,,,\n序号,个人信息,,联系方式,备注\n,姓名,公民身份号码,联系电话,\n1,张伟,120101198001010014,13812345678,\n",
        encoding="utf-8",
    )
    table, read = read_all(path)
    assert read.header_row == 3  # type: ignore[attr-defined]
    assert list(read.columns.values()) == ["row_no", "name", "id_number", "mobile_phone", "remarks"]  # type: ignore[attr-defined]
    assert table.to_pylist() == [
        {"_row_number": 4, "_sheet": "", "row_no": "1", "name": "张伟", "id_number": "120101198001010014"}
        | {"mobile_phone": "13812345678", "remarks": None}
    ]


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
