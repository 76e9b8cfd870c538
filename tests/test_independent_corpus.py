"""An independent corpus: exports written the way street offices write them, through the real pipeline.

The builder below knows only what ``/work/shared/data`` says (Chinese headers and their
aliases from the field dictionary, code names of GB/T 2261.1 and GB/T 3304, the GB 11643
check digit as DOMAIN.md states it, division codes of 劝业场街道) — not tierhub's generator.
Each export varies what offices vary: header aliases, encoding (UTF-8, UTF-8 BOM, GBK,
UTF-16LE BOM), delimiter (comma, tab, semicolon, pipe), CRLF, a 数据透视 title row, date
dialects (mixed within a column too), code spellings, optional and required-but-absent
columns. A few rows carry a known defect and the rule that must catch it.

Aims (issue #14): ≥ 99.5 % of valid rows load, ≥ 99 % of defective rows are quarantined with
the right reason, rows_in = loaded + quarantined, no row lost.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from warehouse.schema import open_warehouse

TODAY = dt.date(2026, 12, 1)
STREET = "120101001000"  # 和平区 劝业场街道
COMMUNITIES = ["120101001001", "120101001002", "120101001004"]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

# Header spellings per field, from field_dictionary.csv (zh_header first, then its aliases).
HEADERS = {
    "name": ["姓名", "名字", "人员姓名"],
    "id_number": ["公民身份号码", "身份证号", "身份证号码", "证件号码"],
    "sex": ["性别"],
    "birth_date": ["出生日期", "出生年月", "生日"],
    "ethnicity": ["民族"],
    "mobile_phone": ["联系电话", "手机号码", "手机号"],
    "community_code": ["所属社区", "社区(村)", "社区居委会"],
    "registration_date": ["登记日期", "失业登记日期", "申请日期"],
    "handled_at": ["经办日期", "办理日期", "受理日期"],
    "documents": ["提交材料"],
    "remarks": ["备注", "说明"],
}
SEX = {"1": ["男", "男性", "1"], "2": ["女", "女性", "2"]}
ETHNICITY = ["汉族", "汉", "01", "回族", "满族", "蒙古族"]
DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d", "unpadded"]
DOCUMENTS = ["身份证、离职证明", "居民身份证，解除劳动合同证明", "社保卡;终止劳动合同证明"]
ENCODINGS = ["utf-8", "utf-8-bom", "gbk", "utf-16le-bom"]
DELIMITERS = [",", "\t", ";", "|"]
# Defects with the rule that must quarantine the row.
DEFECTS = {
    "bad_check_digit": "ID_CHECKSUM",
    "unknown_ethnicity": "CODE_UNKNOWN",
    "future_registration": "DATE_FUTURE",
    "bad_mobile": "MOBILE_FORMAT",
    "id_as_float": "ID_FLOAT_DAMAGED",
}


def check_digit(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2), as DOMAIN.md states it."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


@dataclass
class Row:
    cells: dict[str, str]
    defect: str | None


def write_date(day: dt.date, style: str) -> str:
    if style == "unpadded":
        return f"{day.year}/{day.month}/{day.day}"
    return day.strftime(style)


def person(rnd: random.Random, serial: int, date_style: str) -> dict[str, str]:
    sex = rnd.choice("12")
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rnd.randrange(0, 365 * 40))
    sequence = f"{serial % 500 * 2 + (1 if sex == '1' else 0):03d}"[-3:]
    if (int(sequence) % 2 == 1) != (sex == "1"):
        sequence = f"{(int(sequence) + 1) % 1000:03d}"
    first17 = f"120101{born:%Y%m%d}{sequence}"
    registered = dt.date(2026, 11, 2) + dt.timedelta(days=rnd.randrange(0, 20))
    return {
        "name": rnd.choice(["张伟", "王芳", "李娜", "刘洋", "阿依古丽·买买提", "陈静", "赵磊"]),
        "id_number": first17 + check_digit(first17),
        "sex": rnd.choice(SEX[sex]),
        "birth_date": write_date(born, date_style),
        "ethnicity": rnd.choice(ETHNICITY),
        "mobile_phone": rnd.choice(["138", "139", "186", "157"]) + f"{rnd.randrange(10**8):08d}",
        "community_code": rnd.choice(COMMUNITIES),
        "registration_date": write_date(registered, date_style),
        "handled_at": write_date(registered + dt.timedelta(days=1), date_style),
        "documents": rnd.choice(DOCUMENTS),
        "remarks": rnd.choice(["", "", "电话回访", "本人到场"]),
    }


def damage(cells: dict[str, str], defect: str) -> None:
    if defect == "bad_check_digit":
        last = cells["id_number"][-1]
        cells["id_number"] = cells["id_number"][:-1] + ("0" if last != "0" else "1")
    elif defect == "unknown_ethnicity":
        cells["ethnicity"] = "火星族"
    elif defect == "future_registration":
        cells["registration_date"] = "2027-03-01"
        cells["handled_at"] = "2027-03-02"
    elif defect == "bad_mobile":
        cells["mobile_phone"] = "1381234"
    elif defect == "id_as_float":
        cells["id_number"] = f"{float(cells['id_number'][:17] + '0'):.5E}"  # 1.20101E+17


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if encoding == "utf-16le-bom":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(encoding)


def build_corpus(drops: Path, files: int = 20, rows_per_file: int = 40, seed: int = 14) -> list[tuple[str, Row]]:
    """Write ``files`` exports of 失业登记 from 劝业场街道; return (file name, row) in file order."""
    rnd = random.Random(seed)
    outbox = drops / STREET[:6] / STREET
    outbox.mkdir(parents=True)
    written: list[tuple[str, Row]] = []
    serial = 0
    for n in range(files):
        fields = list(HEADERS)
        # Some offices' templates lack optional columns, some lack required ones (经办日期, 提交材料).
        if n % 5 == 1:
            fields = [f for f in fields if f not in ("handled_at", "documents")]
        if n % 4 == 2:
            fields = [f for f in fields if f not in ("ethnicity", "remarks")]
        rnd.shuffle(fields)
        headers = [rnd.choice(HEADERS[f]) for f in fields]
        date_style = DATE_FORMATS[n % len(DATE_FORMATS)]
        rows: list[Row] = []
        for r in range(rows_per_file):
            serial += 1
            # A third of the files mix two date dialects in one column.
            style = DATE_FORMATS[(n + r) % len(DATE_FORMATS)] if n % 3 == 0 else date_style
            cells = person(rnd, serial, style)
            defect = None
            if r % 13 == 7:
                defect = list(DEFECTS)[(n + r) % len(DEFECTS)]
                if defect == "unknown_ethnicity" and "ethnicity" not in fields:
                    defect = "bad_mobile"
                damage(cells, defect)
            rows.append(Row(cells, defect))
        delimiter, encoding = DELIMITERS[n % 4], ENCODINGS[(n // 4) % 4]
        table: list[list[str]] = []
        if n % 2 == 0:
            table.append(["劝业场街道失业登记台账（数据透视）"] + [""] * (len(fields) - 1))
        table.append(headers)
        table += [[row.cells[f] for f in fields] for row in rows]
        # Excel quotes a cell holding the delimiter (社保卡;终止劳动合同证明 in a semicolon file).
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(table)
        suffix = ".txt" if encoding == "utf-16le-bom" and delimiter == "\t" else ".csv"
        name = f"失业登记_{STREET}_202611{n + 1:02d}{suffix}"
        (outbox / name).write_bytes(encode(buffer.getvalue(), encoding))
        written += [(name, row) for row in rows]
    return written


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, list[tuple[str, Row]]]:
    root = tmp_path_factory.mktemp("corpus")
    written = build_corpus(root / "drops")
    con = open_warehouse(root / "w.duckdb")
    sync_sources(con, root / "drops", [STREET], today=TODAY)
    return con, written


def verdicts(con: duckdb.DuckDBPyConnection) -> tuple[dict[tuple[str, int], set[str]], set[tuple[str, int]]]:
    held = {
        (str(p).rsplit("/", 1)[-1], int(n)): set(rules)
        for p, n, rules in con.execute(
            "SELECT f.path, q.row_number, list_transform(q.reasons, lambda r: r.rule) "
            "FROM quarantine.rows q JOIN ops.files f USING (file_id)"
        ).fetchall()
    }
    loaded = {
        (str(p).rsplit("/", 1)[-1], int(n))
        for p, n in con.execute(
            "SELECT f.path, u.row_number FROM core.unemployment_registration u JOIN ops.files f USING (file_id)"
        ).fetchall()
    }
    return held, loaded


def test_independent_exports_load_and_defects_are_caught(
    corpus: tuple[duckdb.DuckDBPyConnection, list[tuple[str, Row]]],
) -> None:
    con, written = corpus
    rejected = con.execute("SELECT path, error FROM ops.files WHERE status <> 'loaded'").fetchall()
    assert rejected == []
    held, loaded = verdicts(con)
    valid_loaded = valid = defective = caught = 0
    wrong: list[tuple[str, int, str | None, set[str]]] = []
    # Rows are numbered as the spreadsheet shows them: find each file's first data row.
    first_row = {
        str(p).rsplit("/", 1)[-1]: int(h) + 1
        for p, h in con.execute("SELECT path, header_row FROM ops.files").fetchall()
    }
    seen: dict[str, int] = {}
    for name, row in written:
        number = first_row[name] + seen.get(name, 0)
        seen[name] = seen.get(name, 0) + 1
        key = (name, number)
        if row.defect is None:
            valid += 1
            valid_loaded += key in loaded
            if key not in loaded:
                wrong.append((name, number, None, held.get(key, set())))
        else:
            defective += 1
            rule = DEFECTS[row.defect]
            if rule in held.get(key, set()):
                caught += 1
            else:
                wrong.append((name, number, rule, held.get(key, set())))
    assert valid > 600 and defective > 40
    assert valid_loaded / valid >= 0.995, wrong[:10]
    assert caught / defective >= 0.99, wrong[:10]
    # Counts reconcile, no row lost.
    rows_in, rows_loaded, rows_held = con.execute(
        "SELECT sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.files"
    ).fetchone()  # type: ignore[misc]
    assert rows_in == len(written) == rows_loaded + rows_held
    assert (rows_loaded, rows_held) == (len(loaded), len(held))


def test_an_export_lacking_required_columns_is_reported_once(
    corpus: tuple[duckdb.DuckDBPyConnection, list[tuple[str, Row]]],
) -> None:
    con, _ = corpus
    lacking = con.execute(
        "SELECT path, missing_columns FROM ops.files WHERE len(missing_columns) > 0 ORDER BY path"
    ).fetchall()
    assert lacking and all(sorted(m) == ["documents", "handled_at"] for _, m in lacking)
    rules = {
        r for (r,) in con.execute("SELECT DISTINCT r.rule FROM quarantine.rows, unnest(reasons) AS u(r)").fetchall()
    }
    assert "REQUIRED_MISSING" not in rules
