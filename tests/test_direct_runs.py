"""An embedded sync runs the flow's body directly: no Prefect, no temporary API, same warehouse."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.batches import BatchPlan, progress_listener
from flows.runs import DirectSteps, sync_direct
from tests.test_flows import BATCHES_OF_150, HEPING, NINGHE, SPAN
from tierhub.errors import ConfigError, WarehouseError
from tierhub.synth.city import GeneratedCity

TODAY = dt.date(2026, 12, 3)
SAMPLE = Path(__file__).parent / "samples" / "失业登记_120101001000_20261127_utf8.csv"


def counts(path: Path) -> tuple[int, ...]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.files"
        ).fetchone()
        states = con.execute("SELECT count(*) FROM ops.source_latest").fetchone()
    finally:
        con.close()
    assert row is not None and states is not None
    return (*(int(x) for x in row), int(states[0]))


@pytest.mark.slow
def test_direct_run_loads_what_the_plain_pipeline_loads(
    city: GeneratedCity, synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.runs

    monkeypatch.setenv("TIERHUB_BATCH_BYTES", "0")  # the planned batches, not merged (decision 0033)
    warehouse = tmp_path / "direct.duckdb"
    events: list[tuple[str, object]] = []
    opened: list[Path] = []
    open_warehouse = flows.runs.open_warehouse
    monkeypatch.setattr(flows.runs, "open_warehouse", lambda path: opened.append(path) or open_warehouse(path))
    with progress_listener(lambda event, value: events.append((event, value))):
        summary = sync_direct(
            drops_root=str(city.drops),
            warehouse=str(warehouse),
            districts=[HEPING, NINGHE],
            sources_per_batch=150,
            data_docs=False,
        )
    assert [(b.label, b.district_code[:6], b.sources) for b in summary.batches] == BATCHES_OF_150
    first = [v for e, v in events if e == "stage" and v[0] == SPAN]  # type: ignore[index]
    assert list(dict.fromkeys(stage for _, stage, _, _ in first)) == ["fetch", "read", "judge", "commit"]
    assert counts(warehouse) == counts(synced)
    assert summary.total("files") == counts(synced)[0] and summary.snapshot and Path(summary.snapshot).exists()
    # One writer for the run's three batches, checkpointed and closed by the publish: the warehouse
    # is opened twice (its state, then the writer), not once per commit and once more to publish,
    # and no WAL is left.
    assert len(summary.batches) >= 3 and opened == [warehouse, warehouse]
    assert not Path(f"{warehouse}.wal").exists()
    again = sync_direct(drops_root=str(city.drops), warehouse=str(warehouse), districts=[HEPING, NINGHE])
    assert again.total("files") == 0 and again.total("skipped_files") == summary.total("files")
    assert again.snapshot is None  # nothing new: the published generation stays


def _drops_of(tmp_path: Path, sources: list[str]) -> Path:
    """A drops folder where each source sent the sample export once."""
    drops = tmp_path / "drops"
    for code in sources:
        (drops / code[:6] / code).mkdir(parents=True)
        shutil.copy(SAMPLE, drops / code[:6] / code / SAMPLE.name.replace("120101001000", code))
    return drops


def test_folder_batches_are_repacked_to_the_byte_budget_and_keep_their_listings(tmp_path: Path) -> None:
    from connectors.exports import Selection
    from flows.batches import Where
    from flows.pipeline import BatchState
    from flows.runs import size_batches

    sources = ["120101001000", "120101001001", "120101001002", "120117001000"]
    drops = _drops_of(tmp_path, sources)
    size = SAMPLE.stat().st_size
    where = Where(str(tmp_path / "w.duckdb"), str(drops), None, str(tmp_path / "landing"))
    plans = [BatchPlan(f"p{n}", [code], "folder") for n, code in enumerate(sources)]

    def sized(budget: int) -> tuple[list[BatchPlan], dict[str, BatchState]]:
        states = {p.label: BatchState({}, {}, {}) for p in plans}
        return size_batches(plans, states, where, Selection(None, None), budget)

    merged, states = sized(2 * size)  # two files per batch
    assert [p.source_codes for p in merged] == [sources[:2], sources[2:]]
    assert [p.label for p in merged] == ["120101-和平区-1of2", "120101~120117-2of2"]
    for plan in merged:  # the listings travel with the merged state: the batch does not list again
        surveyed = states[plan.label].surveyed
        assert surveyed is not None and set(surveyed) == set(plan.source_codes)
    assert [p.source_codes for p in sized(10 * size)[0]] == [sources]
    assert sized(size - 1)[0] == plans  # no two files fit: the planned batches stay
    assert sized(0)[0] == plans  # 0 turns merging off
    # A planned batch with more new bytes than the budget is split, source by source (a backfill).
    one = [BatchPlan("all", sources, "folder")]
    split, split_states = size_batches(one, {"all": BatchState({}, {}, {})}, where, Selection(None, None), 2 * size)
    assert [p.source_codes for p in split] == [sources[:2], sources[2:]]
    for plan in split:
        surveyed = split_states[plan.label].surveyed
        assert surveyed is not None and set(surveyed) == set(plan.source_codes)
    assert [
        p.source_codes
        for p in size_batches(one, {"all": BatchState({}, {}, {})}, where, Selection(None, None), size - 1)[0]
    ] == [[c] for c in sources]
    sftp = [BatchPlan("s1", sources[:2], "sftp.example"), BatchPlan("s2", sources[2:], "sftp.example")]
    assert size_batches(sftp, {}, where, Selection(None, None), 10 * size)[0] == sftp  # never listed here


@pytest.mark.slow
def test_a_small_sync_runs_as_one_batch_and_lists_each_outbox_once(
    city: GeneratedCity, synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.local import LocalOutbox

    scans: list[str] = []
    scan = LocalOutbox.scan
    monkeypatch.setattr(LocalOutbox, "scan", lambda self, code: scans.append(code) or scan(self, code))
    warehouse = tmp_path / "merged.duckdb"
    common = {"drops_root": str(city.drops), "warehouse": str(warehouse), "districts": [HEPING, NINGHE]}
    summary = sync_direct(**common, sources_per_batch=150, data_docs=False)
    # Three planned batches of ≤ 150 sources, ~5 MB of new files: one batch, one load.
    assert {b.label for b in summary.batches} == {f"{HEPING}~{NINGHE}-1of1"}
    assert counts(warehouse) == counts(synced)
    assert sorted(scans) == sorted(set(scans)) and len(scans) == 409
    scans.clear()
    again = sync_direct(**common, sources_per_batch=150, data_docs=False)
    assert {b.label for b in again.batches} == {f"{HEPING}~{NINGHE}-1of1"} and len(scans) == 409
    assert again.total("files") == 0 and again.total("skipped_files") == summary.total("files")


def test_direct_steps_retry_a_busy_warehouse_but_not_a_wrong_setting() -> None:
    slept: list[float] = []
    steps = DirectSteps(sleep=slept.append)
    attempts: list[int] = []

    def busy_twice() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise WarehouseError("warehouse in use")
        return "done"

    assert steps._retried("commit-x", busy_twice) == "done" and slept == [5.0, 20.0]

    def no_key() -> None:
        raise ConfigError("TIERHUB_WAREHOUSE_KEY is not set")

    slept.clear()
    with pytest.raises(ConfigError):
        steps._retried("read-state", no_key)
    assert slept == []

    def always_busy() -> None:
        raise WarehouseError("warehouse in use")

    with pytest.raises(WarehouseError):
        steps._retried("commit-x", always_busy)
    assert slept == [5.0, 20.0, 60.0]


def test_batches_are_prepared_only_a_step_ahead_of_their_commits(tmp_path: Path) -> None:
    """A prepared batch holds its rows until its commit: a run whose preparation outruns its commits
    (a backfill) keeps at most ``ahead`` of them, and lets go of each once it is committed."""
    import logging
    import weakref
    from concurrent.futures import Future

    import flows.runs as runs
    from connectors.exports import Selection
    from flows.batches import Where
    from flows.pipeline import BatchState

    class Rows:  # a prepared batch's rows, whose lifetime the test watches
        pass

    class Steps:
        """The runner's side, counted: every batch is prepared at once, as fast as a runner could."""

        def __init__(self) -> None:
            self.submitted = self.committed = self.most = 0
            self.alive: list[weakref.ref[Rows]] = []
            self.held_after_commit = 0

        def logger(self) -> logging.Logger:
            return logging.getLogger("test")

        def read_state(self, warehouse: str, plans: list[BatchPlan]) -> dict[str, BatchState]:
            return {p.label: BatchState({}, {}, {}) for p in plans}

        def prepare(self, plan: BatchPlan, *args: object) -> Future[Rows]:
            self.submitted += 1
            self.most = max(self.most, self.submitted - self.committed)
            rows = Rows()
            self.alive.append(weakref.ref(rows))
            done: Future[Rows] = Future()
            done.set_result(rows)
            return done

        def commit(self, plan: BatchPlan, prepared: Rows, warehouse: str) -> list[object]:
            self.committed += 1
            # Every batch committed before this one is gone from memory.
            self.held_after_commit += sum(ref() is not None for ref in self.alive[: self.committed - 1])
            return []

    where = Where(str(tmp_path / "w.duckdb"), str(tmp_path), None, str(tmp_path / "landing"))
    plans = [BatchPlan(f"p{n}", [f"12010100100{n}"], "folder") for n in range(6)]

    def run(ahead: int) -> Steps:
        steps = Steps()
        runs.run_batches(
            steps,  # type: ignore[arg-type]
            plans,
            where,
            Selection(None, None),
            today=TODAY,
            batch_rows=1_000,
            run_label="t",
            dry_run=False,
            ahead=ahead,
        )
        assert steps.committed == len(plans)
        return steps

    assert run(len(plans)).most == len(plans)  # unbounded, every batch is prepared before the first commit
    bounded = run(2)
    assert bounded.most == 2  # the default: one preparing thread, plus one
    assert bounded.held_after_commit == 0


