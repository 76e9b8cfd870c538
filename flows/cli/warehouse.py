"""``tierhub warehouse``: check, back up, restore, compact and publish the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from flows.cli.common import WarehouseFile, console
from tierhub.errors import ConfigError, TierhubError
from tierhub.settings import TierhubSettings

app = typer.Typer(help="Warehouse maintenance: check, back up, restore, compact, publish for readers.")


@app.command("check")
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
    from tierhub.calendar import calendar_warnings

    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the bureau's day, without importing Prefect
    if warnings := calendar_warnings(today):
        raise ConfigError("; ".join(warnings), fix="add the year's holiday file, then rerun `tierhub warehouse check`")


@app.command("backup")
def warehouse_backup(
    warehouse: WarehouseFile = None,
    to: Annotated[Path | None, typer.Option(help="Folder for backups (default: backups/ beside it).")] = None,
) -> None:
    """Write a verified, consistent copy of the warehouse (refused while a sync runs)."""
    from warehouse.maintenance import backup

    path = warehouse or TierhubSettings().warehouse_file
    saved = backup(path, to or path.parent / "backups")
    console.print(f"Backed up to {saved}")


@app.command("restore")
def warehouse_restore(
    backup_file: Annotated[Path, typer.Argument(help="A backup written by `tierhub warehouse backup`.")],
    warehouse: WarehouseFile = None,
) -> None:
    """Replace the warehouse with a backup; the replaced file is kept beside it."""
    from warehouse.maintenance import restore

    path = warehouse or TierhubSettings().warehouse_file
    kept = restore(backup_file, path)
    console.print(f"Restored {path} from {backup_file}" + (f"; the replaced file is {kept}" if kept else ""))


@app.command("compact")
def warehouse_compact(warehouse: WarehouseFile = None) -> None:
    """Rewrite the warehouse into a fresh file to reclaim space (refused while a sync runs)."""
    from warehouse.maintenance import compact

    path = warehouse or TierhubSettings().warehouse_file
    before, after = compact(path)
    console.print(f"Compacted {path}: {before / 2**20:,.1f} MiB → {after / 2**20:,.1f} MiB")


@app.command("publish")
def warehouse_publish(warehouse: WarehouseFile = None) -> None:
    """Publish the warehouse as a read-only snapshot for readers now (the sync does this after each run)."""
    from warehouse.publish import publish_file

    snapshot = publish_file(warehouse or TierhubSettings().warehouse_file)
    console.print(f"Readers now see generation {snapshot.generation}: {snapshot.path}")
