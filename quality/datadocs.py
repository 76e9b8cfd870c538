"""Great Expectations Data Docs for a sync run, one set per district, kept on disk.

The rows were judged by the compiled DuckDB engine (``quality.rules``); the verdicts of the
run's loads become one GX validation result per item and standard version, against that
version's GX suite (``quality.suites``), rendered by GX's own Data Docs renderer. That the
compiled engine and GX's engine find the same rows for every expectation is proved by
``tests/test_suites.py``; see docs/decisions/0006-gx-execution-path.md.

Decision 0021 (issue #15): the docs are published per district — ``<run>/<district6>/``
holds only that district's rows, failing values masked (``tierhub.masking.mask_value``) for
the district report's readers; ``<run>/engineers/<district6>/`` holds the same pages with
the values as received, for the engineers, and nothing links there from a report. Every
value written into a page is escaped; the CDN scripts and stylesheets GX's renderer emits
are dropped, a local stylesheet is inlined and a Content-Security-Policy forbids scripts.
"""

from __future__ import annotations

import datetime as dt
import html
import multiprocessing
import os
import re
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from quality import gx_compat
from quality.suites import RuleKey, SuiteBuilder, suite_name
from quality.verdicts import standard_fields
from tierhub.masking import mask_value
from tierhub.reference import divisions
from tierhub.reference.local import LocalAliases, active_local_aliases, use_local_aliases
from tierhub.scope import Scope
from tierhub.sql import ident, lit
from tierhub.standards import Catalogue, ItemStandard, catalogue

