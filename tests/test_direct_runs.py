"""An embedded sync runs the flow's body directly: no Prefect, no temporary API, same warehouse."""

from __future__ import annotations

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
