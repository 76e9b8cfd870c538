"""The ``sync`` flow: city → districts → batches of sources; a batch is prepared, then committed.

One task per source would be the wrong shape for 5,916 sources (Prefect costs ~5 ms a task
and its temporary API loses task runs past ~1,000, docs/decisions/0011-flows.md): a task
prepares a batch of one district's sources — scan, fetch, read, judge — and the flow's own
process commits the batches one at a time, in order, as the warehouse's one writer. The
per-source outcome lives in the warehouse (``ops.source_status``) and in the run's markdown
artifact. A source that cannot be reached, a refused host key or a broken file never fails
the run; only a warehouse that cannot commit does.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from connectors.config import load_sources
from connectors.outboxes import Outboxes
from flows.pipeline import (
    BatchState,
    PreparedBatch,
    Selection,
    batch_state,
    batch_status,
    commit_prepared,
    prepare_batch,
)
from flows.retries import transient_only
from quality.aliases import apply_local_aliases, load_local_aliases
from quality.datadocs import build_data_docs
from tierhub.calendar import calendar_warnings, is_working_day
from tierhub.clock import BUREAU_TIME
from tierhub.errors import TierhubError, WarehouseError, printable
from tierhub.priority import lower_priority
from tierhub.reference import divisions
from tierhub.scope import district_of
from tierhub.settings import TierhubSettings
from tierhub.standards import catalogue, column_missing_message
from warehouse.preview import FilePreview, preview_files
from warehouse.publish import CURRENT, prune, publish, snapshots_folder
from warehouse.schema import open_warehouse
from warehouse.source_status import STATES

LEVELS = ("street", "community")


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """One batch: a label for run names, its sources and the host serving them.

    A batch may span districts served by the same host (all local folders, or one SFTP
    server): each batch costs a fixed ~7 s to judge and commit (33 items × a query or ten),
    so fewer, larger batches are what makes a city-wide sync fast
    (docs/decisions/0014-batches-span-districts.md). Reporting stays per district.
    """

    label: str
    source_codes: list[str]
    host: str  # "folder" or the SFTP host: the tag that limits concurrency per host

    @property
    def districts(self) -> dict[str, int]:
        """District code → how many of this batch's sources lie in it, in source order."""
        counts: dict[str, int] = {}
        for code in self.source_codes:
            district = district_of(code)
            counts[district] = counts.get(district, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class Where:
    """Where a run finds the outboxes and the warehouse (plain strings: task parameters)."""

    warehouse: str
    drops_root: str
    sources_file: str | None
    landing: str
    home: str | None = None  # the tierhub home, whose aliases/ every batch reads (decision 0022)

    def outboxes(self) -> Outboxes:
        """The outboxes: the sources file's endpoints, or every source a folder under drops_root."""
        if self.sources_file is None:
            return Outboxes.folder(Path(self.drops_root))
        config = load_sources(Path(self.sources_file), default_root=Path(self.drops_root))
        return Outboxes(config, Path(self.landing))


@dataclass
class BatchSummary:
    """The outcome of one batch in one district, small enough to pass between tasks."""

    label: str
    district_code: str
    sources: int
    load_id: str = ""
    files: int = 0
    skipped_files: int = 0
    unselected_files: int = 0
    rejected_files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0  # of rows_loaded (decision 0017)
    missing_columns: list[tuple[str, list[str]]] = field(default_factory=list)  # (file, fields it lacks)
    waiting_files: int = 0
    refused_files: int = 0
    states: dict[str, int] = field(default_factory=dict)  # ok / failed / late / silent → sources
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file or source, error)
    failed: str | None = None  # the batch itself could not be prepared or committed
    previews: list[FilePreview] = field(default_factory=list)  # a dry run: what each new file would do


@dataclass
class SyncSummary:
    """The outcome of a whole sync run."""

    warehouse: str
    batches: list[BatchSummary]
    dry_run: bool = False
    skipped: str | None = None  # why the run did nothing (a non-working day)
    data_docs: str | None = None  # index page of the run's Great Expectations Data Docs
    snapshot: str | None = None  # the read-only generation readers now see
    warnings: list[str] = field(default_factory=list)  # e.g. a year counted without its holidays

    def total(self, name: str) -> int:
        """The sum of one counter over all batches."""
        return sum(int(getattr(b, name)) for b in self.batches)

    def state_total(self, state: str) -> int:
        """Sources in one state over all batches."""
        return sum(b.states.get(state, 0) for b in self.batches)


