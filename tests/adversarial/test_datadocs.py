"""Data Docs attacks (issue #15, item 4): stored markup, remote scripts, one district reading another's values.

Two districts submit rows whose failing cells hold markup payloads and identifiers; the run's
Data Docs are rendered once (GX's real renderer) and every generated file is parsed. Each test
is named after the attack it stops and asserts the safe outcome (decision 0021).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flows.pipeline import sync_sources
from quality.datadocs import ENGINEERS, build_data_docs, safe_page
from reports.model import latest_data_docs
from tests.cases import BASE, SOURCE, TODAY, with_check
from tests.test_history import write_export
from tierhub.masking import mask_value
from warehouse.schema import open_warehouse

HEPING, NINGHE = "120101", "120117"
NINGHE_SOURCE = "120117001000"

SCRIPT = '<script>alert("dd-xss-1")</script>'
BREAKOUT = '"><img src=x onerror=alert("dd-xss-2")>'
JS_URL = 'javascript:alert("dd-xss-3")'
STYLE = "</div><style>body{background:url(https://evil.example/x.png)}</style>"
PAYLOAD_MARKS = ("dd-xss-1", "dd-xss-2", "dd-xss-3", "evil.example")

OWN_BAD_ID = "12010119800101001Z"  # a malformed ID number: quarantined, shown as an example
OWN_PHONE_IN_CODE = "13912345678"  # a mobile typed into a code field
OWN_ID_IN_CODE = with_check("12010119750505002")  # an ID number typed into another code field
THEIR_PHONE = "1399999000"  # 宁河区's mobile, one digit short
THEIR_ID = with_check("12011719700101001")
THEIR_ETHNICITY = "宁河专用民族值"
THEIR_BAD_ID = "12011719700101001Q"
THEIR_VALUES = (THEIR_PHONE, THEIR_ETHNICITY, THEIR_BAD_ID, THEIR_ID, "王宁河")


@dataclass(frozen=True)
class Docs:
    root: Path  # datadocs/<run>/
    warehouse: Path
    engineers_index: Path

    def files(self, *parts: str) -> list[Path]:
        return sorted(p for p in self.root.joinpath(*parts).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Docs:
    """和平区 and 宁河区 rows with payloads and identifiers in failing cells; the run's Data Docs."""
    root = tmp_path_factory.mktemp("datadocs")
    drops = root / "drops"
    base = {**BASE, "education_level": None, "unemployment_reason": None}  # every row has every column
    ours = [
        {**base, "id_number": with_check("12010119800101011"), "mobile_phone": SCRIPT},
        {**base, "id_number": with_check("12010119800101021"), "ethnicity": BREAKOUT},
        {**base, "id_number": with_check("12010119800101031"), "education_level": JS_URL},
        {**base, "id_number": with_check("12010119800101041"), "unemployment_reason": STYLE},
        {**base, "id_number": OWN_BAD_ID},
        {**base, "id_number": with_check("12010119800101051"), "ethnicity": OWN_PHONE_IN_CODE},
        {**base, "id_number": with_check("12010119800101061"), "education_level": OWN_ID_IN_CODE},
        base,
    ]
    theirs = [
        {**base, "name": "王宁河", "id_number": THEIR_ID, "birth_date": "1970-01-01"}
        | {"community_code": "120117001001", "mobile_phone": THEIR_PHONE, "ethnicity": THEIR_ETHNICITY},
        {**base, "name": "王宁河", "id_number": THEIR_BAD_ID, "community_code": "120117001001"},
    ]
    write_export(drops / SOURCE[:6] / SOURCE, f"失业登记_{SOURCE}_20261105.csv", ours)
    write_export(drops / NINGHE_SOURCE[:6] / NINGHE_SOURCE, f"失业登记_{NINGHE_SOURCE}_20261105.csv", theirs)
    warehouse = root / "warehouse.duckdb"
    con = open_warehouse(warehouse)
    try:
        load = sync_sources(con, drops, [SOURCE, NINGHE_SOURCE], today=TODAY).load
        assert load is not None and load.rows_quarantined == 9  # every payload row and both of 宁河区's
        run = root / "datadocs" / "run-1"
        index = build_data_docs(con, run, [load.load_id], run_label="run-1", today=TODAY)
    finally:
        con.close()
    assert index == run / ENGINEERS / "index.html"
    return Docs(run, warehouse, index)


