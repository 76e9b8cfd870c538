"""The staff handbook (统一标准手册): the standards catalogue rendered as printable HTML.

The handbook reads the very files the validator compiles — ``tierhub/catalogue/*.yaml``,
``_rules.yaml``, the field dictionary and the code tables — so a printed copy describes
exactly the rules applied to the data. The page layout and the handbook's own words live in
``reports/templates/``; nothing here restates a standard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment
from markupsafe import Markup

from quality.checks import check_for, validate_version
from reports.jinja import environment
from tierhub.errors import CatalogueError, ConfigError, TierhubError
from tierhub.reference import code_tables, field_dictionary, normalise_label
from tierhub.standards import (
    CATALOGUE_DIR,
    Catalogue,
    FieldRule,
    ItemStandard,
    StandardVersion,
    TimeLimit,
    catalogue,
    rule_messages,
)

LANGUAGES = ("zh", "en")
CATEGORY_ORDER = ("employment", "social_insurance", "social_security_card", "labour_relations", "base")
INLINE_CODES = 12  # a code table this short is listed in the field's row; a longer one in the appendix
RuleTexts = Mapping[str, Mapping[str, str]]

# Rule codes of a field's attributes (type, min/max, pattern); a check's codes come from its
# object in quality/checks/.
ATTRIBUTE_RULES: dict[str, tuple[str, ...]] = {
    "decimal": ("NUMBER_FORMAT",),
    "integer": ("NUMBER_FORMAT",),
    "range": ("VALUE_RANGE",),
    "pattern": ("PATTERN_MISMATCH",),
}


class ChromiumNotFound(TierhubError):
    """No headless Chromium is installed to print the handbook to PDF."""


class PdfPrintFailed(TierhubError):
    """Chromium ran but did not write a PDF."""


# -- what the template shows -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A required document (要件) as printed."""

    code: str
    name: str
    aliases: tuple[str, ...]
    required: bool


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of an item as printed: label, accepted values and the checks run on it."""

    name: str
    label: str
    secondary: str
    headers: tuple[str, ...]
    required: bool
    type: str
    values: tuple[str, ...]
    codes: tuple[tuple[str, str], ...]
    appendix: tuple[str, str] | None  # (anchor, link text)
    pattern: str | None
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReasonRow:
    """A quarantine reason an item's rows can get, with its fix."""

    code: str
    title: str
    fields: tuple[str, ...]
    fix: str


@dataclass(frozen=True, slots=True)
class ItemView:
    """One service item (事项) as printed."""

    code: str
    anchor: str
    name: str
    other_name: str
    aliases: tuple[str, ...]
    category: str
    owner: str
    version: StandardVersion
    version_text: str
    business_date: str
    other_versions: tuple[str, ...]
    documents: tuple[DocumentRow, ...]
    fields: tuple[FieldRow, ...]
    time_limit: str
    time_limit_detail: tuple[str, ...]
    date_order: tuple[str, ...]
    steps: tuple[tuple[str, str, str], ...]  # (tier, tier label, text)
    reasons: tuple[ReasonRow, ...]


@dataclass(frozen=True, slots=True)
class CategoryView:
    """A category of the table of contents."""

    key: str
    title: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True, slots=True)
class CodeTableView:
    """A code table printed in the appendix."""

    name: str
    anchor: str
    letter: str
    title: str
    used_by: tuple[str, ...]
    rows: tuple[tuple[str, str, str], ...]  # (code, name, other accepted texts)


@dataclass(frozen=True, slots=True)
class Handbook:
    """Everything the template renders."""

    language: str
    labels: Mapping[str, Any]
    as_of: dt.date
    generated: dt.date
    fingerprint: str
    summary: str
    categories: tuple[CategoryView, ...]
    items: tuple[ItemView, ...]
    tables: tuple[CodeTableView, ...]


# -- reading --------------------------------------------------------------------------------
@cache
def labels(language: str) -> dict[str, Any]:
    """The handbook's own words in one language (``reports/templates/labels.yaml``)."""
    if language not in LANGUAGES:
        raise ConfigError(f"the handbook has no language {language!r}", fix=f"use one of {', '.join(LANGUAGES)}")
    text = (resources.files("reports") / "templates" / "labels.yaml").read_text(encoding="utf-8")
    words: dict[str, Any] = yaml.safe_load(text)[language]
    return words


