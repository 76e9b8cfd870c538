"""The temporary Prefect API of an embedded run, owned by tierhub so that it never outlives the CLI.

Left to itself, Prefect starts its temporary API as a plain child process and stops it from an
``atexit`` hook: a SIGKILLed (or OOM-killed) ``tierhub sync`` left the server running for good,
and Ctrl-C reached it too (the terminal signals the whole process group), which added its own
tracebacks. tierhub starts the same server (``uvicorn prefect.server.api.server:create_app``,
as Prefect does) before Prefect is imported and points ``PREFECT_API_URL`` at it:

- on Linux the server asks the kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
  so even SIGKILL of the CLI takes it down;
- it runs in its own session, so Ctrl-C in the terminal reaches only the CLI, which stops it;
- every other exit path stops it in a ``finally``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, MutableMapping

from flows.cli.environment import prefect_api_configured
from tierhub.errors import ConfigError

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Set by the ``tierhub`` entry point (flows.cli.main): one command per process. An app invoked
# in-process (tests, CliRunner) keeps Prefect's own temporary API, which later flows reuse.
OWN_SERVER = {"enabled": False}


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died between fork and prctl
        os._exit(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(environ: MutableMapping[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start Prefect's API server as a child that dies with this process; (process, API URL)."""
    port = _free_port()
    parent = os.getpid()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env={**environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"},
        preexec_fn=lambda: _die_with_parent(parent),
        start_new_session=True,  # Ctrl-C in the terminal is the CLI's to handle, not the server's
        stdin=subprocess.DEVNULL,
    )
    try:
        return process, _wait_until_healthy(process, f"http://127.0.0.1:{port}/api", environ)
    except BaseException:  # Ctrl-C while it starts, or it never became healthy
        stop_server(process)
        raise


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, environ: MutableMapping[str, str]) -> str:
    deadline = time.monotonic() + float(environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"the temporary Prefect API exited with code {process.returncode} while starting",
                fix="run `uv run prefect server start` to see why, or set PREFECT_API_URL to a running server",
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return url
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise ConfigError(
        "the temporary Prefect API did not start in time",
        fix="raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or set PREFECT_API_URL to a running server",
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def temporary_api(environ: MutableMapping[str, str]) -> Iterator[subprocess.Popen[bytes] | None]:
    """A temporary Prefect API for this process unless one is configured; call before Prefect is imported."""
    if not OWN_SERVER["enabled"] or prefect_api_configured(environ) or "prefect" in sys.modules:
        yield None
        return
    process, url = start_server(environ)
    environ["PREFECT_API_URL"] = url
    try:
        yield process
    finally:
        _send_pending_logs()
        environ.pop("PREFECT_API_URL", None)
        stop_server(process)


def _send_pending_logs() -> None:
    """Hand Prefect's queued logs and events to the server while it still runs (not at exit, when it is gone)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