# -- progress for an embedded run (the CLI): called in the flow's process, after each commit --

# ("planned", list[BatchPlan]); ("stage", (label, stage, done, total)) while a batch is fetched,
# read and judged (only when prepared in this process) and committed; ("batch", BatchSummary)
# once per district of each finished batch
ProgressListener = Callable[[str, Any], None]
_listeners: list[ProgressListener] = []


@contextmanager
def progress_listener(listener: ProgressListener) -> Iterator[None]:
    """Call ``listener`` with the plan and each finished batch of syncs run in this process."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _notify(event: str, value: object) -> None:
    for listener in list(_listeners):
        listener(event, value)


# -- planning --


def plan_batches(
    districts: list[str] | None,
    sources_per_batch: int,
    levels: list[str] | None = None,
    hosts: Callable[[str], str] | None = None,
    only: set[str] | None = None,
) -> list[BatchPlan]:
    """Every batch: the chosen sources grouped by the host serving them, in even chunks.

    Districts served by the same host share batches (a batch holds at most
    ``sources_per_batch`` sources, and chunks are of even size, so 5,916 folder sources at
    2,000 make three batches of 1,972). ``levels``: "street" (street centres) and/or
    "community" (community and village workstations); ``only``: restrict to these source codes.
    """
    tree = divisions()
    wanted = {d[:6] for d in districts} if districts else None
    chosen = set(levels or LEVELS)
    unknown = chosen - set(LEVELS)
    if unknown:
        raise TierhubError(f"unknown source level {sorted(unknown)}", fix="use street and/or community")
    by_host: dict[str, list[str]] = {}
    district_names: dict[str, str] = {}
    for district in tree.at_level("district"):
        if wanted is not None and district.code[:6] not in wanted:
            continue
        codes = [
            s.code
            for s in tree.sources()
            if s.code.startswith(district.prefix) and s.level in chosen and (only is None or s.code in only)
        ]
        if codes:
            by_host.setdefault(hosts(district.code) if hosts else "folder", []).extend(codes)
            district_names[district.code] = district.name
    plans: list[BatchPlan] = []
    for host, codes in by_host.items():
        count = -(-len(codes) // sources_per_batch)
        bounds = [len(codes) * n // count for n in range(count + 1)]
        for n in range(count):
            chunk = codes[bounds[n] : bounds[n + 1]]
            first, last = district_of(chunk[0]), district_of(chunk[-1])
            where = f"{first[:6]}-{district_names[first]}" if first == last else f"{first[:6]}~{last[:6]}"
            plans.append(BatchPlan(f"{where}-{n + 1}of{count}", chunk, host))
    return plans


def endpoint_host(sources_file: str | None, drops_root: str) -> Callable[[str], str]:
    """District code → the host serving its outboxes ("folder" for local folders)."""
    if sources_file is None:
        return lambda _: "folder"
    config = load_sources(Path(sources_file), default_root=Path(drops_root))

    def host(district_code: str) -> str:
        endpoint = config.endpoint_for(district_code)
        return endpoint.host_key

    return host


def bureau_today() -> dt.date:
    """Today in Tianjin (Asia/Shanghai), whatever the worker's timezone."""
    return dt.datetime.now(BUREAU_TIME).date()


def as_since(since: dt.date | dt.datetime | None) -> dt.datetime | None:
    """A ``since`` parameter as an aware datetime (a date means its midnight in Tianjin)."""
    if since is None:
        return None
    if not isinstance(since, dt.datetime):
        return dt.datetime.combine(since, dt.time(), BUREAU_TIME)
    return since if since.tzinfo else since.replace(tzinfo=BUREAU_TIME)


# -- tasks: each a few lines around the library --


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside Prefect; a plain one when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("tierhub.flows")


