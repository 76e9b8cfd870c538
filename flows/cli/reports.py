"""``tierhub report`` and ``receipts``: the same plain functions the report flows call (``reports.run``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.common import Language, Scope, WarehouseFile, console, err_console, parse_day
from tierhub.errors import TierhubError
from tierhub.settings import TierhubSettings

if TYPE_CHECKING:
    from reports.delivery import Delivery
    from reports.run import WrittenReport


def report(
    district: Annotated[list[str], typer.Option(help="District code (6 or 12 digits); repeatable.")],
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day YYYY-MM-DD (default: Monday of last week).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day YYYY-MM-DD (default: Sunday of last week).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the reports (default: settings reports_path).")] = None,
    warehouse: WarehouseFile = None,
    send: Annotated[
        bool, typer.Option("--send", help="Deliver: the district's SFTP outbox and its e-mail recipients.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Send again even if this period was sent.")] = False,
    lang: Annotated[Language, typer.Option("--lang", help="zh for district staff, en for engineers.")] = Language.zh,
) -> None:
    """Write each district's data quality report (Excel + HTML) for a period, and deliver it with --send."""
    from connectors.config import load_sources
    from reports.model import percent
    from reports.run import deliver_reports, report_period, write_district_report

    settings = TierhubSettings()
    warehouse = warehouse or settings.warehouse_file
    if not warehouse.exists():
        raise TierhubError(f"warehouse {warehouse} does not exist", fix="pass --warehouse or run `tierhub sync` first")
    period = report_period(parse_day(date_from, "--from"), parse_day(date_to, "--to"))
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    reports = []
    for code in district:
        started = time.monotonic()
        written = write_district_report(
            warehouse,
            code,
            period,
            out or settings.reports_folder,
            settings=settings,
            config=config,
            language=lang.value,
        )
        reports.append(written)
        r = written.report
        console.print(
            f"[bold]{r.district_name}[/bold] {period.label}: {r.total('rows_in'):,} rows, pass rate "
            f"{percent(r.pass_rate)}, {r.total('fixed_rows')} fixed, {r.total('open_rows')} to fix, "
            f"{r.total('escalated_rows')} escalated ({time.monotonic() - started:.1f} s)\n"
            f"  {written.xlsx.resolve()}\n  {written.html.resolve()}",
            highlight=False,
        )
    if send:
        deliver_reports(
            warehouse,
            reports,
            settings=settings,
            config=config,
            language=lang.value,
            force=force,
            on_delivery=show_delivery,
        )


def show_delivery(written: WrittenReport, d: Delivery) -> None:
    """One line per delivery: channel, status, target; failures on stderr."""
    note = {"skipped": " (already sent for this period; --force sends again)"}.get(d.status, "")
    line = f"  {written.report.district_name} {d.channel}: {d.status}{note}"
    line += f" → {d.target}" if d.target else ""
    if d.error:
        err_console.print(f"{line}: {d.error}", soft_wrap=True, highlight=False)
    else:
        console.print(line, highlight=False)


def receipts(
    scope: Scope = None,
    warehouse: WarehouseFile = None,
    lang: Annotated[Language, typer.Option("--lang", help="Language of the receipts.")] = Language.zh,
) -> None:
    """Write a receipt into each source's outbox (receipts/ folder) for every received file that has none."""
    from connectors.config import load_sources
    from reports.run import write_receipts
    from warehouse.queries import CITY

    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    code = CITY if scope is None else scope.ljust(12, "0")
    run = write_receipts(
        warehouse or settings.warehouse_file, code, settings=settings, config=config, language=lang.value
    )
    console.print(f"Wrote {len(run.written):,} receipts.")
    for source, error in run.failed:
        err_console.print(f"[yellow]{source}[/yellow] receipts wait for the next run: {error}", soft_wrap=True)
