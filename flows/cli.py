"""The ``tierhub`` command line: a thin layer over the library and the flows.

Errors from the library are turned into one-line messages here, and only here.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from tierhub.errors import ConfigError, TierhubError
from tierhub.reference import Division
from tierhub.settings import TierhubSettings
from tierhub.synth.city import GeneratedCity

# Prefect's temporary local API must not try to phone home from a closed network.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded API needs ~17 s to start here; on a busy 2-core machine 20 s is too tight.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

app = typer.Typer(
    name="tierhub",
    help="tierhub: sync street and village exports into one checked DuckDB warehouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

Scale = Annotated[
    str, typer.Option(help="How much of the city: demo (2 districts), district (滨海新区) or full (5,916 sources).")
]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")]


STAGES = {
    "fetch": "fetching new files 取文件",
    "read": "reading files 读取",
    "judge": "checking items 校验",
    "commit": "committing 入库",
}


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def generate_with_progress(out: Path, scale: str, seed: int, as_of: dt.date | None = None) -> GeneratedCity:
    """Run the generator with a progress bar."""
    from tierhub.synth.city import generate_city

    with _progress() as progress:
        task = progress.add_task("Generating sources", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return generate_city(out, scale=scale, seed=seed, as_of=as_of, progress=tick)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write drops/, manifest.csv and files.csv into.")] = Path(
        "tierhub-data"
    ),
    scale: Scale = "demo",
    seed: Seed = 7,
    as_of: Annotated[str | None, typer.Option(help="Export date YYYY-MM-DD (default today).")] = None,
) -> None:
    """Generate a synthetic Tianjin: the export drops of street centres and workstations."""
    day = dt.date.fromisoformat(as_of) if as_of else None
    city = generate_with_progress(out, scale, seed, day)
    console.print(
        f"Wrote {city.files:,} files ({city.rows:,} rows, {city.defects:,} injected defects) "
        f"for {city.sources:,} sources under {city.drops}"
    )


def run_sync(  # type: ignore[no-untyped-def]
    drops: Path,
    warehouse: Path,
    districts: list[str] | None,
    sources_per_batch: int,
    *,
    levels: list[str] | None = None,
    items: list[str] | None = None,
    since: dt.date | None = None,
    dry_run: bool = False,
):
    """Run the sync flow on Prefect's embedded default (no server), with a progress bar per district.

    The bars follow the flow itself: it reports its plan and each committed batch to a
    listener in this process, so what moves is what the flow did.
    """
    from flows.sync import BatchPlan, BatchSummary, progress_listener, sync_flow
    from tierhub.reference import divisions

    with _progress() as progress:
        starting = progress.add_task("Starting Prefect (temporary local API)…", total=None)
        bars: dict[str, TaskID] = {}
        preparing: dict[str, TaskID] = {}  # batch label → its bar until it is committed

        def show(event: str, value: object) -> None:
            if event == "planned" and isinstance(value, list):
                progress.update(starting, description="Prefect started; reading the warehouse", total=1, completed=1)
                plans: list[BatchPlan] = value
                for plan in plans:
                    for code, sources in plan.districts.items():
                        if code not in bars:
                            bars[code] = progress.add_task(f"{divisions().get(code).name} {code[:6]}", total=0)
                        progress.update(bars[code], total=(progress.tasks[bars[code]].total or 0) + sources)
            elif event == "stage" and isinstance(value, tuple):
                label, stage, done, total = value
                if label not in preparing:
                    preparing[label] = progress.add_task("", total=None)
                description = f"  batch {label}: {STAGES.get(stage, stage)}"
                progress.update(preparing[label], description=description, completed=done, total=total or None)
            elif event == "batch" and isinstance(value, BatchSummary):
                if value.label in preparing:
                    progress.remove_task(preparing.pop(value.label))
                progress.advance(bars[value.district_code], value.sources)

        with progress_listener(show):
            return sync_flow(
                drops_root=str(drops.resolve()),
                warehouse=str(warehouse.resolve()),
                districts=districts,
                levels=levels,
                items=items,
                since=since,
                dry_run=dry_run,
                sources_per_batch=sources_per_batch,
            )


class Level(StrEnum):
    """Tiers of sources."""

    street = "street"
    community = "community"


@app.command()
def sync(
    drops: Annotated[
        Path | None, typer.Option(help="Local folder of source outboxes (default: settings drops_root).")
    ] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB warehouse file (default: settings warehouse_path).")
    ] = None,
    district: Annotated[
        list[str] | None, typer.Option(help="Only this district (6- or 12-digit code); repeatable.")
    ] = None,
    level: Annotated[
        list[Level] | None,
        typer.Option(help="Only street centres (street) or community/village workstations (community); repeatable."),
    ] = None,
    item: Annotated[
        list[str] | None, typer.Option(help="Only exports of this item code (e.g. JY02); repeatable.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only files modified since this day, YYYY-MM-DD.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check everything, show what would load, commit nothing.")
    ] = False,
) -> None:
    """Sync new exports from local folders into the warehouse (runs the Prefect flow embedded)."""
    settings = TierhubSettings()
    drops = drops or settings.drops_folder
    warehouse = warehouse or settings.warehouse_file
    if not drops.is_dir():
        raise TierhubError(f"drops folder {drops} does not exist", fix="pass --drops or run `tierhub generate` first")
    started = time.monotonic()
    summary = run_sync(
        drops,
        warehouse,
        district,
        settings.sources_per_batch,
        levels=[lv.value for lv in level] if level else None,
        items=item,
        since=_day(since, "--since"),
        dry_run=dry_run,
    )
    print_sync_summary(summary, warehouse, time.monotonic() - started)


def print_run_table(summary) -> None:  # type: ignore[no-untyped-def]
    """This run per district: sources ok / failed / late / silent, files, rows."""
    from tierhub.reference import divisions

    title = "This run by district / 本次同步" + (" — dry run, nothing committed" if summary.dry_run else "")
    table = Table(title=title)
    columns = ("区 district", "sources", "ok", "failed", "late", "silent", "new files", "rejected", "loaded", "隔离")
    for column in columns:
        table.add_column(column, justify="left" if column.startswith("区") else "right")
    by_district: dict[str, list] = {}  # type: ignore[type-arg]
    for batch in summary.batches:
        by_district.setdefault(batch.district_code, []).append(batch)
    for code, batches in by_district.items():
        table.add_row(
            f"{divisions().get(code).name} {code[:6]}",
            f"{sum(b.sources for b in batches):,}",
            *(f"{sum(b.states.get(s, 0) for b in batches):,}" for s in ("ok", "failed", "late", "silent")),
            *(f"{sum(getattr(b, n) for b in batches):,}" for n in ("files", "rejected_files", "rows_loaded")),
            f"{sum(b.rows_quarantined for b in batches):,}",
        )
    console.print(table)


def print_sync_summary(summary, warehouse: Path, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """The per-run table, then the warehouse's totals by district and by reason."""
    from warehouse.queries import district_counts, reason_counts
    from warehouse.schema import open_warehouse

    if summary.skipped:
        console.print(f"Nothing synced: {summary.skipped}")
        return
    print_run_table(summary)
    console.print(
        f"\n[bold]{'Dry run' if summary.dry_run else 'This run'}[/bold] ({seconds:.0f} s): "
        f"{summary.total('files'):,} new files, "
        f"{summary.total('skipped_files'):,} already loaded, {summary.total('rejected_files'):,} rejected; "
        f"{summary.total('rows_loaded'):,} rows loaded, {summary.total('rows_quarantined'):,} quarantined."
    )
    con = open_warehouse(warehouse)
    try:
        table = Table(title="Warehouse by district / 各区汇总")
        for column in (
            "区 district",
            "文件 files",
            "拒收 rejected",
            "行 rows",
            "入库 loaded",
            "隔离 quarantined",
            "合格率 pass",
        ):
            table.add_column(column, justify="right" if column[0] not in "区" else "left")
        for d in district_counts(con):
            rate = f"{d.rows_loaded / d.rows_in:.1%}" if d.rows_in else "—"
            table.add_row(
                f"{d.district_name} {d.district_code[:6]}",
                f"{d.files:,}",
                f"{d.rejected_files:,}",
                f"{d.rows_in:,}",
                f"{d.rows_loaded:,}",
                f"{d.rows_quarantined:,}",
                rate,
            )
        console.print(table)
        reasons = Table(title="Quarantine reasons / 隔离原因")
        for column in ("rule", "原因", "reason", "rows"):
            reasons.add_column(column, justify="right" if column == "rows" else "left")
        for r in reason_counts(con):
            reasons.add_row(r.rule, r.title_zh, r.title_en, f"{r.rows:,}")
        console.print(reasons)
    finally:
        con.close()
    if summary.data_docs:
        console.print(f"[bold]Data Docs[/bold] (Great Expectations, every rule per item): {summary.data_docs}")
    errors = [(p, e) for b in summary.batches for p, e in b.errors]
    for path, error in errors[:10]:
        err_console.print(f"[yellow]problem[/yellow] {path}: {error}", soft_wrap=True, highlight=False)
    if len(errors) > 10:
        err_console.print(f"… and {len(errors) - 10:,} more: SELECT * FROM ops.source_latest WHERE state <> 'ok'")


