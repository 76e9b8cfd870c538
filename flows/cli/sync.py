"""``tierhub generate``, ``sync`` and ``demo``: write a synthetic city, sync it, show what happened."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table

from flows.cli.common import Json, Scale, ScaleName, Seed, console, err_console, parse_day, print_json, progress_bars
from flows.cli.server import stop_server
from tierhub.errors import TierhubError, printable
from tierhub.settings import TierhubSettings

if TYPE_CHECKING:
    from flows.batches import SyncSummary
    from tierhub.synth.city import GeneratedCity  # the generator loads only for generate and demo

STAGES = {
    "fetch": "fetching new files 取文件",
    "read": "reading files 读取",
    "judge": "checking items 校验",
    "commit": "committing 入库",
}


def generate_with_progress(
    out: Path,
    scale: ScaleName,
    seed: int,
    as_of: dt.date | None = None,
    *,
    on: Console | None = None,
    dialects: str = "plain",
) -> GeneratedCity:
    """Run the generator with a progress bar."""
    from tierhub.synth.city import generate_city

    with progress_bars(on) as progress:
        task = progress.add_task("Generating sources", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return generate_city(out, scale=scale, seed=seed, as_of=as_of, progress=tick, dialects=dialects)


def city_facts(city: GeneratedCity) -> dict[str, Any]:
    """What the generator wrote, for --json."""
    return {
        "drops": str(city.drops),
        "sources": city.sources,
        "files": city.files,
        "rows": city.rows,
        "defects": city.defects,
    }


def generate(
    out: Annotated[Path, typer.Option(help="Folder to write drops/, manifest.csv and files.csv into.")] = Path(
        "tierhub-data"
    ),
    scale: Scale = "demo",
    seed: Seed = 7,
    as_of: Annotated[str | None, typer.Option(help="Export date YYYY-MM-DD (default today).")] = None,
    dialects: Annotated[
        Literal["plain", "wild"],
        typer.Option(help="plain, or wild: text exports as Excel/WPS save them (tierhub/synth/wild.py)."),
    ] = "plain",
    json: Json = False,
) -> None:
    """Generate a synthetic Tianjin: the export drops of street centres and workstations."""
    day = parse_day(as_of, "--as-of")
    city = generate_with_progress(out, scale, seed, day, on=err_console if json else None, dialects=dialects)
    if json:
        print_json(city_facts(city))
        return
    console.print(
        f"Wrote {city.files:,} files ({city.rows:,} rows, {city.defects:,} injected defects) "
        f"for {city.sources:,} sources under {city.drops}"
    )


def run_sync(
    drops: Path,
    warehouse: Path,
    districts: list[str] | None,
    sources_per_batch: int,
    *,
    levels: list[str] | None = None,
    items: list[str] | None = None,
    since: dt.date | None = None,
    dry_run: bool = False,
    on: Console | None = None,
    prefect: bool | None = None,
) -> SyncSummary:
    """Run a sync in this process, with a progress bar per district.

    With no Prefect API configured (the embedded default) the sync's plain body runs directly,
    without Prefect (``flows.runs.sync_direct``): no temporary API to start, no Prefect import.
    With one configured, or ``prefect=True``, it runs as the ``sync`` flow (a temporary local
    API is started when none is configured). The bars follow the run itself: it reports its
    plan and each committed batch to a listener in this process.
    """
    from flows.cli.environment import ensure_prefect_home, prefect_api_configured

    params: dict[str, Any] = {
        "drops_root": str(drops.resolve()),
        "warehouse": str(warehouse.resolve()),
        "districts": districts,
        "levels": levels,
        "items": items,
        "since": since,
        "dry_run": dry_run,
        "sources_per_batch": sources_per_batch,
    }
    if not (prefect or prefect_api_configured(os.environ)):
        with interrupts_end_the_run(None), run_log_on_stderr():
            return _follow(params, on, flow=False)
    from flows.cli.server import temporary_api

    ensure_prefect_home(os.environ)  # where main() pointed Prefect, before Prefect starts its local API
    with temporary_api(os.environ) as server, interrupts_end_the_run(server):
        return _follow(params, on, flow=True)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (the progress bars redirect it above themselves)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


@contextlib.contextmanager
def run_log_on_stderr() -> Iterator[None]:
    """A direct run's log lines on stderr, as Prefect prints a flow run's: time, level, message."""
    logger = logging.getLogger("tierhub.flows")
    handler = _CurrentStderr()
    line = "%(asctime)s.%(msecs)03d | %(levelname)-7s | sync - %(message)s"
    handler.setFormatter(logging.Formatter(line, "%H:%M:%S"))
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


INTERRUPTED = (
    "interrupted (已中断): batches committed before now are in the warehouse; nothing of the interrupted "
    "batch was loaded (each batch commits atomically) — rerun `tierhub sync` to continue"
)


@contextlib.contextmanager
def interrupts_end_the_run(server: subprocess.Popen[bytes] | None) -> Iterator[None]:
    """Ctrl-C or SIGTERM during a sync: stop the temporary API, print one line, exit 130.

    Without this, Prefect reports the interrupt as a crashed flow and task runs: some 140 lines
    and three tracebacks. Exiting at once is safe: a batch's commit is one DuckDB transaction,
    which a process that stops half-way never leaves applied.
    """

    def stop(signum: int, frame: object) -> None:
        if server is not None:
            stop_server(server)
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h")  # the progress bars hid the cursor
        sys.stderr.write(f"\n{INTERRUPTED}\n")
        sys.stderr.flush()
        os._exit(130)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow(params: dict[str, Any], on: Console | None, *, flow: bool) -> SyncSummary:
    from flows.batches import BatchPlan, BatchSummary, progress_listener
    from tierhub.reference import divisions

    with progress_bars(on) as progress:
        first = "Starting Prefect (temporary local API)…" if flow else "Reading the warehouse…"
        starting = progress.add_task(first, total=None)
        bars: dict[str, TaskID] = {}
        preparing: dict[str, TaskID] = {}  # batch label → its bar until it is committed

        def show(event: str, value: object) -> None:
            if event == "planned" and isinstance(value, list):
                progress.update(starting, description="Planned; reading the warehouse", total=1, completed=1)
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
            if flow:
                from flows.sync import sync_flow

                summary: SyncSummary = sync_flow(**params)
                return summary
            from flows.runs import sync_direct

            return sync_direct(**params)


def checked_selection(
    districts: list[str] | None, items: list[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """``--district`` and ``--item`` values as district and item codes; unknown ones raise, listing the known."""
    from tierhub.reference import divisions
    from tierhub.standards import catalogue

    return (
        divisions().district_codes(districts) if districts else None,
        catalogue().codes_of(items) if items else None,
    )


class Level(StrEnum):
    """Tiers of sources."""

    street = "street"
    community = "community"


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
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect",
            help="Run as a Prefect flow run even with no Prefect API configured (starts a temporary local API).",
        ),
    ] = False,
    json: Json = False,
) -> None:
    """Sync new exports from local folders into the warehouse (the sync flow's steps, run in this process)."""
    settings = TierhubSettings()
    drops = drops or settings.drops_folder
    warehouse = warehouse or settings.warehouse_file
    if not drops.is_dir():
        raise TierhubError(f"drops folder {drops} does not exist", fix="pass --drops or run `tierhub generate` first")
    # Before Prefect starts: a typo or a missing key fails in a second, with one line.
    districts, items = checked_selection(district, item)
    settings.warehouse_key()
    started = time.monotonic()
    summary = run_sync(
        drops,
        warehouse,
        districts,
        settings.sources_per_batch,
        levels=[lv.value for lv in level] if level else None,
        items=items,
        since=parse_day(since, "--since"),
        dry_run=dry_run,
        on=err_console if json else None,
        prefect=prefect,
    )
    if json:
        print_json(sync_facts(summary, warehouse, time.monotonic() - started))
    else:
        print_sync_summary(summary, warehouse, time.monotonic() - started)


def _by_district(summary: SyncSummary) -> dict[str, dict[str, int]]:
    """This run's counters summed per district."""
    rows: dict[str, dict[str, int]] = {}
    for b in summary.batches:
        row = rows.setdefault(b.district_code, {})
        for name in ("sources", "files", "skipped_files", "rejected_files", "rows_loaded", "rows_quarantined"):
            row[name] = row.get(name, 0) + int(getattr(b, name))
        for state in ("ok", "failed", "late", "silent"):
            row[state] = row.get(state, 0) + b.states.get(state, 0)
    return rows


def print_run_table(summary: SyncSummary) -> None:
    """This run per district: sources ok / failed / late / silent, files, rows."""
    from tierhub.reference import divisions

    title = "This run by district / 本次同步" + (" — dry run, nothing committed" if summary.dry_run else "")
    table = Table(title=title)
    columns = ("区 district", "sources", "ok", "failed", "late", "silent", "new files", "rejected", "loaded", "隔离")
    if summary.dry_run:
        columns = (*columns[:-2], "would load 将入库", "would quarantine 将隔离")
    for column in columns:
        table.add_column(column, justify="left" if column.startswith("区") else "right")
    for code, row in _by_district(summary).items():
        table.add_row(
            f"{divisions().get(code).name} {code[:6]}",
            *(
                f"{row[n]:,}"
                for n in ("sources", "ok", "failed", "late", "silent", "files", "rejected_files", "rows_loaded")
            ),
            f"{row['rows_quarantined']:,}",
        )
    console.print(table)


def sync_facts(summary: SyncSummary, warehouse: Path, seconds: float) -> dict[str, Any]:
    """The run and the warehouse's totals as plain data, for --json."""
    from tierhub.reference import divisions
    from warehouse.queries import district_counts, reason_counts
    from warehouse.schema import open_warehouse

    if summary.dry_run:
        return dry_run_facts(summary, warehouse, seconds)
    facts: dict[str, Any] = {
        "warehouse": str(warehouse.resolve()),
        "dry_run": summary.dry_run,
        "skipped": summary.skipped,
        "warnings": summary.warnings,
        "seconds": round(seconds, 1),
        "run": {
            name: summary.total(name)
            for name in ("files", "skipped_files", "rejected_files", "rows_loaded", "rows_quarantined")
        },
        "run_by_district": [
            {"district_code": code, "district_name": divisions().get(code).name, **row}
            for code, row in _by_district(summary).items()
        ],
        "data_docs": summary.data_docs,
        "problems": [{"path": p, "error": e} for b in summary.batches for p, e in b.errors],
    }
    if summary.skipped or not warehouse.exists():
        return facts
    con = open_warehouse(warehouse)
    try:
        facts["warehouse_by_district"] = district_counts(con)
        facts["quarantine_reasons"] = reason_counts(con)
    finally:
        con.close()
    return facts


def dry_run_facts(summary: SyncSummary, warehouse: Path, seconds: float) -> dict[str, Any]:
    """A dry run as plain data: what it would load and quarantine, per file and by rule — nothing of the warehouse."""
    from tierhub.reference import divisions
    from warehouse.preview import rule_totals

    previews = [p for b in summary.batches for p in b.previews]

    def rules(counts: list[Any]) -> list[dict[str, Any]]:
        return [{"rule": r.rule, "title_zh": r.title_zh, "title_en": r.title_en, "rows": r.rows} for r in counts]

    return {
        "warehouse": str(warehouse.resolve()),
        "dry_run": True,
        "skipped": summary.skipped,
        "warnings": summary.warnings,
        "seconds": round(seconds, 1),
        "would": {
            "files": summary.total("files"),
            "skipped_files": summary.total("skipped_files"),
            "rejected_files": summary.total("rejected_files"),
            "rows_would_load": summary.total("rows_loaded"),
            "rows_with_warnings": summary.total("rows_warned"),
            "rows_would_quarantine": summary.total("rows_quarantined"),
        },
        "would_by_district": [
            {
                "district_code": code,
                "district_name": divisions().get(code).name,
                **{
                    k.replace("rows_loaded", "rows_would_load").replace("rows_quarantined", "rows_would_quarantine"): v
                    for k, v in row.items()
                },
            }
            for code, row in _by_district(summary).items()
        ],
        "files": [
            {
                "path": p.path,
                "source_id": p.source_id,
                "item_code": p.item_code,
                "status": "would load" if p.status == "loaded" else p.status,
                "rows": p.rows_in,
                "would_load": p.would_load,
                "with_warnings": p.with_warnings,
                "would_quarantine": p.would_quarantine,
                "quarantine_rules": rules(p.quarantine_rules),
                "warning_rules": rules(p.warning_rules),
                "error": p.error,
            }
            for p in previews
        ],
        "quarantine_rules": rules(rule_totals(previews)),
        "warning_rules": rules(rule_totals(previews, warnings=True)),
        "problems": [{"path": p, "error": e} for b in summary.batches for p, e in b.errors],
    }


def print_dry_run(summary: SyncSummary, seconds: float) -> None:
    """What this run would do, per file and by rule; the warehouse is not shown (nothing of this run is in it)."""
    from warehouse.preview import rule_totals

    previews = [p for b in summary.batches for p in b.previews]
    files = Table(title="What each new file would do / 各文件预检结果 — nothing committed")
    for column in (
        "file 文件",
        "item",
        "rows 行",
        "would load 将入库",
        "with warnings 带提示",
        "would quarantine 将隔离",
        "why 原因",
    ):
        files.add_column(column, justify="left" if column.split()[0] in ("file", "item", "why") else "right")
    for p in previews:
        why = "; ".join(f"{r.rule} {r.title_zh} {r.rows:,}" for r in p.quarantine_rules) or (p.error or "")
        files.add_row(
            escape(printable(p.path)),
            p.item_code or "—",
            f"{p.rows_in:,}",
            f"{p.would_load:,}",
            f"{p.with_warnings:,}",
            f"{p.would_quarantine:,}",
            escape(printable(why)),
        )
    console.print(files)
    for title, counts in (
        ("Would be quarantined, by rule / 将隔离原因", rule_totals(previews)),
        ("Would load with warnings, by rule / 带提示入库", rule_totals(previews, warnings=True)),
    ):
        if counts:
            table = Table(title=title)
            for column in ("rule", "原因", "reason", "rows"):
                table.add_column(column, justify="right" if column == "rows" else "left")
            for r in counts:
                table.add_row(r.rule, r.title_zh, r.title_en, f"{r.rows:,}")
            console.print(table)
    console.print(
        f"\n[bold]Dry run[/bold] ({seconds:.0f} s), nothing committed: {summary.total('files'):,} new files "
        f"({summary.total('skipped_files'):,} already loaded, {summary.total('rejected_files'):,} would be rejected); "
        f"{summary.total('rows_loaded'):,} rows would load ({summary.total('rows_warned'):,} with warnings), "
        f"{summary.total('rows_quarantined'):,} would be quarantined."
    )


def print_sync_summary(summary: SyncSummary, warehouse: Path, seconds: float) -> None:
    """The per-run table, then the warehouse's totals by district and by reason."""
    from warehouse.queries import district_counts, reason_counts
    from warehouse.schema import open_warehouse

    for warning in summary.warnings:
        err_console.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}", soft_wrap=True, highlight=False)
    if summary.skipped:
        console.print(f"Nothing synced: {summary.skipped}")
        return
    print_run_table(summary)
    if summary.dry_run:
        print_dry_run(summary, seconds)
        _print_problems(summary)
        return
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
    _print_problems(summary)


