"""The staff handbook: made from the catalogue files, complete for every item, printable offline."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from quality.checks import checks
from reports.handbook import (
    ChromiumNotFound,
    PdfPrintFailed,
    field_rule_codes,
    print_pdf,
    read_catalogue,
    render_handbook,
    version_on,
)
from tests.system import require_program
from tierhub.errors import ConfigError
from tierhub.reference import code_tables, field_dictionary
from tierhub.standards import CATALOGUE_DIR, ItemStandard, catalogue, rule_messages

AS_OF = dt.date(2026, 6, 1)
ITEMS = sorted(catalogue().items)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """The text of a handbook page, of each item section and of each appendix table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: dict[str, list[str]] = {}
        self.open: list[tuple[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag in VOID:
            return
        key = None
        if found.get("data-item"):
            key = f"item:{found['data-item']}"
        elif found.get("data-table"):
            key = f"table:{found['data-table']}"
        if key:
            assert key not in self.parts, f"{key} appears twice"
            self.parts[key] = []
        self.open.append((tag, key))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        opened, _ = self.open.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"

    def handle_data(self, data: str) -> None:
        self.words.append(data)
        for _, key in self.open:
            if key:
                self.parts[key].append(data)

    @property
    def text(self) -> str:
        return "".join(self.words)

    def item(self, code: str) -> str:
        return "".join(self.parts[f"item:{code}"])

    def table(self, name: str) -> str:
        return "".join(self.parts[f"table:{name}"])

    def items(self) -> set[str]:
        return {key.split(":", 1)[1] for key in self.parts if key.startswith("item:")}


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert not page.open, f"unclosed tags: {page.open}"
    return page


@pytest.fixture(scope="module")
def zh() -> Page:
    return parse(render_handbook(catalogue(), as_of=AS_OF))


@pytest.fixture(scope="module")
def en() -> Page:
    return parse(render_handbook(catalogue(), language="en", as_of=AS_OF))


def time_limit_zh(item: ItemStandard) -> str:
    limit = version_on(item, AS_OF)[0].time_limit
    if limit is None:
        return "无统一时限规定"
    calendar_days = getattr(limit, "calendar_days", None)  # labour-dispute mediation counts calendar days
    if limit.working_days is None and calendar_days is not None:
        return f"{calendar_days}日"
    return f"{limit.working_days}个工作日" if limit.working_days else "当场办结"


def test_every_item_has_one_section(zh: Page) -> None:
    assert zh.items() == set(ITEMS)


@pytest.mark.parametrize("code", ITEMS)
def test_each_item_section_shows_its_standard(zh: Page, code: str) -> None:
    item = catalogue().items[code]
    version, status = version_on(item, AS_OF)
    rules = rule_messages()
    text = zh.item(code)
    assert status == "in_force"
    assert item.name_zh in text and version.version in text and version.effective_from.isoformat() in text
    assert all(alias in text for alias in item.aliases)
    for document in version.documents:
        assert document.name_zh in text and all(alias in text for alias in document.aliases)
    for rule in (r for r in version.fields if not r.carried):
        assert field_dictionary()[rule.field].zh_header in text, rule.field
        for check in checks()[rule.check].rules if rule.check else ():
            assert rules[check]["title_zh"] in text, (rule.field, check)
        # every reason a field can get is listed with its fix
        for reason in field_rule_codes(rule, version, rules):
            assert rules[reason]["title_zh"] in text and rules[reason]["fix_zh"] in text, (rule.field, reason)
        if rule.code_table:
            names = code_tables()[rule.code_table].names.values()
            shown = text if all(name in text for name in names) else zh.table(rule.code_table)
            assert all(name in shown for name in names), rule.code_table
    assert time_limit_zh(item) in text
    if version.time_limit:
        limit = version.time_limit
        labels = field_dictionary()
        assert labels[limit.from_].zh_header in text and labels[limit.to].zh_header in text
        assert not limit.working_days or "不含周六、周日和法定节假日" in text
    tiers = {"community": "社区（村）", "street": "街道（乡镇）", "district": "区", "city": "市"}
    for step in version.steps:
        assert step.zh in text and tiers[step.tier] in text


def test_the_handbook_is_one_offline_file_laid_out_for_a4(zh: Page) -> None:
    html = render_handbook(catalogue(), as_of=AS_OF)
    assert not re.search(r"https?://|<script|<link|<img|@import|url\(", html)
    assert "size: A4" in html and "break-before: page" in html and "Microsoft YaHei" in html
    assert "@bottom-center" in html and "counter(page)" in html  # footer with page numbers on every sheet
    assert "天津市人力资源和社会保障公共服务事项" in zh.text and "统一标准手册" in zh.text
    assert f"标准适用日期{AS_OF.isoformat()}" in zh.text.replace(" ", "")
    for category in ("就业", "社会保险", "社会保障卡"):
        assert category in zh.text
    assert any(tag == "meta" and attrs.get("name") == "catalogue-fingerprint" for tag, attrs in zh.tags)


def test_escaping_keeps_catalogue_text_as_text(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    path, data = first_item_with_documents(folder)
    data["aliases"] = [*data.get("aliases", []), "<b>粗体</b>"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    items, rules = read_catalogue(folder)
    html = render_handbook(items, rules=rules, as_of=AS_OF)
    assert "<b>粗体</b>" not in html and "&lt;b&gt;粗体&lt;/b&gt;" in html


def copy_catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, folder)
    return folder


def first_item_with_documents(folder: Path) -> tuple[Path, dict[str, Any]]:
    for path in sorted(folder.glob("[!_]*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if all(version.get("documents") for version in data["versions"]):
            return path, data
    raise AssertionError("no catalogue item lists documents")


def test_a_catalogue_edit_shows_up_without_a_code_change(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    path, data = first_item_with_documents(folder)
    for version in data["versions"]:
        version["documents"][0]["aliases"] = [*version["documents"][0].get("aliases", []), "人社专用测试证明"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rules = yaml.safe_load((folder / "_rules.yaml").read_text(encoding="utf-8"))
    rules["DOC_MISSING"]["fix_zh"] = "到窗口补交要件（测试）"
    (folder / "_rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")

    items, texts = read_catalogue(folder)
    page = parse(render_handbook(items, rules=texts, as_of=AS_OF))
    shipped = parse(render_handbook(catalogue(), as_of=AS_OF))
    assert "人社专用测试证明" in page.item(data["code"]) and "人社专用测试证明" not in shipped.text
    assert "到窗口补交要件（测试）" in page.item(data["code"])
    fingerprints = [
        next(a["content"] for t, a in p.tags if a.get("name") == "catalogue-fingerprint") for p in (page, shipped)
    ]
    assert fingerprints[0] != fingerprints[1]


def test_the_version_in_force_on_the_date_is_shown_with_the_others_noted(tmp_path: Path) -> None:
    folder = copy_catalogue(tmp_path)
    path, data = first_item_with_documents(folder)
    current = data["versions"][-1]
    assert current["effective_to"] is None and current["time_limit"]
    current["effective_to"] = dt.date(2027, 1, 1)
    successor = {
        **current,
        "version": "2027.1",
        "effective_from": dt.date(2027, 1, 1),
        "effective_to": None,
        "time_limit": {**current["time_limit"], "working_days": 97},
    }
    data["versions"].append(successor)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    items, rules = read_catalogue(folder)

    now = parse(render_handbook(items, rules=rules, as_of=AS_OF)).item(data["code"])
    later = parse(render_handbook(items, rules=rules, as_of=dt.date(2027, 3, 1))).item(data["code"])
    assert f"{current['version']}版，{current['effective_from']}至2026-12-31施行" in now
    assert "97个工作日" not in now and "2027.1版，自2027-01-01起施行" in now  # noted as another version
    assert "97个工作日" in later and "2027.1版，自2027-01-01起施行" in later


def test_the_english_edition_uses_english_names(en: Page) -> None:
    assert "unified standards handbook" in en.text and "Time limit" in en.text
    for code in ITEMS:
        item = catalogue().items[code]
        version = version_on(item, AS_OF)[0]
        text = en.item(code)
        assert item.name_en in text
        assert all(rule.field in text for rule in version.fields if not rule.carried)
        assert all(step.en in text for step in version.steps)
        if version.time_limit and version.time_limit.working_days:
            assert f"{version.time_limit.working_days} working days" in text
    assert any(tag == "html" and attrs.get("lang") == "en" for tag, attrs in en.tags)


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ConfigError, match="no language 'fr'"):
        render_handbook(catalogue(), language="fr")


def test_cli_writes_the_handbook_and_lists_the_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = tmp_path / "out" / "手册.html"
    result = runner.invoke(app, ["standards", "handbook", "--out", str(out), "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output.replace("\n", "") and "Ctrl+P" in result.output
    assert parse(out.read_text(encoding="utf-8")).items() == set(ITEMS)

    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["standards", "handbook"]).exit_code == 0
    assert runner.invoke(app, ["standards", "handbook", "--lang", "en"]).exit_code == 0
    assert "Unemployment" in (tmp_path / "handbook.en.html").read_text(encoding="utf-8")
    assert "失业登记" in (tmp_path / "handbook.html").read_text(encoding="utf-8")

    listing = runner.invoke(app, ["standards", "list"])
    assert listing.exit_code == 0, listing.output
    assert all(code in listing.output for code in ITEMS)

    bad = runner.invoke(app, ["standards", "handbook", "--as-of", "31/01/2026"])
    assert isinstance(bad.exception, ConfigError) and "YYYY-MM-DD" in str(bad.exception)
    missing = runner.invoke(app, ["standards", "list", "--catalogue", str(tmp_path / "nowhere")])
    assert "no _rules.yaml" in str(missing.exception)


def test_pdf_without_chromium_says_how_to_print_from_a_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / "handbook.html"
    html.write_text(render_handbook(catalogue(), as_of=AS_OF), encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChromiumNotFound, match=r"Ctrl\+P"):
        print_pdf(html, tmp_path / "handbook.pdf")
    with pytest.raises(PdfPrintFailed, match="without writing"):
        print_pdf(html, tmp_path / "handbook.pdf", chromium=shutil.which("false", path="/usr/bin:/bin"))


@pytest.mark.slow
def test_the_handbook_prints_to_pdf_with_headless_chromium(tmp_path: Path) -> None:
    require_program("chromium")
    out = tmp_path / "handbook.html"
    result = CliRunner().invoke(app, ["standards", "handbook", "--out", str(out), "--pdf"])
    assert result.exit_code == 0, result.output
    pdf = (tmp_path / "handbook.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 2 + len(ITEMS)  # cover, contents, then every item starts a page
