"""The ``sync`` flow: city → districts → batches of sources; a batch is prepared, then committed.

One task per source would be the wrong shape for 5,916 sources (Prefect costs ~5 ms a task
and its temporary API loses task runs past ~1,000, docs/decisions/0011-flows.md): a task
prepares a batch of one district's sources — scan, fetch, read, judge — and the flow's own
process commits the batches one at a time, in order, as the warehouse's one writer. The
per-source outcome lives in the warehouse (``ops.source_status``) and in the run's markdown
artifact. A source that cannot be reached, a refused host key or a broken file never fails
the run; only a warehouse that cannot commit does.

The flow's body is ``flows.runs.run_sync``; here each of its steps is a Prefect task
(:class:`PrefectSteps`). The command line runs the same body without Prefect when no API is
configured (docs/decisions/0026-embedded-runs-without-a-server.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows import runs
from flows.batches import (
    LEVELS,
    BatchPlan,
    BatchSummary,
    ProgressListener,
    SyncSummary,
    Where,
    as_since,
    bureau_today,
    endpoint_host,
    failed_batch,
    plan_batches,
    progress_listener,
    summarise,
    summary_markdown,
)
from flows.pipeline import BatchState, PreparedBatch, Selection
from flows.retries import transient_only
from flows.runs import sync_run_name
from tierhub.settings import TierhubSettings

__all__ = [
    "LEVELS",
    "BatchPlan",
    "BatchSummary",
    "PrefectSteps",
    "ProgressListener",
    "SyncSummary",
    "Where",
    "as_since",
    "bureau_today",
    "endpoint_host",
    "failed_batch",
    "finish_run",
    "local_cluster",
    "plan_batches",
    "progress_listener",
    "run_batches",
    "summarise",
    "summary_dict",
    "summary_markdown",
    "sync_flow",
    "task_runner",
]

summary_dict = runs.summary_dict


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside Prefect; a plain one when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("tierhub.flows")


# -- tasks: each one step of flows.runs --


@task(
    name="read-state",
    cache_policy=NO_CACHE,
    retries=3,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[5, 20, 60],
)
def read_state(warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
    """Read the cursor and registry of every planned source (one short open of the warehouse)."""
    return runs.read_states(warehouse, plans)


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
    return runs.prepare_plan(plan, state, where, selection, today, batch_rows, run_label)


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
    return runs.commit_plan(plan, prepared, warehouse)


@task(name="data-docs", cache_policy=NO_CACHE)
def publish_data_docs(warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date) -> str | None:
    """Render the run's Great Expectations Data Docs; the index page's path."""
    return runs.render_data_docs(warehouse, load_ids, run_label, out_dir, today)


@task(
    name="publish-snapshot",
    cache_policy=NO_CACHE,
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[10, 60],
)
def publish_snapshot(warehouse: str, keep: int, days: int) -> str:
    """Publish the committed warehouse as the next read-only generation; prune old ones."""
    return runs.publish_current(warehouse, keep, days, _logger())


class PrefectSteps:
    """The run's steps as tasks of the running flow (task runs, retries, the flow's task runner)."""

    def logger(self) -> runs.Logger:
        return get_run_logger()

    def read_state(self, warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
        return read_state(warehouse, plans)

    def prepare(self, plan: BatchPlan, *args: Any) -> PrefectFuture[PreparedBatch]:
        return prepare.with_options(tags=[f"sftp-host:{plan.host}"]).submit(plan, *args)

    def commit(self, plan: BatchPlan, prepared: PreparedBatch, warehouse: str) -> list[BatchSummary]:
        return commit(plan, cast(PreparedBatch, quote(prepared)), warehouse)

    def publish_snapshot(self, warehouse: str, keep: int, days: int) -> str:
        return publish_snapshot(warehouse, keep, days)

    def data_docs(
        self, warehouse: str, load_ids: list[str], run_label: str, out_dir: str, today: dt.date
    ) -> str | None:
        return publish_data_docs(warehouse, load_ids, run_label, out_dir, today)

    def artifact(self, markdown: str, description: str | None) -> None:
        create_markdown_artifact(markdown=markdown, key="sync-summary", description=description)


def run_batches(
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
    """``flows.runs.run_batches`` as tasks of the running flow."""
    return runs.run_batches(
        PrefectSteps(),
        plans,
        where,
        selection,
        today=today,
        batch_rows=batch_rows,
        run_label=run_label,
        dry_run=dry_run,
        batch_bytes=batch_bytes,
        ahead=ahead,
    )


def finish_run(
    summary: SyncSummary, settings: TierhubSettings, data_docs: bool | None, run_label: str, today: dt.date
) -> SyncSummary:
    """``flows.runs.finish_run`` as tasks of the running flow."""
    return runs.finish_run(PrefectSteps(), summary, settings, data_docs, run_label, today)


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


def _run_name() -> str:
    from prefect.runtime import flow_run

    return sync_run_name(dict(flow_run.parameters))


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
    return runs.run_sync(
        PrefectSteps(),
        _run_name(),
        drops_root=drops_root,
        warehouse=warehouse,
        districts=districts,
        levels=levels,
        items=items,
        since=since,
        dry_run=dry_run,
        working_days_only=working_days_only,
        today=today,
        sources_per_batch=sources_per_batch,
        batch_rows=batch_rows,
        data_docs=data_docs,
    )