DEMO_QUERIES = """\
-- 1. Quarantined rows with their reasons in Chinese, and how to fix them
SELECT path, row_number, message_zh, fix_zh FROM quarantine.reasons LIMIT 10;
-- 2. Unemployment registrations per street (the street is the code's first 9 digits)
SELECT d.name AS street, count(*) AS registrations
FROM core.unemployment_registration u JOIN ref.divisions d ON d.code = left(u.community_code, 9) || '000'
GROUP BY ALL ORDER BY registrations DESC LIMIT 10;
-- 3. One person across every item and service point ("one login, multi-point query")
WITH p AS (
  SELECT id_number, name, '失业登记' AS item, source_id, registration_date FROM core.unemployment_registration
  UNION ALL SELECT id_number, name, '养老参保登记', source_id, registration_date FROM core.resident_pension_enrolment
  UNION ALL SELECT id_number, name, '社保卡申领', source_id, registration_date FROM core.ss_card_application)
SELECT * FROM p WHERE id_number = (
  SELECT id_number FROM p GROUP BY id_number HAVING count(DISTINCT item) = 3 ORDER BY id_number LIMIT 1);"""


@app.command()
def demo(
    home: Annotated[Path, typer.Option(help="Folder for the demo city and warehouse.")] = Path("tierhub-demo"),
    scale: Scale = "demo",
    seed: Seed = 7,
) -> None:
    """Generate a synthetic Tianjin, sync it into a DuckDB warehouse, and show what happened."""
    # The demo's people are synthetic: its warehouse is not encrypted, so it runs with no key.
    os.environ["TIERHUB_ENCRYPT"] = "false"
    started = time.monotonic()
    drops = home / "drops"
    if drops.exists():
        shutil.rmtree(drops)  # the demo city is regenerated; the warehouse keeps what it loaded
    city = generate_with_progress(home, scale, seed)
    console.print(
        f"Generated {city.files:,} export files ({city.rows:,} rows, {city.defects:,} with injected defects) "
        f"from {city.sources:,} street centres and workstations."
    )
    warehouse = home / "warehouse.duckdb"
    from tierhub.synth.city import SCALES

    summary = run_sync(drops, warehouse, list(SCALES[scale] or []) or None, TierhubSettings().sources_per_batch)
    print_sync_summary(summary, warehouse, time.monotonic() - started)
    console.print(f"\n[bold]Warehouse:[/bold] {warehouse.resolve()}")
    console.print(
        f"[bold]Ground truth:[/bold] {(home / 'manifest.csv').resolve()} (every injected defect and its rule)"
    )
    console.print("\n[bold]Try these[/bold] with `duckdb " + str(warehouse) + "` or duckdb.connect(...) in Python:\n")
    console.print(DEMO_QUERIES, markup=False, highlight=False, soft_wrap=True)
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    console.print("\n[bold]Next[/bold] — the commands below work on the demo once these two settings point at it:")
    console.print(
        f"  export TIERHUB_HOME={home} TIERHUB_ENCRYPT=false   # the demo's warehouse is not encrypted\n"
        "  uv run tierhub users add admin --role admin        # a portal account (password asked)\n"
        "  uv run tierhub serve                               # the staff portal: http://127.0.0.1:8080/\n"
        f"  uv run tierhub report --district 120101 --from {monday} --to {dt.date.today()}"
        "   # 和平区's quality report (Excel + HTML)\n"
        "  uv run tierhub standards handbook                  # the staff handbook of every item's standard",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print("\nRerun `uv run tierhub demo` any time: files already loaded are skipped.")


sources_app = typer.Typer(help="The source registry: every street centre and workstation and its outbox.")
app.add_typer(sources_app, name="sources")
Scope = Annotated[
    str | None, typer.Option("--in", help="Only sources inside this division (district, street or community code).")
]


def _selected_sources(scope: str | None) -> list[Division]:
    from tierhub.reference import divisions

    tree = divisions()
    if scope is None:
        return tree.sources()
    code = scope if len(scope) == 12 else scope.ljust(12, "0")
    prefix = tree.get(code).prefix
    return [s for s in tree.sources() if s.code.startswith(prefix)]


@sources_app.command("list")
def sources_list(
    scope: Scope = None,
    limit: Annotated[int, typer.Option(help="Show at most this many sources.")] = 50,
) -> None:
    """List sources with their outbox, files taken, last file seen and lag."""
    from connectors.config import load_sources
    from warehouse.queries import source_activity
    from warehouse.schema import open_warehouse

    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    selected = _selected_sources(scope)
    activity = {}
    if settings.warehouse_file.exists():
        con = open_warehouse(settings.warehouse_file)
        try:
            activity = source_activity(con)
        finally:
            con.close()
    now = dt.datetime.now(dt.UTC)
    table = Table(title=f"{len(selected):,} sources" + (f" (first {limit})" if len(selected) > limit else ""))
    for column in ("code", "名称 name", "outbox", "files", "last file", "lag"):
        table.add_column(column)
    for source in selected[:limit]:
        endpoint = config.endpoint_for(source.code)
        seen = activity.get(source.code)
        last = seen.last_file_at if seen else None
        lag = f"{(now - last).days} d" if last else "never"
        table.add_row(
            source.code,
            source.name,
            endpoint.where(source.code),
            str(seen.files if seen else 0),
            last.strftime("%Y-%m-%d %H:%M") if last else "—",
            lag,
        )
    console.print(table)


@sources_app.command("check")
def sources_check(
    scope: Scope = None,
    limit: Annotated[int, typer.Option(help="Show at most this many sources with problems.")] = 50,
) -> None:
    """Connect to each source's outbox and report reachability, files waiting and refused files."""
    from connectors.config import load_sources
    from connectors.outboxes import Outboxes

    settings = TierhubSettings()
    boxes = Outboxes(load_sources(settings.sources_file, default_root=settings.drops_folder), settings.landing_folder)
    selected = _selected_sources(scope)
    problems: list[tuple[str, str]] = []
    files = reachable = 0
    try:
        with _progress() as progress:
            task = progress.add_task("Checking sources", total=len(selected))
            for source in selected:
                try:
                    listings, refusals, _ = boxes.for_source(source.code).scan(source.code)
                except TierhubError as exc:
                    problems.append((source.code, f"unreachable: {exc}"))
                else:
                    reachable += 1
                    files += len(listings)
                    problems += [(source.code, f"refused {r.path}: {r.reason}") for r in refusals]
                progress.advance(task)
    finally:
        boxes.close()
    console.print(f"{reachable:,} of {len(selected):,} sources reachable; {files:,} files in their outboxes.")
    for code, problem in problems[:limit]:
        err_console.print(f"[yellow]{code}[/yellow] {problem}", soft_wrap=True, highlight=False)
    if len(problems) > limit:
        err_console.print(f"… and {len(problems) - limit:,} more")


standards_app = typer.Typer(help="The unified standards: the service items and the staff handbook (统一标准手册).")
app.add_typer(standards_app, name="standards")


class Language(StrEnum):
    """Languages of the handbook."""

    zh = "zh"
    en = "en"


AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Show the versions in force on this date, YYYY-MM-DD (default today)."),
]
CatalogueFolder = Annotated[
    Path | None,
    typer.Option("--catalogue", help="Catalogue folder: item YAMLs and _rules.yaml (default: the shipped one)."),
]