class _Markup(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def _parse(path: Path) -> _Markup:
    markup = _Markup()
    markup.feed(path.read_text(encoding="utf-8"))
    markup.close()
    return markup


def _pages(docs: Docs) -> list[Path]:
    pages = [p for p in docs.files() if p.suffix == ".html"]
    assert len(pages) >= 5, pages  # two districts × (masked, engineers) × (index, item page) + engineers' index
    return pages


# -- stored markup in a cell value -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("payload", [SCRIPT, BREAKOUT, JS_URL, STYLE], ids=["script", "breakout", "js_url", "style"])
def test_markup_stored_in_a_failing_value_is_shown_as_text_never_as_markup(docs: Docs, payload: str) -> None:
    page = docs.root / ENGINEERS / HEPING / "JY02@2024.1.html"
    markup = _parse(page)
    # The engineers' copy shows the value as received, as text: escaped, not dropped.
    assert payload in "".join(markup.text)
    for path in _pages(docs):
        for tag, attrs in _parse(path).tags:
            assert tag not in ("script", "img", "iframe", "object", "embed", "form", "base"), (path, tag)
            for name, value in attrs:
                assert not name.startswith("on"), (path, tag, name)
                assert not any(mark in (value or "") for mark in PAYLOAD_MARKS), (path, tag, name, value)


@pytest.mark.slow
def test_style_element_smuggled_in_a_value_loads_nothing(docs: Docs) -> None:
    for path in _pages(docs):
        assert not any("evil.example" in css for css in _parse(path).styles), path


@pytest.mark.slow
def test_javascript_url_in_a_value_becomes_no_link(docs: Docs) -> None:
    for path in _pages(docs):
        for _, attrs in _parse(path).tags:
            for name, value in attrs:
                if name in ("href", "src", "action", "formaction"):
                    assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))


# -- scripts and stylesheets from public CDNs --------------------------------------------------------


@pytest.mark.slow
def test_no_generated_file_loads_anything_from_another_host(docs: Docs) -> None:
    files = docs.files()
    assert files
    for path in files:
        assert path.suffix == ".html", path  # nothing else is written: no script or stylesheet files
        markup = _parse(path)
        # CSS (style elements and attributes) fetches nothing; a payload's text may name a URL, as text.
        css = markup.styles + [v or "" for _, attrs in markup.tags for n, v in attrs if n == "style"]
        for sheet in css:
            assert not re.search(r"url\(\s*['\"]?\s*(?!data:)[a-z/]", sheet, re.I), (path, sheet[:200])
            assert "@import" not in sheet, path
        for _, attrs in markup.tags:
            for name, value in attrs:
                if name in ("src", "href", "action", "srcset", "poster", "data"):
                    target = (value or "").strip().lower()
                    assert not target.startswith(("http:", "https:", "//", "file:")), (path, name, value)
                    assert ".." not in target, (path, name, value)  # nothing outside the docs' folder


@pytest.mark.slow
def test_every_page_forbids_scripts_by_content_security_policy(docs: Docs) -> None:
    for path in _pages(docs):
        tags = _parse(path).tags
        policies = [
            dict(attrs).get("content") or ""
            for tag, attrs in tags
            if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "content-security-policy"
        ]
        assert len(policies) == 1, path
        assert "script-src 'none'" in policies[0] and "default-src 'none'" in policies[0]
        assert not [t for t, _ in tags if t in ("script", "link")], path
        # The policy comes first in <head>, before anything it governs.
        assert tags[:2] == [("html", tags[0][1]), ("head", [])] and tags[2][0] == "meta", path


# -- one district reading another's failing values ---------------------------------------------------


@pytest.mark.slow
def test_a_districts_docs_hold_no_value_another_district_submitted(docs: Docs) -> None:
    for copy in (docs.root / HEPING, docs.root / ENGINEERS / HEPING):
        text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(copy.glob("*.html")))
        assert "dd-xss-2" in text  # our own failing values are there …
        for value in THEIR_VALUES:
            assert value not in text, (copy, value)  # … and none of 宁河区's
    theirs = "\n".join(p.read_text(encoding="utf-8") for p in (docs.root / NINGHE).glob("*.html"))
    assert "dd-xss" not in theirs and "139***9000" in theirs


@pytest.mark.slow
def test_district_docs_count_only_the_districts_rows(docs: Docs) -> None:
    def rows(path: Path) -> list[str]:
        return re.findall(r"<td class=n>([\d,]+)</td>", path.read_text(encoding="utf-8"))[::2]

    # 和平区 sent 8 rows and 宁河区 2; the run judged 10.
    for copy in (docs.root, docs.root / ENGINEERS):
        assert rows(copy / HEPING / "index.html") == ["8"]
        assert rows(copy / NINGHE / "index.html") == ["2"]


