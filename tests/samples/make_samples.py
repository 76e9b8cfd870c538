"""Recreate the sample exports in this folder (run once; the outputs are committed).

uv run python tests/samples/make_samples.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

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


if __name__ == "__main__":
    main()
