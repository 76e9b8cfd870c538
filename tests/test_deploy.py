"""prefect.yaml deploys and runs end to end: a standing server, a process work pool, a worker.

Exactly the README's "Run on a schedule" commands: ``prefect server start`` (SQLite in a
temporary PREFECT_HOME), ``prefect work-pool create``, ``prefect deploy --all`` from the
repository, ``prefect deployment run`` with paths to a small city in tmp, and ``prefect
worker start``; the flow run must complete and the warehouse hold the rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.sshd import free_port
from tierhub.synth.city import GeneratedCity

pytestmark = pytest.mark.slow  # starts a Prefect server and a worker

ROOT = Path(__file__).parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")


def api(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "prefect server exited: " + log.read_text()[-3000:]
        with contextlib.suppress(OSError, ValueError):
            if api(base, "/health") is True:
                return
        time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy: " + log.read_text()[-3000:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process group started with start_new_session (the worker's flow runs too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A standing ``prefect server start`` on a free port, its API URL and the env that points at it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        # no scheduled runs of the real schedules in a test: the run below is triggered
        PREFECT_API_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_UI_ENABLED="false",
        TIERHUB_ENCRYPT="false",
        TIERHUB_DATA_DOCS="false",
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(env["PREFECT_API_URL"], server, log, 120)
        yield env["PREFECT_API_URL"], env
    finally:
        stop(server)


def prefect(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_prefect_deploy_all_then_a_worker_runs_the_street_sync(
    prefect_server: tuple[str, dict[str, str]], city: GeneratedCity, tmp_path: Path
) -> None:
    base, env = prefect_server
    prefect(env, "work-pool", "create", "tierhub-process", "--type", "process")
    deployed = prefect(env, "deploy", "--all")
    assert "sync/sync-streets" in deployed and "maintain-warehouse/maintain-warehouse" in deployed

    streets = api(base, "/deployments/name/sync/sync-streets")
    [schedule] = streets["schedules"]
    assert schedule["schedule"] == {"cron": "0 8-18 * * *", "timezone": "Asia/Shanghai", "day_or": True}
    assert streets["parameters"] == {"levels": ["street"], "working_days_only": True}
    assert streets["work_pool_name"] == "tierhub-process"

    warehouse = tmp_path / "warehouse.duckdb"
    params = {"drops_root": str(city.drops), "warehouse": str(warehouse), "districts": ["120101"]}
    params["working_days_only"] = False  # the test may run on a day off
    created = prefect(env, "deployment", "run", "sync/sync-streets", "--params", json.dumps(params))
    match = re.search(r"UUID: ([0-9a-f-]{36})", created)
    assert match, created
    run_id = match[1]

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "tierhub-process", "--type", "process"],
            cwd=tmp_path,  # the deployment's pull step, not the worker's cwd, finds the code
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        state = "SCHEDULED"
        while time.monotonic() < deadline and state not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            time.sleep(2)
            run = api(base, f"/flow_runs/{run_id}")
            state = run["state"]["type"]
        assert state == "COMPLETED", f"flow run ended {state}:\n{log.read_text(errors='replace')[-4000:]}"
    finally:
        stop(worker)

    assert run["name"] == "sync-120101-street"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        [(files, rows, sources)] = con.execute(
            "SELECT count(*), sum(rows_loaded), (SELECT count(*) FROM ops.source_status) FROM ops.files"
        ).fetchall()
    finally:
        con.close()
    assert files > 0 and rows > 0 and sources == 6  # 和平区's six street centres
    artifacts = api(base, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert any("| 和平区 120101 | 6 |" in str(a["data"]) for a in artifacts)
