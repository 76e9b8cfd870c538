"""One district's quality report for one period, assembled from the marts.

The Excel workbook, the HTML page and the e-mail all render this one object, so the three
always show the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from reports.casework import Casework, build_casework
from tierhub.calendar import calendar_warnings
from tierhub.errors import ConfigError
from tierhub.reference import divisions
from tierhub.scope import Scope
from tierhub.standards import column_missing_message
from warehouse import marts
from warehouse.figures import COUNTERS, Figures, division_figures
from warehouse.funding import PriceList
from warehouse.marts import (
    TZ,
    Expectations,
    FailingLine,
    ItemQuality,
    LateSubmission,
    Period,
    ReasonTally,
    SourceCompleteness,
)
from warehouse.outliers import HISTORY_WEEKS, Outlier, outliers
from warehouse.queries import last_commit

LANGUAGES = ("zh", "en")
TREND_PERIODS = 8


@cache
def labels(language: str) -> dict[str, Any]:
    """The reports' words in ``language`` (zh or en)."""
    if language not in LANGUAGES:
        raise ConfigError(f"no report language {language!r}", fix=f"use one of {', '.join(LANGUAGES)}")
    data = yaml.safe_load((Path(__file__).parent / "labels.yaml").read_text(encoding="utf-8"))
    return {**data[language], "lang": language}


@dataclass
class StreetSummary(Figures):
    """One street's line of the district summary: the dashboard's figures (warehouse/figures.py)
    plus what only the report lists."""

    sources: int = 0
    rows_warned: int = 0  # of rows_loaded: loaded with warnings (decision 0017)
    missing_columns: list[tuple[str, str]] = field(default_factory=list)  # (file name, 导出文件缺少列：… message)
    top_reasons: list[ReasonTally] = field(default_factory=list)
    silent: list[SourceCompleteness] = field(default_factory=list)
    late: list[LateSubmission] = field(default_factory=list)
    open_rows: int = 0
    new_rows: int = 0
    fixed_rows: int = 0
    escalated_rows: int = 0
    trend: list[float | None] = field(default_factory=list)


@dataclass
class DistrictReport:
    """Everything one district's report for one period shows."""

    district_code: str
    district_name: str
    period: Period
    generated_at: dt.datetime
    data_as_of: dt.datetime | None
    escalate_after: int
    deadline_working_days: int
    streets: list[StreetSummary]
    lines: dict[str, list[FailingLine]]  # street code → its failing (and fixed) lines
    escalated: list[FailingLine]
    trend: list[tuple[Period, float | None]]
    completeness: list[SourceCompleteness]
    items: list[ItemQuality]
    workload: dict[str, dict[str, int]]  # street code → item code → records
    item_names: dict[str, tuple[str, str]]
    data_docs: str | None = None
    calendar_warnings: list[str] = field(default_factory=list)  # years counted without their holidays
    outliers: list[Outlier] = field(default_factory=list)  # service points out of line (warehouse.outliers)
    outlier_weeks: int = HISTORY_WEEKS
    casework: Casework | None = None  # 协查 cases, worklists, funding, staff (reports.casework)

    @property
    def source_names(self) -> dict[str, str]:
        """Source code → name, for every source of the district."""
        return {c.source_id: c.source_name for c in self.completeness}

    def total(self, name: str) -> int:
        """A street counter summed over the district."""
        return sum(int(getattr(s, name)) for s in self.streets)

    @property
    def pass_rate(self) -> float | None:
        """The district's pass rate in the period."""
        rows = self.total("rows_in")
        return self.total("rows_loaded") / rows if rows else None

    @property
    def deadline(self) -> dt.datetime:
        """When weekly submissions for the period were due."""
        return marts.deadline(self.period.end, self.deadline_working_days)

    def file_stem(self) -> str:
        """The base name of the report's files: ``质量报告_120101_2026-W48``."""
        return f"质量报告_{self.district_code[:6]}_{self.period.label.replace('~', '_')}"


def _row_ids(lines: list[FailingLine]) -> set[tuple[int, int]]:
    return {(line.file_id, line.row_number) for line in lines}


