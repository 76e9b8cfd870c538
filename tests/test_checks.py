"""The check registry is complete: every check the catalogue names is defined once and reaches every consumer."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from html import unescape
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from quality.checks import UnknownCheck, checks
from quality.rules import JudgeContext, VersionCompiler
from quality.suites import RuleKey, build_suite
from quality.verdicts import FileToJudge, judge_files, judged_table
from reports.handbook import field_rule_codes, read_catalogue, render_handbook
from tests.cases import CONTACT_PHONES, ITEM_BASES, SOURCE, TODAY, with_check
from tierhub.errors import CatalogueError
from tierhub.reference import divisions
from tierhub.standards import CATALOGUE_DIR, FieldRule, ItemStandard, StandardVersion, catalogue, rule_messages
from tierhub.synth.defects import DEFECTS

MESSAGE_KEYS = ("title_zh", "title_en", "zh", "en", "fix_zh", "fix_en")
RULE_IN_SQL = re.compile(r"'rule': '([A-Z0-9_]+)'")
CHECKS = sorted(checks())


def uses() -> dict[str, list[tuple[ItemStandard, StandardVersion, FieldRule]]]:
    """Check name → the catalogue fields that name it."""
    found: dict[str, list[tuple[ItemStandard, StandardVersion, FieldRule]]] = {}
    for item in catalogue():
        for version in item.versions:
            for rule in version.fields:
                if rule.check:
                    found.setdefault(rule.check, []).append((item, version, rule))
    return found


def test_every_check_the_catalogue_names_is_registered_and_every_registered_check_is_used() -> None:
    assert set(uses()) == set(checks())


def test_the_base_names_the_checks_the_registry_defines() -> None:
    """The base floor knows checks by name only (the generator breaks each): the same set as the registry."""
    broken_by_name = {d.selector.removeprefix("check:") for d in DEFECTS if d.selector.startswith("check:")}
    # not_future is broken through the business date (a registration in the future).
    broken_by_rule = {name for name, check in checks().items() if {d.rule for d in DEFECTS} & set(check.rules)}
    assert broken_by_name <= set(checks())
    assert broken_by_rule == set(checks())


@pytest.mark.parametrize("name", CHECKS)
def test_every_rule_code_of_a_check_has_both_languages_in_rules_yaml(name: str) -> None:
    messages = rule_messages()
    for code in checks()[name].rules:
        assert code in messages, f"{name} raises {code}, which _rules.yaml lacks"
        assert all(messages[code].get(key) for key in MESSAGE_KEYS), (name, code)
        assert re.search(r"[\u4e00-\u9fff]", messages[code]["zh"]), (name, code)


@pytest.mark.parametrize("name", CHECKS)
def test_a_check_raises_exactly_its_rule_codes_in_sql_and_gx(name: str) -> None:
    check = checks()[name]
    item, version, rule = uses()[name][0]
    compiler = VersionCompiler(item, version, JudgeContext(TODAY))
    compiler.compile("staged")
    field_sql = [c for c in compiler.checks if f"'field': '{rule.field}'" in c]
    raised = {code for c in field_sql for code in RULE_IN_SQL.findall(c)}
    assert set(check.rules) <= raised
    suite = build_suite(item, version, TODAY)
    keys = [RuleKey.from_meta(e.meta) for e in suite.expectations]
    covered = {code for key in keys if key.field == rule.field for code in key.rules}
    assert set(check.rules) <= covered, f"no GX expectation stands for {set(check.rules) - covered}"


@pytest.fixture(scope="module")
def handbooks() -> dict[str, str]:
    """Both editions as text (entities decoded)."""
    return {lang: unescape(render_handbook(catalogue(), language=lang, as_of=TODAY)) for lang in ("zh", "en")}


@pytest.mark.parametrize("name", CHECKS)
def test_the_handbook_lists_each_checks_codes_and_hint(handbooks: dict[str, str], name: str) -> None:
    check = checks()[name]
    messages = rule_messages()
    _item, version, rule = uses()[name][0]
    assert set(check.rules) <= set(field_rule_codes(rule, version, messages))
    for language, page in handbooks.items():
        for code in check.rules:
            assert messages[code][f"title_{language}"] in page and messages[code][f"fix_{language}"] in page
        hint = check.handbook_hint(rule, language)
        assert hint is None or hint in page, (name, language)


def male_id(n: int) -> str:
    """A valid ID of a man born 1980-01-01 (the base rows' person), one per ``n``."""
    return with_check(f"12010119800101{2 * n + 1:03d}")


def judged_values(item_code: str, field: str, values: list[str]) -> list[tuple[str | None, set[str]]]:
    """The normalised value of ``field`` and the rule codes of each row whose cell is one of ``values``."""
    # One person per row (odd sequence numbers: the base row's sex), else the rows would be duplicates.
    rows = [
        {"_row_number": n, "_sheet": "", **ITEM_BASES[item_code], "id_number": male_id(n), field: v}
        for n, v in enumerate(values, start=2)
    ]
    con = duckdb.connect()
    item = catalogue().find(item_code)
    node = divisions().get(SOURCE)
    batch = pa.RecordBatch.from_pylist(rows)
    judge_files(con, item, [FileToJudge(1, node.code, node.prefix, TODAY, [batch])], JudgeContext(TODAY))
    found = con.execute(f"SELECT {field}, _reasons FROM {judged_table(item)} ORDER BY _row_number").fetchall()
    return [(value, {r["rule"] for r in reasons}) for value, reasons in found]


def test_contact_numbers_normalise_to_one_canonical_form() -> None:
    got = judged_values("SB01", "mobile_phone", [raw for raw, _ in CONTACT_PHONES])
    for (raw, canonical), (value, rules) in zip(CONTACT_PHONES, got, strict=True):
        if canonical is None:
            assert rules == {"PHONE_FORMAT"}, raw
        else:
            assert (value, rules) == (canonical, set()), raw


def copy_catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, folder)
    return folder


