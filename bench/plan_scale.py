"""Planning a sync over a simulated province: Tianjin's division tree copied under ten prefixes.

    uv run python -u bench/plan_scale.py [--copies 10] [--repeat 5] [--no-results]

Issue #20, part 4: "measure what can be measured here: … a planning pass over a simulated 59,160
sources". The tree is the NBS 2023 table of Tianjin (5,916 sources: 299 street centres and 5,617
community/village workstations) and ``--copies - 1`` copies of it whose codes start with other
two-digit province prefixes (12 → 13, 14, …), so every code stays a well-formed 12-digit division
code and every copy has its own districts. ``flows.batches.plan_batches`` then plans the whole tree
(every level, ``sources_per_batch`` as configured, one host) the way a sync does before anything is
surveyed; timed ``--repeat`` times, the median printed. The survey and no-change resync of that many
outboxes are not simulated here (docs/scaling.md says why and how).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from flows import batches
from tierhub import scope
from tierhub.reference import Division, DivisionTree, divisions
from tierhub.settings import TierhubSettings

TITLE = "Planning over a simulated province (bench/plan_scale.py, issue #20)"


def province(copies: int) -> DivisionTree:
    """Tianjin's tree and ``copies - 1`` copies under other province prefixes."""
    nodes: list[Division] = []
    for n in range(copies):
        prefix = f"{12 + n:02d}"
        for d in divisions().by_code.values():
            nodes.append(
                dataclasses.replace(
                    d,
                    code=prefix + d.code[2:],
                    parent_code=prefix + d.parent_code[2:] if d.parent_code else None,
                )
            )
    return DivisionTree(nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    per_batch = TierhubSettings().sources_per_batch
    started = time.perf_counter()
    tree = province(args.copies)
    built = time.perf_counter() - started
    sources = len(tree.sources())
    timings: list[float] = []
    plans: list[batches.BatchPlan] = []
    # The planner and the district lookup it uses (tierhub.scope) read the simulated tree.
    with mock.patch.object(batches, "divisions", lambda: tree), mock.patch.object(scope, "divisions", lambda: tree):
        for _ in range(args.repeat):
            started = time.perf_counter()
            plans = batches.plan_batches(None, per_batch)
            timings.append(time.perf_counter() - started)
    planned = sum(len(p.source_codes) for p in plans)
    if planned != sources:
        raise SystemExit(f"planned {planned:,} sources of {sources:,}")
    median = statistics.median(timings)
    print(f"{sources:,} sources in {len(plans)} batches of ≤ {per_batch:,}: plan {median * 1000:.0f} ms (median)")
    body = f"""
Script: `bench/plan_scale.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()}

Tianjin's division tree (NBS 2023) and {args.copies - 1} copies under other province prefixes:
{len(tree):,} divisions, **{sources:,} sources** (tree built in {built:.2f} s). `plan_batches(None, {per_batch:,})`,
{args.repeat} runs: median **{median * 1000:.0f} ms** (min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}),
{len(plans)} batches. Planning is one pass over the tree: it is not what breaks first at 10× (docs/scaling.md).
"""
    if not args.no_results:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
