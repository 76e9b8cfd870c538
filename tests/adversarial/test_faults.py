"""Faults that end a sync from outside: SIGKILL, Ctrl-C. A real ``tierhub sync`` in a subprocess.

A killed sync must not leave its temporary Prefect API running; Ctrl-C prints one line that
says what state the warehouse is in, and no traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows.cli.server import PR_SET_PDEATHSIG
from flows.cli.sync import INTERRUPTED

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).parent.parent / "samples" / "失业登记_120101001000_20261127_utf8.csv"


def children(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_sync(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """A real ``tierhub sync --prefect`` whose temporary API is up: (the CLI process, the server's pid).

    Without ``--prefect`` an embedded sync starts no API at all (decision 0026); with it, the
    flow runs against a temporary API that must die with the CLI.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("process-death signals (prctl) are Linux only")
    drops = tmp_path / "drops" / "120101" / "120101001000"
    drops.mkdir(parents=True)
    shutil.copy(SAMPLE, drops / SAMPLE.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"TIERHUB_HOME": str(tmp_path / "home"), "TIERHUB_ENCRYPT": "false", "PREFECT_HOME": str(tmp_path / "p")}
    cli = subprocess.Popen(
        [sys.executable, "-m", "tierhub", "sync", "--prefect", "--drops", str(tmp_path / "drops"), "--district=120101"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        servers = [p for p in children(cli.pid) if b"uvicorn" in Path(f"/proc/{p}/cmdline").read_bytes()]
        if servers and _healthy(servers[0]):
            return cli, servers[0]
        if cli.poll() is not None:
            pytest.fail(f"the sync ended before its server was up: {cli.communicate()}")
        time.sleep(0.2)
    cli.kill()
    pytest.fail("the temporary Prefect API never came up")


def _healthy(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    port = cmdline[cmdline.index(b"--port") + 1].decode()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_sigkilled_sync_takes_its_temporary_api_with_it(tmp_path: Path) -> None:
    cli, server = start_sync(tmp_path)
    cli.kill()
    cli.wait()
    try:
        assert wait_gone(server), "the temporary Prefect API outlived the SIGKILLed sync"
    finally:
        if alive(server):
            os.kill(server, signal.SIGKILL)


def test_ctrl_c_prints_one_line_and_stops_the_temporary_api(tmp_path: Path) -> None:
    cli, server = start_sync(tmp_path)
    time.sleep(1)  # the flow is starting or running
    cli.send_signal(signal.SIGINT)
    try:
        _, stderr = cli.communicate(timeout=60)
    finally:
        if alive(server):
            os.kill(server, signal.SIGKILL)
    assert cli.returncode == 130
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "━" not in line and "Starting" not in line]
    assert lines[-1] == INTERRUPTED and len(lines) <= 3, stderr
    assert wait_gone(server, 5)


def test_pdeathsig_constant_is_linuxs() -> None:
    assert PR_SET_PDEATHSIG == 1