def _as_of(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else dt.date.today()
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not a date", fix="write it as YYYY-MM-DD, e.g. 2026-01-31") from None


@standards_app.command("handbook")
def standards_handbook(
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file to write (default: handbook.html, or handbook.en.html for --lang en, here)."),
    ] = None,
    lang: Annotated[Language, typer.Option("--lang", help="zh for staff, en for engineers.")] = Language.zh,
    as_of: AsOf = None,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print it to a PDF beside the HTML (needs Chromium).")
    ] = False,
    catalogue_folder: CatalogueFolder = None,
) -> None:
    """Write the staff handbook: every item's documents, fields, time limit, steps and reasons, as printable HTML."""
    from reports.handbook import print_pdf, read_catalogue, render_handbook

    items, rules = read_catalogue(catalogue_folder)
    html = render_handbook(items, language=lang.value, as_of=_as_of(as_of), rules=rules)
    target = out or Path("handbook.html" if lang is Language.zh else "handbook.en.html")
    if target.suffix.lower() == ".pdf":  # --out handbook.pdf: the HTML goes beside it
        target, pdf = target.with_suffix(".html"), True
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    console.print(f"Wrote the handbook ({len(items)} service items) to {target.resolve()}")
    if pdf:
        printed = print_pdf(target, target.with_suffix(".pdf"))
        console.print(f"Printed it to {printed.resolve()}")
    else:
        console.print(
            "To print it: open it in a browser, Ctrl+P, paper A4, background graphics on, headers and footers off; "
            "or rerun with --pdf (uses Chromium)."
        )