ENGINEERS = "engineers"  # the unmasked copy's folder inside a run's folder
EXAMPLES = 20  # failing values kept per expectation, as ops.rule_failures keeps them
# From this many districts with pages, a run's Data Docs render in one worker process per core.
PARALLEL_DISTRICTS = 3
# No script at all, nothing fetched from anywhere: styles are inlined, images only as data URIs.
CSP = (
    "default-src 'none'; script-src 'none'; object-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
HEAD = (
    f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
    '<meta name="referrer" content="no-referrer">\n'
    '<meta charset="utf-8">\n'
)


@dataclass(frozen=True, slots=True)
class SuitePage:
    """One rendered page of a district's Data Docs."""

    item_code: str
    name_zh: str
    name_en: str
    version: str
    rows: int
    failed_expectations: int
    expectations: int
    file: str


@dataclass(frozen=True, slots=True)
class Example:
    """A failing value as received, with the record's change_item (what a changed value is)."""

    value: str
    change_item: str | None


@dataclass
class DistrictVerdicts:
    """What the run's loads found in one district's rows, per item and standard version."""

    district: Scope
    # (item, version) → field → (rows checked, rows where the field was blank)
    checks: dict[tuple[str, str], dict[str, tuple[int, int]]] = field(default_factory=lambda: defaultdict(dict))
    # (item, version) → (rule, field, detail) → [rows failed, examples]
    failures: dict[tuple[str, str], dict[tuple[str, str, str | None], tuple[int, list[Example]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def add_failures(self, rows: list[tuple[Any, ...]]) -> None:
        """Merge (item, version, rule, field, detail, count, examples) rows from one table."""
        for item_code, version, rule, fld, detail, count, examples in rows:
            key = (str(rule), str(fld), None if detail is None else str(detail))
            by_rule = self.failures[(str(item_code), str(version))]
            before, kept = by_rule.get(key, (0, []))
            found = [Example(str(e["value"]), e["change_item"]) for e in examples]
            by_rule[key] = (before + int(count), (kept + found)[:EXAMPLES])


def _file_name(item_code: str, version: str) -> str:
    return f"{item_code}@{version}.html".replace("/", "_")


def _blank(column: str, kind: str) -> str:
    if kind.endswith("[]"):
        return f"coalesce(len({column}), 0) = 0"
    if kind == "VARCHAR":
        return f"nullif(trim({column}), '') IS NULL"
    return f"{column} IS NULL"


class _Verdicts(dict[str, DistrictVerdicts]):
    """District (6 digits) → its verdicts, made on first use."""

    def __missing__(self, code: str) -> DistrictVerdicts:
        # A source's first six digits are its district (a city-level source's are 120000: the city).
        self[code] = made = DistrictVerdicts(Scope(code.ljust(12, "0")))
        return made


def run_verdicts(
    con: duckdb.DuckDBPyConnection, load_ids: list[str], standards: Catalogue, scope: Scope | None = None
) -> dict[str, DistrictVerdicts]:
    """The verdicts of these loads, per district (6 digits) of the rows' sources inside ``scope``.

    Read from the rows themselves (fact tables, ``quarantine.rows``, ``core.warnings``), not
    from ``ops.rule_checks``, whose counts are per load and a load spans districts (decision
    0014). A field counts as missing where the stored value is blank. One query per item and
    table, grouped by district.
    """
    verdicts = _Verdicts()
    where = "list_contains($loads, load_id) AND starts_with(source_id, $prefix)"
    params: dict[str, object] = {"loads": load_ids, "prefix": (scope or Scope.city()).prefix}
    items = con.execute(
        "SELECT DISTINCT f.item_code, i.fact_table FROM ops.files f JOIN ref.items i ON i.code = f.item_code "
        "WHERE list_contains($loads, f.load_id) AND starts_with(f.source_id, $prefix) ORDER BY 1",
        params,
    ).fetchall()
    for item_code, fact in items:
        item = standards.items.get(str(item_code))
        if item is None:
            continue  # the catalogue no longer has it; its history stays in the warehouse
        schema, name = str(fact).split(".")
        columns = {
            str(c): str(t)
            for c, t in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ?",
                [schema, name],
            ).fetchall()
        }
        _count_rows(con, verdicts, item, str(fact), columns, where, params)
        change = "t.change_item" if "change_item" in columns else "NULL"
        _add_failures(
            verdicts,
            con.execute(
                "SELECT left(w.source_id, 6), w.item_code, t.standard_version, w.rule, w.field, "
                "CASE WHEN w.rule = 'DOC_MISSING' THEN w.detail END, count(*), "
                f"list({{'value': coalesce(w.value, ''), 'change_item': {change}}} "
                f"ORDER BY w.file_id, w.row_number)[1:{EXAMPLES}] "
                f"FROM core.warnings w JOIN {fact} t USING (file_id, row_number) "
                "WHERE list_contains($loads, w.load_id) AND starts_with(w.source_id, $prefix) "
                f"AND w.item_code = {lit(item.code)} GROUP BY ALL",
                params,
            ).fetchall(),
        )
    _add_failures(
        verdicts,
        con.execute(
            "SELECT left(source_id, 6), item_code, standard_version, r.rule, r.field, "
            "CASE WHEN r.rule = 'DOC_MISSING' THEN r.detail END, count(*), "
            f"list({{'value': coalesce(r.value, ''), 'change_item': change_item}} "
            f"ORDER BY file_id, row_number)[1:{EXAMPLES}] "
            "FROM (SELECT source_id, item_code, standard_version, file_id, row_number, "
            f"raw->>'change_item' AS change_item, unnest(reasons) AS r FROM quarantine.rows WHERE {where}) "
            "GROUP BY ALL",
            params,
        ).fetchall(),
    )
    return dict(sorted(verdicts.items()))


def district_verdicts(
    con: duckdb.DuckDBPyConnection, load_ids: list[str], district: Scope, standards: Catalogue
) -> DistrictVerdicts:
    """The verdicts of these loads on the rows of one district's sources (see ``run_verdicts``)."""
    found = run_verdicts(con, load_ids, standards, Scope.district(district))
    return found.get(district[:6]) or DistrictVerdicts(Scope.district(district))


def _add_failures(verdicts: _Verdicts, rows: list[tuple[Any, ...]]) -> None:
    for district, *row in rows:
        verdicts[str(district)].add_failures([tuple(row)])


def _count_rows(
    con: duckdb.DuckDBPyConnection,
    verdicts: _Verdicts,
    item: ItemStandard,
    fact: str,
    columns: dict[str, str],
    where: str,
    params: dict[str, object],
) -> None:
    """Rows checked and blank per field: the loaded rows' stored values and the quarantined rows' raw cells."""
    fields = standard_fields(item)
    loaded = ", ".join(
        f"count(*) FILTER (WHERE {_blank(ident(f), columns[f])})" if f in columns else "count(*)" for f in fields
    )
    quarantined = ", ".join(f"count(*) FILTER (WHERE {_blank(f'(raw->>{lit(f)})', 'VARCHAR')})" for f in fields)
    for table, blanks in ((fact, loaded), ("quarantine.rows", quarantined)):
        found = con.execute(
            f"SELECT left(source_id, 6), standard_version, count(*), {blanks} FROM {table} WHERE {where} "
            f"AND item_code = {lit(item.code)} GROUP BY ALL",
            params,
        ).fetchall()
        for district, version, rows, *missing in found:
            counts = verdicts[str(district)].checks[(item.code, str(version))]
            for f, n in zip(fields, missing, strict=True):
                before = counts.get(f, (0, 0))
                counts[f] = (before[0] + int(rows), before[1] + int(n))


# -- worker processes, started ahead of the render --------------------------------------------------

_workers: ProcessPoolExecutor | None = None


def start_workers() -> None:
    """Start the Data Docs worker processes now, one per core, each importing GX (~3 s of one core).

    For a caller that knows pages will be rendered and has other work first (generating the demo
    city, committing batches): the import then overlaps that work, and ``build_data_docs`` uses
    these workers whatever the number of districts. Calling it again does nothing;
    ``stop_workers`` ends them.
    """
    global _workers
    if _workers is not None:
        return
    count = os.cpu_count() or 1
    _workers = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"), initializer=_warm)
    for _ in range(count):  # processes are spawned on demand: one submission each starts them all
        _workers.submit(int)


def stop_workers() -> None:
    """End the worker processes ``start_workers`` started (idle ones exit at once)."""
    global _workers
    if _workers is not None:
        workers, _workers = _workers, None
        workers.shutdown(wait=True, cancel_futures=True)


def _warm() -> None:
    gx_compat.preload()


def build_data_docs(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    load_ids: list[str],
    *,
    run_label: str,
    today: dt.date,
    standards: Catalogue | None = None,
) -> Path | None:
    """Render the Data Docs of these loads into ``out_dir``, one folder per district and the engineers' copy.

    ``<out_dir>/<district6>/index.html`` (values masked) is what a district's report links to;
    ``<out_dir>/engineers/<district6>/`` holds the same pages unmasked. Returns the engineers'
    index page (``<out_dir>/engineers/index.html``), or None if nothing was judged.
    """
    if not load_ids:
        return None
    found = [v for v in run_verdicts(con, load_ids, standards or catalogue()).values() if v.checks]
    if not found:
        return None
    workers = min(len(found), os.cpu_count() or 1) if len(found) >= PARALLEL_DISTRICTS else 1
    aliases = active_local_aliases()  # worker processes label code tables as this process does
    jobs = [(out_dir, v, run_label, today, aliases) for v in found]
    if _workers is not None and standards is None:
        # Started ahead (start_workers): GX is imported there already, so even one district goes there.
        counts = list(_workers.map(_write_both, jobs))
    elif workers > 1 and standards is None:
        # GX renders a page in ~50 ms of pure Python: the city's 16 districts × 2 copies × ~33 pages
        # took ~55 s in one process. Districts are independent: one worker process per core
        # (spawned: each imports GX once, ~3 s). A catalogue given by the caller stays in process.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            counts = list(pool.map(_write_both, jobs))
    else:
        suites: dict[tuple[str, str], Any] = {}  # one suite per item version, for every district and both copies
        counts = [_write_both((out_dir, v, run_label, today, None), standards or catalogue(), suites) for v in found]
    written = [(v.district, n) for v, n in zip(found, counts, strict=True)]
    index = out_dir / ENGINEERS / "index.html"
    index.write_text(_engineers_index(written, run_label), encoding="utf-8")
    return index


def _write_both(
    job: tuple[Path, DistrictVerdicts, str, dt.date, LocalAliases | None],
    standards: Catalogue | None = None,
    suites: dict[tuple[str, str], Any] | None = None,
) -> int:
    """One district's pages, masked for the district and unmasked for the engineers; how many.

    In a worker process the job carries the local code aliases in force in the run (else None).
    """
    out_dir, verdicts, run_label, today, aliases = job
    if aliases is not None:
        use_local_aliases(aliases)
    standards = standards or catalogue()
    suites = {} if suites is None else suites
    district = verdicts.district
    pages: list[SuitePage] = []
    for masked, folder in ((True, out_dir / district[:6]), (False, out_dir / ENGINEERS / district[:6])):
        pages = _write_district(
            folder, verdicts, masked=masked, run_label=run_label, today=today, standards=standards, suites=suites
        )
    return len(pages)


def _write_district(
    folder: Path,
    verdicts: DistrictVerdicts,
    *,
    masked: bool,
    run_label: str,
    today: dt.date,
    standards: Catalogue,
    suites: dict[tuple[str, str], Any],
) -> list[SuitePage]:
    folder.mkdir(parents=True, exist_ok=True)
    pages: list[SuitePage] = []
    for (item_code, version_name), fields in sorted(verdicts.checks.items()):
        item = standards.items.get(item_code)
        version = next((v for v in item.versions if v.version == version_name), None) if item else None
        if item is None or version is None:
            continue  # the catalogue no longer has it; its history stays in the warehouse
        suite = suites.get((item_code, version_name))
        if suite is None:
            suite = suites[item_code, version_name] = SuiteBuilder(item, version, today).build()
        rows = max(r for r, _ in fields.values())
        # In rule order: the examples of an expectation standing for several rules (the ID's length,
        # check digit, …) come in the same order whatever order DuckDB grouped the rows in.
        failures = dict(sorted(verdicts.failures.get((item_code, version_name), {}).items(), key=lambda kv: str(kv[0])))
        results = []
        for expectation in suite.expectations:
            key = RuleKey.from_meta(expectation.meta)
            hits = [
                (n, examples)
                for (rule, fld, detail), (n, examples) in failures.items()
                if rule in key.rules and fld == key.field and (key.detail is None or detail == key.detail)
            ]
            shown = [_shown(fld_value, key.field, masked) for _, examples in hits for fld_value in examples]
            results.append(
                gx_compat.expectation_result(
                    expectation,
                    element_count=rows,
                    unexpected_count=sum(n for n, _ in hits),
                    missing_count=0 if "REQUIRED_MISSING" in key.rules else fields.get(key.field, (rows, 0))[1],
                    examples=shown[:EXAMPLES],
                )
            )
        result = gx_compat.suite_result(
            suite,
            results,
            meta={
                "run_id": {"run_name": html.escape(run_label), "run_time": dt.datetime.now(dt.UTC).isoformat()},
                "active_batch_definition": {
                    "datasource_name": f"tierhub {verdicts.district[:6]}",
                    "data_asset_name": html.escape(suite_name(item, version)),
                },
                "tierhub": {"engine": "tierhub compiled DuckDB verdicts", "district": str(verdicts.district)},
            },
        )
        name = _file_name(item_code, version_name)
        (folder / name).write_text(safe_page(gx_compat.render_page(result)), encoding="utf-8")
        pages.append(
            SuitePage(
                item_code,
                item.name_zh,
                item.name_en,
                version_name,
                rows,
                sum(1 for r in results if not r.success),
                len(results),
                name,
            )
        )
    (folder / "index.html").write_text(_index_html(pages, run_label, verdicts.district, masked), encoding="utf-8")
    return pages


def _shown(example: Example, field_name: str, masked: bool) -> str:
    """A failing value as written into a page: masked for the district's readers, always escaped.

    GX's page templates insert example values as raw HTML, so they are escaped here, once.
    """
    value = mask_value(field_name, example.value, example.change_item) if masked else example.value
    return html.escape(value, quote=True)


# -- making GX's page safe to open offline -------------------------------------------------------

_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_DROPPED_TAGS = re.compile(r"<(?:link|img|iframe|object|embed|base|meta|form)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
_EVENT_ATTRIBUTE = re.compile(r"""\s+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_LINK_ATTRIBUTE = re.compile(
    r"""(\s+(?:href|src|action|formaction|poster|srcset)\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE
)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!data:)[^)]*\)", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)


@cache
def stylesheet() -> str:
    """The local stylesheet inlined into every page (``quality/datadocs.css``)."""
    return (Path(__file__).with_name("datadocs.css")).read_text(encoding="utf-8")


# What any of the three rewrites of a tag needs to find: a tag without it is left as it is (most of
# a page's ~900 tags; the per-tag rewrite was ~17 ms of a page's ~60 ms).
_RISKY = re.compile(r"\son[a-z]|url\(|\s(?:href|src|action|formaction|poster|srcset)\s*=", re.IGNORECASE)
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def _safe_link(m: re.Match[str]) -> str:
    target = html.unescape(m.group(2).strip("\"'")).strip()
    if target.startswith("#"):
        return m.group()
    if _SCHEME.match(target) or target.startswith(("/", "\\")) or ".." in target:
        return ""  # another host, a scheme (javascript:, file:) or outside the folder: no link
    return m.group()


def _safe_tag(match: re.Match[str]) -> str:
    tag = match.group()
    if not _RISKY.search(tag):
        return tag
    tag = _CSS_URL.sub("none", _EVENT_ATTRIBUTE.sub("", tag))  # style="…url(…)" too
    return _LINK_ATTRIBUTE.sub(_safe_link, tag)


def safe_page(page: str) -> str:
    """GX's page without scripts, remote stylesheets, images, event handlers or links leaving the folder.

    Values were escaped before rendering, so every tag left here is GX's own markup.
    """
    page = _SCRIPT.sub("", page)
    page = _DROPPED_TAGS.sub("", page)
    page = _TAG.sub(_safe_tag, page)
    page = _STYLE.sub(lambda m: m.group(1) + _CSS_URL.sub("none", m.group(2)) + m.group(3), page)
    head = f"<head>\n{HEAD}<style>\n{stylesheet()}</style>\n"
    if not _HEAD.search(page):
        raise ValueError("GX's Data Docs page has no <head>: the renderer changed (see quality/gx_compat.py)")
    return _HEAD.sub(lambda _: head, page, count=1)


# -- index pages -----------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN"><head>
{HEAD}<title>{html.escape(title)}</title>
<style>
{stylesheet()}body{{margin:2em}}</style>
</head><body>
{body}
</body></html>
"""


def _index_html(pages: list[SuitePage], run_label: str, district: Scope, masked: bool) -> str:
    name = divisions().get(district).name
    rows = "\n".join(
        f'<tr><td>{html.escape(p.item_code)}</td><td><a href="{html.escape(p.file)}">{html.escape(p.name_zh)}</a>'
        f"<br><small>{html.escape(p.name_en)}</small></td><td>{html.escape(p.version)}</td>"
        f"<td class=n>{p.rows:,}</td><td class=n>{p.expectations - p.failed_expectations} / {p.expectations}</td></tr>"
        for p in pages
    )
    note = (
        "<p class=masked-note>示例失败值中的身份证号码、电话、姓名等已遮蔽。"
        "Failing values are shown masked (ID numbers, phones, names…).</p>"
        if masked
        else "<p class=masked-note>工程人员版本：失败值未遮蔽，请勿转发。"
        "Engineers' copy: failing values as received — do not forward.</p>"
    )
    body = f"""<h1>数据质量校验文档 <small>Data Docs</small> — {html.escape(name)} {html.escape(district[:6])}</h1>
<p>运行 Run: {html.escape(run_label)}。本区报送数据，每个事项、每个标准版本一页（Great Expectations 校验结果）。
This district's rows only; one page per service item and standard version (Great Expectations validation results).</p>
{note}
<table class=table><thead><tr><th>事项代码<br>Item</th><th>事项名称<br>Name</th><th>标准版本<br>Version</th>
<th>校验行数<br>Rows</th><th>通过的期望<br>Expectations met</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
    return _page(f"数据质量校验文档 Data Docs — {name} {district[:6]} — {run_label}", body)


def _engineers_index(written: list[tuple[Scope, int]], run_label: str) -> str:
    rows = "\n".join(
        f'<tr><td>{html.escape(d[:6])}</td><td><a href="{html.escape(d[:6])}/index.html">'
        f"{html.escape(divisions().get(d).name)}</a></td><td class=n>{pages}</td></tr>"
        for d, pages in written
    )
    body = f"""<h1>数据质量校验文档 <small>Data Docs</small> — 工程人员版本 Engineers' copy</h1>
<p>运行 Run: {html.escape(run_label)}。失败值未遮蔽，请勿转发；各区报告链接的是 ../&lt;区代码&gt;/ 下的遮蔽版本。
Failing values as received — do not forward; each district's report links its masked copy in ../&lt;district&gt;/.</p>
<table class=table><thead><tr><th>区代码<br>District</th><th>区名称<br>Name</th><th>页数<br>Pages</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
    return _page(f"Data Docs — engineers — {run_label}", body)
