"""Analyst SQL off the portal's event loop, in a process of its own with hard limits.

Each query runs in a fresh process forked from a fork server that has DuckDB and the
reference data loaded (so it starts in ~50 ms): the process caps its own address space
(``RLIMIT_AS``: DuckDB's ``memory_limit`` does not bound every allocation — a
``repeat('x', 1.5e9)`` peaked at 3.2 GB under a 512 MB limit), builds the sandbox
(``portal/sandbox.py``), runs the SELECT with DuckDB's interrupt timer, and sends back at most
``rows`` rows and ``result_bytes`` bytes. The portal thread that waits for it kills the
process when it overruns its time, so a query that ignores the interrupt still ends. At most
``workers`` such processes run at once; a query that finds none free waits briefly, then is
refused. Nothing of the query runs in the portal process: another user's page does not wait.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import re
import resource
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

from portal.sandbox import Limits, Sandbox, SqlFailed, SqlRefused, SqlResult, ViewInfo
from tierhub.reference import divisions

# Loaded once in the fork server, inherited by every query's process.
divisions()

SETUP_SECONDS = 60.0  # building one scope's sandbox (0.4 s for 和平区 at demo scale; bench/portal_isolation.py)
WAIT_FOR_SLOT_SECONDS = 30.0
WORKER_NICENESS = 15
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


@dataclass(frozen=True, slots=True)
class Job:
    """One analyst query (or only the views' description when ``sql`` is None)."""

    warehouse: Path
    scope: str
    secret: bytes
    masked: bool
    limits: Limits
    key: str | None
    sql: str | None


def memory_bytes(text: str) -> int:
    """``512MB`` → bytes (DuckDB's spelling of sizes)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?I?B?)\s*", text.upper())
    if not found:
        raise SqlFailed(f"memory limit {text!r} is not a size", fix="write it like 512MB or 1GB")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def _address_space() -> int:
    """This process's current virtual size in bytes (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _one_malloc_arena() -> None:
    """glibc reserves 64 MB of address space per thread's arena; one arena keeps the cap about real memory."""
    with contextlib.suppress(OSError):  # not glibc: its arenas are not ours to tune
        ctypes.CDLL("libc.so.6").mallopt(-8, 1)  # M_ARENA_MAX


def _child(job: Job, pipe: Connection) -> None:
    """The query's process: cap memory, build the sandbox, run, send one message back."""
    try:
        # Below the portal's own priority: on a small machine the clerks' pages win the CPU.
        os.nice(WORKER_NICENESS)
        _one_malloc_arena()
        # The cap counts what the process already maps (Python, DuckDB's code) plus the query's budget.
        cap = _address_space() + memory_bytes(job.limits.memory) + 256 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        with Sandbox(
            job.warehouse, job.scope, secret=job.secret, masked=job.masked, limits=job.limits, key=job.key
        ) as box:
            pipe.send(("ready", None))
            views = box.describe()
            if job.sql is None:
                pipe.send(("ok", (views, None)))
                return
            pipe.send(("ok", (views, box.run(job.sql))))
    except (SqlRefused, SqlFailed) as exc:
        pipe.send((type(exc).__name__, (exc.problem, exc.fix)))
    except MemoryError:
        pipe.send(("SqlFailed", _too_big(job.limits)))
    finally:
        pipe.close()


def _too_big(limits: Limits) -> tuple[str, str]:
    return (
        f"the query needed more than {limits.memory} of memory and was stopped",
        "aggregate more, or select fewer and shorter columns",
    )


class SqlRunner:
    """Runs analyst queries in their own processes, at most ``workers`` at once (see module doc)."""

    def __init__(self, workers: int = 2) -> None:
        self._slots = threading.BoundedSemaphore(workers)
        self._context = multiprocessing.get_context("forkserver")
        # What a sandbox imports on first use (DuckDB binds parameters through pandas: ~1.8 s).
        self._context.set_forkserver_preload(["duckdb", "numpy", "pandas", "pyarrow", "portal.sql_worker"])

    def run(self, job: Job) -> tuple[list[ViewInfo], SqlResult | None]:
        """The views and the query's result; raises SqlRefused/SqlFailed as the sandbox does."""
        if not self._slots.acquire(timeout=WAIT_FOR_SLOT_SECONDS):
            raise SqlFailed("every analyst query slot is busy", fix="try again in a minute")
        try:
            return self._run(job)
        finally:
            self._slots.release()

    def _run(self, job: Job) -> tuple[list[ViewInfo], SqlResult | None]:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_child, args=(job, send), daemon=True)
        process.start()
        send.close()
        try:
            kind, value = _receive(receive, SETUP_SECONDS, job)
            if kind == "ready":
                # DuckDB's interrupt fires at limits.seconds; the kill is the backstop.
                kind, value = _receive(receive, job.limits.seconds + 2.0, job)
        finally:
            receive.close()
            if process.is_alive():
                process.kill()
            process.join(5)
        if kind in ("SqlRefused", "SqlFailed"):
            problem, fix = cast(tuple[str, str], value)
            raise (SqlRefused if kind == "SqlRefused" else SqlFailed)(problem, fix=fix)
        return cast(tuple[list[ViewInfo], SqlResult | None], value)


def _receive(pipe: Connection, seconds: float, job: Job) -> tuple[str, object]:
    if not pipe.poll(seconds):
        raise SqlFailed(
            f"the query ran longer than {job.limits.seconds:g} s and was stopped",
            fix="filter or aggregate more (WHERE, GROUP BY), or add LIMIT",
        )
    try:
        message: tuple[str, object] = pipe.recv()
    except EOFError:
        # The process died without a word: the address-space cap (a failed allocation DuckDB
        # could not turn into an error) or a crash. Either way the portal goes on.
        problem, fix = _too_big(job.limits)
        raise SqlFailed(problem, fix=fix) from None
    return message