@task(
    name="read-state",
    cache_policy=NO_CACHE,
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[5, 20, 60],
)
def read_state(warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
    """Read the cursor and registry of every planned source (one short open of the warehouse)."""
    con = open_warehouse(Path(warehouse))
    try:
        return {plan.label: batch_state(con, plan.source_codes) for plan in plans}
    finally:
        con.close()


@task(
    name="prepare-batch",
    task_run_name="prepare-{plan.label}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[10, 60],
    retry_jitter_factor=0.5,
)
def prepare(
    plan: BatchPlan,
    state: BatchState,
    where: Where,
    selection: Selection,
    today: dt.date,
    batch_rows: int,
    run_label: str,
) -> PreparedBatch:
    """Scan, fetch, read and judge one batch in a scratch DuckDB (any process, any machine)."""
    if where.home is not None:
        apply_local_aliases(Path(where.home))  # read on every run: an alias mapped today is in force
    outboxes = where.outboxes()
    scratch = duckdb.connect()
    try:
        return prepare_batch(
            scratch,
            outboxes,
            plan.source_codes,
            state,
            today=today,
            run_label=f"{run_label}/{plan.label}",
            batch_rows=batch_rows,
            selection=selection,
            progress=lambda stage, done, total: _notify("stage", (plan.label, stage, done, total)),
        )
    finally:
        scratch.close()
        outboxes.close()


@task(
    name="commit-batch",
    task_run_name="commit-{plan.label}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[5, 20, 60],
)
def commit(plan: BatchPlan, prepared: PreparedBatch, warehouse: str) -> list[BatchSummary]:
    """Commit one prepared batch (the flow's process is the one writer); its summary per district."""
    try:
        con = open_warehouse(Path(warehouse))
    except duckdb.IOException as exc:  # held by a reader or maintenance: retried with backoff
        raise WarehouseError(f"warehouse {warehouse} is in use: {exc}", fix="the task retries") from exc
    try:
        commit_prepared(con, prepared)
    finally:
        con.close()
    return summarise(plan, prepared)


def summarise(plan: BatchPlan, prepared: PreparedBatch) -> list[BatchSummary]:
    """A batch's counts, states and errors, one summary per district it spans."""
    outcome, load_id = prepared.outcome, prepared.outcome.load.load_id
    parts = {code: BatchSummary(plan.label, code, sources, load_id=load_id) for code, sources in plan.districts.items()}

    def part(source_id: str) -> BatchSummary:
        return parts[district_of(source_id)]

    for entry in outcome.entries:
        summary = part(entry.source_id)
        summary.files += 1
        if entry.status == "rejected":
            summary.rejected_files += 1
            summary.errors.append((printable(entry.path), printable(entry.error or "")))
        summary.rows_loaded += entry.rows_loaded
        summary.rows_quarantined += entry.rows_quarantined
        summary.rows_warned += entry.rows_warned
        if entry.missing_columns:
            summary.missing_columns.append((entry.path, list(entry.missing_columns)))
    for listing in outcome.unchanged:
        part(listing.source_id).skipped_files += 1
    for source_id in outcome.same_content:
        part(source_id).skipped_files += 1
    for source_id in outcome.unselected:
        part(source_id).unselected_files += 1
    for listing in outcome.waiting:
        part(listing.source_id).waiting_files += 1
    for refusal in outcome.refusals:
        part(refusal.source_id).refused_files += 1
        part(refusal.source_id).errors.append((printable(refusal.path), printable(refusal.reason)))
    for source_id, error in outcome.unreachable:
        part(source_id).errors.append((source_id, printable(error)))
    for status in outcome.status:
        states = part(status.source_id).states
        states[status.state] = states.get(status.state, 0) + 1
    for summary in parts.values():
        summary.rows_in = summary.rows_loaded + summary.rows_quarantined
        summary.states = {s: summary.states.get(s, 0) for s in STATES}
    return list(parts.values())


def add_previews(parts: list[BatchSummary], prepared: PreparedBatch) -> None:
    """A dry run's per-file verdicts (``warehouse.preview``), each in its district's summary."""
    by_district = {p.district_code: p for p in parts}
    for preview in preview_files(prepared.outcome.entries, prepared.judged):
        by_district[district_of(preview.source_id)].previews.append(preview)


def failed_batch(plan: BatchPlan, error: str) -> list[BatchSummary]:
    """The summaries of a batch that could not be prepared or committed: every source failed."""
    return [
        BatchSummary(plan.label, code, sources, states={"failed": sources}, errors=[(plan.label, error)], failed=error)
        for code, sources in plan.districts.items()
    ]


@task(name="data-docs", cache_policy=NO_CACHE)
def publish_data_docs(warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date) -> str | None:
    """Render the run's Great Expectations Data Docs, one folder per district (masked) and the engineers'
    unmasked copy; the engineers' index page's path (decision 0021)."""
    con = open_warehouse(Path(warehouse))
    try:
        index = build_data_docs(con, Path(out_dir), load_ids, run_label=run_label, today=today)
    finally:
        con.close()
    return str(index.resolve()) if index else None


@task(
    name="publish-snapshot",
    cache_policy=NO_CACHE,
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[10, 60],
)
def publish_snapshot(warehouse: str, keep: int, days: int) -> str:
    """Publish the committed warehouse as the next read-only generation; prune old ones."""
    path = Path(warehouse)
    con = open_warehouse(path)
    try:
        snapshot = publish(con, path)
    finally:
        con.close()
    prune(snapshots_folder(path), keep=keep, days=days)
    _logger().info("published %s (%.1f MiB)", snapshot.path, snapshot.bytes / 2**20)
    return str(snapshot.path)


# -- the run --


def run_batches(
    plans: list[BatchPlan],
    where: Where,
    selection: Selection,
    *,
    today: dt.date,
    batch_rows: int,
    run_label: str,
    dry_run: bool,
) -> list[BatchSummary]:
    """Prepare every batch on the flow's task runner; commit them here, one at a time, in order.

    A batch that cannot be prepared is listed as failed and the others go on; a batch that
    cannot commit is listed too, and the run raises at the end (the warehouse is unchanged
    by it).
    """
    logger = get_run_logger()
    _notify("planned", plans)
    states = read_state(where.warehouse, plans)
    futures: list[PrefectFuture[PreparedBatch]] = [
        prepare.with_options(tags=[f"sftp-host:{plan.host}"]).submit(
            plan, states[plan.label], where, selection, today, batch_rows, run_label
        )
        for plan in plans
    ]
    summaries: list[BatchSummary] = []
    commit_errors: list[str] = []
    for plan, future in zip(plans, futures, strict=True):
        try:
            prepared = future.result()
        except Exception as exc:  # any failure of one batch is reported; the other batches go on
            parts = failed_batch(plan, f"batch not prepared: {exc}")
            logger.error("%s could not be prepared: %s", plan.label, exc)
        else:
            if dry_run:
                prepared.outcome.status = batch_status(prepared)
                parts = summarise(plan, prepared)
                add_previews(parts, prepared)
            else:
                _notify("stage", (plan.label, "commit", 0, 0))
                try:
                    parts = commit(plan, cast(PreparedBatch, quote(prepared)), where.warehouse)
                except WarehouseError as exc:
                    commit_errors.append(f"{plan.label}: {exc}")
                    parts = failed_batch(plan, f"not committed: {exc}")
            logger.info(
                "%s%s: %d sources in %d districts; %d new files (%d unchanged, %d rejected, %d refused), "
                "%d rows %s, %d %s; sources %s",
                plan.label,
                " (dry run)" if dry_run else "",
                len(plan.source_codes),
                len(parts),
                sum(p.files for p in parts),
                sum(p.skipped_files for p in parts),
                sum(p.rejected_files for p in parts),
                sum(p.refused_files for p in parts),
                sum(p.rows_loaded for p in parts),
                "would load" if dry_run else "loaded",
                sum(p.rows_quarantined for p in parts),
                "would be quarantined" if dry_run else "quarantined",
                ", ".join(f"{n} {s}" for s in STATES if (n := sum(p.states.get(s, 0) for p in parts))),
            )
            del prepared
        for summary in parts:
            summaries.append(summary)
            _notify("batch", summary)
    if commit_errors:
        raise WarehouseError(
            f"{len(commit_errors)} of {len(plans)} batches could not commit: {'; '.join(commit_errors)}",
            fix="the other batches are committed; fix the warehouse and rerun (committed files are skipped)",
        )
    return summaries


def local_cluster(**kwargs: Any) -> Any:
    """A Dask LocalCluster whose worker processes report to this process's Prefect API.

    An embedded run's API is a temporary server known only inside this process (no
    ``PREFECT_API_URL`` in the environment): without its address each worker process would
    start a temporary API of its own.
    """
    from distributed import LocalCluster
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        api_url = str(client.api_url)
    return LocalCluster(**kwargs, env={"PREFECT_API_URL": api_url.rstrip("/")})  # type: ignore[no-untyped-call]


def task_runner(settings: TierhubSettings | None = None) -> TaskRunner[Any]:
    """The task runner the settings choose: threads in this process, or Dask."""
    settings = settings or TierhubSettings()
    if settings.task_runner == "dask":
        from prefect_dask.task_runners import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_class=local_cluster,
            cluster_kwargs={
                "n_workers": settings.dask_workers,
                "processes": True,
                "threads_per_worker": 1,
                "dashboard_address": None,
            },
        )
    return ThreadPoolTaskRunner(max_workers=settings.prepare_threads)