def build_report(
    con: duckdb.DuckDBPyConnection,
    district: str,
    period: Period,
    *,
    expectations: Expectations,
    escalate_after: int = 2,
    now: dt.datetime | None = None,
    data_docs: str | None = None,
    prices: PriceList | None = None,
) -> DistrictReport:
    """Assemble one district's report for ``period`` from the marts (scope: the district).

    ``prices``: the price list of the funding sheet (default: the settings' home, else the example).
    """
    scope = Scope.district(district)
    now = now or dt.datetime.now(TZ)
    streets = {code: StreetSummary(code, name) for code, name in marts.division_names(con, scope, "street").items()}
    history = marts.trailing(period, TREND_PERIODS)
    rates = marts.pass_rates(con, scope, history, by="street")
    for street in streets.values():
        street.trend = [None] * len(history)
    for rate in rates:
        streets[rate.division_code].trend[history.index(rate.period)] = rate.pass_rate
    district_trend: list[tuple[Period, float | None]] = []
    for p in history:
        rows_in = sum(r.rows_in for r in rates if r.period == p)
        loaded = sum(r.rows_loaded for r in rates if r.period == p)
        district_trend.append((p, loaded / rows_in if rows_in else None))
    for tally in marts.reason_tallies(con, scope, period, by="street"):
        if len(streets[tally.division_code].top_reasons) < 3:
            streets[tally.division_code].top_reasons.append(tally)
    completeness = marts.completeness(con, scope, period, expectations, now=now)
    # The counters come from the one computation the dashboard uses (warehouse/figures.py).
    for code, figures in division_figures(con, scope, period, completeness, by="street").items():
        if code in streets:
            for name in COUNTERS:
                setattr(streets[code], name, getattr(figures, name))
    for source in completeness:
        street = streets[source.street_code]
        street.sources += 1
        street.late += source.late
        if source.silent:
            street.silent.append(source)
    for gap in marts.export_gaps(con, scope, period):
        if gap.street_code in streets:
            streets[gap.street_code].rows_warned += gap.rows_warned
            if gap.missing_columns:
                streets[gap.street_code].missing_columns.append(
                    (gap.path.rsplit("/", 1)[-1], column_missing_message(gap.missing_columns))
                )
    lines = marts.failing_lines(con, scope, period)
    escalated = marts.escalations(lines, escalate_after)
    by_street: dict[str, list[FailingLine]] = {code: [] for code in streets}
    for line in lines:
        by_street[line.street_code].append(line)
    for code, street_lines in by_street.items():
        street = streets[code]
        street.open_rows = len(_row_ids([x for x in street_lines if x.status == "open"]))
        street.new_rows = len(_row_ids([x for x in street_lines if x.status == "open" and x.age == 0]))
        street.fixed_rows = len(_row_ids([x for x in street_lines if x.status == "fixed"]))
        street.escalated_rows = len(_row_ids([x for x in escalated if x.street_code == code]))
    workload: dict[str, Counter[str]] = {code: Counter() for code in streets}
    for work in marts.workload(con, scope, [period], by="street"):
        workload[work.division_code][work.item_code] += work.records
    item_names = {
        str(c): (str(z), str(e)) for c, z, e in con.execute("SELECT code, name_zh, name_en FROM ref.items").fetchall()
    }
    return DistrictReport(
        district_code=scope,
        district_name=divisions().get(scope).name,
        period=period,
        generated_at=now,
        data_as_of=last_commit(con),  # shown in Beijing time by the writers (tierhub.clock)
        escalate_after=escalate_after,
        deadline_working_days=expectations.deadline_working_days,
        streets=list(streets.values()),
        lines=by_street,
        escalated=escalated,
        trend=district_trend,
        completeness=completeness,
        items=marts.item_quality(con, scope, period),
        workload={code: dict(counter) for code, counter in workload.items()},
        item_names=item_names,
        data_docs=data_docs,
        outliers=outliers(con, scope, outlier_week(period)),
        calendar_warnings=list(dict.fromkeys(calendar_warnings(now.date()) + calendar_warnings(period.end))),
        casework=build_casework(con, scope, period, today=now.date(), prices=prices),
    )


def outlier_week(period: Period) -> Period:
    """The week the outliers are judged for: the period if it is an ISO week, else its last whole week."""
    if period.is_week:
        return period
    week = marts.week_of(period.end)
    return week if week.end == period.end else week.shifted(-1)


def outlier_figure(outlier: Outlier, value: float | None) -> str:
    """A value of an outlier's series as staff read it (``Outlier.figure``)."""
    return outlier.figure(value)


def latest_data_docs(warehouse: Path, district: str) -> str | None:
    """The district's own Data Docs of the newest run that has them (``datadocs/<run>/<district6>/``), if any.

    Only the district's masked copy: never another district's folder, never the engineers'
    unmasked one (decision 0021).
    """
    code = Scope.district(district)[:6]
    folder = warehouse.resolve().parent / "datadocs"
    pages = sorted(folder.glob(f"*/{code}/index.html"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    return pages[-1].as_uri() if pages else None


def percent(value: float | None) -> str:
    """A rate as ``97.3%`` (``—`` when there is none)."""
    return "—" if value is None else f"{value:.1%}"
