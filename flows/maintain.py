"""The ``maintain-warehouse`` flow: check → backup → compact → publish → prune, Sunday nights.

Each step is a thin task over ``warehouse.maintenance`` / ``warehouse.publish``. Every step
that writes first takes the warehouse's writer lock, so it refuses (and retries with
backoff) while a sync still holds the warehouse; a check that finds counts that do not
reconcile stops the run before anything is rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.retries import transient_only
from tierhub.errors import WarehouseError
from tierhub.priority import lower_priority
from tierhub.settings import TierhubSettings
from warehouse.maintenance import backup, check, compact
from warehouse.publish import generations, prune, publish_file, snapshots_folder
from warehouse.schema import open_warehouse
from warehouse.source_status import prune_source_status

BACKOFF: list[float] = [60, 300, 900]  # a sync still holding the warehouse: wait for it


@dataclass
class MaintenanceSummary:
    """What a maintenance run did (or, in a dry run, would do)."""

    warehouse: str
    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)
    backup: str | None = None
    bytes_before: int = 0
    bytes_after: int = 0
    snapshot: str | None = None
    pruned_snapshots: list[str] = field(default_factory=list)
    pruned_status_rows: int = 0


@task(name="check-warehouse", cache_policy=NO_CACHE)
def check_task(warehouse: str) -> dict[str, int]:
    """Every file's rows reconcile; raises (and stops the run) if they do not."""
    result = check(Path(warehouse))
    if result.problems:
        raise WarehouseError(
            f"{warehouse} fails its checks: {'; '.join(result.problems)}",
            fix="nothing was rewritten; restore the last good backup (tierhub warehouse restore)",
        )
    return result.tables


@task(
    name="backup-warehouse",
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=BACKOFF,
    cache_policy=NO_CACHE,
)
def backup_task(warehouse: str, folder: str) -> str:
    """A verified, consistent copy of the warehouse."""
    return str(backup(Path(warehouse), Path(folder)))


@task(
    name="compact-warehouse",
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=BACKOFF,
    cache_policy=NO_CACHE,
)
def compact_task(warehouse: str) -> tuple[int, int]:
    """Rewrite the warehouse to reclaim space: bytes before and after."""
    return compact(Path(warehouse))


@task(
    name="publish-snapshot",
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=BACKOFF,
    cache_policy=NO_CACHE,
)
def publish_task(warehouse: str) -> str:
    """Publish the compacted warehouse for readers."""
    return str(publish_file(Path(warehouse)).path)


@task(
    name="prune-history",
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=BACKOFF,
    cache_policy=NO_CACHE,
)
def prune_task(warehouse: str, keep: int, days: int, status_days: int) -> tuple[list[str], int]:
    """Prune snapshot generations outside the retention policy and old per-source status rows."""
    path = Path(warehouse)
    con = open_warehouse(path)
    try:
        status_rows = prune_source_status(con, status_days)
    finally:
        con.close()
    return [str(p) for p in prune(snapshots_folder(path), keep=keep, days=days)], status_rows


def _run_name() -> str:
    from prefect.runtime import flow_run

    return "maintain-warehouse" + ("-dry-run" if flow_run.parameters.get("dry_run") else "")


@flow(name="maintain-warehouse", flow_run_name=_run_name, log_prints=True)
def maintain_warehouse(
    warehouse: str | None = None, backups: str | None = None, dry_run: bool = False
) -> MaintenanceSummary:
    """Check the warehouse, back it up, compact it, publish it for readers and prune old history.

    ``dry_run`` only checks and reports what the other steps would touch.
    """
    settings = TierhubSettings()
    lower_priority(settings.sync_niceness)
    path = Path(warehouse) if warehouse else settings.warehouse_file.resolve()
    folder = Path(backups) if backups else (settings.backups_path or path.parent / "backups")
    summary = MaintenanceSummary(str(path), dry_run, bytes_before=path.stat().st_size if path.exists() else 0)
    summary.tables = check_task(str(path))
    logger = get_run_logger()
    if dry_run:
        kept = generations(snapshots_folder(path))
        logger.info(
            "dry run: would back up %s (%.1f MiB) into %s, compact it, publish generation %d and prune by "
            "keep=%d / days=%d (%d generations now)",
            path,
            summary.bytes_before / 2**20,
            folder,
            (kept[-1].generation + 1) if kept else 1,
            settings.snapshot_keep,
            settings.snapshot_days,
            len(kept),
        )
    else:
        summary.backup = backup_task(str(path), str(folder))
        summary.bytes_before, summary.bytes_after = compact_task(str(path))
        summary.snapshot = publish_task(str(path))
        summary.pruned_snapshots, summary.pruned_status_rows = prune_task(
            str(path), settings.snapshot_keep, settings.snapshot_days, settings.source_status_days
        )
    create_markdown_artifact(markdown=maintenance_markdown(summary), key="maintain-warehouse")
    return summary


def maintenance_markdown(summary: MaintenanceSummary) -> str:
    """What the run did, for the Prefect UI."""
    lines = ["**Dry run**: only checked." if summary.dry_run else "", "| step | result |", "|---|---|"]
    lines.append(f"| check | {len(summary.tables)} tables, all counts reconcile |")
    if not summary.dry_run:
        lines += [
            f"| backup | `{summary.backup}` |",
            f"| compact | {summary.bytes_before / 2**20:,.1f} MiB → {summary.bytes_after / 2**20:,.1f} MiB |",
            f"| publish | `{summary.snapshot}` |",
            f"| prune | {len(summary.pruned_snapshots)} snapshot files, {summary.pruned_status_rows:,} status rows |",
        ]
    return "\n".join(line for line in lines if line)