@standards_app.command("list")
def standards_list(as_of: AsOf = None, catalogue_folder: CatalogueFolder = None) -> None:
    """List the service items with their version in force, fields, documents and time limit."""
    from reports.handbook import labels, ordered_items, read_catalogue, time_limit_words, version_on

    items, _ = read_catalogue(catalogue_folder)
    day = _as_of(as_of)
    words = labels("zh")
    table = Table(title=f"{len(items)} service items (服务事项), standards in force on {day}", box=box.SIMPLE_HEAD)
    # The code, the name and the limit stay whole on a narrow terminal; the other columns give way.
    table.add_column("code", min_width=4)
    table.add_column("事项 item", no_wrap=True, min_width=max(len(i.name_zh) * 2 for i in items.items.values()))
    for column in ("类别", "系统", "版本 version"):
        table.add_column(column)
    for column in ("字段", "要件"):
        table.add_column(column, justify="right")
    table.add_column("时限 limit")
    for item in ordered_items(items):
        version, status = version_on(item, day)
        table.add_row(
            item.code,
            item.name_zh,
            str(words["categories"].get(item.category, item.category)),
            item.owner_system,
            f"{version.version} {version.effective_from}" + ("" if status == "in_force" else f" ({status})"),
            str(len(version.fields)),
            str(len(version.documents)),
            time_limit_words(version.time_limit, "zh")[0],
        )
    console.print(table)


