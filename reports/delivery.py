"""Delivering a district's report: into its SFTP outbox and by e-mail, logged, retried, never twice.

Every delivery is a row of ``ops.deliveries`` (district, period, channel, status, attempts,
error, target, files). A (district, period, channel) that has a ``sent`` row is skipped unless
forced; a failed one is tried again on the next run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from connectors.mail import MailFailed, Recipients, SmtpServer, build_message, send_message
from connectors.outboxes import Outboxes
from reports.model import DistrictReport, labels, percent
from reports.receipts import subfolder_outboxes
from tierhub.errors import ConfigError, TierhubError
from warehouse.marts import Period

REPORTS_FOLDER = "reports"
Channel = Literal["sftp", "email"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of delivering one report over one channel."""

    district_code: str
    period: Period
    channel: Channel
    status: Literal["sent", "failed", "skipped"]
    attempts: int = 0
    error: str | None = None
    target: str | None = None


def already_sent(con: duckdb.DuckDBPyConnection, district: str, period: Period, channel: Channel) -> bool:
    """Whether this district's report for ``period`` went out over ``channel`` before."""
    [(n,)] = con.execute(
        "SELECT count(*) FROM ops.deliveries WHERE district_code = ? AND period_start = ? AND period_end = ? "
        "AND channel = ? AND status = 'sent'",
        [district, period.start, period.end, channel],
    ).fetchall()
    return bool(n)


def _log(
    con: duckdb.DuckDBPyConnection,
    delivery: Delivery,
    files: Sequence[Path],
    forced: bool,
    started: dt.datetime,
) -> None:
    con.execute(
        "INSERT INTO ops.deliveries VALUES (nextval('ops.delivery_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "CASE WHEN ? = 'sent' THEN now() END)",
        [
            delivery.district_code,
            delivery.period.start,
            delivery.period.end,
            delivery.channel,
            delivery.status,
            delivery.attempts,
            delivery.error,
            delivery.target,
            [p.name for p in files],
            forced,
            started,
            delivery.status,
        ],
    )


def _with_retries(
    action: Callable[[], str], attempts: int, backoff: float, sleep: Callable[[float], None]
) -> tuple[str | None, int, str | None]:
    """(target, attempts used, last error): ``action`` retried on tierhub and OS errors with backoff."""
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            return action(), attempt, None
        except ConfigError:
            raise
        except (TierhubError, OSError) as exc:
            error = str(exc) or type(exc).__name__
            if attempt < attempts:
                sleep(backoff * 2 ** (attempt - 1))
    return None, attempts, error


def deliver_sftp(
    con: duckdb.DuckDBPyConnection,
    outboxes: Outboxes,
    district: str,
    period: Period,
    files: Sequence[Path],
    *,
    force: bool = False,
    attempts: int = 4,
    backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Upload the report's files atomically into ``<district's outbox>/reports/`` on its endpoint."""
    if not force and already_sent(con, district, period, "sftp"):
        return Delivery(district, period, "sftp", "skipped")
    started = dt.datetime.now(dt.UTC)
    boxes = subfolder_outboxes(outboxes.config, outboxes.landing, REPORTS_FOLDER)

    def upload() -> str:
        box = boxes.for_source(district)
        remote = [box.upload(path, district, path.name) for path in files]
        return remote[0].rsplit("/", 1)[0]

    try:
        target, used, error = _with_retries(upload, attempts, backoff, sleep)
    finally:
        boxes.close()
    delivery = Delivery(district, period, "sftp", "failed" if error else "sent", used, error, target)
    _log(con, delivery, files, force, started)
    return delivery


def report_message(report: DistrictReport, language: str = "zh") -> tuple[str, str]:
    """(subject, body) of the report's e-mail."""
    words = labels(language)
    subject = words["mail_subject"].format(district=report.district_name, period=report.period.label)
    body = words["mail_body"].format(
        district=report.district_name,
        period=report.period.label,
        start=report.period.start,
        end=report.period.end,
        rows_in=f"{report.total('rows_in'):,}",
        rows_loaded=f"{report.total('rows_loaded'):,}",
        rows_quarantined=f"{report.total('rows_quarantined'):,}",
        pass_rate=percent(report.pass_rate),
        fixed=report.total("fixed_rows"),
        open=report.total("open_rows"),
        escalated=report.total("escalated_rows"),
        n=report.escalate_after,
    )
    return subject, body


def deliver_email(
    con: duckdb.DuckDBPyConnection,
    server: SmtpServer,
    recipients: Recipients,
    report: DistrictReport,
    files: Sequence[Path],
    *,
    language: str = "zh",
    force: bool = False,
    attempts: int = 4,
    backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Mail the report's files to the district's recipients (STARTTLS; retried inside ``send_message``)."""
    district, period = report.district_code, report.period
    if not force and already_sent(con, district, period, "email"):
        return Delivery(district, period, "email", "skipped")
    started = dt.datetime.now(dt.UTC)
    subject, body = report_message(report, language)
    message = build_message(sender=server.sender, recipients=recipients, subject=subject, text=body, attachments=files)
    target = ", ".join(recipients.everyone)
    try:
        used = send_message(server, message, attempts=attempts, backoff=backoff, sleep=sleep)
        delivery = Delivery(district, period, "email", "sent", used, None, target)
    except MailFailed as exc:
        delivery = Delivery(district, period, "email", "failed", attempts, str(exc), target)
    _log(con, delivery, files, force, started)
    return delivery