def test_a_failed_preparation_fails_its_batch_only(tmp_path: Path) -> None:
    steps = DirectSteps()
    plan = BatchPlan("120101-和平区-1of1", ["120101001000"], "folder")
    try:
        future = steps.prepare(plan, None, None, None, None, 1_000, "x")  # nonsense arguments: it raises
        with pytest.raises(AttributeError):
            future.result()
    finally:
        steps.close()


@pytest.mark.slow  # ~14 s: the CLI in a subprocess
def test_the_cli_syncs_without_prefect_and_without_a_server(tmp_path: Path) -> None:
    drops = tmp_path / "drops" / "120101" / "120101001000"
    drops.mkdir(parents=True)
    shutil.copy(SAMPLE, drops / SAMPLE.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "TIERHUB_HOME": str(tmp_path / "home"),
        "TIERHUB_ENCRYPT": "false",
        "TIERHUB_DATA_DOCS": "false",
        "PREFECT_PROFILES_PATH": str(tmp_path / "none.toml"),
    }
    script = (
        "import sys\n"
        "from flows.cli import main\n"
        "sys.argv = ['tierhub', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'prefect' not in sys.modules, 'the embedded sync imported Prefect'\n"
        "print('no prefect')\n"
    )
    warehouse = tmp_path / "w.duckdb"
    args = [sys.executable, "-c", script, "sync", "--drops", str(tmp_path / "drops"), "--warehouse", str(warehouse)]
    result = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.rstrip().endswith("no prefect")
    assert '"files": 1' in result.stdout
    assert not list((tmp_path / "home" / "prefect").glob("*.db")), "a Prefect database: a server was started"
    logged = [line for line in result.stderr.splitlines() if "| INFO" in line]
    assert any("120101" in line and "1 new files" in line for line in logged), result.stderr  # the run's log
