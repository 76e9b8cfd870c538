"""A sync's batches and what became of them: the plan, per-district summaries, the run's markdown.

Plain data and functions shared by the ``sync`` flow (``flows.sync``) and the direct run
(``flows.runs``); nothing here imports Prefect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.config import load_sources
from connectors.outboxes import Outboxes
from flows.pipeline import PreparedBatch
from tierhub.clock import BUREAU_TIME
from tierhub.errors import TierhubError, printable
from tierhub.reference import divisions
from tierhub.scope import district_of
from tierhub.settings import TierhubSettings
from tierhub.standards import column_missing_message
from warehouse.preview import FilePreview, preview_files
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
    read_workers: int = 0  # processes reading small files ahead of staging (connectors.readahead)

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


def notify(event: str, value: object) -> None:
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
    by_district: dict[str, list[str]] = {}  # one pass over the sources, not one per district
    for source in tree.sources():
        if source.level in chosen and (only is None or source.code in only):
            by_district.setdefault(source.code[:6], []).append(source.code)
    by_host: dict[str, list[str]] = {}
    for district in tree.at_level("district"):
        if wanted is not None and district.code[:6] not in wanted:
            continue
        codes = by_district.get(district.code[:6], [])
        if codes:
            by_host.setdefault(hosts(district.code) if hosts else "folder", []).extend(codes)
    plans: list[BatchPlan] = []
    for host, codes in by_host.items():
        count = -(-len(codes) // sources_per_batch)
        bounds = [len(codes) * n // count for n in range(count + 1)]
        for n in range(count):
            chunk = codes[bounds[n] : bounds[n + 1]]
            plans.append(BatchPlan(batch_label(chunk, n + 1, count), chunk, host))
    return plans


def batch_label(codes: list[str], number: int, count: int) -> str:
    """A batch's label: its district (code and name) or first and last district, ``n``of``count``."""
    first, last = district_of(codes[0]), district_of(codes[-1])
    where = f"{first[:6]}-{divisions().get(first).name}" if first == last else f"{first[:6]}~{last[:6]}"
    return f"{where}-{number}of{count}"


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


def settings_where(drops_root: str | None, warehouse: str | None, settings: TierhubSettings) -> Where:
    return Where(
        warehouse=warehouse or str(settings.warehouse_file.resolve()),
        drops_root=drops_root or str(settings.drops_folder.resolve()),
        # a drops folder passed in means: every source a folder under it
        sources_file=None if drops_root or settings.sources_file is None else str(settings.sources_file.resolve()),
        landing=str(settings.landing_folder.resolve()),
        home=str(settings.home.resolve()),
        read_workers=settings.read_workers,
    )