def finish_run(
    summary: SyncSummary, settings: TierhubSettings, data_docs: bool | None, run_label: str, today: dt.date
) -> SyncSummary:
    """Publish the snapshot and Data Docs of a run that loaded something; write the artifact."""
    warehouse = summary.warehouse
    load_ids = list(dict.fromkeys(b.load_id for b in summary.batches if b.rows_in))
    if not summary.dry_run and (load_ids or not (snapshots_folder(Path(warehouse)) / CURRENT).exists()):
        summary.snapshot = publish_snapshot(warehouse, settings.snapshot_keep, settings.snapshot_days)
    if not summary.dry_run and (settings.data_docs if data_docs is None else data_docs) and load_ids:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        label = f"{run_label}-{stamp}"
        out_dir = str(Path(warehouse).resolve().parent / "datadocs" / label)
        summary.data_docs = publish_data_docs(warehouse, load_ids, label, out_dir, today)
    create_markdown_artifact(
        markdown=summary_markdown(summary),
        key="sync-summary",
        description="Per-district sources ok / failed / late, rows loaded / quarantined",
    )
    return summary


def summary_markdown(summary: SyncSummary) -> str:
    """The run's per-district table and its problem sources, for the Prefect UI."""
    warnings = [f"**⚠ {_cell(w)}**" for w in summary.warnings]
    if summary.skipped:
        return "\n\n".join([*warnings, f"**Nothing synced**: {summary.skipped}"])
    by_district: dict[str, list[BatchSummary]] = {}
    for batch in summary.batches:
        by_district.setdefault(batch.district_code, []).append(batch)
    lines = [line for w in warnings for line in (w, "")]
    lines += ["**Dry run: nothing was committed.** What a real run would load:", ""] if summary.dry_run else []
    rows_heading = (
        "rows that would load | rows that would be quarantined" if summary.dry_run else "rows loaded | rows quarantined"
    )
    lines += [
        "| district | sources | ok | failed | late | silent | new files | rejected | refused | waiting "
        f"| {rows_heading} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for code, batches in by_district.items():
        name = divisions().get(code).name

        def total(attribute: str, group: list[BatchSummary] = batches) -> str:
            return f"{sum(int(getattr(b, attribute)) for b in group):,}"

        def state(s: str, group: list[BatchSummary] = batches) -> str:
            return f"{sum(b.states.get(s, 0) for b in group):,}"

        lines.append(
            f"| {name} {code[:6]} | {total('sources')} | {state('ok')} | {state('failed')} | {state('late')} | "
            f"{state('silent')} | {total('files')} | {total('rejected_files')} | {total('refused_files')} | "
            f"{total('waiting_files')} | {total('rows_loaded')} | {total('rows_quarantined')} |"
        )
    if summary.dry_run:
        lines += dry_run_markdown([p for b in summary.batches for p in b.previews])
    if summary.snapshot:
        lines += ["", f"**Readers now see** `{summary.snapshot}`"]
    if summary.data_docs:
        lines += ["", f"**Data Docs** (Great Expectations): [{summary.data_docs}](file://{summary.data_docs})"]
    warned = sum(b.rows_warned for b in summary.batches)
    if warned:
        lines += ["", f"**Rows loaded with warnings** (带提示入库; see `core.warning_messages`): {warned:,}"]
    lacking = [(p, f) for b in summary.batches for p, f in b.missing_columns]
    if lacking:
        lines += ["", "**Exports lacking columns** (reported once per file)", "", "| file | 说明 |", "|---|---|"]
        lines += [f"| {p} | {_cell(column_missing_message(f))} |" for p, f in lacking[:200]]
    errors = [(p, e) for b in summary.batches for p, e in b.errors]
    if errors:
        lines += ["", "**Sources and files with problems**", "", "| source or file | problem |", "|---|---|"]
        lines += [f"| {p} | {_cell(e)} |" for p, e in errors[:200]]
        if len(errors) > 200:
            lines.append(f"| … | {len(errors) - 200:,} more: `SELECT * FROM ops.source_latest WHERE state <> 'ok'` |")
    return "\n".join(lines)


def dry_run_markdown(previews: list[FilePreview], limit: int = 500) -> list[str]:
    """Per file: rows that would load (with warnings) and would be quarantined, and the rules why."""
    lines = [
        "",
        "**Per file** (this run's verdicts only; nothing is in the warehouse)",
        "",
        "| file | item | rows | would load | with warnings | would be quarantined | why (rule: rows) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for p in previews[:limit]:
        why = "; ".join(f"{r.rule} {r.title_zh}: {r.rows}" for r in p.quarantine_rules) or (p.error or "")
        lines.append(
            f"| {_cell(p.path)} | {p.item_code or '—'} | {p.rows_in:,} | {p.would_load:,} | {p.with_warnings:,} | "
            f"{p.would_quarantine:,} | {_cell(why)} |"
        )
    if len(previews) > limit:
        lines.append(f"| … | {len(previews) - limit:,} more files: `tierhub sync --dry-run --json` lists them all |")
    return lines


def _cell(text: str) -> str:
    return printable(text.replace("|", "/").replace("\n", " "))[:300]


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    districts = params.get("districts")
    name = f"sync-{'-'.join(d[:6] for d in districts) if districts else 'city'}"
    levels = params.get("levels")
    if levels and set(levels) != set(LEVELS):
        name += "-" + "-".join(sorted(levels))
    return name + ("-dry-run" if params.get("dry_run") else "")


def _settings_where(drops_root: str | None, warehouse: str | None, settings: TierhubSettings) -> Where:
    return Where(
        warehouse=warehouse or str(settings.warehouse_file.resolve()),
        drops_root=drops_root or str(settings.drops_folder.resolve()),
        # a drops folder passed in means: every source a folder under it
        sources_file=None if drops_root or settings.sources_file is None else str(settings.sources_file.resolve()),
        landing=str(settings.landing_folder.resolve()),
        home=str(settings.home.resolve()),
    )


@flow(name="sync", flow_run_name=_run_name, log_prints=True, task_runner=task_runner())
def sync_flow(
    drops_root: str | None = None,
    warehouse: str | None = None,
    districts: list[str] | None = None,
    levels: list[str] | None = None,
    items: list[str] | None = None,
    since: dt.datetime | dt.date | None = None,
    dry_run: bool = False,
    working_days_only: bool = False,
    today: dt.date | None = None,
    sources_per_batch: int | None = None,
    batch_rows: int | None = None,
    data_docs: bool | None = None,
) -> SyncSummary:
    """Sync the sources of the chosen districts (default: the whole city) into the warehouse.

    ``levels``: street and/or community sources; ``items``: only these item codes;
    ``since``: only files modified since then (a date means midnight in Tianjin);
    ``dry_run``: read and judge, report what would load, commit nothing;
    ``working_days_only``: do nothing on a day that is not a working day in mainland China
    (holidays off, adjusted weekend working days on). Paths left out come from the settings.
    """
    settings = TierhubSettings()
    settings.warehouse_key()  # a missing key is a setting, not a fault: fail before any task runs
    load_local_aliases(settings.home)  # a broken alias file, too
    # Unknown codes would select nothing and the run would look fine: refuse them first.
    districts = divisions().district_codes(districts) if districts else None
    items = catalogue().codes_of(items) if items else None
    lower_priority(settings.sync_niceness)
    where = _settings_where(drops_root, warehouse, settings)
    day = today or bureau_today()
    summary = SyncSummary(warehouse=where.warehouse, batches=[], dry_run=dry_run, warnings=calendar_warnings(day))
    for warning in summary.warnings:
        get_run_logger().warning(warning)
    run_label = _run_name()
    if working_days_only and not is_working_day(day):
        summary.skipped = (
            f"{day} is not a working day in mainland China (法定节假日或周末); the scheduled sync skipped it"
        )
        get_run_logger().info(summary.skipped)
        create_markdown_artifact(markdown=summary_markdown(summary), key="sync-summary")
        return summary
    plans = plan_batches(
        districts,
        sources_per_batch or settings.sources_per_batch,
        levels,
        endpoint_host(where.sources_file, where.drops_root),
    )
    selection = Selection(as_since(since), frozenset(items) if items else None)
    summary.batches = run_batches(
        plans,
        where,
        selection,
        today=day,
        batch_rows=batch_rows or settings.batch_rows,
        run_label=run_label,
        dry_run=dry_run,
    )
    return finish_run(summary, settings, data_docs, run_label, day)


def summary_dict(summary: SyncSummary) -> dict[str, object]:
    """A JSON-friendly form of a summary."""
    return asdict(summary)
