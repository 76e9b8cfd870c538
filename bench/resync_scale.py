"""A no-change resync over a simulated province: 59,160 sources, ten copies of the full city's drops.

    uv run python -u bench/resync_scale.py --drops DIR --work DIR [--copies 10] [--no-results]

Issue #20, part 4: "measure what can be measured here: a no-change resync … over a simulated 59,160
sources" (target ≤ 30 s). The province is ``bench/plan_scale.py``'s: Tianjin's NBS 2023 tree and
``--copies - 1`` copies under other two-digit province prefixes, served as the process's division
tree (``tierhub.reference.use_divisions``). Its drops are the full city's (``tierhub generate
--scale full``), hard-linked once per copy under the copied district and source codes, with the
source code in each file name rewritten. The copies' rows name Tianjin's communities, so most of
them are quarantined (DIVISION_OUTSIDE_SOURCE); a quarantined row is registered like any other,
and a no-change resync only compares the outboxes with the cursor.

Steps: the first sync of every copy (timed, Data Docs off), then ``--resyncs`` no-change syncs, each
in a fresh process (imports, reading the warehouse state, surveying every outbox, committing the
sources' status) — the shell's view — and one in this process. ``--work`` keeps the drops and the
warehouse: a rerun with the same folder skips what exists and times the no-change syncs only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from bench.plan_scale import province

TITLE = "No-change resync over a simulated province (bench/resync_scale.py, issue #20)"


def link_drops(city: Path, out: Path, copies: int) -> int:
    """Hard-link the city's drops once per copy under the copied codes; how many files there are."""
    files = 0
    for n in range(copies):
        prefix = f"{12 + n:02d}"
        for district in sorted(p for p in city.iterdir() if p.is_dir()):
            for source in sorted(p for p in district.iterdir() if p.is_dir()):
                code = prefix + source.name[2:]
                folder = out / (prefix + district.name[2:]) / code
                folder.mkdir(parents=True, exist_ok=True)
                for f in source.iterdir():
                    target = folder / f.name.replace(source.name, code)
                    if not target.exists():
                        os.link(f, target)
                    files += 1
    return files


def resync_in_child(args: argparse.Namespace) -> float:
    """Wall time of one no-change sync in a fresh process, the tree set up as in this one."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--drops", str(args.drops), "--work", str(args.work), "--child"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=os.environ,
    )
    return time.perf_counter() - started


def sync(drops: Path) -> tuple[float, int, int, int]:
    """One embedded sync of ``drops``: (wall s, new files, unchanged files, rows loaded)."""
    from flows.runs import sync_direct

    started = time.perf_counter()
    summary = sync_direct(drops_root=str(drops), data_docs=False)
    took = time.perf_counter() - started
    return (
        took,
        sum(b.files for b in summary.batches),
        sum(b.skipped_files for b in summary.batches),
        sum(b.rows_loaded for b in summary.batches),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drops", type=Path, required=True, help="the full city drops folder")
    parser.add_argument("--work", type=Path, required=True, help="folder for the province's drops and warehouse")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--resyncs", type=int, default=3)
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update(TIERHUB_HOME=str(args.work / "home"), TIERHUB_ENCRYPT="false", TIERHUB_DATA_DOCS="false")
    from tierhub.reference import use_divisions

    started = time.perf_counter()
    tree = province(args.copies)
    use_divisions(tree)
    built = time.perf_counter() - started
    drops = args.work / "drops"
    if args.child:
        sync(drops)
        return
    sources = len(tree.sources())
    (args.work / "home").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files = link_drops(args.drops, drops, args.copies)
    linked = time.perf_counter() - started
    print(f"{sources:,} sources, {files:,} files linked in {linked:.1f} s (tree built in {built:.2f} s)", flush=True)
    first = sync(drops)
    print(f"first sync: {first[0]:.1f} s, {first[1]:,} new files, {first[2]:,} unchanged, {first[3]:,} rows loaded")
    if first[1] == 0:  # the warehouse was synced by an earlier run with this --work folder
        first_row = f"| first sync: done by an earlier run on this folder; here a no-change sync | {first[0]:.1f} s |"
    else:
        loaded = f"{first[1]:,} new files, {first[3]:,} rows loaded, the rest quarantined"
        first_row = f"| first sync ({loaded}) | {first[0]:.1f} s |"
    shell = [resync_in_child(args) for _ in range(args.resyncs)]
    print("no-change resync, fresh process: " + " / ".join(f"{t:.2f} s" for t in shell))
    inner = sync(drops)
    print(f"no-change resync in this process: {inner[0]:.2f} s ({inner[2]:,} unchanged, {inner[1]:,} new)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = f"""
Script: `bench/resync_scale.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()}

Tianjin's tree and {args.copies - 1} copies under other province prefixes: **{sources:,} sources**; the full
city's drops hard-linked once per copy: {files:,} files. Data Docs off, warehouse not encrypted.

| step | wall |
|---|---:|
{first_row}
| **no-change resync, fresh process each** ({args.resyncs} runs) | **{" / ".join(f"{t:.2f}" for t in shell)} s** |
| no-change resync in the benchmark's process ({inner[2]:,} files unchanged) | {inner[0]:.2f} s |

The fresh-process figure includes building the simulated tree ({built:.2f} s here), which a real
province's reference data would not need. Peak RSS of the benchmark process: {peak:,.0f} MiB.
Target (issue #20): ≤ 30 s.
"""
    if not args.no_results:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