def _day(text: str | None, option: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a date", fix="write it as YYYY-MM-DD, e.g. 2026-11-23") from None


@app.command()
def report(
    district: Annotated[list[str], typer.Option(help="District code (6 or 12 digits); repeatable.")],
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day YYYY-MM-DD (default: Monday of last week).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day YYYY-MM-DD (default: Sunday of last week).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the reports (default: settings reports_path).")] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB warehouse file (default: settings warehouse_path).")
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Deliver: the district's SFTP outbox and its e-mail recipients.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Send again even if this period was sent.")] = False,
    lang: Annotated[Language, typer.Option("--lang", help="zh for district staff, en for engineers.")] = Language.zh,
) -> None:
    """Write each district's data quality report (Excel + HTML) for a period, and deliver it with --send."""
    from connectors.config import load_sources
    from connectors.mail import load_recipients
    from connectors.outboxes import Outboxes
    from reports.model import latest_data_docs, percent
    from reports.run import (
        deliver_report,
        expectations_from,
        reading,
        report_period,
        smtp_server,
        write_report,
    )
    from warehouse.schema import open_warehouse

    settings = TierhubSettings()
    warehouse = warehouse or settings.warehouse_file
    if not warehouse.exists():
        raise TierhubError(f"warehouse {warehouse} does not exist", fix="pass --warehouse or run `tierhub sync` first")
    period = report_period(_day(date_from, "--from"), _day(date_to, "--to"))
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    reports = []
    with reading(warehouse) as con:  # the published snapshot when there is one
        for code in district:
            started = time.monotonic()
            written = write_report(
                con,
                code,
                period,
                out or settings.reports_folder,
                expectations=expectations_from(settings, config, period),
                escalate_after=settings.report_escalate_after,
                language=lang.value,
                data_docs=latest_data_docs(warehouse),
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
    if not send:
        return
    log = open_warehouse(warehouse)  # deliveries are logged in the warehouse
    outboxes = Outboxes(config, settings.landing_folder)
    try:
        for written in reports:
            for d in deliver_report(
                log,
                written,
                outboxes=outboxes,
                server=smtp_server(settings),
                recipients=load_recipients(settings.report_recipients_file),
                language=lang.value,
                force=force,
                attempts=settings.delivery_attempts,
                backoff=settings.delivery_backoff_seconds,
            ):
                note = {"skipped": " (already sent for this period; --force sends again)"}.get(d.status, "")
                line = f"  {written.report.district_name} {d.channel}: {d.status}{note}"
                line += f" → {d.target}" if d.target else ""
                if d.error:
                    err_console.print(f"{line}: {d.error}", soft_wrap=True, highlight=False)
                else:
                    console.print(line, highlight=False)
    finally:
        outboxes.close()
        log.close()


@app.command()
def receipts(
    scope: Scope = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB warehouse file (default: settings warehouse_path).")
    ] = None,
    lang: Annotated[Language, typer.Option("--lang", help="Language of the receipts.")] = Language.zh,
) -> None:
    """Write a receipt into each source's outbox (receipts/ folder) for every received file that has none."""
    from connectors.config import load_sources
    from connectors.outboxes import Outboxes
    from reports.receipts import send_receipts
    from warehouse.queries import CITY
    from warehouse.schema import open_warehouse

    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    con = open_warehouse(warehouse or settings.warehouse_file)
    outboxes = Outboxes(config, settings.landing_folder)
    code = CITY if scope is None else scope.ljust(12, "0")
    try:
        run = send_receipts(con, outboxes, code, settings.home / "receipts-work", language=lang.value)
    finally:
        outboxes.close()
        con.close()
    console.print(f"Wrote {len(run.written):,} receipts.")
    for source, error in run.failed:
        err_console.print(f"[yellow]{source}[/yellow] receipts wait for the next run: {error}", soft_wrap=True)


