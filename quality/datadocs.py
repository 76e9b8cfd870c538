"""Great Expectations Data Docs for a sync run, kept on disk and linked from the run summary.

The rows were judged by the compiled DuckDB engine (``quality.rules``); its per-rule
counts of the run's loads (``ops.rule_checks`` / ``ops.rule_failures``) become one GX
validation result per item and standard version, against that version's GX suite
(``quality.suites``), rendered by GX's own Data Docs renderer. That the compiled engine
and GX's engine find the same rows for every expectation is proved by
``tests/test_suites.py``; see docs/decisions/0006-gx-execution-path.md.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from quality import gx_compat
from quality.suites import RuleKey, SuiteBuilder, suite_name
from tierhub.standards import Catalogue, catalogue


@dataclass(frozen=True, slots=True)
class SuitePage:
    """One rendered page of a run's Data Docs."""

    item_code: str
    name_zh: str
    name_en: str
    version: str
    rows: int
    failed_expectations: int
    expectations: int
    file: str


def _file_name(item_code: str, version: str) -> str:
    return f"{item_code}@{version}.html".replace("/", "_")


def build_data_docs(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    load_ids: list[str],
    *,
    run_label: str,
    today: dt.date,
    standards: Catalogue | None = None,
) -> Path | None:
    """Render the Data Docs of these loads into ``out_dir``; the index page, or None if nothing was judged."""
    standards = standards or catalogue()
    if not load_ids:
        return None
    checks: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    for item_code, version, field, rows, missing in con.execute(
        "SELECT item_code, standard_version, field, sum(rows_checked), sum(rows_missing) "
        "FROM ops.rule_checks WHERE list_contains(?, load_id) GROUP BY ALL",
        [load_ids],
    ).fetchall():
        checks[(item_code, version)][field] = (int(rows), int(missing))
    if not checks:
        return None
    failures: dict[tuple[str, str], list[tuple[str, str, str | None, int, list[str]]]] = defaultdict(list)
    for item_code, version, rule, field, detail, failed, examples in con.execute(
        "SELECT item_code, standard_version, rule, field, detail, sum(rows_failed), "
        "flatten(list(examples))[1:20] FROM ops.rule_failures WHERE list_contains(?, load_id) GROUP BY ALL",
        [load_ids],
    ).fetchall():
        failures[(item_code, version)].append((rule, field, detail, int(failed), list(examples)))

    out_dir.mkdir(parents=True, exist_ok=True)
    pages: list[SuitePage] = []
    for (item_code, version_name), fields in sorted(checks.items()):
        item = standards.items.get(item_code)
        version = next((v for v in item.versions if v.version == version_name), None) if item else None
        if item is None or version is None:
            continue  # the catalogue no longer has it; its history stays in the warehouse
        suite = SuiteBuilder(item, version, today).build()
        rows = max(r for r, _ in fields.values())
        results = []
        for expectation in suite.expectations:
            key = RuleKey.from_meta(expectation.meta)
            hits = [
                (n, ex)
                for rule, field, detail, n, ex in failures[(item_code, version_name)]
                if rule in key.rules and field == key.field and (key.detail is None or detail == key.detail)
            ]
            results.append(
                gx_compat.expectation_result(
                    expectation,
                    element_count=rows,
                    unexpected_count=sum(n for n, _ in hits),
                    missing_count=0 if "REQUIRED_MISSING" in key.rules else fields.get(key.field, (rows, 0))[1],
                    examples=[x for _, ex in hits for x in ex][:20],
                )
            )
        result = gx_compat.suite_result(
            suite,
            results,
            meta={
                "run_id": {"run_name": run_label, "run_time": dt.datetime.now(dt.UTC).isoformat()},
                "active_batch_definition": {"datasource_name": "tierhub", "data_asset_name": suite_name(item, version)},
                "tierhub": {"engine": "tierhub compiled DuckDB verdicts", "loads": load_ids},
            },
        )
        name = _file_name(item_code, version_name)
        (out_dir / name).write_text(gx_compat.render_page(result), encoding="utf-8")
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
    index = out_dir / "index.html"
    index.write_text(_index_html(pages, run_label), encoding="utf-8")
    return index


def _index_html(pages: list[SuitePage], run_label: str) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(p.item_code)}</td><td><a href='{html.escape(p.file)}'>{html.escape(p.name_zh)}</a>"
        f"<br><small>{html.escape(p.name_en)}</small></td><td>{html.escape(p.version)}</td>"
        f"<td class=n>{p.rows:,}</td><td class=n>{p.expectations - p.failed_expectations} / {p.expectations}</td></tr>"
        for p in pages
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>数据质量校验文档 Data Docs — {html.escape(run_label)}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}.n{{text-align:right}}</style>
</head><body>
<h1>数据质量校验文档 <small>Data Docs</small></h1>
<p>运行 Run: {html.escape(run_label)}。每个事项、每个标准版本一页（Great Expectations 校验结果）。
One page per service item and standard version (Great Expectations validation results).</p>
<table><thead><tr><th>事项代码<br>Item</th><th>事项名称<br>Name</th><th>标准版本<br>Version</th>
<th>校验行数<br>Rows</th><th>通过的期望<br>Expectations met</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
