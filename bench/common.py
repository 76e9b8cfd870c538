"""Shared helpers for the benchmarks: machine description and RESULTS.md sections."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    cpu = "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"model name\s*:\s*(.+)", text).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def git_revision() -> str:
    """The commit the benchmark ran on."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def write_section(title: str, body: str) -> None:
    """Replace (or add) one ``## title`` section of bench/RESULTS.md."""
    text = (
        RESULTS.read_text(encoding="utf-8")
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section is rewritten by the script named in it.\n"
    )
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def scratch_warehouse(folder: Path | None) -> Iterator[Path]:
    """An unencrypted warehouse path in a temporary folder (under ``folder``), removed afterwards."""
    os.environ["TIERHUB_ENCRYPT"] = "false"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        yield Path(tmp) / "warehouse.duckdb"


def drops_arguments(rounds: bool = False) -> argparse.Namespace:
    """The command line: ``--drops`` (an existing drops folder) or ``--scale`` (generate one), and ``--no-results``.

    With ``--drops``, ``--scale`` says which city the folder holds (it names the results' section);
    ``rounds``: a ``--rounds`` option too (how many times to measure, default 3).
    """
    parser = argparse.ArgumentParser()
    if rounds:
        parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drops", type=Path)
    parser.add_argument(
        "--scale",
        default="demo",
        choices=["demo", "district", "full"],
        help="the city to generate, or the city --drops holds",
    )
    parser.add_argument("--no-results", action="store_true")
    return parser.parse_args()


@contextlib.contextmanager
def scratch_drops(args: argparse.Namespace, prefix: str) -> Iterator[tuple[Path, Path]]:
    """A scratch folder (removed afterwards) and the drops folder to measure: ``--drops``, or a city generated there."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield home, drops_folder(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def drops_folder(args: argparse.Namespace, home: Path) -> Path:
    """The ``--drops`` folder given, or a synthetic city of ``--scale`` generated under ``home``."""
    if args.drops is not None:
        return Path(args.drops)
    from tierhub.synth.city import generate_city

    return generate_city(home / "city", scale=args.scale, seed=7, as_of=dt.date.today()).drops