def _print_problems(summary: SyncSummary) -> None:
    errors = [(p, e) for b in summary.batches for p, e in b.errors]
    for path, error in errors[:10]:
        err_console.print(
            f"[yellow]problem[/yellow] {escape(printable(path))}: {escape(printable(error))}",
            soft_wrap=True,
            highlight=False,
        )
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


def print_widely_served(warehouse: Path) -> None:
    """Name one person the city-wide view shows at several service points, and how to see them."""
    from warehouse.queries import widely_served
    from warehouse.readers import open_reader

    con = open_reader(warehouse)
    try:
        found = widely_served(con, limit=1)
    finally:
        con.close()
    if not found:
        return
    person = found[0]
    console.print(
        f"\n[bold]一点登陆、多点查询[/bold] — {person.name or ''} {person.id_number} has records at "
        f"{person.service_points} service points in {person.districts} districts ({person.items} items). "
        "See them all as a city user:"
    )
    console.print(
        "  uv run tierhub users add city --role city          # a city-wide account (password asked)\n"
        f"  then open http://127.0.0.1:8080/person/{person.id_number} after `uv run tierhub serve`\n"
        f'  or: duckdb -readonly {warehouse} "SELECT item_code, source_id, business_date FROM core.cases '
        f"WHERE id_number = '{person.id_number}' ORDER BY business_date\"",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def demo(
    home: Annotated[Path, typer.Option(help="Folder for the demo city and warehouse.")] = Path("tierhub-demo"),
    scale: Scale = "demo",
    seed: Seed = 7,
    json: Json = False,
) -> None:
    """Generate a synthetic Tianjin, sync it into a DuckDB warehouse, and show what happened."""
    # The demo's people are synthetic: its warehouse is not encrypted, so it runs with no key.
    os.environ["TIERHUB_ENCRYPT"] = "false"
    started = time.monotonic()
    drops = home / "drops"
    if drops.exists():
        shutil.rmtree(drops)  # the demo city is regenerated; the warehouse keeps what it loaded
    bars = err_console if json else None
    warehouse = home / "warehouse.duckdb"
    if not warehouse.exists() and TierhubSettings().data_docs:
        # A first demo loads rows and renders Data Docs: their workers import GX (~3 s) on the
        # other core while this one generates the city. The sync stops them when it ends.
        from quality.datadocs import start_workers, stop_workers

        start_workers()
        atexit.register(stop_workers)  # if generating fails before the sync
    city = generate_with_progress(home, scale, seed, on=bars)
    from tierhub.synth.city import SCALES
    from tierhub.synth.onboarding import SOURCE, write_onboarding_export

    covered = SCALES[scale] is None or SOURCE[:6] in (SCALES[scale] or ())
    new_dialect = write_onboarding_export(drops, seed, dt.date.today()) if covered else None  # onboarded below
    if not json:
        console.print(
            f"Generated {city.files:,} export files ({city.rows:,} rows, {city.defects:,} with injected defects) "
            f"from {city.sources:,} street centres and workstations."
        )
    districts = list(SCALES[scale] or []) or None
    summary = run_sync(drops, warehouse, districts, TierhubSettings().sources_per_batch, on=bars)
    from flows.cli.rejudge import onboard_demo_dialect, print_onboarding

    onboarded = onboard_demo_dialect(home, warehouse, new_dialect) if new_dialect else None
    if json:
        facts = sync_facts(summary, warehouse, time.monotonic() - started)
        city_json = {"city": city_facts(city), "manifest": str((home / "manifest.csv").resolve())}
        print_json({**city_json, **facts, "onboarding": onboarded})
        return
    print_sync_summary(summary, warehouse, time.monotonic() - started)
    if onboarded:
        print_onboarding(onboarded)
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
    print_widely_served(warehouse)
    console.print("\nRerun `uv run tierhub demo` any time: files already loaded are skipped.")
