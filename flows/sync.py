"""The ``sync`` flow: city → districts → batches of sources, each batch one task.

One task per source would be the wrong shape for 5,916 sources (Prefect costs ~5 ms a
task and its temporary API loses task runs past ~1,000): a task syncs a batch of a
district's sources and per-file status lives in the warehouse's registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.pipeline import sync_sources
from quality.datadocs import build_data_docs
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings
from warehouse.publish import CURRENT, prune, publish, snapshots_folder
from warehouse.schema import open_warehouse


@dataclass
class BatchSummary:
    """The outcome of one batch, small enough to pass between tasks."""

    label: str
    district_code: str
    sources: int
    load_id: str = ""
    files: int = 0
    skipped_files: int = 0
    rejected_files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    waiting_files: int = 0
    refused_files: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path or source, error)


@dataclass
class SyncSummary:
    """The outcome of a whole sync run."""

    warehouse: str
    batches: list[BatchSummary]
    data_docs: str | None = None  # index page of the run's Great Expectations Data Docs
    snapshot: str | None = None  # the read-only generation readers now see

    def total(self, name: str) -> int:
        """The sum of one counter over all batches."""
        return sum(int(getattr(b, name)) for b in self.batches)


def plan_batches(districts: list[str] | None, sources_per_batch: int) -> list[tuple[str, str, list[str]]]:
    """(label, district code, source codes) for every batch, district by district."""
    tree = divisions()
    wanted = {d[:6] for d in districts} if districts else None
    plans: list[tuple[str, str, list[str]]] = []
    for district in tree.at_level("district"):
        if wanted is not None and district.code[:6] not in wanted:
            continue
        codes = [s.code for s in tree.sources() if s.code.startswith(district.prefix)]
        chunks = [codes[i : i + sources_per_batch] for i in range(0, len(codes), sources_per_batch)]
        for n, chunk in enumerate(chunks, start=1):
            plans.append((f"{district.name}-{n}/{len(chunks)}", district.code, chunk))
    return plans


@task(name="sync-batch", task_run_name="sync-{label}", retries=2, retry_delay_seconds=[2, 10])
def sync_batch(
    label: str,
    district_code: str,
    source_codes: list[str],
    drops_root: str,
    warehouse: str,
    today: dt.date | None = None,
    batch_rows: int = 50_000,
) -> BatchSummary:
    """Sync one batch of sources from local folders into the warehouse."""
    con = open_warehouse(Path(warehouse))
    try:
        outcome = sync_sources(con, Path(drops_root), source_codes, today=today, run_label=label, batch_rows=batch_rows)
    finally:
        con.close()
    load = outcome.load
    summary = BatchSummary(
        label=label,
        district_code=district_code,
        sources=len(source_codes),
        load_id=load.load_id,
        files=load.files,
        skipped_files=outcome.skipped_files,
        rejected_files=load.rejected_files,
        rows_in=load.rows_in,
        rows_loaded=load.rows_loaded,
        rows_quarantined=load.rows_quarantined,
        waiting_files=len(outcome.waiting),
        refused_files=len(outcome.refusals),
        errors=[(e.path, e.error or "") for e in outcome.entries if e.status == "rejected"]
        + [(r.path, r.reason) for r in outcome.refusals]
        + list(outcome.unreachable),
    )
    get_run_logger().info(
        "%s: %d new files (%d already loaded, %d rejected), %d rows loaded, %d quarantined",
        label,
        load.files,
        outcome.skipped_files,
        load.rejected_files,
        load.rows_loaded,
        load.rows_quarantined,
    )
    return summary


@task(name="data-docs")
def publish_data_docs(warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date) -> str | None:
    """Render the run's Great Expectations Data Docs; the index page's path."""
    con = open_warehouse(Path(warehouse))
    try:
        index = build_data_docs(con, Path(out_dir), load_ids, run_label=run_label, today=today)
    finally:
        con.close()
    return str(index.resolve()) if index else None


@task(name="publish-snapshot")
def publish_snapshot(warehouse: str, keep: int, days: int) -> str:
    """Publish the committed warehouse as the next read-only generation; prune old ones."""
    path = Path(warehouse)
    con = open_warehouse(path)
    try:
        snapshot = publish(con, path)
    finally:
        con.close()
    prune(snapshots_folder(path), keep=keep, days=days)
    get_run_logger().info("published %s (%.1f MiB)", snapshot.path, snapshot.bytes / 2**20)
    return str(snapshot.path)


def summary_markdown(summary: SyncSummary) -> str:
    """The run's per-district table for the Prefect UI."""
    by_district: dict[str, list[BatchSummary]] = {}
    for batch in summary.batches:
        by_district.setdefault(batch.district_code, []).append(batch)
    lines = [
        "| district | sources | new files | rejected | refused | waiting | rows loaded | rows quarantined |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for code, batches in by_district.items():
        name = divisions().get(code).name
        lines.append(
            f"| {name} {code[:6]} | {sum(b.sources for b in batches)} | {sum(b.files for b in batches)} | "
            f"{sum(b.rejected_files for b in batches)} | {sum(b.refused_files for b in batches)} | "
            f"{sum(b.waiting_files for b in batches)} | {sum(b.rows_loaded for b in batches)} | "
            f"{sum(b.rows_quarantined for b in batches)} |"
        )
    if summary.snapshot:
        lines += ["", f"**Readers now see** `{summary.snapshot}`"]
    if summary.data_docs:
        lines += ["", f"**Data Docs** (Great Expectations): [{summary.data_docs}](file://{summary.data_docs})"]
    errors = [(p, e) for b in summary.batches for p, e in b.errors]
    if errors:
        lines += ["", "**Files and sources with problems**", "", "| file or source | problem |", "|---|---|"]
        lines += [f"| {p} | {e.replace('|', '/')} |" for p, e in errors[:50]]
    return "\n".join(lines)


def _run_name() -> str:
    from prefect.runtime import flow_run

    districts = flow_run.parameters.get("districts")
    return f"sync-{'-'.join(d[:6] for d in districts) if districts else 'city'}"


@flow(name="sync", flow_run_name=_run_name, log_prints=True)
def sync_flow(
    drops_root: str | None = None,
    warehouse: str | None = None,
    districts: list[str] | None = None,
    today: dt.date | None = None,
    sources_per_batch: int | None = None,
    batch_rows: int | None = None,
    data_docs: bool | None = None,
) -> SyncSummary:
    """Sync every source of the chosen districts (default: the whole city) into the warehouse.

    Paths and sizes left out come from the settings (environment, ``tierhub.toml``, defaults).
    """
    settings = TierhubSettings()
    drops_root = drops_root or str(settings.drops_folder.resolve())
    warehouse = warehouse or str(settings.warehouse_file.resolve())
    sources_per_batch = sources_per_batch or settings.sources_per_batch
    batch_rows = batch_rows or settings.batch_rows
    batches = [
        sync_batch(label, district, codes, drops_root, warehouse, today, batch_rows)
        for label, district, codes in plan_batches(districts, sources_per_batch)
    ]
    summary = SyncSummary(warehouse=warehouse, batches=batches)
    load_ids = [b.load_id for b in batches if b.rows_in]
    if load_ids or not (snapshots_folder(Path(warehouse)) / CURRENT).exists():
        summary.snapshot = publish_snapshot(warehouse, settings.snapshot_keep, settings.snapshot_days)
    if (settings.data_docs if data_docs is None else data_docs) and load_ids:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_label = f"{_run_name()}-{stamp}"
        summary.data_docs = publish_data_docs(
            warehouse,
            load_ids,
            run_label,
            str(Path(warehouse).resolve().parent / "datadocs" / run_label),
            today or dt.date.today(),
        )
    create_markdown_artifact(
        markdown=summary_markdown(summary), key="sync-summary", description="Per-district sync summary"
    )
    return summary


def summary_dict(summary: SyncSummary) -> dict[str, object]:
    """A JSON-friendly form of a summary."""
    return asdict(summary)
