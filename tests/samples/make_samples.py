"""Recreate the sample exports in this folder (run once; the outputs are committed).

uv run python tests/samples/make_samples.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import xlsxwriter
from openpyxl.worksheet.worksheet import Worksheet

HERE = Path(__file__).parent
HEADER = ["序号", "姓名", "身份证号", "性别", "联系电话", "所属社区", "登记日期", "经办日期", "提交材料", "备用栏"]
ROWS = [
    [
        "1",
        "张伟",
        "120101198001010014",
        "男",
        "13812345678",
        "120101001001",
        "2026-11-02",
        "2026-11-04",
        "身份证、离职证明",
        "",
    ],
    [
        "2",
        "阿依古丽·买买提",
        "11010519491231002x",
        "女",
        "１３９１２３４５６７８",
        "120101001002",
        "2026/11/3",
        "2026/11/3",
        "社保卡、解除劳动合同证明",
        "",
    ],
]


def csv_bytes(encoding: str) -> bytes:
    lines = [",".join(HEADER)] + [",".join(r) for r in ROWS]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _put(sheet: Worksheet, cells: dict[str, object], merges: list[str]) -> None:
    for ref, value in cells.items():
        sheet[ref] = value
    for ref in merges:
        sheet.merge_cells(ref)


def merged_two_level_header(path: Path) -> None:
    """A merged title, a merged unit/date line, then a two-level header whose group row names
    known fields itself (序号, 联系方式, 提交材料, 备注 merged down over both header rows), and
    merged cells inside the data (one community and one date over several rows, documents
    merged across into 备注), then a merged 合计 row."""
    workbook = openpyxl.Workbook()
    workbook.properties.created = dt.datetime(2024, 1, 1)
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "台账"
    _put(
        sheet,
        {
            "A1": "和平区劝业场街道失业登记台账",
            "A2": "填报单位：劝业场街道劳动保障服务中心",
            "F2": "填报日期：2026年11月28日",
            "A3": "序号",
            "B3": "个人信息",
            "E3": "联系方式",
            "G3": "登记情况",
            "I3": "提交材料",
            "J3": "备注",
            "B4": "姓名",
            "C4": "公民身份号码",
            "D4": "性别",
            "E4": "联系电话",
            "F4": "现居住地址",
            "G4": "所属社区",
            "H4": "登记日期",
        },
        ["A1:J1", "A2:E2", "F2:J2", "A3:A4", "B3:D3", "E3:F3", "G3:H3", "I3:I4", "J3:J4"],
    )
    rows = [
        [
            "1",
            "张伟",
            "120101198001010014",
            "男",
            "13812345678",
            "和平区南京路1号",
            "120101001001",
            None,
            "身份证、离职证明",
            None,
        ],
        [
            "2",
            "李娜",
            "120101198503150024",
            "女",
            "13912345678",
            "和平区南京路2号",
            None,
            None,
            "身份证、解除劳动合同证明",
            None,
        ],
        [
            "3",
            "阿依古丽·买买提",
            "11010519491231002x",
            "女",
            "13712345678",
            "和平区南京路3号",
            None,
            "2026-11-05",
            "社保卡",
            "补录",
        ],
    ]
    for r, values in enumerate(rows, start=5):
        for c, value in enumerate(values, start=1):
            if value is not None:
                sheet.cell(r, c, value)
    sheet["H5"] = dt.datetime(2026, 11, 2)
    sheet["H5"].number_format = "yyyy-mm-dd"
    sheet["A8"] = "合计"
    sheet["G8"] = "3人"
    for ref in ("G5:G7", "H5:H6", "I6:J6", "A8:F8"):
        sheet.merge_cells(ref)
    workbook.save(path)


def merged_header_offset(path: Path) -> None:
    """A notes sheet first; then a table starting at B2 whose group row names one known field
    (提交材料, merged down over both header rows), with data merged down over rows."""
    workbook = openpyxl.Workbook()
    workbook.properties.created = dt.datetime(2024, 1, 1)
    notes = workbook.active
    assert notes is not None
    notes.title = "填表说明"
    notes["A1"] = "1. 每人一行；2. 日期格式为年-月-日；3. 合并单元格的内容适用于所合并的各行。"
    sheet = workbook.create_sheet("明细")
    _put(
        sheet,
        {
            "B2": "失业登记明细（宁河区芦台街道）",
            "B3": "人员",
            "D3": "日期",
            "F3": "提交材料",
            "G3": "其他",
            "B4": "姓名",
            "C4": "身份证号",
            "D4": "登记日期",
            "E4": "经办日期",
            "G4": "备注",
        },
        ["B2:G2", "B3:C3", "D3:E3", "F3:F4"],
    )
    rows = [
        ["王芳", "120102199006200036", "2026-11-20", "2026-11-21", "身份证、离职证明", None],
        ["赵强", "12010119751108004X", "2026-11-20", None, "身份证", "同一批次"],
        ["刘洋", "120101198001010014", "2026-11-22", None, None, None],
    ]
    for r, values in enumerate(rows, start=5):
        for c, value in enumerate(values, start=2):
            if value is not None:
                sheet.cell(r, c, value)
    for ref in ("E5:E7", "F6:F7"):
        sheet.merge_cells(ref)
    workbook.save(path)


def main() -> None:
    (HERE / "失业登记_120101001000_20261127_utf8.csv").write_bytes(csv_bytes("utf-8"))
    (HERE / "失业登记_120101001000_20261127_bom.csv").write_bytes(b"\xef\xbb\xbf" + csv_bytes("utf-8"))
    (HERE / "失业登记_120101001000_20261127_gbk.csv").write_bytes(csv_bytes("gbk"))
    (HERE / "失业登记_120101001000_20261127_utf16.csv").write_bytes(csv_bytes("utf-16"))
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "garbage.csv").write_bytes(bytes(range(256)) * 8)
    (HERE / "no_known_headers.csv").write_text("甲,乙,丙\r\n1,2,3\r\n", encoding="utf-8")
    workbook = xlsxwriter.Workbook(str(HERE / "失业登记_120101001000_20261127.xlsx"))
    workbook.set_properties({"created": dt.datetime(2024, 1, 1)})
    sheet = workbook.add_worksheet("台账")
    sheet.merge_range(0, 0, 0, len(HEADER) - 1, "劝业场街道劳动保障服务中心失业登记台账")
    sheet.write_string(1, 0, "填报日期：2026年11月27日")
    for c, text in enumerate(HEADER):
        sheet.write_string(2, c, text)
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_string(3, 0, "1")
    sheet.write_string(3, 1, "张伟")
    sheet.write_number(3, 2, 120101198001010014.0)  # Excel keeps 15 significant digits
    sheet.write_string(3, 3, "男")
    sheet.write_number(3, 4, 13812345678)
    sheet.write_string(3, 5, "120101001001")
    sheet.write_datetime(3, 6, dt.datetime(2026, 11, 2), date)
    sheet.write_number(3, 7, 46330)  # an Excel serial date typed as a plain number
    sheet.write_string(3, 8, "身份证、离职证明")
    sheet.write_string(5, 0, "合计")
    sheet.write_string(5, 1, "1人")
    workbook.close()
    merged_two_level_header(HERE / "失业登记_120101001000_20261128_merged.xlsx")
    merged_header_offset(HERE / "失业登记_120117001000_20261128_merged_offset.xlsx")


if __name__ == "__main__":
    main()
