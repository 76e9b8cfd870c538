"""The shipped reference data and what it answers."""

from __future__ import annotations

import pytest

from tierhub.checkdigits import id_check_character, uscc_check_character
from tierhub.reference import code_tables, divisions, field_dictionary, header_index, normalise_label


def test_division_tree_has_the_five_tiers() -> None:
    tree = divisions()
    counts = {level: len(tree.at_level(level)) for level in ("city", "district", "street", "community")}
    assert counts == {"city": 1, "district": 16, "street": 299, "community": 5617}
    assert len(tree.sources()) == 5916


@pytest.mark.parametrize(
    ("ancestor", "code", "inside"),
    [
        ("120000000000", "120117115209", True),
        ("120117000000", "120117115209", True),
        ("120117115000", "120117115209", True),
        ("120117115209", "120117115209", True),
        ("120101000000", "120117115209", False),
        ("120117112000", "120117115209", False),
        ("120117000000", "120117999999", False),  # not a division at all
    ],
)
def test_subtree_membership(ancestor: str, code: str, inside: bool) -> None:
    assert divisions().contains(ancestor, code) is inside


def test_every_node_lies_inside_its_parent() -> None:
    tree = divisions()
    assert all(tree.contains(d.parent_code, d.code) for d in tree.by_code.values() if d.parent_code)


@pytest.mark.parametrize(
    ("table", "text", "code"),
    [
        ("gbt2261_1_sex", "男", "1"),
        ("gbt2261_1_sex", "女性", "2"),
        ("gbt3304_ethnicity", "汉", "01"),
        ("gbt3304_ethnicity", "汉族", "01"),
        ("gbt3304_ethnicity", "1", "01"),
        ("gbt3304_ethnicity", "HA", "01"),
        ("gbt3304_ethnicity", "维吾尔族", "05"),
        ("gbt4658_education", "本科", "20"),
        ("gbt4658_education", "大学本科", "20"),
        ("gbt4762_political_status", "群众", "13"),
        ("local_hukou_type", "农业", "1"),
        ("local_hardship_category", "4050", "01"),
        ("local_hardship_category", "需赡养（抚养）患重大疾病直系亲属人员", "06"),
        ("local_insurance_types", "居民医保", "390"),
        ("local_contribution_tier", "1", "01"),
        ("local_ss_card_status", "书面挂失", "3"),
        ("local_industry", "餐饮", "62"),
    ],
)
def test_free_text_maps_to_codes(table: str, text: str, code: str) -> None:
    assert code_tables()[table].resolve(text) == code


def test_each_header_alias_names_one_field() -> None:
    index = header_index()
    assert index["身份证号"] == "id_number"
    assert index["社会保障号码"] == "id_number"
    assert index["所属社区"] == "community_code"
    assert index[normalise_label("贷款金额（元）")] == index["贷款金额"] == "loan_amount"
    assert len(field_dictionary()) == 98


def test_local_code_tables_sit_beside_the_national_ones() -> None:
    tables = code_tables()
    local = {name for name, table in tables.items() if table.is_local}
    assert {"local_hukou_type", "local_employment_status", "local_insurance_types", "local_id_type"} <= local
    assert not tables["gbt3304_ethnicity"].is_local
    assert all(table.names for table in tables.values())


def test_check_characters_match_the_standards() -> None:
    assert id_check_character("11010519491231002") == "X"  # GB 11643 worked example
    # GB 32100: the village collective code is letter-led (stdnum's validate refuses it).
    assert uscc_check_character("91350100M000100Y4") == "3"


def test_a_simulation_serves_its_own_division_tree_until_it_restores_tianjins() -> None:
    from tierhub.reference import DivisionTree, divisions, tianjin_divisions, use_divisions

    tianjin = divisions()
    small = DivisionTree([d for d in tianjin.by_code.values() if d.code.startswith("120101") or d.level == "city"])
    use_divisions(small)
    try:
        assert divisions() is small and len(divisions().sources()) < len(tianjin.sources())
    finally:
        use_divisions(None)
    assert divisions() is tianjin is tianjin_divisions()


def test_label_folding_is_nfkc_without_spaces_or_markers_for_every_character() -> None:
    """The fast fold (ASCII shortcut, ``str.split``) equals its definition: NFKC, then every
    ``\\s``, ``*`` and ``※`` removed, then lower case — for each code point alone and between letters."""
    import re
    import sys
    import unicodedata

    defined = re.compile(r"[\s*※]+")

    def by_definition(text: str) -> str:
        return defined.sub("", unicodedata.normalize("NFKC", text)).lower()

    texts = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    texts += [f"a{t}b" for t in texts[:0x3100]]
    texts += ["  姓 名 ", "＊公民身份号码", "※备注", "Ｎａｍｅ", "a\u3000b", "e\u0301", "ﬁ", "\u00a0x", "X*Y"]
    wrong = [t for t in texts if normalise_label(t) != by_definition(t)]
    assert wrong == []
