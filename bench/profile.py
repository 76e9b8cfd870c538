"""``tierhub profile`` of a 60-file folder (issue #14 target: ≤ 5 s).

The folder is written (20 files per outbox) by the independent-corpus builder (tests/test_independent_corpus.py: exports
as offices write them — 4 encodings × 4 delimiters, title rows, header aliases, mixed date
dialects, a few unknown codes), ``--files`` files of ``--rows`` rows. Measured:

- in process: ``profile_folder`` (what the command runs), first call in a fresh process (the
  catalogue and code tables loaded, pyarrow's lazy pandas import) and warm (median of 3);
- the command end to end (``tierhub profile DIR --json``, a new interpreter each time), once
  with this machine's ``PYTHONDONTWRITEBYTECODE=1`` (every module compiled at start) and once with
  byte-code caching (``PYTHONPYCACHEPREFIX`` in a temp folder, second run), as a deployment has.

    uv run python -u -m bench.profile [--files 60] [--rows 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import git_revision, machine, write_section


def load_average() -> str:
    """The 1-minute load average (the machine is shared)."""
    return f"{os.getloadavg()[0]:.1f}"


def command_seconds(folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one ``tierhub profile DIR --json`` in a new interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tierhub", "profile", str(folder), "--json"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``run()`` in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    load_before = load_average()

    from tests.test_independent_corpus import build_corpus

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folder = root / "drops"
        # The builder names files by day of November: 20 per outbox, so several outboxes' worth.
        for part in range(0, args.files, 20):
            build_corpus(
                folder / f"part{part // 20}", files=min(20, args.files - part), rows_per_file=args.rows, seed=part
            )
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

        from quality.profile import FolderProfile, profile_folder

        found: list[FolderProfile] = []
        first = in_process(lambda: found.append(profile_folder(folder)))
        warm_runs = [in_process(lambda: profile_folder(folder)) for _ in range(3)]
        warm = (statistics.median(w for w, _ in warm_runs), statistics.median(c for _, c in warm_runs))
        unknown = sum(u.rows for f in found[0].files for u in f.unknown_codes)
        assert len(found[0].files) == args.files and not any(f.error for f in found[0].files)

        env = {**os.environ, "TIERHUB_HOME": str(root / "home")}
        no_cache = command_seconds(folder, env)
        cached_env = {**env, "PYTHONPYCACHEPREFIX": str(root / "pyc")}
        cached_env.pop("PYTHONDONTWRITEBYTECODE", None)
        command_seconds(folder, cached_env)  # writes the byte-code cache
        cached = command_seconds(folder, cached_env)

    rows = args.files * args.rows
    measured = [
        ("`profile_folder`, first call in a fresh process (catalogue, code tables, pandas import)", first, "≤ 5"),
        ("`profile_folder`, warm (median of 3)", warm, "≤ 5"),
        ("`tierhub profile DIR --json`, new interpreter, byte-code cached (a deployment)", cached, "≤ 5"),
        ("the same with `PYTHONDONTWRITEBYTECODE=1` (this sandbox: every import compiled)", no_cache, "—"),
    ]
    table = "\n".join(
        ["| what | wall s | CPU s | target |", "|---|---:|---:|---:|"]
        + [f"| {what} | {wall:.2f} | {cpu:.2f} | {target} |" for what, (wall, cpu), target in measured]
    )
    body = f"""
Machine: {machine()}; commit {git_revision()}; load average {load_before} before and {load_average()} after
(the machine is shared with other engineers' work: the figures are slower than on a quiet machine).

Folder: {args.files} exports × {args.rows} rows ({rows:,} rows, {size / 1e6:.1f} MB) written as offices write them
(independent-corpus builder: UTF-8, UTF-8 BOM, GBK, UTF-16LE × comma, tab, semicolon, pipe; title rows; aliases);
{unknown} unknown code cells found and suggested.

{table}

CPU seconds are what the work costs; wall seconds on this shared 2-core machine include waiting
for the CPU (load average above). The last row is start-up, not profiling: without cached byte
code, the CLI's libraries (pandas via pyarrow, pydantic, rich, typer) are compiled on every start.
"""
    write_section("tierhub profile of a 60-file folder (bench/profile.py)", body)
    print(body)


if __name__ == "__main__":
    main()