warehouse_app = typer.Typer(help="Warehouse maintenance: check, back up, restore, compact, publish for readers.")
app.add_typer(warehouse_app, name="warehouse")
WarehouseFile = Annotated[
    Path | None, typer.Option("--warehouse", help="DuckDB warehouse file (default: settings warehouse_path).")
]


@warehouse_app.command("check")
def warehouse_check(warehouse: WarehouseFile = None) -> None:
    """Check that files reconcile (in = loaded + quarantined) and each ID has one master row; show table sizes."""
    from warehouse.maintenance import check

    path = warehouse or TierhubSettings().warehouse_file
    result = check(path)
    table = Table(title=f"{path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.tables.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    if result.problems:
        raise TierhubError("; ".join(result.problems), path=str(path), fix="restore the last good backup")
    console.print("All counts reconcile.")


@warehouse_app.command("backup")
def warehouse_backup(
    warehouse: WarehouseFile = None,
    to: Annotated[Path | None, typer.Option(help="Folder for backups (default: backups/ beside it).")] = None,
) -> None:
    """Write a verified, consistent copy of the warehouse (refused while a sync runs)."""
    from warehouse.maintenance import backup

    path = warehouse or TierhubSettings().warehouse_file
    saved = backup(path, to or path.parent / "backups")
    console.print(f"Backed up to {saved}")


@warehouse_app.command("restore")
def warehouse_restore(
    backup_file: Annotated[Path, typer.Argument(help="A backup written by `tierhub warehouse backup`.")],
    warehouse: WarehouseFile = None,
) -> None:
    """Replace the warehouse with a backup; the replaced file is kept beside it."""
    from warehouse.maintenance import restore

    path = warehouse or TierhubSettings().warehouse_file
    kept = restore(backup_file, path)
    console.print(f"Restored {path} from {backup_file}" + (f"; the replaced file is {kept}" if kept else ""))


@warehouse_app.command("compact")
def warehouse_compact(warehouse: WarehouseFile = None) -> None:
    """Rewrite the warehouse into a fresh file to reclaim space (refused while a sync runs)."""
    from warehouse.maintenance import compact

    path = warehouse or TierhubSettings().warehouse_file
    before, after = compact(path)
    console.print(f"Compacted {path}: {before / 2**20:,.1f} MiB → {after / 2**20:,.1f} MiB")


@warehouse_app.command("publish")
def warehouse_publish(warehouse: WarehouseFile = None) -> None:
    """Publish the warehouse as a read-only snapshot for readers now (the sync does this after each run)."""
    from warehouse.publish import publish
    from warehouse.schema import open_warehouse

    path = warehouse or TierhubSettings().warehouse_file
    con = open_warehouse(path)
    try:
        snapshot = publish(con, path)
    finally:
        con.close()
    console.print(f"Readers now see generation {snapshot.generation}: {snapshot.path}")


users_app = typer.Typer(help="Portal accounts: add, disable, reset, list (admins run these on the server).")
app.add_typer(users_app, name="users")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: settings portal_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings portal_port).")] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="Warehouse whose published snapshot the portal reads (default: settings).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (state is shared through SQLite).")] = 1,
) -> None:
    """Start the staff portal (一点登陆、多点查询): person search, dashboards, analyst SQL, audit."""
    import uvicorn

    settings = TierhubSettings()
    if warehouse is not None:
        settings = settings.model_copy(update={"warehouse_path": warehouse})
        os.environ["TIERHUB_WAREHOUSE_PATH"] = str(warehouse.resolve())  # for worker processes
    if not settings.portal_state_file.exists() or not _portal_state(settings).users():
        err_console.print("[yellow]no portal accounts yet[/yellow]: add one with `tierhub users add NAME --role admin`")
    if settings.warehouse_file.exists():
        from warehouse.readers import open_reader

        open_reader(settings.warehouse_file).close()  # a wrong key or setting stops here, not as empty pages
    else:
        err_console.print(
            f"[yellow]no warehouse at {settings.warehouse_file} yet[/yellow]: pages show no data until a sync runs"
        )
    listen_host, listen_port = host or settings.portal_host, port or settings.portal_port
    console.print(f"Portal on http://{listen_host}:{listen_port}/ reading {settings.warehouse_file}")
    if workers > 1:
        uvicorn.run(
            "portal.app:from_environment",
            factory=True,
            host=listen_host,
            port=listen_port,
            workers=workers,
            proxy_headers=False,
        )
    else:
        from portal.app import create_app, warm_up

        portal_app = create_app(settings)
        warm_up(portal_app)
        uvicorn.run(portal_app, host=listen_host, port=listen_port, proxy_headers=False)


