"""The ``validate-and-load`` flow: exports handed over as a folder, checked and loaded like a sync.

Not every export arrives through an outbox: a district re-delivers a month on a USB stick,
an engineer copies files out of a mail. Put them in the drops layout
(``<folder>/<district6>/<source12>/<file>``) and run this flow: the same batches, checks,
commit and per-source status as ``sync``, over just the sources that have a folder there.
``dry_run`` judges them and reports what would load, without committing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow

from flows.pipeline import Selection
from flows.runs import prepare_ahead
from flows.sync import SyncSummary, Where, as_since, bureau_today, finish_run, plan_batches, run_batches, task_runner
from tierhub.errors import TierhubError
from tierhub.priority import lower_priority
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings


def sources_in(folder: Path) -> set[str]:
    """The source codes that have an outbox folder under ``folder`` (``<district6>/<source12>``)."""
    known = divisions().by_code
    return {
        p.name
        for p in folder.glob("[0-9]" * 6 + "/" + "[0-9]" * 12)
        if p.is_dir() and p.name in known and known[p.name].level in ("street", "community")
    }


def _run_name() -> str:
    from prefect.runtime import flow_run

    folder = Path(str(flow_run.parameters.get("folder", ""))).name
    return f"validate-and-load-{folder}" + ("-dry-run" if flow_run.parameters.get("dry_run") else "")


@flow(name="validate-and-load", flow_run_name=_run_name, log_prints=True, task_runner=task_runner())
def validate_and_load(
    folder: str,
    warehouse: str | None = None,
    items: list[str] | None = None,
    since: dt.datetime | dt.date | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
    sources_per_batch: int | None = None,
    batch_rows: int | None = None,
    data_docs: bool | None = None,
) -> SyncSummary:
    """Validate and load the exports in ``folder`` (drops layout); files already loaded are skipped."""
    settings = TierhubSettings()
    lower_priority(settings.sync_niceness)
    root = Path(folder).resolve()
    only = sources_in(root)
    if not only:
        raise TierhubError(
            f"{root} holds no source folders", fix="lay the files out as <district6>/<source12>/<file> under it"
        )
    where = Where(
        warehouse=warehouse or str(settings.warehouse_file.resolve()),
        drops_root=str(root),
        sources_file=None,
        landing=str(settings.landing_folder.resolve()),
        read_workers=settings.read_workers,
    )
    day = today or bureau_today()
    plans = plan_batches(None, sources_per_batch or settings.sources_per_batch, only=only)
    summary = SyncSummary(warehouse=where.warehouse, batches=[], dry_run=dry_run)
    summary.batches = run_batches(
        plans,
        where,
        Selection(as_since(since), frozenset(items) if items else None),
        today=day,
        batch_rows=batch_rows or settings.batch_rows,
        run_label=f"validate-and-load-{root.name}",
        dry_run=dry_run,
        batch_bytes=settings.batch_bytes,
        ahead=prepare_ahead(settings),
    )
    return finish_run(summary, settings, data_docs, f"validate-and-load-{root.name}", day)
