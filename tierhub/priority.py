"""Run background loads at a lower CPU priority than the people reading the warehouse.

A sync and the portal usually share one host. DuckDB's load uses every core it is given, and
on a small host a clerk's lookup then waits behind it (bench/lookup.py measured p95 2.6× idle
on 2 cores). The sync is batch work that can take a little longer; the lookup is somebody at
a window. So the sync process lowers its own scheduling priority (``nice``) before it loads.

The value is absolute: calling this twice, or in a process already niced further, changes
nothing, and a process is never made more urgent than it was.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def lower_priority(niceness: int) -> int:
    """Make this process at least ``niceness`` nice (0: leave it); returns the niceness now in force."""
    if niceness <= 0 or not hasattr(os, "getpriority"):
        return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current >= niceness:
        return current
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(niceness, 19))
    except OSError as exc:  # a container may forbid it; the load still runs, just not yielding
        log.warning("could not lower the sync's CPU priority to nice %s: %s", niceness, exc)
        return current
    return os.getpriority(os.PRIO_PROCESS, 0)
