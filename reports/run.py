"""Write and deliver district reports: the plain functions the flow and the CLI call."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from connectors.config import SourcesConfig
from connectors.mail import Recipients, SmtpServer, load_recipients
from connectors.outboxes import Outboxes
from reports.delivery import Delivery, deliver_email, deliver_sftp
from reports.excel import write_workbook
from reports.html import write_html
from reports.model import DistrictReport, build_report, latest_data_docs
from reports.receipts import ReceiptRun, send_receipts
from tierhub.scope import Scope
from tierhub.settings import TierhubSettings
from warehouse.marts import Expectations, Period, last_week
from warehouse.obligations import source_obligations
from warehouse.publish import CURRENT, snapshots_folder
from warehouse.schema import open_warehouse
from warehouse.storage import connect


@contextlib.contextmanager
def reading(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to build reports from: the published snapshot (never blocked by a sync),
    else the warehouse itself when none was published yet."""
    current = snapshots_folder(warehouse) / CURRENT
    con = connect(current, read_only=True) if current.exists() else open_warehouse(warehouse)
    try:
        yield con
    finally:
        con.close()


def report_period(start: dt.date | None, end: dt.date | None, today: dt.date | None = None) -> Period:
    """The period asked for: last ISO week by default, one day when only one end is given."""
    if start is None and end is None:
        return last_week(today or dt.date.today())
    return Period(start or end or dt.date.today(), end or start or dt.date.today())


@dataclass
class WrittenReport:
    """A district report written to disk."""

    report: DistrictReport
    xlsx: Path
    html: Path
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """The files sent: workbook and page."""
        return [self.xlsx, self.html]


def write_report(
    con: duckdb.DuckDBPyConnection,
    district: str,
    period: Period,
    out: Path,
    *,
    expectations: Expectations,
    escalate_after: int = 2,
    language: str = "zh",
    now: dt.datetime | None = None,
    data_docs: str | None = None,
) -> WrittenReport:
    """Build one district's report and write its workbook and page into ``out/<district6>/``."""
    report = build_report(
        con,
        Scope.district(district),
        period,
        expectations=expectations,
        escalate_after=escalate_after,
        now=now,
        data_docs=data_docs,
    )
    folder = out / report.district_code[:6]
    suffix = "" if language == "zh" else f".{language}"
    stem = report.file_stem() + suffix
    return WrittenReport(
        report,
        write_workbook(report, folder / f"{stem}.xlsx", language),
        write_html(report, folder / f"{stem}.html", language),
    )


def deliver_report(
    con: duckdb.DuckDBPyConnection,
    written: WrittenReport,
    *,
    outboxes: Outboxes | None,
    server: SmtpServer | None,
    recipients: dict[str, Recipients],
    language: str = "zh",
    force: bool = False,
    attempts: int = 4,
    backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send a written report into the district's outbox and to its recipients (each channel configured)."""
    report = written.report
    if outboxes is not None:
        written.deliveries.append(
            deliver_sftp(
                con,
                outboxes,
                report.district_code,
                report.period,
                written.files,
                force=force,
                attempts=attempts,
                backoff=backoff,
                sleep=sleep,
            )
        )
    who = recipients.get(report.district_code[:6])
    if server is not None and who is not None:
        written.deliveries.append(
            deliver_email(
                con,
                server,
                who,
                report,
                written.files,
                language=language,
                force=force,
                attempts=attempts,
                backoff=backoff,
                sleep=sleep,
            )
        )
    return written.deliveries


def smtp_server(settings: TierhubSettings) -> SmtpServer | None:
    """The SMTP server the settings name (None: e-mail delivery is off)."""
    if not settings.smtp_host:
        return None
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password_env=settings.smtp_password_env,
        sender=settings.smtp_sender,
        ca_file=settings.smtp_ca_file,
        timeout=settings.smtp_timeout_seconds,
    )


# -- the wiring the flows and the CLI share: settings and sources file in, files and deliveries out --
def write_district_report(
    warehouse: Path,
    district: str,
    period: Period,
    out: Path,
    *,
    settings: TierhubSettings,
    config: SourcesConfig,
    language: str = "zh",
) -> WrittenReport:
    """Write one district's report from the published snapshot, with what the settings say sources owe."""
    with reading(warehouse) as con:
        return write_report(
            con,
            district,
            period,
            out,
            expectations=source_obligations(settings, period, config),
            escalate_after=settings.report_escalate_after,
            language=language,
            data_docs=latest_data_docs(warehouse, district),
        )


def deliver_reports(
    warehouse: Path,
    reports: Iterable[WrittenReport],
    *,
    settings: TierhubSettings,
    config: SourcesConfig,
    language: str = "zh",
    force: bool = False,
    on_delivery: Callable[[WrittenReport, Delivery], None] | None = None,
) -> None:
    """Deliver written reports over every configured channel, logging each delivery in the warehouse.

    Each report's ``deliveries`` receive the outcomes; ``on_delivery`` is called as each one is
    made, so a caller can show it at once. The warehouse is opened only for the log.
    """
    log = open_warehouse(warehouse)
    outboxes = Outboxes(config, settings.landing_folder)
    try:
        server = smtp_server(settings)
        recipients = load_recipients(settings.report_recipients_file)
        for written in reports:
            done = len(written.deliveries)
            deliver_report(
                log,
                written,
                outboxes=outboxes,
                server=server,
                recipients=recipients,
                language=language,
                force=force,
                attempts=settings.delivery_attempts,
                backoff=settings.delivery_backoff_seconds,
            )
            for delivery in written.deliveries[done:]:
                if on_delivery is not None:
                    on_delivery(written, delivery)
    finally:
        outboxes.close()
        log.close()


def write_receipts(
    warehouse: Path,
    scope: str,
    *,
    settings: TierhubSettings,
    config: SourcesConfig,
    language: str = "zh",
) -> ReceiptRun:
    """Write a receipt into each source's outbox inside ``scope`` for every received file that has none."""
    con = open_warehouse(warehouse)
    outboxes = Outboxes(config, settings.landing_folder)
    try:
        return send_receipts(con, outboxes, scope, settings.home / "receipts-work", language=language)
    finally:
        outboxes.close()
        con.close()
