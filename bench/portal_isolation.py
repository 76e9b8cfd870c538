"""One analyst's worst query must not freeze the portal for everyone (issue #15, item 6).

uv run python -u bench/portal_isolation.py [--scale demo] [--seconds 20] [--work DIR]
    → prints figures, rewrites a section of bench/RESULTS.md

The portal runs as its own process (`tierhub serve`, one uvicorn worker). A clerk (city
account) opens person pages back to back, first alone (idle), then while an analyst sends the
worst queries back to back: an endless ``count(*) FROM range(10^12)`` (stopped by the time
limit) and ``repeat('x', 1.5e9)`` (stopped by the memory cap). Targets: the clerk's p95 ≤ 2×
idle; the portal process's RSS stays under the SQL memory cap + 200 MB (analyst queries run in
worker processes, portal/sql_worker.py). Also the cost of building one scope's sandbox
(materialising its masked rows; decision 0019).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from bench.portal_search import PASSWORD, build, pct, sample_ids, signed_in, start_portal

TITLE = "Portal isolation from analyst SQL (bench/portal_isolation.py)"
WORST = ("SELECT count(*) FROM range(1000000000000)", "SELECT length(repeat('x', 1500000000))")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def person_pages(base: str, ids: list[str], seconds: float) -> list[float]:
    client = signed_in(base)
    times: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        client.get(f"/person/{random.choice(ids)}")
        times.append(time.perf_counter() - started)
    client.close()
    return times


def sandbox_cost(warehouse: Path, scope: str) -> float:
    from portal.sandbox import Limits, Sandbox

    started = time.perf_counter()
    with Sandbox(warehouse, scope, secret=b"bench", masked=True, limits=Limits()):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tierhub-bench-isolation"))
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    warehouse = build(args.work, args.scale)
    from portal.auth import hash_password
    from portal.state import PortalState

    state = PortalState(args.work / "home" / "portal.sqlite3")
    if state.user("bench-analyst") is None:
        state.add_user("bench-analyst", "bench", "analyst", "120101000000", hash_password(PASSWORD))
    costs = {scope: sandbox_cost(warehouse, scope) for scope in ("120101000000", "120117000000", "120000000000")}
    ids = sample_ids(warehouse, 500)
    base = f"http://127.0.0.1:{args.port}"
    server = start_portal(args.work, warehouse, args.port)
    try:
        person_pages(base, ids, 3)  # warm
        idle = person_pages(base, ids, args.seconds)
        idle_rss = rss_mb(server.pid)
        peak = [idle_rss]
        outcomes: list[str] = []
        stop = threading.Event()

        def worst() -> None:
            client = signed_in(base, "bench-analyst", timeout=120)
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sql").text).group(1)  # type: ignore[union-attr]
            while not stop.is_set():
                for sql in WORST:
                    started = time.perf_counter()
                    page = client.post("/sql", data={"sql": sql, "csrf_token": token})
                    outcomes.append(f"{page.status_code} {time.perf_counter() - started:.1f}s")

        def watch() -> None:
            while not stop.is_set():
                peak.append(rss_mb(server.pid))
                time.sleep(0.2)

        threads = [threading.Thread(target=worst), threading.Thread(target=watch)]
        for t in threads:
            t.start()
        time.sleep(2)
        busy = person_pages(base, ids, args.seconds)
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    idle_p95, busy_p95 = pct(idle, 0.95) * 1000, pct(busy, 0.95) * 1000
    print(f"idle p95 {idle_p95:.0f} ms ({len(idle)}), busy p95 {busy_p95:.0f} ms ({len(busy)}), rss {max(peak):.0f} MB")
    print("analyst:", outcomes, "sandbox build:", costs)
    body = f"""
{machine()} · {git_revision()} · scale {args.scale} · {args.seconds:g} s per phase

| clerk's person page | pages | p95 | median |
|---|---|---|---|
| idle | {len(idle)} | {idle_p95:.0f} ms | {pct(idle, 0.5) * 1000:.0f} ms |
| while an analyst runs the worst queries | {len(busy)} | {busy_p95:.0f} ms | {pct(busy, 0.5) * 1000:.0f} ms |

Busy p95 / idle p95 = {busy_p95 / idle_p95:.2f} (target ≤ 2). Portal process RSS: {idle_rss:.0f} MB idle,
{max(peak):.0f} MB peak while the analyst ran (target < SQL memory cap 512 MB + 200 MB). The analyst's
queries, back to back ({", ".join(WORST)}): {", ".join(outcomes)} (HTTP status, seconds: each
stopped by the time limit, 10 s, or the memory cap, in a worker process).

Building one scope's sandbox (attach, materialise every scoped masked view, detach), in-process:
和平区 {costs["120101000000"]:.2f} s, 宁河区 {costs["120117000000"]:.2f} s, whole city {costs["120000000000"]:.2f} s
(the first includes loading reference data). Each analyst query pays this plus ~10 ms to fork its process.
"""
    write_section(TITLE, body)


if __name__ == "__main__":
    main()
