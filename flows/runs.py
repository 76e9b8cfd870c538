"""A sync run without Prefect: plan, prepare, commit, publish — the flow's body as plain Python.

``flows.sync`` runs this body as the ``sync`` flow: each step a Prefect task (retries, task
runs, a Dask or thread task runner, the run's artifact). An embedded run from the command line
(``tierhub sync`` and ``demo`` with no Prefect API configured) runs the same body with
:class:`DirectSteps`: the same functions called in this process — batches prepared in a thread
while the previous one commits, the same retries of a busy warehouse — without importing
Prefect or starting its temporary API (docs/decisions/0026-embedded-runs-without-a-server.md).
Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from connectors.gather import pending_bytes, pending_files, survey_all
from flows.batches import (
    LEVELS,
    BatchPlan,
    BatchSummary,
    SyncSummary,
    Where,
    add_previews,
    as_since,
    batch_label,
    bureau_today,
    endpoint_host,
    failed_batch,
    notify,
    plan_batches,
    settings_where,
    summarise,
    summary_markdown,
)
from flows.pipeline import (
    BatchState,
    PreparedBatch,
    Selection,
    batch_state,
    batch_status,
    commit_prepared,
    prepare_batch,
)
from quality.aliases import apply_local_aliases, load_local_aliases
from tierhub.calendar import calendar_warnings, is_working_day
from tierhub.errors import ConfigError, WarehouseError, printable
from tierhub.priority import lower_priority
from tierhub.reference import divisions
from tierhub.settings import TierhubSettings
from tierhub.standards import catalogue
from warehouse.publish import CURRENT, prune, publish, publish_file, snapshots_folder
from warehouse.schema import open_warehouse
from warehouse.source_status import STATES
from warehouse.staging import AHEAD_MIN_FILES, warm_read_workers
from warehouse.storage import duckdb_config

log = logging.getLogger("tierhub.flows")

# -- the steps, plain: the flow's tasks wrap these --


def read_states(warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
    """Read the cursor and registry of every planned source (one short open of the warehouse)."""
    con = open_warehouse(Path(warehouse))
    try:
        return {plan.label: batch_state(con, plan.source_codes) for plan in plans}
    finally:
        con.close()


def prepare_plan(
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
    scratch = duckdb.connect(config=duckdb_config())
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
            progress=lambda stage, done, total: notify("stage", (plan.label, stage, done, total)),
            read_workers=where.read_workers,
        )
    finally:
        scratch.close()
        outboxes.close()


def commit_plan(
    plan: BatchPlan, prepared: PreparedBatch, warehouse: str, con: duckdb.DuckDBPyConnection | None = None
) -> list[BatchSummary]:
    """Commit one prepared batch (this process is the one writer); its summary per district.

    ``con``: the run's writer connection, kept open across batches; without it the warehouse is
    opened for this batch and closed after it.
    """
    if con is not None:
        commit_prepared(con, prepared)
        return summarise(plan, prepared)
    con = open_writer(warehouse)
    try:
        commit_prepared(con, prepared)
    finally:
        con.close()
    return summarise(plan, prepared)


def open_writer(warehouse: str) -> duckdb.DuckDBPyConnection:
    """The warehouse opened for writing; a file held by another process is a retryable error."""
    try:
        return open_warehouse(Path(warehouse))
    except duckdb.IOException as exc:  # held by a reader or maintenance: retried with backoff
        raise WarehouseError(f"warehouse {warehouse} is in use: {exc}", fix="the step retries") from exc


# A run's writer checkpoints when its WAL passes this, not at every batch's commit: DuckDB
# rewrites a table's whole ART index (the case index, the person master) at each checkpoint,
# so a checkpoint per batch cost ~2 s each for the full city and grows with the warehouse
# (decision 0032). Commits stay durable in the WAL; the publish step checkpoints once.
RUN_CHECKPOINT_THRESHOLD = "1GB"


def publish_current(
    warehouse: str, keep: int, days: int, logger: Logger, con: duckdb.DuckDBPyConnection | None = None
) -> str:
    """Publish the committed warehouse as the next read-only generation; prune old ones.

    ``con``: the run's open writer (it checkpoints the file before the copy); else the file is opened.
    """
    path = Path(warehouse)
    snapshot = publish(con, path) if con is not None else publish_file(path)
    prune(snapshots_folder(path), keep=keep, days=days)
    logger.info("published %s (%.1f MiB)", snapshot.path, snapshot.bytes / 2**20)
    return str(snapshot.path)


def size_batches(
    plans: list[BatchPlan], states: dict[str, BatchState], where: Where, selection: Selection, batch_bytes: int
) -> tuple[list[BatchPlan], dict[str, BatchState]]:
    """Repack consecutive folder batches, source by source, into batches of at most ``batch_bytes`` of new files.

    Each batch costs a fixed few seconds to judge and commit (every item one query, every table
    one statement) whatever its rows, and holds its judged rows in memory until it commits. So
    batches planned by source count are repacked once their outboxes are listed: a city with
    little new becomes one batch, one with nothing new one batch (decision 0033), and a backfill
    batches of bounded size — a source with more new files than the budget is a batch of its own
    (decision 0034). The listings go with the new states, so no outbox is listed twice. SFTP and
    database batches keep their planned size: listing them here would hold a connection per host
    for the whole run. ``batch_bytes`` 0 keeps the planned batches.
    """
    if batch_bytes <= 0 or not any(p.host == "folder" for p in plans):
        return plans, states
    outboxes = where.outboxes()
    try:
        standards = catalogue()
        for plan in plans:
            if plan.host == "folder":
                state = states[plan.label]
                state.surveyed = survey_all(outboxes, plan.source_codes, state.outbox_known(), selection, standards)
    finally:
        outboxes.close()
    # Runs of consecutive folder plans are repacked; any other plan stays as it is, in its place.
    runs: list[list[BatchPlan]] = []
    for plan in plans:
        if plan.host == "folder" and runs and runs[-1][-1].host == "folder":
            runs[-1].append(plan)
        else:
            runs.append([plan])
    groups: list[tuple[list[str], BatchState, str]] = []  # (sources, state, host)
    for run in runs:
        if run[0].host != "folder":
            groups.append((run[0].source_codes, states[run[0].label], run[0].host))
            continue
        state = BatchState.merged([states[p.label] for p in run])
        surveyed = state.surveyed or {}
        packed: list[list[str]] = [[]]
        size = 0
        for code in (c for p in run for c in p.source_codes):
            grow = pending_bytes({code: surveyed[code]}) if code in surveyed else 0
            if packed[-1] and size + grow > batch_bytes:
                packed.append([])
                size = 0
            packed[-1].append(code)
            size += grow
        groups += [(codes, part, "folder") for codes, part in zip(packed, state.split(packed), strict=True)]
    if [g[0] for g in groups] == [p.source_codes for p in plans]:
        return plans, states
    new_plans: list[BatchPlan] = []
    new_states: dict[str, BatchState] = {}
    for number, (codes, state, host) in enumerate(groups, start=1):
        plan = BatchPlan(batch_label(codes, number, len(groups)), codes, host)
        new_plans.append(plan)
        new_states[plan.label] = state
    return new_plans, new_states


# -- how the steps run: as Prefect tasks (flows.sync) or directly (DirectSteps) --

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


class Pending(Protocol):
    """A batch being prepared (a Prefect future, or a thread's)."""

    def result(self) -> PreparedBatch: ...


class Steps(Protocol):
    """How a run's steps are executed."""

    def logger(self) -> Logger: ...
    def read_state(self, warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]: ...
    def prepare(self, plan: BatchPlan, *args: Any) -> Pending: ...
    def commit(self, plan: BatchPlan, prepared: PreparedBatch, warehouse: str) -> list[BatchSummary]: ...
    def publish_snapshot(self, warehouse: str, keep: int, days: int) -> str: ...
    def data_docs(
        self, warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date
    ) -> str | None: ...
    def artifact(self, markdown: str, description: str | None) -> None: ...


RETRY_DELAYS = (5.0, 20.0, 60.0)  # as the flow's read-state and commit-batch tasks


@dataclass
class DirectSteps:
    """The steps called in this process: no Prefect, no API (an embedded run from the command line).

    Batches are prepared on ``prepare_threads`` threads while this thread commits, as the
    flow's thread runner does. A failing read, commit or publish is retried after 5, 20 and
    60 s unless it is a ``ConfigError``, as the tasks' ``transient_only`` policy does. No
    artifact is kept: the command line prints the run's tables itself.
    """

    prepare_threads: int = 1
    # The run renders Data Docs if it loads rows: their worker processes start (importing GX) at
    # the first commit with rows, overlapping the commits instead of following them.
    warm_docs: bool = False
    sleep: Callable[[float], None] = time.sleep
    delays: tuple[float, ...] = RETRY_DELAYS
    _pool: ThreadPoolExecutor | None = None
    _writer: duckdb.DuckDBPyConnection | None = None  # the run's writer, from its first commit to its publish

    def logger(self) -> Logger:
        return log

    def _retried(self, name: str, work: Callable[[], Any]) -> Any:
        for delay in (*self.delays, None):
            try:
                return work()
            except ConfigError:
                raise
            except Exception as exc:
                if delay is None:
                    raise
                log.warning("%s failed (%s); retrying in %.0f s", name, printable(str(exc)), delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def read_state(self, warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
        return dict(self._retried("read-state", lambda: read_states(warehouse, plans)))

    def prepare(self, plan: BatchPlan, *args: Any) -> Future[PreparedBatch]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.prepare_threads, thread_name_prefix="prepare")
        return self._pool.submit(prepare_plan, plan, *args)

    def _writing(self, warehouse: str) -> duckdb.DuckDBPyConnection:
        if self._writer is None:
            self._writer = open_writer(warehouse)
            self._writer.execute(f"SET checkpoint_threshold = '{RUN_CHECKPOINT_THRESHOLD}'")
        return self._writer

    def _close_writer(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def commit(self, plan: BatchPlan, prepared: PreparedBatch, warehouse: str) -> list[BatchSummary]:
        if self.warm_docs and any(t.num_rows for t in prepared.judged.values()):
            from quality.datadocs import start_workers  # GX is imported there, not here

            start_workers()

        def attempt() -> list[BatchSummary]:
            try:
                return commit_plan(plan, prepared, warehouse, self._writing(warehouse))
            except Exception:
                # A failed commit rolled back; the retry starts from a fresh connection.
                with contextlib.suppress(duckdb.Error):
                    self._close_writer()
                raise

        return list(self._retried(f"commit-{plan.label}", attempt))

    def publish_snapshot(self, warehouse: str, keep: int, days: int) -> str:
        def attempt() -> str:
            if self._writer is None:
                return publish_current(warehouse, keep, days, log)
            try:
                return publish_current(warehouse, keep, days, log, con=self._writer)
            finally:
                # Data Docs read the warehouse in worker processes: the file lock goes with the writer.
                with contextlib.suppress(duckdb.Error):
                    self._close_writer()

        return str(self._retried("publish-snapshot", attempt))

    def data_docs(
        self, warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date
    ) -> str | None:
        return render_data_docs(warehouse, load_ids, run_label, out_dir, today)

    def artifact(self, markdown: str, description: str | None) -> None:
        """No Prefect UI to show it in."""

    def close(self) -> None:
        """Stop the preparing threads and close the run's writer (after the run, or when it failed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._close_writer()
        if "quality.datadocs" in sys.modules:  # imported only where its workers may have started
            from quality.datadocs import stop_workers

            stop_workers()


def render_data_docs(warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date) -> str | None:
    """Render the run's Great Expectations Data Docs, one folder per district (masked) and the engineers'
    unmasked copy; the engineers' index page's path (decision 0021)."""
    from quality.datadocs import build_data_docs  # Great Expectations: imported only when rendering

    con = open_warehouse(Path(warehouse))
    try:
        index = build_data_docs(con, Path(out_dir), load_ids, run_label=run_label, today=today)
    finally:
        con.close()
    return str(index.resolve()) if index else None


# -- the run --


def prepare_ahead(settings: TierhubSettings) -> int:
    """How many batches a run keeps prepared or in preparation: one per preparing worker, plus one."""
    return (settings.dask_workers if settings.task_runner == "dask" else settings.prepare_threads) + 1


def run_batches(
    steps: Steps,
    plans: list[BatchPlan],
    where: Where,
    selection: Selection,
    *,
    today: dt.date,
    batch_rows: int,
    run_label: str,
    dry_run: bool,
    batch_bytes: int = 0,
    ahead: int = 2,
) -> list[BatchSummary]:
    """Prepare every batch on the steps' runner; commit them here, one at a time, in order.

    Folder batches are repacked to ``batch_bytes`` of new files first (``size_batches``). At
    most ``ahead`` batches are prepared or being prepared and not yet committed: a prepared
    batch holds its judged rows in memory until its commit, so a backfill whose preparation
    outruns its commits must not pile them up (``prepare_ahead``).

    A batch that cannot be prepared is listed as failed and the others go on; a batch that
    cannot commit is listed too, and the run raises at the end (the warehouse is unchanged
    by it).
    """
    logger = steps.logger()
    notify("planned", plans)
    states = steps.read_state(where.warehouse, plans)
    plans, states = size_batches(plans, states, where, selection, batch_bytes)
    surveyed = [states[p.label].surveyed for p in plans]
    if any(s is None or pending_files(s) >= AHEAD_MIN_FILES for s in surveyed):
        warm_read_workers(where.read_workers)  # they start while the first batch is fetched
    waiting = iter(plans)
    pending: deque[tuple[BatchPlan, Pending]] = deque()

    def top_up() -> None:
        while len(pending) < max(ahead, 1) and (plan := next(waiting, None)) is not None:
            state = states[plan.label]
            pending.append((plan, steps.prepare(plan, state, where, selection, today, batch_rows, run_label)))

    summaries: list[BatchSummary] = []
    commit_errors: list[str] = []
    top_up()
    while pending:
        plan, future = pending.popleft()
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
                notify("stage", (plan.label, "commit", 0, 0))
                try:
                    parts = steps.commit(plan, prepared, where.warehouse)
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
        del future  # a finished future holds its batch's rows
        top_up()  # the next batch is prepared while this one's successor is committed
        for summary in parts:
            summaries.append(summary)
            notify("batch", summary)
    if commit_errors:
        raise WarehouseError(
            f"{len(commit_errors)} of {len(plans)} batches could not commit: {'; '.join(commit_errors)}",
            fix="the other batches are committed; fix the warehouse and rerun (committed files are skipped)",
        )
    return summaries


def finish_run(
    steps: Steps,
    summary: SyncSummary,
    settings: TierhubSettings,
    data_docs: bool | None,
    run_label: str,
    today: dt.date,
) -> SyncSummary:
    """Publish the snapshot and Data Docs of a run that loaded something; write the artifact."""
    warehouse = summary.warehouse
    load_ids = list(dict.fromkeys(b.load_id for b in summary.batches if b.rows_in))
    if not summary.dry_run and (load_ids or not (snapshots_folder(Path(warehouse)) / CURRENT).exists()):
        summary.snapshot = steps.publish_snapshot(warehouse, settings.snapshot_keep, settings.snapshot_days)
    if not summary.dry_run and (settings.data_docs if data_docs is None else data_docs) and load_ids:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        label = f"{run_label}-{stamp}"
        out_dir = str(Path(warehouse).resolve().parent / "datadocs" / label)
        summary.data_docs = steps.data_docs(warehouse, load_ids, label, out_dir, today)
    steps.artifact(summary_markdown(summary), "Per-district sources ok / failed / late, rows loaded / quarantined")
    return summary


def sync_run_name(params: dict[str, Any]) -> str:
    """A sync run's name from its parameters: ``sync-city``, ``sync-120101-street-dry-run``."""
    districts = params.get("districts")
    name = f"sync-{'-'.join(d[:6] for d in districts) if districts else 'city'}"
    levels = params.get("levels")
    if levels and set(levels) != set(LEVELS):
        name += "-" + "-".join(sorted(levels))
    return name + ("-dry-run" if params.get("dry_run") else "")


def run_sync(
    steps: Steps,
    run_label: str,
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
    """The ``sync`` flow's body (its parameters are documented there), on either kind of steps."""
    settings = TierhubSettings()
    settings.warehouse_key()  # a missing key is a setting, not a fault: fail before any step runs
    load_local_aliases(settings.home)  # a broken alias file, too
    # Unknown codes would select nothing and the run would look fine: refuse them first.
    districts = divisions().district_codes(districts) if districts else None
    items = catalogue().codes_of(items) if items else None
    lower_priority(settings.sync_niceness)
    where = settings_where(drops_root, warehouse, settings)
    day = today or bureau_today()
    summary = SyncSummary(warehouse=where.warehouse, batches=[], dry_run=dry_run, warnings=calendar_warnings(day))
    logger = steps.logger()
    for warning in summary.warnings:
        logger.warning(warning)
    if working_days_only and not is_working_day(day):
        summary.skipped = (
            f"{day} is not a working day in mainland China (法定节假日或周末); the scheduled sync skipped it"
        )
        logger.info(summary.skipped)
        steps.artifact(summary_markdown(summary), None)
        return summary
    plans = plan_batches(
        districts,
        sources_per_batch or settings.sources_per_batch,
        levels,
        endpoint_host(where.sources_file, where.drops_root),
    )
    selection = Selection(as_since(since), frozenset(items) if items else None)
    summary.batches = run_batches(
        steps,
        plans,
        where,
        selection,
        today=day,
        batch_rows=batch_rows or settings.batch_rows,
        run_label=run_label,
        dry_run=dry_run,
        batch_bytes=settings.batch_bytes,
        ahead=prepare_ahead(settings),
    )
    return finish_run(steps, summary, settings, data_docs, run_label, day)


def sync_direct(**params: Any) -> SyncSummary:
    """Run a sync in this process without Prefect (``sync_flow``'s parameters)."""
    settings = TierhubSettings()
    docs = settings.data_docs if params.get("data_docs") is None else bool(params["data_docs"])
    steps = DirectSteps(prepare_threads=settings.prepare_threads, warm_docs=docs and not params.get("dry_run"))
    try:
        return run_sync(steps, sync_run_name(params), **params)
    finally:
        steps.close()


def summary_dict(summary: SyncSummary) -> dict[str, object]:
    """A JSON-friendly form of a summary."""
    return asdict(summary)
