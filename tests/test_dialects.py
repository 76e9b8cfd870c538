"""Text exports in the dialects offices write: every encoding × every delimiter, title rows, CRLF.

The files are written here, byte by byte, the way Excel/WPS save them (另存为 → Unicode 文本 is
UTF-16LE with a BOM and tabs; CSV from Chinese Excel is GBK; WPS adds a UTF-8 BOM), not by
tierhub's generator.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from tierhub.errors import DuplicateHeaders
from tierhub.reference import code_tables

TITLE = ["失业登记台账（数据透视）", "", "", "", ""]
HEADER = ["序号", "姓名", "身份证号", "联系电话", "失业登记日期"]
ROWS = [
    ["1", "张伟", "120101198001010014", "022-23456789", "2026/11/3"],
    ["2", "阿依古丽·买买提", "11010519491231002X", "13912345678", "2026年11月4日"],
]
ENCODINGS = {
    "utf-16le-bom": lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
    "utf-16le": lambda t: t.encode("utf-16-le"),
    "utf-8-bom": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "utf-8": lambda t: t.encode("utf-8"),
    "gbk": lambda t: t.encode("gbk"),
    "gb18030": lambda t: t.encode("gb18030"),
}


def write_text_export(path: Path, rows: list[list[str]], delimiter: str, encoding: str, newline: str = "\r\n") -> Path:
    """A delimited text export: cells joined by ``delimiter``, CRLF lines, bytes in ``encoding``."""
    text = newline.join(delimiter.join(row) for row in rows) + newline
    path.write_bytes(ENCODINGS[encoding](text))
    return path


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_every_encoding_with_every_delimiter(tmp_path: Path, encoding: str, delimiter: str) -> None:
    rows = [TITLE, HEADER, *ROWS]
    path = write_text_export(tmp_path / "失业登记_120101001000_20261127.csv", rows, delimiter, encoding)
    read = open_export(path)
    table = pa.Table.from_batches(list(read.batches))
    assert read.delimiter == delimiter
    assert read.header_row == 2
    assert table.column("name").to_pylist() == ["张伟", "阿依古丽·买买提"]
    assert table.column("registration_date").to_pylist() == ["2026/11/3", "2026年11月4日"]
    assert table.column("_row_number").to_pylist() == [3, 4]


def test_excel_unicode_text_saved_as_txt(tmp_path: Path) -> None:
    # 另存为 → Unicode 文本 (*.txt): UTF-16LE, BOM, tabs, CRLF.
    path = write_text_export(tmp_path / "失业登记_120101001000_20261127.txt", [HEADER, *ROWS], "\t", "utf-16le-bom")
    assert parse_drop_name(path.name).extension == ".txt"
    read = open_export(path)
    assert read.encoding == "utf-16" and read.delimiter == "\t"
    assert pa.Table.from_batches(list(read.batches)).num_rows == 2


def test_tab_text_named_xls(tmp_path: Path) -> None:
    # WPS and old systems write tab-separated GBK text and call it .xls.
    path = write_text_export(tmp_path / "失业登记_120101001000_20261127.xls", [HEADER, *ROWS], "\t", "gbk")
    read = open_export(path)
    assert read.delimiter == "\t"
    assert pa.Table.from_batches(list(read.batches)).column("id_number").to_pylist()[1] == "11010519491231002X"


def test_commas_inside_tab_separated_cells(tmp_path: Path) -> None:
    rows = [[*HEADER, "户籍地址"], *[[*r, "和平区,南京路1号"] for r in ROWS]]
    read = open_export(write_text_export(tmp_path / "x.csv", rows, "\t", "utf-8"))
    assert read.delimiter == "\t"
    assert pa.Table.from_batches(list(read.batches)).column("hukou_address").to_pylist()[0] == "和平区,南京路1号"


def test_two_columns_naming_one_field_refuse_the_file_naming_both(tmp_path: Path) -> None:
    # Taking either column would be a guess, taking neither would drop what the street sent.
    rows = [[*HEADER, "手机号码"], *[[*r, "13800000000"] for r in ROWS]]
    with pytest.raises(DuplicateHeaders) as refused:
        open_export(write_text_export(tmp_path / "x.csv", rows, ",", "utf-8"))
    column = HEADER.index("联系电话")
    assert refused.value.duplicates == {
        "mobile_phone": [f"联系电话 (column {chr(65 + column)})", f"手机号码 (column {chr(65 + len(HEADER))})"]
    }
    message = str(refused.value)
    assert "联系电话" in message and "手机号码" in message and "mobile_phone" in message


@pytest.mark.parametrize(
    ("table", "text", "code"),
    [
        ("local_contribution_tier", "第5档", "05"),
        ("local_contribution_tier", "5档", "05"),
        ("local_contribution_tier", "５ 档", "05"),
        ("local_contribution_tier", "十二档", "12"),
        ("local_contribution_tier", "第十二档", "12"),
        ("local_hardship_category", "低保户", "05"),
        ("local_hardship_category", "零就业家庭", "02"),
        ("local_hardship_category", "长期失业", "03"),
        ("local_unemployment_reason", "合同到期", "2"),
        ("local_unemployment_reason", "终止劳动合同", "2"),
        ("local_unemployment_reason", "自愿离职", "5"),
        ("local_unemployment_reason", "本人辞职", "5"),
        ("gbt3304_ethnicity", "汉", "01"),
    ],
)
def test_code_spellings_people_use(table: str, text: str, code: str) -> None:
    assert code_tables()[table].resolve(text) == code


def test_an_ambiguous_spelling_is_not_guessed() -> None:
    # 第一档 and 第十一档 never share a variant; a text naming no code stays unknown.
    tiers = code_tables()["local_contribution_tier"]
    assert tiers.resolve("1档") == "01" and tiers.resolve("11档") == "11"
    assert tiers.resolve("第13档") is None and tiers.resolve("很高档") is None
