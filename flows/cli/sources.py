"""``tierhub sources``: the source registry — every street centre and workstation and its outbox."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flows.cli.common import Json, Scope, console, err_console, print_json, progress_bars
from tierhub.errors import TierhubError, printable
from tierhub.reference import Division
from tierhub.settings import TierhubSettings

app = typer.Typer(help="The source registry: every street centre and workstation and its outbox.")


def selected_sources(scope: str | None) -> list[Division]:
    """The sources inside a division (all of them without one)."""
    from tierhub.reference import divisions

    tree = divisions()
    if scope is None:
        return tree.sources()
    code = scope if len(scope) == 12 else scope.ljust(12, "0")
    prefix = tree.get(code).prefix
    return [s for s in tree.sources() if s.code.startswith(prefix)]


@app.command("list")
def sources_list(
    scope: Scope = None,
    limit: Annotated[int, typer.Option(help="Show at most this many sources.")] = 50,
    json: Json = False,
) -> None:
    """List sources with their outbox, files taken, last file seen and lag."""
    from connectors.config import load_sources
    from warehouse.queries import source_activity
    from warehouse.schema import open_warehouse

    settings = TierhubSettings()
    config = load_sources(settings.sources_file, default_root=settings.drops_folder)
    selected = selected_sources(scope)
    activity = {}
    if settings.warehouse_file.exists():
        con = open_warehouse(settings.warehouse_file)
        try:
            activity = source_activity(con)
        finally:
            con.close()
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    for source in selected[:limit]:
        endpoint = config.endpoint_for(source.code)
        seen = activity.get(source.code)
        last = seen.last_file_at if seen else None
        rows.append(
            {
                "code": source.code,
                "name": source.name,
                "outbox": endpoint.where(source.code),
                "files": seen.files if seen else 0,
                "last_file_at": last,
                "lag_days": (now - last).days if last else None,
            }
        )
    if json:
        print_json({"total": len(selected), "shown": len(rows), "sources": rows})
        return
    table = Table(title=f"{len(selected):,} sources" + (f" (first {limit})" if len(selected) > limit else ""))
    for column in ("code", "名称 name", "outbox", "files", "last file", "lag"):
        table.add_column(column)
    for row in rows:
        last = row["last_file_at"]
        table.add_row(
            row["code"],
            row["name"],
            row["outbox"],
            str(row["files"]),
            last.strftime("%Y-%m-%d %H:%M") if last else "—",
            f"{row['lag_days']} d" if last else "never",
        )
    console.print(table)


@app.command("check")
def sources_check(
    scope: Scope = None,
    limit: Annotated[int, typer.Option(help="Show at most this many sources with problems.")] = 50,
) -> None:
    """Connect to each source's outbox and report reachability, files waiting and refused files."""
    from connectors.config import load_sources
    from connectors.outboxes import Outboxes

    settings = TierhubSettings()
    boxes = Outboxes(load_sources(settings.sources_file, default_root=settings.drops_folder), settings.landing_folder)
    selected = selected_sources(scope)
    problems: list[tuple[str, str]] = []
    files = reachable = 0
    try:
        with progress_bars() as progress:
            task = progress.add_task("Checking sources", total=len(selected))
            for source in selected:
                try:
                    box = boxes.for_source(source.code)
                    box.probe(source.code)  # a missing outbox (or drops root) is not "reachable"
                    listings, refusals, _ = box.scan(source.code)
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
        err_console.print(f"[yellow]{code}[/yellow] {escape(printable(problem))}", soft_wrap=True, highlight=False)
    if len(problems) > limit:
        err_console.print(f"… and {len(problems) - limit:,} more")
    if reachable < len(selected):
        err_console.print(f"[red]error:[/red] {len(selected) - reachable:,} of {len(selected):,} sources unreachable")
        raise typer.Exit(1)
