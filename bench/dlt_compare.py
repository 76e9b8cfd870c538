"""tierhub (every row checked) against dlt (no checks) on the same plain UTF-8 CSVs, in one process tree.

    uv run python -u bench/dlt_compare.py [--drops DIR | --scale demo|district|full] [--no-results]

Issue #20: the nearest peer, dlt (filesystem source + its pandas CSV reader → DuckDB), loads a
city's plain UTF-8 CSVs without checking anything. The plain files — ``.csv`` that decode as
UTF-8 with the header on the first line — are copied into their own drops folder; then each
loader runs in a fresh child process, one after the other, so each pays its own imports:

- ``dlt``: ``filesystem(bucket_url=…, file_glob="**/*.csv") | read_csv()`` into a DuckDB file;
- ``tierhub``: ``tierhub sync`` on the embedded default (direct run, Data Docs off).

dlt is a dev dependency (``uv add --dev dlt``).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import drops_arguments, git_revision, machine, scratch_drops, write_section

DLT = """
import sys, dlt
from dlt.sources.filesystem import filesystem, read_csv
pipeline = dlt.pipeline(pipeline_name="plain", destination=dlt.destinations.duckdb(sys.argv[2]),
                        dataset_name="raw", pipelines_dir=sys.argv[3])
files = filesystem(bucket_url=sys.argv[1], file_glob="**/*.csv")
info = pipeline.run((files | read_csv(dtype=str)).with_name("rows"))
print(pipeline.last_trace.last_normalize_info)
"""


def plain_csvs(drops: Path, into: Path) -> tuple[int, int]:
    """Copy the UTF-8 CSVs whose first line is the header into ``into``: (files, bytes)."""
    files = size = 0
    for path in sorted(drops.rglob("*.csv")):
        data = path.read_bytes()
        try:
            first = data.decode("utf-8").splitlines()[0]
        except (UnicodeDecodeError, IndexError):
            continue
        if data.startswith(b"\xef\xbb\xbf") or "," not in first or any(c.isdigit() for c in first[:20]):
            continue
        target = into / path.relative_to(drops)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files, size = files + 1, size + len(data)
    return files, size


def run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{args[:3]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    args = drops_arguments(rounds=True)
    with scratch_drops(args, "tierhub-bench-dlt-") as (home, drops):
        files, size = plain_csvs(drops, home / "plain")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env |= {"TIERHUB_ENCRYPT": "false", "TIERHUB_DATA_DOCS": "false"}
        env |= {"TIERHUB_SYNC_NICENESS": "0", "PREFECT_PROFILES_PATH": str(home / "none.toml")}
        load = os.getloadavg()[0]
        rounds: list[tuple[float, float]] = []
        for n in range(args.rounds):  # alternate which loader goes first: the machine's load drifts
            commands = {
                "dlt": [
                    sys.executable,
                    "-c",
                    DLT,
                    str(home / "plain"),
                    str(home / f"dlt{n}.duckdb"),
                    str(home / f"dp{n}"),
                ],
                "tierhub": [sys.executable, "-m", "tierhub", "sync", "--drops", str(home / "plain")],
            }
            order = ["dlt", "tierhub"] if n % 2 == 0 else ["tierhub", "dlt"]
            took = {name: run(commands[name], env | {"TIERHUB_HOME": str(home / f"th{n}")}) for name in order}
            rounds.append((took["dlt"], took["tierhub"]))
            print(f"round {n + 1}: dlt {took['dlt']:.1f} s, tierhub {took['tierhub']:.1f} s", flush=True)
    dlt = statistics.median(d for d, _ in rounds)
    tierhub = statistics.median(t for _, t in rounds)
    ratios = [t / d for d, t in rounds]
    body = (
        f"Script: `bench/dlt_compare.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()} · "
        f"load average {load:.1f} at the start (shared machine: compare within the run)\n\n"
        f"{files:,} plain UTF-8 CSVs ({size / 2**20:.1f} MiB) of the `{args.scale}` city; "
        f"each loader a fresh process, into an empty warehouse; {args.rounds} rounds, the first loader alternating.\n\n"
        "| loader | checks | wall, each round | median |\n|---|---|---|---:|\n"
        f"| dlt filesystem + read_csv → DuckDB | none | {' / '.join(f'{d:.1f}' for d, _ in rounds)} s | {dlt:.1f} s |\n"
        f"| `tierhub sync` (embedded, direct) | every row | {' / '.join(f'{t:.1f}' for _, t in rounds)} s "
        f"| {tierhub:.1f} s |\n\n"
        f"tierhub / dlt per round: {' / '.join(f'{r:.2f}' for r in ratios)}×; "
        f"median {statistics.median(ratios):.2f}× (target < 1).\n"
    )
    print(body)
    if not args.no_results:
        write_section(f"tierhub against dlt on plain CSVs (bench/dlt_compare.py, {args.scale})", body)


if __name__ == "__main__":
    main()
