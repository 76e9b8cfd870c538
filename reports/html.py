"""The district report as one self-contained HTML page (Jinja2, inline CSS and SVG, no scripts)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from reports import casework, charts
from reports.jinja import environment
from reports.model import DistrictReport, labels, outlier_figure, percent
from tierhub.clock import shown
from warehouse.marts import ANY_ITEM
from warehouse.worklists import EVIDENCE_DAYS

TEMPLATE = "report.html.j2"
PASS_THRESHOLD = 0.95  # streets under this pass rate are drawn red


@cache
def _environment() -> Environment:
    # Built once per process (it was built again for every report).
    return environment(percent=percent, shown=shown)


def render_html(report: DistrictReport, language: str = "zh") -> str:
    """The report as an HTML document."""
    words = labels(language)
    zh = language == "zh"
    league = sorted(
        report.streets,
        key=lambda s: (s.pass_rate is None, -(s.pass_rate or 0), -(s.completeness or 0), s.name),
    )
    pass_chart = charts.hbars(
        [(s.name, s.pass_rate, percent(s.pass_rate)) for s in league],
        maximum=1.0,
        threshold=PASS_THRESHOLD,
    )
    history = [p for p, _ in report.trend]
    trend_chart = charts.line_chart(
        [p.label.split("-")[-1] if p.is_week else p.start.strftime("%m-%d") for p in history],
        [(words["district_rate"], [r for _, r in report.trend], charts.BAR)],
        low=min([0.8, *[r for _, r in report.trend if r is not None]]),
        high=1.0,
    )
    items = report.items[:10]
    item_chart = charts.hbars(
        [
            (
                f"{i.item_code} {i.name_zh if zh else i.name_en}",
                float(i.rows_quarantined),
                f"{i.rows_quarantined:,} / {i.rows_in:,}",
            )
            for i in items
        ]
    )
    workload_chart = charts.hbars(
        [(s.name, float(s.workload), f"{s.workload:,}") for s in sorted(report.streets, key=lambda s: -s.workload)]
    )
    silent = [c for c in report.completeness if c.silent]
    late = [x for c in report.completeness for x in c.late]
    context: dict[str, Any] = {
        "r": report,
        "w": words,
        "zh": zh,
        "lang": language,
        "title": words["title" if report.period.is_week else "title_range"].format(district=report.district_name),
        "league": league,
        "pass_chart": pass_chart,
        "trend_chart": trend_chart,
        "item_chart": item_chart,
        "workload_chart": workload_chart,
        "spark": charts.spark,
        "silent": silent,
        "late": late,
        "names": report.source_names,
        "streets": {s.code: s.name for s in report.streets},
        "any_item": ANY_ITEM,
        "history": history,
        "outlier_figure": outlier_figure,
        "series_spark": series_spark,
        "cw": casework.words(language),
        "evidence_text": casework.evidence_text,
        "life_text": casework.life_text,
        "evidence_days": EVIDENCE_DAYS,
    }
    return _environment().get_template(TEMPLATE).render(**context)


def series_spark(values: Sequence[float | None]) -> Markup:
    """A trend line of any series (counts, amounts), scaled to its own maximum."""
    top = max((v for v in values if v is not None), default=0.0)
    return charts.spark([None if v is None else (v / top if top else 0.0) for v in values], width=130)


def write_html(report: DistrictReport, path: Path, language: str = "zh") -> Path:
    """Write the report's HTML page to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, language), encoding="utf-8")
    return path
