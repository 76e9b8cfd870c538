"""Onboarding a new export dialect (issue #14, decision 0022): profile, map codes and headers, sync.

The exports are written the way street offices write them — headers and aliases from
``/work/shared/data/field_dictionary.csv`` (人员姓名, 身份证号码, 手机号码, 所属社区, 失业原因 …),
Excel/WPS encodings and delimiters, a 数据透视 title row, reasons as people phrase them — plus a
header the dictionary does not know (离职原因), as a new district's template would have.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

import duckdb
import pytest
import xlsxwriter
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import sync_sources
from quality.aliases import (
    add_code_alias,
    add_header_alias,
    apply_code_proposals,
    apply_local_aliases,
    load_local_aliases,
    suggest_codes,
)
from quality.profile import profile_folder
from tests.test_independent_corpus import STREET, TODAY, person
from tierhub.errors import ConfigError
from tierhub.reference import code_tables, header_index
from tierhub.reference.local import NO_LOCAL_ALIASES, use_local_aliases
from warehouse.schema import open_warehouse

OUTBOX = Path(STREET[:6]) / STREET
# Reasons for unemployment as a new district's clerks type them: none is a spelling tierhub ships.
NEW_REASONS = {"合同期满未续签": "2", "个人原因辞职": "5"}
HEADERS = {  # field → header as the office's template has it (field dictionary aliases)
    "name": "人员姓名",
    "id_number": "身份证号码",
    "sex": "性别",
    "birth_date": "出生日期",
    "mobile_phone": "手机号码",
    "community_code": "所属社区",
    "unemployment_reason": "失业原因",
    "registration_date": "失业登记日期",
    "handled_at": "经办日期",
    "documents": "提交材料",
}


@pytest.fixture(autouse=True)
def no_aliases_left_in_force() -> object:
    """The aliases a test puts in force are process state: no other test may see them."""
    yield
    use_local_aliases(NO_LOCAL_ALIASES)


def office_rows(n: int, seed: int, reasons: list[str]) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        cells = person(rnd, seed * 100 + i, "%Y-%m-%d")
        cells["unemployment_reason"] = reasons[i % len(reasons)]
        rows.append(cells)
    return rows


def write_text(path: Path, table: list[list[str]], delimiter: str, encoding: str) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(table)
    text = buffer.getvalue()
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le") if encoding == "utf-16le-bom" else text.encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def office_table(rows: list[dict[str, str]], headers: dict[str, str], title: bool) -> list[list[str]]:
    table = [["失业登记台账（数据透视）"] + [""] * (len(headers) - 1)] if title else []
    table.append(list(headers.values()))
    table += [[row[f] for f in headers] for row in rows]
    return table


def unicode_text_export(folder: Path, day: int, rows: list[dict[str, str]], headers: dict[str, str]) -> Path:
    """Excel 另存为 → Unicode 文本: UTF-16LE with BOM, tabs, a title row above the header."""
    name = f"失业登记_{STREET}_202611{day:02d}.txt"
    return write_text(folder / name, office_table(rows, headers, title=True), "\t", "utf-16le-bom")


def run(home: Path, *args: str) -> str:
    # No COLUMNS: the output is captured, so it prints as into a pipe (every value whole).
    result = CliRunner().invoke(app, list(args), env={"TIERHUB_HOME": str(home), "COLUMNS": None})
    assert result.exit_code == 0, result.output
    return result.output


# -- profile -----------------------------------------------------------------------------------


@pytest.fixture
def office_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "drops" / OUTBOX
    reasons = [*NEW_REASONS, "终止劳动合同", "合同期满未续签"]
    unicode_text_export(folder, 2, office_rows(8, 1, reasons), HEADERS)
    # GBK comma CSV from an older template without 经办日期 and 提交材料.
    short = {f: h for f, h in HEADERS.items() if f not in ("handled_at", "documents")}
    write_text(
        folder / f"失业登记_{STREET}_20261103.csv",
        office_table(office_rows(5, 2, ["本人辞职"]), short, False),
        ",",
        "gbk",
    )
    # A template with both 联系电话 and 手机号码: two columns naming mobile_phone.
    both = {**HEADERS, "phone2": "联系电话"}
    rows = [{**r, "phone2": "022-23456789"} for r in office_rows(3, 3, ["本人辞职"])]
    write_text(folder / f"失业登记_{STREET}_20261104.csv", office_table(rows, both, False), ",", "utf-8")
    # A WPS workbook with a title row.
    book = xlsxwriter.Workbook(str(folder / f"失业登记_{STREET}_20261105.xlsx"))
    sheet = book.add_worksheet("台账")
    for r, line in enumerate(office_table(office_rows(4, 4, ["个人原因辞职"]), HEADERS, True)):
        sheet.write_row(r, 0, line)
    book.close()
    return folder


def test_profile_shows_how_each_export_is_read_and_what_it_lacks(office_folder: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in office_folder.iterdir()}
    home = tmp_path / "home"
    report = json.loads(run(home, "profile", str(office_folder), "--json"))
    assert len(report["files"]) == 4
    text = next(f for f in report["files"] if f["path"].endswith(".txt"))
    assert (text["item"], text["encoding"], text["delimiter"], text["header_row"], text["rows"]) == (
        "JY02",
        "utf-16",
        "tab",
        2,
        8,
    )
    assert {m["header"]: m["field"] for m in text["mapped"]} == {h: f for f, h in HEADERS.items()}
    assert text["unmapped"] == [] and text["missing_required"] == [] and text["error"] is None
    [unknown] = text["unknown_codes"]
    assert (unknown["field"], unknown["code_table"]) == ("unemployment_reason", "local_unemployment_reason")
    counts = {v["text"]: v["count"] for v in unknown["values"]}
    assert counts == {"合同期满未续签": 4, "个人原因辞职": 2}  # 终止劳动合同 is the table's own name
    for value in unknown["values"]:
        assert 1 <= len(value["suggestions"]) <= 3
        assert value["suggestions"][0]["code"] == NEW_REASONS[value["text"]]

    gbk = next(f for f in report["files"] if f["path"].endswith("03.csv"))
    assert (gbk["encoding"], gbk["delimiter"], gbk["header_row"]) == ("gb18030", "comma", 1)
    assert gbk["missing_required"] == ["handled_at", "documents"] and gbk["missing_identity"] == []
    assert gbk["unknown_codes"] == []  # 本人辞职 is a name of the table

    both = next(f for f in report["files"] if f["path"].endswith("04.csv"))
    assert both["duplicates"] == {"mobile_phone": ["手机号码 (column E)", "联系电话 (column K)"]}
    assert "two columns name one field" in both["error"] and "联系电话" in both["error"]

    book = next(f for f in report["files"] if f["path"].endswith(".xlsx"))
    assert (book["sheet"], book["header_row"], book["rows"], book["encoding"]) == ("台账", 2, 4, None)
    assert [v["text"] for v in book["unknown_codes"][0]["values"]] == ["个人原因辞职"]

    # Reading is all it does: the exports are untouched and nothing is created in the home.
    assert {p: p.stat().st_mtime_ns for p in office_folder.iterdir()} == before
    assert not home.exists()

    table = run(home, "profile", str(office_folder))
    assert "合同期满未续签 ×4 → 2 终止劳动合同" in table and "缺少必填列" in table and "联系电话 (column K)" in table


def test_profile_names_what_it_cannot_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_text(folder / "台账.csv", [["人员姓名", "身份证号码"], ["张伟", "120101198001010014"]], ",", "utf-8")
    write_text(folder / f"失业登记_{STREET}_20261106.csv", [["甲", "乙"], ["1", "2"]], ",", "utf-8")
    files = {Path(f.path).name: f for f in profile_folder(folder).files}
    assert "naming rule" in (files["台账.csv"].error or "") and "--item" in (files["台账.csv"].error or "")
    assert files["台账.csv"].mapped == [("人员姓名", "name"), ("身份证号码", "id_number")]
    assert "no header row with known columns" in (files[f"失业登记_{STREET}_20261106.csv"].error or "")
    named = profile_folder(folder / "台账.csv", item="失业登记").files[0]
    assert named.item == "JY02" and "handled_at" in named.missing_required and named.error is None


# -- aliases: mapping and refusing -------------------------------------------------------------


def test_code_and_header_aliases_live_in_the_home_and_refuse_a_second_meaning(tmp_path: Path) -> None:
    home = tmp_path / "home"
    added = add_code_alias(home, "unemployment_reason", "合同期满未续签", "终止劳动合同")  # a field and a name
    assert (added.target, added.new, added.path) == ("2", True, home / "aliases" / "codes.yaml")
    assert not add_code_alias(home, "local_unemployment_reason", "合同期满未续签", "2").new  # already so
    assert add_header_alias(home, "离职原因", "unemployment_reason").new
    assert load_local_aliases(home).codes == (("local_unemployment_reason", "合同期满未续签", "2"),)
    assert code_tables()["local_unemployment_reason"].resolve("合同期满未续签") is None  # not in force yet
    apply_local_aliases(home)
    assert code_tables()["local_unemployment_reason"].resolve("合同期满 未续签") == "2"
    assert header_index()["离职原因"] == "unemployment_reason"

    with pytest.raises(ConfigError) as local:
        add_code_alias(home, "local_unemployment_reason", "合同期满未续签", "1")
    assert "'合同期满未续签' → code 1" in str(local.value) and "'合同期满未续签' → code 2" in str(local.value)
    assert "codes.yaml" in str(local.value)
    with pytest.raises(ConfigError) as shipped:
        add_code_alias(home, "gbt2261_1_sex", "男", "2")
    assert "code 2" in str(shipped.value) and "code 1 (shipped code table)" in str(shipped.value)
    with pytest.raises(ConfigError) as header:
        add_header_alias(home, "手机号码", "residence_address")
    assert "residence_address" in str(header.value) and "mobile_phone" in str(header.value)
    with pytest.raises(ConfigError, match="field unemployment_reason"):
        add_header_alias(home, "离职原因", "remarks")
    with pytest.raises(ConfigError, match="not a code of the table"):
        add_code_alias(home, "local_unemployment_reason", "失业", "8")
    with pytest.raises(ConfigError, match="unknown field"):
        add_header_alias(home, "工号", "employee_number")
    with pytest.raises(ConfigError, match="is not a code table"):
        add_code_alias(home, "reasons", "x", "1")
    assert load_local_aliases(home).headers == (("离职原因", "unemployment_reason"),)  # refusals wrote nothing


def test_a_hand_edited_alias_file_with_two_meanings_is_refused_naming_both(tmp_path: Path) -> None:
    folder = tmp_path / "aliases"
    folder.mkdir()
    (folder / "codes.yaml").write_text(
        "local_unemployment_reason:\n  合同期满: '2'\n  '合同 期满': '1'\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as refused:
        load_local_aliases(tmp_path)
    assert "'合同 期满' → code 1" in str(refused.value) and "'合同期满' → code 2" in str(refused.value)
    (folder / "codes.yaml").write_text("local_unemployment_reason: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"codes\.yaml"):
        load_local_aliases(tmp_path)


def test_suggestions_rank_the_meant_code_first() -> None:
    assert [s.code for s in suggest_codes("local_contribution_tier", "第5挡")][:1] == ["05"]
    assert suggest_codes("local_hardship_category", "低保户人员")[0].code == "05"
    assert suggest_codes("gbt3304_ethnicity", "维吾尔")[0].code == "05"
    assert suggest_codes("gbt2261_1_sex", "☆☆☆") == []


# -- the whole workflow, through the pipeline ------------------------------------------------


def loaded_reasons(con: duckdb.DuckDBPyConnection, day: int) -> list[str | None]:
    return [
        r[0]
        for r in con.execute(
            "SELECT u.unemployment_reason FROM core.unemployment_registration u JOIN ops.files f USING (file_id) "
            "WHERE f.path LIKE ? ORDER BY u.row_number",
            [f"%202611{day:02d}%"],
        ).fetchall()
    ]


@pytest.mark.slow  # three syncs and eight commands
def test_onboarding_a_dialect_codes_unknown_map_review_apply_then_sync(tmp_path: Path) -> None:
    home, drops = tmp_path / "home", tmp_path / "drops"
    warehouse = home / "warehouse.duckdb"
    home.mkdir()
    reasons = [*NEW_REASONS, "本人辞职"]
    unicode_text_export(drops / OUTBOX, 2, office_rows(9, 5, reasons), HEADERS)
    con = open_warehouse(warehouse)
    sync_sources(con, drops, [STREET], today=TODAY)
    held = con.execute("SELECT count(*) FROM quarantine.open_rows").fetchone()
    assert held == (6,)
    con.close()

    listed = json.loads(run(home, "codes", "unknown", "--warehouse", str(warehouse), "--json"))["unknown"]
    assert {(u["table"], u["field"], u["text"], u["rows"]) for u in listed} == {
        ("local_unemployment_reason", "unemployment_reason", "合同期满未续签", 3),
        ("local_unemployment_reason", "unemployment_reason", "个人原因辞职", 3),
    }
    assert all(u["items"] == ["JY02"] and u["suggestions"][0]["code"] == NEW_REASONS[u["text"]] for u in listed)

    proposals = tmp_path / "review.yaml"
    run(home, "codes", "map", "--accept-suggestions", "--warehouse", str(warehouse), "--out", str(proposals))
    text = proposals.read_text(encoding="utf-8")
    assert '"合同期满未续签": "2"  # 终止劳动合同' in text and "3 rows (JY02)" in text
    assert not (home / "aliases" / "codes.yaml").exists()  # nothing in force before the review
    run(home, "codes", "apply", str(proposals))
    assert load_local_aliases(home).codes == tuple(
        sorted(("local_unemployment_reason", t, c) for t, c in NEW_REASONS.items())
    )
    assert json.loads(run(home, "codes", "unknown", "--warehouse", str(warehouse), "--json"))["unknown"] == []

    # The next export of this district names the column 离职原因: its rows load, the column is reported.
    renamed = {**HEADERS, "unemployment_reason": "离职原因"}
    unicode_text_export(drops / OUTBOX, 9, office_rows(9, 6, reasons), renamed)
    assert "离职原因" in profile_folder(drops).files[-1].unmapped
    apply_local_aliases(home)  # what each sync batch does (flows/sync.py prepare)
    con = open_warehouse(warehouse)
    sync_sources(con, drops, [STREET], today=TODAY)
    assert loaded_reasons(con, 9) == [None] * 9
    con.close()
    headers = json.loads(run(home, "headers", "unknown", "--warehouse", str(warehouse), "--json"))["unknown"]
    assert [(h["header"], h["files"]) for h in headers] == [("离职原因", 1)]
    assert "unemployment_reason" in headers[0]["suggestions"]  # 失业原因 (and 注销原因: a tie, for a person to pick)
    run(home, "headers", "map", "离职原因", "unemployment_reason")
    assert json.loads(run(home, "headers", "unknown", "--warehouse", str(warehouse), "--json"))["unknown"] == []
    unicode_text_export(drops / OUTBOX, 10, office_rows(9, 7, reasons), renamed)
    apply_local_aliases(home)
    assert profile_folder(drops).files[-1].unknown_codes == []
    con = open_warehouse(warehouse)
    sync_sources(con, drops, [STREET], today=TODAY)
    assert loaded_reasons(con, 10) == ["2", "5", "5"] * 3
    held = "SELECT count(*) FROM quarantine.rows q JOIN ops.files f USING (file_id) WHERE f.path LIKE '%20261110%'"
    assert con.execute(held).fetchone() == (0,)
    con.close()


def test_a_proposals_file_with_one_bad_entry_applies_nothing(tmp_path: Path) -> None:
    proposals = tmp_path / "review.yaml"
    proposals.write_text(
        'local_unemployment_reason:\n  "合同期满未续签": "2"\n  "解除": "99"\ngbt2261_1_sex:\n  "男": "2"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        apply_code_proposals(tmp_path, proposals)
    assert "2 entries refused, nothing applied" in str(refused.value)
    assert "'99'" in str(refused.value) and "'男' → code 2" in str(refused.value)
    assert not (tmp_path / "aliases" / "codes.yaml").exists()


# -- two date dialects in one column -----------------------------------------------------------

MIXED_DATES = [  # (as the cell is written, the date it means; None: not a date in any dialect we accept)
    ("2026-11-02", dt.date(2026, 11, 2)),
    ("2026/11/3", dt.date(2026, 11, 3)),
    ("20261104", dt.date(2026, 11, 4)),
    ("2026年11月5日", dt.date(2026, 11, 5)),
    ("2026.11.06", dt.date(2026, 11, 6)),
    ("46335", dt.date(2026, 11, 9)),  # an Excel serial date left unformatted
    ("2026/11/10 9:30", dt.date(2026, 11, 10)),  # Excel's date-time display
    ("11/11/2026", None),  # day-first or month-first: a guess either way
    ("26/11/12", None),  # a two-digit year would otherwise be the year 26
]


def test_a_column_mixing_date_dialects_is_judged_row_by_row(tmp_path: Path) -> None:
    rows = office_rows(len(MIXED_DATES), 7, ["本人辞职"])
    for row, (written, _) in zip(rows, MIXED_DATES, strict=True):
        row["registration_date"] = written
        row["handled_at"] = "2026-11-13"
    drops = tmp_path / "drops"
    write_text(drops / OUTBOX / f"失业登记_{STREET}_20261113.csv", office_table(rows, HEADERS, True), ",", "utf-8")
    # In the same sync, an export whose header has two columns for one field is refused, saying which.
    both = office_table([{**r, "phone2": "022-23456789"} for r in rows[:2]], {**HEADERS, "phone2": "联系电话"}, False)
    write_text(drops / OUTBOX / f"失业登记_{STREET}_20261114.csv", both, ",", "gbk")
    con = open_warehouse(tmp_path / "w.duckdb")
    sync_sources(con, drops, [STREET], today=TODAY)
    [(status, error, rows_in)] = con.execute(
        "SELECT status, error, rows_in FROM ops.files WHERE path LIKE '%14.csv'"
    ).fetchall()
    assert (status, rows_in) == ("rejected", 0)
    assert "手机号码 (column E) and 联系电话 (column K) name mobile_phone" in error and "K列" in error
    loaded = dict(con.execute("SELECT row_number, registration_date FROM core.unemployment_registration").fetchall())
    held = {
        n: [(r["rule"], r["field"], r["value"]) for r in reasons]
        for n, reasons in con.execute("SELECT row_number, reasons FROM quarantine.rows").fetchall()
    }
    for number, (written, meant) in enumerate(MIXED_DATES, start=3):  # title row, header row
        if meant is None:
            assert held[number] == [("DATE_FORMAT", "registration_date", written)], written
        else:
            assert loaded[number] == meant, written
    assert len(loaded) + len(held) == len(MIXED_DATES)


@pytest.mark.slow  # imports Prefect and runs a batch
def test_each_sync_batch_reads_the_home_aliases(tmp_path: Path) -> None:
    from connectors.exports import Selection
    from flows.batches import settings_where
    from flows.pipeline import batch_state
    from flows.sync import BatchPlan, Where, prepare
    from tierhub.settings import TierhubSettings

    home = tmp_path / "home"
    assert settings_where(None, None, TierhubSettings(home=home)).home == str(home.resolve())
    add_code_alias(home, "local_unemployment_reason", "合同期满未续签", "2")
    drops = tmp_path / "drops"
    unicode_text_export(drops / OUTBOX, 2, office_rows(2, 8, ["合同期满未续签"]), HEADERS)
    con = open_warehouse(tmp_path / "w.duckdb")
    where = Where(str(tmp_path / "w.duckdb"), str(drops), None, str(tmp_path / "landing"), str(home))
    prepared = prepare.fn(
        BatchPlan("b", [STREET], "local"), batch_state(con, [STREET]), where, Selection(), TODAY, 1000, "t"
    )
    con.close()
    assert [(e.rows_in, e.rows_quarantined) for e in prepared.outcome.entries] == [(2, 0)]


def test_the_judge_connection_picks_up_aliases_mapped_since_it_was_opened() -> None:
    from quality.lookups import install_lookups

    con = duckdb.connect()
    install_lookups(con)
    query = "SELECT code FROM th_code_lookup WHERE tbl = 'local_unemployment_reason' AND label = '合同期满未续签'"
    assert con.execute(query).fetchall() == []
    from tierhub.reference.local import LocalAliases

    use_local_aliases(LocalAliases(codes=(("local_unemployment_reason", "合同期满未续签", "2"),)))
    install_lookups(con)
    assert con.execute(query).fetchall() == [("2",)]


def test_profile_reads_a_configured_source_by_its_code(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    unicode_text_export(drops / OUTBOX, 2, office_rows(3, 9, ["个人原因辞职"]), HEADERS)
    result = CliRunner().invoke(
        app,
        ["profile", STREET, "--json"],
        env={"TIERHUB_HOME": str(tmp_path / "home"), "TIERHUB_DROPS_ROOT": str(drops)},
    )
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.output)["files"]
    assert found["path"].endswith(f"失业登记_{STREET}_20261102.txt") and found["rows"] == 3
    assert found["unknown_codes"][0]["values"][0]["text"] == "个人原因辞职"
    missing = CliRunner().invoke(app, ["profile", "no-such-folder"], env={"TIERHUB_HOME": str(tmp_path)})
    assert missing.exit_code != 0 and "neither a file or folder nor a 12-digit source code" in str(missing.exception)