def _portal_state(settings: TierhubSettings):  # type: ignore[no-untyped-def]
    from portal.state import PortalState

    return PortalState(settings.portal_state_file)


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = typer.prompt(prompt, hide_input=True)
        if typer.prompt("Again", hide_input=True) != first:
            raise ConfigError("the two passwords differ", fix="type the same password twice")
        return str(first)
    return sys.stdin.readline().rstrip("\n")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option(help="city, district, street, community, analyst or admin.")],
    division: Annotated[
        str, typer.Option(help="12-digit division code the account is bound to (its scope); default the city.")
    ] = "120000000000",
    display_name: Annotated[str | None, typer.Option(help="Name shown in the portal.")] = None,
) -> None:
    """Add a portal account; the password is read from the terminal (or one line of stdin)."""
    from portal.auth import USERNAME, check_binding, hash_password
    from portal.masking import Role

    if not USERNAME.fullmatch(username):
        raise ConfigError(f"user name {username!r} is not allowed", fix="use 2–64 letters, digits, _ . @ -")
    try:
        kind = Role(role)
    except ValueError:
        raise ConfigError(
            f"role {role!r} is unknown", fix=f"choose one of {', '.join(r.value for r in Role)}"
        ) from None
    check_binding(kind, division)
    state = _portal_state(TierhubSettings())
    if state.user(username) is not None:
        raise ConfigError(f"user {username} exists", fix="choose another name, or `tierhub users reset`")
    state.add_user(
        username, display_name or username, kind.value, division, hash_password(_read_password("Password"), username)
    )
    console.print(f"Added {username} ({kind.value} at {division}).")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again instead.")] = False,
) -> None:
    """Disable an account (its sessions end at once), or enable it again."""
    state = _portal_state(TierhubSettings())
    if state.user(username) is None:
        raise ConfigError(f"no user {username}", fix="see `tierhub users list`")
    state.set_disabled(username, not enable)
    console.print(f"{'Enabled' if enable else 'Disabled'} {username}.")


@users_app.command("reset")
def users_reset(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Give an account a new temporary password (printed once; changed at next login) and lift its lockout."""
    from portal.auth import hash_password, new_password

    state = _portal_state(TierhubSettings())
    if state.user(username) is None:
        raise ConfigError(f"no user {username}", fix="see `tierhub users list`")
    password = new_password()
    state.set_password(username, hash_password(password), must_change=True)
    console.print(f"Temporary password for {username}: {password}", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List the portal accounts with role, scope and state."""
    state = _portal_state(TierhubSettings())
    table = Table(title="Portal accounts")
    for column in ("user", "name", "role", "division", "state", "created"):
        table.add_column(column)
    for user in state.users():
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            user.division_code,
            "disabled" if user.disabled else ("must change password" if user.must_change_password else "active"),
            user.created_at[:10],
        )
    console.print(table)


def main() -> None:
    """Entry point: run the app, turning tierhub errors into one-line messages."""
    try:
        app()
    except TierhubError as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
