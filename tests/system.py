"""System programs some tests need (sshd, Chromium, PostgreSQL): skip with a reason locally, fail in CI.

``uv run pytest`` must pass on a machine that has only ``uv``; such a test then skips and
its reason says what to install. ``.ci/run`` installs every program and sets
``TIERHUB_REQUIRE_SYSTEM_TESTS=1``, which turns each of those skips into a failure, so CI
runs them all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRE_ENV = "TIERHUB_REQUIRE_SYSTEM_TESTS"

# program → (where it is looked for besides PATH, the Debian package that installs it)
PROGRAMS = {
    "sshd": ("/usr/sbin/sshd", "openssh-server"),
    "ssh-keygen": ("/usr/bin/ssh-keygen", "openssh-client"),
    "chromium": ("/usr/bin/chromium", "chromium"),
    "initdb": ("/usr/lib/postgresql/15/bin/initdb", "postgresql"),
}


def find_program(name: str) -> str | None:
    """The program's path, or None when it is not installed."""
    fallback, _ = PROGRAMS[name]
    return shutil.which(name) or (fallback if Path(fallback).exists() else None)


# headless Chromium in a container: no sandbox, GPU or background traffic
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_program(name: str) -> str:
    """The program's path; skip the test naming the package to install (fail under ``REQUIRE_ENV``)."""
    found = find_program(name)
    if found is not None:
        return found
    _, package = PROGRAMS[name]
    reason = f"needs {name}: install it with `apt-get install {package}` (.ci/run does)"
    if os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0"):
        pytest.fail(f"{reason} — {REQUIRE_ENV} is set, so this test may not be skipped")
    pytest.skip(reason)