@pytest.mark.slow
def test_district_docs_show_no_unmasked_id_or_phone(docs: Docs) -> None:
    for path in docs.files(HEPING) + docs.files(NINGHE):
        text = "".join(_parse(path).text)
        for value in (OWN_BAD_ID, OWN_PHONE_IN_CODE, OWN_ID_IN_CODE, THEIR_PHONE, THEIR_BAD_ID, THEIR_ID):
            assert value not in text, (path, value)
        assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text), path  # no mobile
        assert not re.search(r"(?<![\dA-Za-z])\d{17}[\dXxZQ](?![\dA-Za-z])", text), path  # no ID-like run
    masked = "".join(_parse(docs.root / HEPING / "JY02@2024.1.html").text)
    assert "120101********001Z" in masked and "139****5678" in masked  # masked by what the value is


@pytest.mark.slow
def test_engineers_copy_keeps_the_values_as_received(docs: Docs) -> None:
    text = "".join(_parse(docs.root / ENGINEERS / HEPING / "JY02@2024.1.html").text)
    assert OWN_BAD_ID in text and OWN_PHONE_IN_CODE in text and OWN_ID_IN_CODE in text
    links = [dict(a).get("href") for t, a in _parse(docs.engineers_index).tags if t == "a"]
    assert links == [f"{HEPING}/index.html", f"{NINGHE}/index.html"]


@pytest.mark.slow
def test_district_report_links_only_its_own_masked_docs(docs: Docs, tmp_path: Path) -> None:
    # The warehouse's datadocs/ holds run-1 (both districts) and a newer run of 宁河区 alone.
    newer = docs.root.parent / "run-2" / NINGHE
    newer.mkdir(parents=True, exist_ok=True)
    (newer / "index.html").write_text("<!doctype html>", encoding="utf-8")
    os.utime(newer / "index.html", (dt.datetime.now().timestamp() + 60,) * 2)
    heping = latest_data_docs(docs.warehouse, HEPING)
    ninghe = latest_data_docs(docs.warehouse, NINGHE + "000000")
    assert heping == (docs.root / HEPING / "index.html").resolve().as_uri()
    assert ninghe == (newer / "index.html").resolve().as_uri()
    for link in (heping, ninghe):
        assert link is not None and f"/{ENGINEERS}/" not in link
    assert latest_data_docs(docs.warehouse, "120102") is None  # 河东区 had no rows: no link, not another's


# -- the masks and the sanitiser alone (fast) -------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "change_item", "shown"),
    [
        ("value_after", "13812345678", "06", "138****5678"),  # a new phone in a change record
        ("value_before", "120101198001010012", "02", "120101********0012"),  # an old ID number
        ("value_after", "1980-01-01", "04", "1980-**-**"),  # a new birth date: the ID's hidden digits
        ("value_after", "李四", "01", "李*"),  # a new name
        ("value_after", "和平区南京路1号", "08", "********"),  # a new address
        ("remark", "请联系13812345678或022-23456789", None, "请联系138****5678或022*****6789"),
        ("employer_name", "身份证120101198001010012的单位", None, "身份证120101********0012的单位"),
        ("name", "欧阳娜娜", None, "欧***"),
    ],
)
def test_identifier_in_any_field_is_masked_by_what_it_is(
    field: str, value: str, change_item: str | None, shown: str
) -> None:
    assert mask_value(field, value, change_item) == shown


def test_sanitiser_strips_what_gx_emits_for_the_internet() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>t</title>"
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap.min.css"/>'
        '<script src="https://code.jquery.com/jquery.min.js"></script>'
        "<script>\nvar x = '<b>';\n</script><style>.a{background:url('https://cdn.example/a.png')}</style></head>"
        '<body><img src="https://s3.example/logo.png"><a href="https://greatexpectations.io/newsletter">n</a>'
        '<a href="../../../../index.html">Home</a><button onclick="showAll()">all</button>'
        '<a href="#section-1">s</a></body></html>'
    )
    markup = _Markup()
    markup.feed(safe_page(page))
    tags = [t for t, _ in markup.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    hrefs = [dict(a).get("href") for t, a in markup.tags if t == "a"]
    assert hrefs == [None, None, "#section-1"]
    assert not any(n.startswith("on") for _, attrs in markup.tags for n, _ in attrs)
    assert not any("https:" in css for css in markup.styles)


def test_sanitiser_refuses_a_page_it_does_not_recognise() -> None:
    with pytest.raises(ValueError, match="no <head>"):
        safe_page("<html><body>no head</body></html>")
