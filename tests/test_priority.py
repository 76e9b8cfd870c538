"""A sync lowers its own CPU priority so lookups on the same host stay quick; never raises it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PROBE = """
import os
from tierhub.priority import lower_priority
base = os.getpriority(os.PRIO_PROCESS, 0)
print(base, lower_priority(base + 5), lower_priority(base + 3), lower_priority(0), lower_priority(40))
"""


def test_lower_priority_is_absolute_and_one_way() -> None:
    # In a child process: niceness cannot be taken back, and the test runner should keep its own.
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    base, *after = (int(n) for n in done.stdout.split())
    assert base <= 14, "the test runner itself runs niced; start it at a normal priority"
    assert after == [base + 5, base + 5, base + 5, 19]
