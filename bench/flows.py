"""The sync flow on a full synthetic city: Prefect's share, peak memory, and the cost of the checks.

uv run python bench/flows.py [--scale full|district] [--city DIR]
    → prints figures and rewrites a section of bench/RESULTS.md

Each variant runs in a fresh process on a fresh warehouse over the same drops:

- ``plain``: the flow's own task functions (``read_state.fn``, ``prepare.fn``, ``commit.fn``,
  ``publish_snapshot.fn``) called in a plain loop — the same library calls, no Prefect;
- ``flow``: ``sync_flow`` embedded (Prefect's temporary local API), default thread runner;
  the API's start-up is timed apart (a no-op flow run first);
- ``dask``: ``sync_flow`` on a Dask LocalCluster of two worker processes;
- ``raw``: the baseline with no checks — every file read with the project's readers
  (``connectors.readers.open_export``: decoding, header detection, Arrow batches) and
  inserted as text into one DuckDB table; no judging, registry, cursor or person master.

Targets (issue #6): Prefect's share ≤ 10 % of wall time; peak RSS ≤ 2 GB; the whole run
≤ 1.5× the raw load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from tierhub.settings import TierhubSettings

CHILD = r"""
import atexit, json, os, resource, sys, time
from pathlib import Path
figures = {}
def report():
    figures["rss_self_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["rss_children_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("FIGURES " + json.dumps(figures), flush=True)
atexit.register(report)  # registered first: runs last, after Prefect has stopped its API
variant, drops, warehouse, districts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
started = time.perf_counter()
import datetime as dt
import duckdb
if variant == "raw":
    import pyarrow as pa
    from connectors.readers import open_export
    started = time.perf_counter()  # after the imports, like the others
    con = duckdb.connect(warehouse)
    con.execute("CREATE TABLE raw (file VARCHAR, cells JSON)")
    files = rows = 0
    for path in sorted(Path(drops).rglob("*")):
        if path.suffix.lower() not in (".csv", ".xlsx", ".xls") or not path.is_file():
            continue
        read = open_export(path, source_id=path.parent.name)
        for batch in read.batches:
            con.register("_b", pa.Table.from_batches([batch]))
            con.execute("INSERT INTO raw SELECT ?, to_json(_b) FROM _b", [str(path)])
            con.unregister("_b")
            rows += batch.num_rows
        files += 1
    con.close()
    figures.update(files=files, rows=rows)
elif variant == "plain":
    from flows import sync
    from flows.pipeline import Selection
    from tierhub.settings import TierhubSettings
    settings = TierhubSettings()
    where = sync.Where(warehouse, drops, None, str(Path(warehouse).parent / "landing"))
    plans = sync.plan_batches(districts, settings.sources_per_batch)
    today = dt.date.today()
    started = time.perf_counter()  # after the imports, like the others
    states = sync.read_state.fn(warehouse, plans)
    batches = []
    for plan in plans:
        prepared = sync.prepare.fn(plan, states[plan.label], where, Selection(), today, settings.batch_rows, "bench")
        batches += sync.commit.fn(plan, prepared, warehouse)
        del prepared
    sync.publish_snapshot.fn(warehouse, settings.snapshot_keep, settings.snapshot_days)
    figures.update(files=sum(b.files for b in batches), rows=sum(b.rows_in for b in batches), batches=len(plans))
else:
    from prefect import flow
    @flow
    def noop() -> None:
        pass
    t = time.perf_counter()
    noop()
    figures["api_start_s"] = time.perf_counter() - t
    from flows.sync import sync_flow, task_runner
    from tierhub.settings import TierhubSettings
    runner = task_runner(TierhubSettings(task_runner="dask" if variant == "dask" else "threads"))
    t = time.perf_counter()
    summary = sync_flow.with_options(task_runner=runner)(drops_root=drops, warehouse=warehouse, districts=districts)
    figures["flow_s"] = time.perf_counter() - t
    labels = {b.label for b in summary.batches}
    figures.update(files=summary.total("files"), rows=summary.total("rows_in"), batches=len(labels))
figures["wall_s"] = time.perf_counter() - started
"""


def run(variant: str, drops: Path, work: Path, districts: list[str] | None) -> dict[str, float]:
    """One variant in a fresh process; its figures."""
    folder = work / variant
    folder.mkdir()
    env = {**os.environ, "TIERHUB_ENCRYPT": "false", "TIERHUB_DATA_DOCS": "false"}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, str(drops), str(folder / "w.duckdb"), json.dumps(districts)],
        cwd=Path(__file__).parents[1],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-4000:]}")
    [line] = [x for x in done.stdout.splitlines() if x.startswith("FIGURES ")]
    figures: dict[str, float] = json.loads(line.removeprefix("FIGURES "))
    figures["process_s"] = time.perf_counter() - started
    print(variant, figures, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="full", choices=["full", "district"])
    parser.add_argument("--city", type=Path, help="An already generated city of that scale (reused).")
    parser.add_argument("--skip", nargs="*", default=[], help="Variants to leave out.")
    args = parser.parse_args()
    from tierhub.synth.city import SCALES, generate_city

    city = args.city or Path(tempfile.gettempdir()) / f"tierhub-bench-flows-{args.scale}"
    generated = None
    if not (city / "files.csv").exists():
        t = time.perf_counter()
        generate_city(city, scale=args.scale, seed=7, as_of=dt.date.today())
        generated = time.perf_counter() - t
    districts = list(SCALES[args.scale] or []) or None
    work = Path(tempfile.mkdtemp(prefix="tierhub-bench-flows-"))
    results = {
        v: run(v, city / "drops", work, districts) for v in ("plain", "flow", "dask", "raw") if v not in args.skip
    }

    plain, flow = results["plain"], results["flow"]
    share = (flow["flow_s"] - plain["wall_s"]) / flow["flow_s"]
    share_with_api = (flow["flow_s"] + flow["api_start_s"] - plain["wall_s"]) / (flow["flow_s"] + flow["api_start_s"])
    rss = max(r["rss_self_mib"] + r["rss_children_mib"] for r in results.values())
    lines = [
        "| variant | files | rows | wall | peak RSS (process + children) |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {
        "plain": "plain loop over the flow's task functions (`.fn`), no Prefect",
        "flow": "`sync` flow, embedded, thread runner (1 prepare thread)",
        "dask": "`sync` flow, Dask LocalCluster 2 processes × 1 thread",
        "raw": "raw load, no checks (baseline)",
    }
    for variant, r in results.items():
        wall = r.get("flow_s", r["wall_s"])
        extra = f" (+ {r['api_start_s']:.1f} s API start)" if "api_start_s" in r else ""
        lines.append(
            f"| {names[variant]} | {int(r['files']):,} | {int(r['rows']):,} | {wall:.1f} s{extra} | "
            f"{r['rss_self_mib']:,.0f} + {r['rss_children_mib']:,.0f} MiB |"
        )
    raw = results.get("raw")
    ratio = f"{flow['flow_s'] / raw['wall_s']:.2f}×" if raw else "not measured"
    dask = results.get("dask")
    body = (
        f"Machine: {machine()}; commit {git_revision()} (plus this script's uncommitted changes if any); "
        f"scale `{args.scale}` ({int(flow['files']):,} files, {int(flow['rows']):,} rows, "
        f"{int(flow['batches'])} batches of ≤ {TierhubSettings().sources_per_batch:,} sources"
        + (f"; generated in {generated:.0f} s" if generated else "")
        + "). Data Docs off in every variant (they are library work, not Prefect's); the snapshot is published "
        "in plain, flow and dask. Each variant is a fresh process on a fresh warehouse.\n\n" + "\n".join(lines) + "\n\n"
        f"- **Prefect's share of wall time**: {share:.1%} (flow {flow['flow_s']:.1f} s vs plain loop "
        f"{plain['wall_s']:.1f} s; target ≤ 10 %). Counting the temporary API's start-up "
        f"({flow['api_start_s']:.1f} s, paid once per embedded run; a deployment's worker talks to a standing "
        f"server instead): {share_with_api:.1%}. A negative share means the flow was faster: it prepares the "
        "next batch in a thread while its own thread commits the previous one.\n"
        f"- **Peak RSS**: {rss:,.0f} MiB, the largest over the variants (target ≤ 2,048 MiB).\n"
        f"- **Whole run vs a raw load of the same files**: {ratio} (target ≤ 1.5×). The baseline reads every file "
        "with the project's readers — the same decoding and header detection a sync needs, the dominant cost — "
        "and inserts each row's cells as JSON into one table; DuckDB's `read_csv` alone would skip header detection "
        "and cannot read the workbooks, so it is no like-for-like baseline.\n"
        + (
            f"- **Dask** (2 worker processes prepare, the flow's process commits in order): "
            f"{dask['flow_s']:.1f} s vs {flow['flow_s']:.1f} s on threads. On this 2-core machine the two "
            "workers compete with the committing flow process for the same cores.\n"
            if dask
            else ""
        )
    )
    print(body)
    write_section(f"Sync flow on a {args.scale} city: Prefect's share, memory, checks vs raw (bench/flows.py)", body)


if __name__ == "__main__":
    main()