def read_catalogue(directory: Path | None = None) -> tuple[Catalogue, dict[str, dict[str, str]]]:
    """The item standards and rule texts of a catalogue folder (default: the shipped one)."""
    folder = directory or CATALOGUE_DIR
    if not (folder / "_rules.yaml").is_file():
        raise CatalogueError(
            "no _rules.yaml in the catalogue folder", path=str(folder), fix="point --catalogue at a catalogue folder"
        )
    items = catalogue(folder)
    if len(items) == 0:
        raise CatalogueError("the catalogue folder holds no item files", path=str(folder), fix="add <CODE>_<名称>.yaml")
    return items, rule_messages(folder)


def ordered_items(items: Catalogue) -> list[ItemStandard]:
    """Items in handbook order: by category (就业, 社会保险, …), then by code."""
    rank = {key: i for i, key in enumerate(CATEGORY_ORDER)}
    return sorted(items.items.values(), key=lambda item: (rank.get(item.category, len(rank)), item.category, item.code))


def version_on(item: ItemStandard, day: dt.date) -> tuple[StandardVersion, str]:
    """The version to print for a day and whether it is ``in_force``, ``future`` or ``expired`` then."""
    if not item.versions:
        raise CatalogueError(f"item {item.code} {item.name_zh} has no standard version", fix="add a version")
    for version in item.versions:
        if version.in_force(day):
            return version, "in_force"
    upcoming = sorted((v for v in item.versions if v.effective_from > day), key=lambda v: v.effective_from)
    if upcoming:
        return upcoming[0], "future"
    return max(item.versions, key=lambda v: v.effective_from), "expired"


