"""The ``send-quality-reports`` and ``send-receipts`` flows: thin tasks over ``reports``.

Each district's report is one task: built from the published snapshot (a running sync never
blocks it), then delivered, the delivery logged in the warehouse; a delivery already made
for the period is skipped unless ``force``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from connectors.config import load_sources
from flows.retries import transient_only
from reports.run import deliver_reports, report_period, write_district_report, write_receipts
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings
from warehouse.marts import Period
from warehouse.queries import CITY


@dataclass
class ReportOutcome:
    """One district's report: where it was written and how each channel went."""

    district_code: str
    period: str
    xlsx: str
    html: str
    rows_in: int
    pass_rate: float | None
    escalated: int
    deliveries: list[tuple[str, str, int, str | None]] = field(default_factory=list)  # channel, status, attempts, error


@task(
    name="district-report",
    task_run_name="report-{district}",
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[60, 600],
)
def district_report(
    district: str,
    start: dt.date,
    end: dt.date,
    warehouse: str,
    out_dir: str,
    send: bool,
    force: bool,
    language: str = "zh",
) -> ReportOutcome:
    """Write one district's report, then deliver it (when ``send``)."""
    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    period = Period(start, end)
    written = write_district_report(
        Path(warehouse), district, period, Path(out_dir), settings=settings, config=config, language=language
    )
    if send:
        deliver_reports(Path(warehouse), [written], settings=settings, config=config, language=language, force=force)
    report = written.report
    outcome = ReportOutcome(
        district_code=report.district_code,
        period=period.label,
        xlsx=str(written.xlsx),
        html=str(written.html),
        rows_in=report.total("rows_in"),
        pass_rate=report.pass_rate,
        escalated=report.total("escalated_rows"),
        deliveries=[(d.channel, d.status, d.attempts, d.error) for d in written.deliveries],
    )
    get_run_logger().info("%s %s: %s", report.district_name, period.label, outcome.deliveries or "written")
    return outcome


def _run_name() -> str:
    from prefect.runtime import flow_run

    districts = flow_run.parameters.get("districts")
    return f"reports-{'-'.join(d[:6] for d in districts) if districts else 'city'}"


@flow(name="send-quality-reports", flow_run_name=_run_name, log_prints=True)
def send_quality_reports(
    districts: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    warehouse: str | None = None,
    out_dir: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    language: str = "zh",
) -> list[ReportOutcome]:
    """Write each district's quality report for a period (default: last ISO week) and deliver it.

    ``dry_run`` writes the reports without sending; ``force`` sends again a period already sent.
    """
    settings = TierhubSettings()
    warehouse = warehouse or str(settings.warehouse_file.resolve())
    out_dir = out_dir or str(settings.reports_folder.resolve())
    period = report_period(start, end)
    codes = districts or [d.code for d in divisions().at_level("district")]
    outcomes = [
        district_report(code, period.start, period.end, warehouse, out_dir, not dry_run, force, language)
        for code in codes
    ]
    lines = ["| district | period | rows | pass rate | escalated | deliveries |", "|---|---|---:|---:|---:|---|"]
    for o in outcomes:
        rate = f"{o.pass_rate:.1%}" if o.pass_rate is not None else "—"
        sent = "; ".join(f"{c} {s} ×{a}" for c, s, a, _ in o.deliveries) or "written only"
        lines.append(f"| {o.district_code[:6]} | {o.period} | {o.rows_in:,} | {rate} | {o.escalated} | {sent} |")
    create_markdown_artifact(markdown="\n".join(lines), key="quality-reports", description="District reports")
    return outcomes


@flow(name="send-receipts", log_prints=True)
def send_receipts_flow(scope: str = CITY, warehouse: str | None = None, language: str = "zh") -> int:
    """Write a receipt into each source's outbox for every registered file that has none yet."""
    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    run = write_receipts(
        Path(warehouse or settings.warehouse_file), scope, settings=settings, config=config, language=language
    )
    for source, error in run.failed:
        get_run_logger().warning("receipts for %s wait for the next run: %s", source, error)
    return len(run.written)
