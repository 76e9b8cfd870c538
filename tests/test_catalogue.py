"""The standards catalogue is complete: every item loads, compiles and speaks both languages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from quality.lookups import install_lookups
from quality.rules import JudgeContext, compile_item
from quality.verdicts import FileToJudge, Stager, input_table, judge_files, judged_table
from tests.cases import BASE, SOURCE, TODAY
from tierhub.errors import StandardNotFound
from tierhub.reference import DATA, code_tables, divisions, field_dictionary
from tierhub.standards import (
    CATALOGUE_DIR,
    FILE_RULES,
    SEVERITIES,
    ItemStandard,
    StandardVersion,
    catalogue,
    rule_messages,
)

ITEMS = sorted(catalogue().items)
# Code scheme: prefix → (category, owning systems).
SCHEME = {
    "JY": ("employment", {"人社"}),
    "JC": ("base", {"人社"}),
    "SB": ("social_insurance", {"人社", "税务"}),
    "YB": ("social_insurance", {"医保"}),
    "SK": ("social_security_card", {"人社"}),
    "LD": ("labour_relations", {"人社"}),
}
MESSAGE_KEYS = ("title_zh", "title_en", "zh", "en", "fix_zh", "fix_en")
RULE_IN_SQL = re.compile(r"'rule': '([A-Z0-9_]+)'")
CJK = re.compile(r"[\u4e00-\u9fff]")


def compiled(item: ItemStandard) -> str:
    """The judging query of an item over an empty staged table, run once on a real connection."""
    con = duckdb.connect()
    install_lookups(con)
    Stager(con, item)  # creates the empty staged table with the item's columns
    sql = compile_item(item, JudgeContext(TODAY), input_table(item))
    assert con.execute(sql).fetchall() == []
    return sql


def versions() -> list[tuple[ItemStandard, StandardVersion]]:
    return [(item, version) for item in catalogue() for version in item.versions]


def test_the_catalogue_holds_the_34_items() -> None:
    assert len(catalogue()) == 34
    for item in catalogue():
        category, owners = SCHEME[item.code[:2]]
        assert (item.category, item.owner_system in owners) == (category, True), item.code
    assert {i.owner_system for i in catalogue()} == {"人社", "医保", "税务"}
    assert any(len(item.versions) > 1 for item in catalogue())  # versioning is shown, not just allowed


@pytest.mark.parametrize("code", ITEMS)
def test_every_item_compiles_and_runs(code: str) -> None:
    compiled(catalogue().items[code])


def test_every_rule_code_has_messages_and_is_used() -> None:
    messages = rule_messages()
    used = {rule for code in ITEMS for rule in RULE_IN_SQL.findall(compiled(catalogue().items[code]))}
    assert used <= set(messages), used - set(messages)
    assert set(messages) - set(FILE_RULES) <= used, f"rule codes no item can raise: {set(messages) - used}"
    for code, texts in messages.items():
        assert texts.get("severity") in SEVERITIES, f"{code} needs severity: error | warning"
        assert all(texts.get(key) for key in MESSAGE_KEYS), code
        assert CJK.search(texts["zh"]) and CJK.search(texts["fix_zh"]), code


def test_every_field_is_in_the_dictionary_with_a_chinese_label() -> None:
    dictionary = field_dictionary()
    for item, version in versions():
        for rule in version.fields:
            spec = dictionary[rule.field]
            assert CJK.search(spec.zh_header), (item.code, rule.field)


def test_every_code_table_exists_and_local_ones_are_marked_as_such() -> None:
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    tables = {rule.code_table for _, version in versions() for rule in version.fields if rule.code_table}
    assert tables <= set(code_tables())
    for name in tables:
        table = code_tables()[name]
        assert table.names, name
        if table.is_local:
            line = next(x for x in sources.splitlines() if f"`code_tables/{name}.csv`" in x)
            assert "local table, inferred, editable" in line, name


def test_every_item_states_its_sources_limits_documents_and_steps() -> None:
    for path in sorted(CATALOGUE_DIR.glob("[!_]*.yaml")):
        header = path.read_text(encoding="utf-8").split("\ncode:")[0]
        assert header.startswith("#") and "Source" in header, path.name
    for item, version in versions():
        assert version.steps, item.code
        if item.code not in ("JC01", "JC03"):  # the labour survey and the staff roster: registers, not applications
            assert version.time_limit and version.documents, item.code
            assert any(d.required for d in version.documents), item.code


def copy_catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, folder)
    return folder


def test_an_alias_added_in_yaml_is_picked_up_without_code(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    path = folder / "JY02_失业登记.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("就业失业登记]", "就业失业登记, 失业求助登记]")  # an alias of the item
    text = text.replace("离职证明]", "离职证明, 退工单]")  # an alias of the termination proof
    path.write_text(text, encoding="utf-8")
    item = catalogue(folder).find("失业求助登记")
    assert item.code == "JY02"
    with pytest.raises(StandardNotFound):
        catalogue().find("失业求助登记")  # the shipped catalogue is untouched
    node = divisions().get(SOURCE)
    batch = pa.RecordBatch.from_pylist([{"_row_number": 2, "_sheet": "", **BASE, "documents": "身份证、退工单"}])
    con = duckdb.connect()
    judge_files(con, item, [FileToJudge(1, node.code, node.prefix, TODAY, [batch])], JudgeContext(TODAY))
    assert con.execute(f"SELECT _reasons FROM {judged_table(item)}").fetchall() == [([],)]


def test_an_item_added_as_a_file_is_picked_up_without_code(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    text = (folder / "JY02_失业登记.yaml").read_text(encoding="utf-8")
    text = text.replace("code: JY02", "code: JY99").replace("name_zh: 失业登记", "name_zh: 失业登记试点")
    text = text.replace("aliases: [失业人员登记, 就业失业登记]", "aliases: []")
    (folder / "JY99_失业登记试点.yaml").write_text(text, encoding="utf-8")
    extended = catalogue(folder)
    assert len(extended) == len(catalogue()) + 1
    compiled(extended.find("失业登记试点"))