def fingerprint(items: Catalogue, rules: RuleTexts) -> str:
    """A short hash of every item standard and rule text: any edit to the files changes it."""
    payload = {
        "items": [item.model_dump(mode="json", by_alias=True) for item in ordered_items(items)],
        "rules": {code: dict(texts) for code, texts in rules.items()},
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- building the view -------------------------------------------------------------------------
def field_label(name: str, language: str) -> str:
    """A field's printed name: the dictionary's Chinese header, or the canonical name in English."""
    spec = field_dictionary().get(name)
    return (spec.zh_header if spec else name) if language == "zh" else name


def _known(codes: tuple[str, ...], rules: RuleTexts) -> list[str]:
    # A catalogue folder whose _rules.yaml lacks a code still lists it (titled by its code).
    return [code for code in codes if code in rules] or list(codes)


def field_rule_codes(rule: FieldRule, version: StandardVersion, rules: RuleTexts) -> list[str]:
    """The rule codes a field's values can fail, in the order the validator checks them."""
    kind = getattr(rule, "type", "string")
    codes = ["REQUIRED_MISSING"] if rule.required else []
    if rule.code_table:
        codes.append("CODE_UNKNOWN")
    if kind == "date":
        codes.append("DATE_FORMAT")
    elif kind in ("decimal", "integer"):
        codes += _known(ATTRIBUTE_RULES[kind], rules)
    if getattr(rule, "min", None) is not None or getattr(rule, "max", None) is not None:
        codes += _known(ATTRIBUTE_RULES["range"], rules)
    if getattr(rule, "pattern", None):
        codes += _known(ATTRIBUTE_RULES["pattern"], rules)
    check = check_for(rule)
    if check is not None:
        codes += _known(check.rules, rules)
    names = {f.field for f in version.fields}
    if any(later == rule.field and earlier in names for earlier, later in version.date_order):
        codes.append("DATE_ORDER")
    limit = version.time_limit
    if limit and limit.to == rule.field and limit.from_ in names:
        calendar = getattr(limit, "calendar_days", None) is not None
        codes.append("TIME_LIMIT_EXCEEDED_CALENDAR" if calendar else "TIME_LIMIT_EXCEEDED")
    if rule.field == "documents" and any(d.required for d in version.documents):
        codes.append("DOC_MISSING")
    return list(dict.fromkeys(codes))


def _title(code: str, rules: RuleTexts, language: str) -> str:
    return rules.get(code, {}).get(f"title_{language}", code)


def _date_range(version: StandardVersion, t: Mapping[str, Any], status: str, as_of: dt.date) -> str:
    start = version.effective_from.isoformat()
    # effective_to is the first day no longer covered: print the last day that is.
    end = (version.effective_to - dt.timedelta(days=1)).isoformat() if version.effective_to else ""
    if status == "future":
        template = t["version_future"]
    elif status == "expired" and version.effective_to:
        template = t["version_expired"]
    else:
        template = t["version_bounded"] if version.effective_to else t["version_in_force"]
    return str(template).format(version=version.version, start=start, end=end, as_of=as_of.isoformat())


def time_limit_words(limit: TimeLimit | None, language: str) -> tuple[str, tuple[str, ...]]:
    """A time limit in words ("5个工作日") and how it is counted (between which dates, which days)."""
    t = labels(language)
    if limit is None:
        return t["time_limit_none"], ()
    working = getattr(limit, "working_days", None)
    calendar = getattr(limit, "calendar_days", None)
    span = t["time_limit_span"].format(start=field_label(limit.from_, language), end=field_label(limit.to, language))
    if working is None and calendar is not None:  # a law counting calendar days (labour-dispute mediation)
        return t["time_limit_calendar_days"].format(days=calendar), (span, t["time_limit_calendar_rule"])
    if not working:
        return t["time_limit_on_the_spot"], (span,)
    return t["time_limit_days"].format(days=working), (span, t["time_limit_rule"])


class _Builder:
    """Turns catalogue objects into the rows the template prints."""

    def __init__(self, language: str, rules: RuleTexts, as_of: dt.date) -> None:
        self.language = language
        self.t = labels(language)
        self.rules = rules
        self.as_of = as_of
        self.tables: dict[str, list[str]] = {}  # code table → labels of the fields using it
        self.standards: dict[str, str] = {}  # code table → the standard the field dictionary names

    def _appendix_letter(self, table: str) -> str:
        return chr(ord("A") + list(self.tables).index(table))

    def field_row(self, rule: FieldRule, version: StandardVersion) -> FieldRow:
        t, language = self.t, self.language
        spec = field_dictionary().get(rule.field)
        label = field_label(rule.field, language)
        kind = str(getattr(rule, "type", "string"))
        check = check_for(rule)
        values: list[str] = []
        codes: tuple[tuple[str, str], ...] = ()
        appendix: tuple[str, str] | None = None
        standard = spec.standard if spec and spec.standard not in ("", "—") else ""
        if language == "zh":  # staff read national standard numbers, not the dictionary's English notes
            standard = standard.split(" (")[0] if standard.startswith("GB") else ""
        if rule.code_table:
            table = code_tables().get(rule.code_table)
            users = self.tables.setdefault(rule.code_table, [])
            if label not in users:
                users.append(label)
            local = getattr(table, "is_local", rule.code_table.startswith("local_"))
            name = t["local_table"].format(table=rule.code_table) if local else standard or rule.code_table
            self.standards.setdefault(rule.code_table, name)
            if getattr(rule, "multiple", False):
                values.append(t["multiple_codes"])
            if table is not None and len(table.names) <= INLINE_CODES:
                values.append(t["code_table_inline"].format(standard=name))
                codes = tuple(table.names.items())
            else:
                count = len(table.names) if table else 0
                letter = self._appendix_letter(rule.code_table)
                text = t["code_table_appendix"].format(standard=name, count=count, appendix=letter)
                appendix = (f"table-{rule.code_table}", text)
        elif standard and (check is None or check.shows_standard):
            values.append(standard)
        hint = check.handbook_hint(rule, language) if check else None
        if hint:
            values.append(hint)
        if kind in ("date", "decimal", "integer"):
            values.append(t[f"{kind}_hint"])
        low, high = getattr(rule, "min", None), getattr(rule, "max", None)
        if low is not None:
            values.append(t["range_min"].format(value=low))
        if high is not None:
            values.append(t["range_max"].format(value=high))
        hint, regex = getattr(rule, "pattern_hint", None), getattr(rule, "pattern", None)
        if hint:
            values.append(str(hint))
        shown_regex = regex if regex and (language == "en" or not hint) else None
        # "required" has its own column; the checks column lists what is checked on a value.
        checked = [c for c in field_rule_codes(rule, version, self.rules) if c != "REQUIRED_MISSING"]
        checks = tuple(_title(c, self.rules, language) for c in checked)
        headers = (*(() if language == "zh" or spec is None else (spec.zh_header,)), *(spec.aliases if spec else ()))
        return FieldRow(
            name=rule.field,
            label=label,
            secondary=(spec.zh_header if spec else "") if language == "en" else "",
            headers=tuple(headers),
            required=rule.required,
            type=str(t["types"].get(kind, kind)),
            values=tuple(values),
            codes=codes,
            appendix=appendix,
            pattern=str(shown_regex) if shown_regex else None,
            checks=checks,
        )

    def reasons(self, version: StandardVersion) -> tuple[ReasonRow, ...]:
        fields: dict[str, list[str]] = {}
        for rule in (r for r in version.fields if not r.carried):
            for code in field_rule_codes(rule, version, self.rules):
                fields.setdefault(code, []).append(field_label(rule.field, self.language))
        # The validator flags two rows of a file with the same key and business date.
        key = tuple(getattr(version, "duplicate_key", ("id_number",)))
        if key and all(version.field(name) is not None for name in key):
            fields["DUPLICATE_ROW"] = [field_label(name, self.language) for name in key]
        lang = self.language
        return tuple(
            ReasonRow(
                code=code,
                title=_title(code, self.rules, lang),
                fields=tuple(dict.fromkeys(names)),
                fix=self.rules.get(code, {}).get(f"fix_{lang}", ""),
            )
            for code, names in fields.items()
        )

    def item(self, item: ItemStandard) -> ItemView:
        t, language = self.t, self.language
        version, status = version_on(item, self.as_of)
        others = tuple(
            _date_range(v, t, "in_force", self.as_of)
            for v in sorted(item.versions, key=lambda v: v.effective_from)
            if v is not version
        )
        time_limit, detail = time_limit_words(version.time_limit, language)
        fields = tuple(self.field_row(rule, version) for rule in version.fields if not rule.carried)
        return ItemView(
            code=item.code,
            anchor=f"item-{item.code}",
            name=item.name_zh if language == "zh" else item.name_en,
            other_name="" if language == "zh" else item.name_zh,
            aliases=item.aliases,
            category=str(t["categories"].get(item.category, item.category)),
            owner=str(t["owners"].get(item.owner_system, item.owner_system)),
            version=version,
            version_text=_date_range(version, t, status, self.as_of),
            business_date=t["business_date"].format(field=field_label(version.business_date, language)),
            other_versions=others,
            documents=tuple(
                DocumentRow(code=d.code, name=d.name_zh, aliases=d.aliases, required=d.required)
                for d in version.documents
            ),
            fields=fields,
            time_limit=time_limit,
            time_limit_detail=detail,
            date_order=tuple(
                t["date_order_rule"].format(earlier=field_label(a, language), later=field_label(b, language))
                for a, b in version.date_order
            ),
            steps=tuple(
                (s.tier, str(t["tiers"].get(s.tier, s.tier)), s.zh if language == "zh" else s.en) for s in version.steps
            ),
            reasons=self.reasons(version),
        )

    def code_table(self, name: str) -> CodeTableView:
        table = code_tables().get(name)
        users = self.tables[name]
        standard = self.standards.get(name, name)
        title = f"{'、'.join(users)}（{standard}）" if self.language == "zh" else f"{', '.join(users)} ({standard})"
        rows: list[tuple[str, str, str]] = []
        if table is not None:
            others: dict[str, list[str]] = {}
            for text, code in table.lookup.items():
                if code in table.names and text not in (normalise_label(code), normalise_label(table.names[code])):
                    others.setdefault(code, []).append(text.upper() if text.isascii() else text)
            sep = str(self.t["list_sep"])
            rows = [(code, label, sep.join(others.get(code, []))) for code, label in table.names.items()]
        return CodeTableView(
            name=name,
            anchor=f"table-{name}",
            letter=self._appendix_letter(name),
            title=title,
            used_by=tuple(users),
            rows=tuple(rows),
        )


def build_handbook(
    items: Catalogue,
    *,
    language: str = "zh",
    as_of: dt.date | None = None,
    rules: RuleTexts | None = None,
    generated: dt.date | None = None,
) -> Handbook:
    """Everything the handbook prints, in handbook order."""
    t = labels(language)
    rules = rule_messages() if rules is None else rules
    for item in items.items.values():
        for version in item.versions:
            validate_version(item, version)
    day = as_of or dt.date.today()
    builder = _Builder(language, rules, day)
    views = [builder.item(item) for item in ordered_items(items)]
    categories: dict[str, list[ItemView]] = {}
    for item, view in zip(ordered_items(items), views, strict=True):
        categories.setdefault(item.category, []).append(view)
    versions = [v for item in items.items.values() for v in item.versions]
    summary = t["catalogue_summary"].format(
        items=len(items), versions=len(versions), latest=max(v.effective_from for v in versions).isoformat()
    )
    return Handbook(
        language=language,
        labels=t,
        as_of=day,
        generated=generated or dt.date.today(),
        fingerprint=fingerprint(items, rules),
        summary=summary,
        categories=tuple(
            CategoryView(key=key, title=str(t["categories"].get(key, key)), items=tuple(group))
            for key, group in categories.items()
        ),
        items=tuple(views),
        tables=tuple(builder.code_table(name) for name in builder.tables),
    )


# -- rendering ----------------------------------------------------------------------------------
def css_string(text: object) -> Markup:
    """A CSS string literal for text put inside ``<style>`` (where HTML escapes do not apply)."""
    escaped = "".join(ch if ch.isalnum() or ch in " ，、,.:：;；()（）/-" else f"\\{ord(ch):x} " for ch in str(text))
    return Markup(f'"{escaped}"')


@cache
def _environment() -> Environment:
    return environment(css_string=css_string)


def render_handbook(
    items: Catalogue,
    *,
    language: str = "zh",
    as_of: dt.date | None = None,
    rules: RuleTexts | None = None,
    generated: dt.date | None = None,
) -> str:
    """The catalogue as one self-contained HTML handbook (inline CSS, A4 print layout).

    Each item shows the version of its standard in force on ``as_of`` (default today).
    ``rules`` are the rule texts of ``_rules.yaml`` (default: the shipped catalogue's).
    """
    view = build_handbook(items, language=language, as_of=as_of, rules=rules, generated=generated)
    return _environment().get_template("handbook.html.j2").render(h=view, t=view.labels)


# -- printing ------------------------------------------------------------------------------------
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(names: Iterable[str] = CHROMIUM_NAMES) -> str | None:
    """The path of an installed Chromium or Chrome, if any."""
    return next((path for name in names if (path := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, *, chromium: str | None = None, timeout: float = 180.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (the page's own A4 layout, no browser header)."""
    browser = chromium or find_chromium()
    if browser is None:
        raise ChromiumNotFound(
            f"no Chromium found to print {html} (looked for {', '.join(CHROMIUM_NAMES)})",
            fix="open the HTML file in a browser and print it to PDF (Ctrl+P, A4, background graphics on, "
            "headers and footers off), or install Chromium: apt-get install chromium",
        )
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="tierhub-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf.resolve()}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PdfPrintFailed(
                f"{browser} did not finish printing {html} within {timeout:.0f} s", fix="print it from a browser"
            ) from None
    if not pdf.is_file() or pdf.read_bytes()[:4] != b"%PDF":
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PdfPrintFailed(
            f"{browser} exited {done.returncode} without writing {pdf}: {' | '.join(tail) or 'no output'}",
            fix="print the HTML file from a browser (Ctrl+P)",
        )
    return pdf