def edit_field(folder: Path, code: str, field: str, **changes: str) -> ItemStandard:
    """Change one field of an item's every version in a catalogue copy; the item as loaded from it."""
    path = next(folder.glob(f"{code}_*.yaml"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for version in data["versions"]:
        for rule in version["fields"]:
            if rule["field"] == field:
                rule.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return catalogue(folder).items[code]


def test_an_unknown_check_is_refused_when_compiled_and_the_fix_lists_the_known_ones(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    item = edit_field(folder, "JY02", "mobile_phone", check="mobil")
    with pytest.raises(UnknownCheck, match="'mobil'") as caught:
        VersionCompiler(item, item.versions[0], JudgeContext(TODAY))
    assert caught.value.field == "mobile_phone" and caught.value.fix and "mobile" in caught.value.fix
    with pytest.raises(UnknownCheck):
        render_handbook(read_catalogue(folder)[0], as_of=TODAY)


def test_a_field_lacking_what_its_check_needs_is_refused(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    item = edit_field(folder, "JY02", "name", check="not_future")
    with pytest.raises(CatalogueError, match="needs a field of type date"):
        VersionCompiler(item, item.versions[0], JudgeContext(dt.date(2026, 11, 27)))
    folder = copy_catalogue(tmp_path / "2")
    item = edit_field(folder, "JY02", "id_number", check="luhn")
    with pytest.raises(CatalogueError, match="compares the field with id_number"):
        VersionCompiler(item, item.versions[0], JudgeContext(TODAY))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1899-12-31", None),  # before DATE_YEARS: not a date a record can carry
        ("1900-01-01", "1900-01-01"),
        ("2199-12-31", "2199-12-31"),
        ("2200-01-01", None),
        ("0019-05-01", None),  # a year typed short
        ("44197", "2021-01-01"),  # an Excel serial day
        ("2021年1月2日", "2021-01-02"),
        ("2020-02-30", None),
        ("", None),
        (None, None),
    ],
)
def test_th_date_parses_once_and_keeps_only_years_in_range(text: str | None, parsed: str | None) -> None:
    from quality.lookups import install_lookups

    con = duckdb.connect()
    install_lookups(con)
    [(value,)] = con.execute("SELECT CAST(th_date(CAST(? AS VARCHAR)) AS VARCHAR)", [text]).fetchall()
    assert value == parsed
