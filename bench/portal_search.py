"""Person search through the portal: p95 end to end at N concurrent users, idle and during a sync.

uv run python -u bench/portal_search.py [--scale full] [--users 20] [--seconds 40] [--work DIR]
    → prints figures, rewrites a section of bench/RESULTS.md

Issue #8: person search p95 ≤ 100 ms end to end at 20 concurrent users on the full synthetic
city; during a sync ≤ 2× that. The warehouse is built once under ``--work`` (generate + sync +
publish a snapshot, as the sync flow does). The portal runs as its own process (`tierhub
serve`, one uvicorn worker) reading the published snapshot; the load generator is another
process with N threads, each a signed-in user with its own session, each looping: POST /search
with a random ID number of the city → 303 → GET the person page (every record). One search =
both requests, timed on the client. Two load shapes: a closed loop without think time (every
user searching back to back: the server's capacity), and users pausing a random think time
(mean ``--think`` seconds) between searches, closer to a clerk at a window.

"During a sync": a second day's exports of every source are generated and a sync process (at the
sync flow's CPU priority, ``sync_niceness``) loads them into the private warehouse file (DuckDB's
writer lock held for the whole load) and then publishes a new snapshot, while the same load runs
against the portal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section

TITLE = "Portal person search under concurrent users (bench/portal_search.py)"
PASSWORD = "bench password 2026"
ENV = {**os.environ, "TIERHUB_ENCRYPT": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def build(work: Path, scale: str) -> Path:
    """Generate the city, sync it, publish a snapshot (skipped when the warehouse exists)."""
    warehouse = work / "warehouse.duckdb"
    if warehouse.exists():
        return warehouse
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--role", "sync", "--work", str(work), "--scale", scale, "--day", "0"],
        check=True,
        env=ENV,
    )
    print(f"built the {scale} city in {time.perf_counter() - started:.0f} s")
    return warehouse


def role_sync(work: Path, scale: str, day: int) -> None:
    """Generate day ``day``'s exports and sync them, then publish (a separate process, like the flow)."""
    from flows.pipeline import sync_sources
    from tierhub.priority import lower_priority
    from tierhub.settings import TierhubSettings
    from tierhub.synth.city import generate_city, select_sources
    from warehouse.publish import publish
    from warehouse.schema import open_warehouse

    lower_priority(TierhubSettings().sync_niceness)  # as the sync flow does
    as_of = dt.date.today() + dt.timedelta(days=day)
    city_dir = work / f"city-{day}"
    t0 = time.perf_counter()
    if (city_dir / ".complete").exists():  # generated beforehand (generation is not part of a sync)
        drops = city_dir / "drops"
    else:
        drops = generate_city(city_dir, scale=scale, seed=7 + day, as_of=as_of).drops
        (city_dir / ".complete").write_text("ok")
    t1 = time.perf_counter()
    (work / f"sync-{day}.started").write_text(str(time.time()))
    warehouse = work / "warehouse.duckdb"
    con = open_warehouse(warehouse, key=None)
    codes = [s.code for s in select_sources(scale)]
    rows = 0
    for i in range(0, len(codes), 400):
        rows += sync_sources(con, drops, codes[i : i + 400], today=as_of).load.rows_in
    t2 = time.perf_counter()
    publish(con, warehouse)
    con.close()
    t3 = time.perf_counter()
    (work / f"sync-{day}.done").write_text(f"{t1 - t0:.1f} {t2 - t1:.1f} {t3 - t2:.1f} {rows}")
    print(f"day {day}: generate {t1 - t0:.0f} s, sync {rows:,} rows {t2 - t1:.0f} s, publish {t3 - t2:.1f} s")


def sample_ids(warehouse: Path, n: int = 2000) -> list[str]:
    from warehouse.readers import open_reader

    with open_reader(warehouse, key=None) as con:
        return [r[0] for r in con.execute(f"SELECT id_number FROM core.persons USING SAMPLE {n} ROWS").fetchall()]


def start_portal(work: Path, warehouse: Path, port: int) -> subprocess.Popen[bytes]:
    from portal.auth import hash_password
    from portal.state import PortalState

    home = work / "home"
    state = PortalState(home / "portal.sqlite3")
    if state.user("bench-city") is None:
        state.add_user("bench-city", "bench", "city", "120000000000", hash_password(PASSWORD))
    env = {**ENV, "TIERHUB_HOME": str(home), "TIERHUB_PORTAL_IP_MAX_FAILURES": "100000"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tierhub"), "serve", "--port", str(port), "--warehouse", str(warehouse)],
        env=env,
        cwd=Path(__file__).parents[1],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the portal did not start")


def signed_in(base: str, username: str = "bench-city", timeout: float = 30) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=timeout)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return client


def load(
    base: str, ids: list[str], users: int, seconds: float, stop: threading.Event | None = None, think: float = 0.0
) -> dict[str, float]:
    """``users`` threads searching for ``seconds`` (or until ``stop``), each pausing a random
    think time (exponential, mean ``think`` seconds; 0: a closed loop) between searches."""
    clients = [signed_in(base) for _ in range(users)]
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def user(client: httpx.Client, seed: int) -> None:
        rng = random.Random(seed)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
        while time.monotonic() < end and not (stop and stop.is_set()):
            started = time.perf_counter()
            response = client.post("/search", data={"q": rng.choice(ids), "csrf_token": token}, follow_redirects=True)
            elapsed = time.perf_counter() - started
            with lock:
                if response.status_code == 200 and 'id="records"' in response.text:
                    samples.append(elapsed)
                else:
                    errors[0] += 1
            if think:
                time.sleep(rng.expovariate(1 / think))

    threads = [threading.Thread(target=user, args=(c, i)) for i, c in enumerate(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    for c in clients:
        c.close()
    return {
        "searches": len(samples),
        "errors": errors[0],
        "per_s": len(samples) / wall,
        "p50": pct(samples, 0.5) * 1000,
        "p95": pct(samples, 0.95) * 1000,
        "p99": pct(samples, 0.99) * 1000,
    }


def row(label: str, users: int, r: dict[str, float]) -> str:
    return (
        f"| {label} | {users} | {r['searches']:,.0f} | {r['errors']:,.0f} | {r['per_s']:.1f} | "
        f"{r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="bench")
    parser.add_argument("--scale", default="full")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tierhub-bench-portal"))
    parser.add_argument("--day", type=int, default=0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between a user's searches (s)")
    parser.add_argument("--no-sync", action="store_true", help="skip the during-a-sync run")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.role == "sync":
        role_sync(args.work, args.scale, args.day)
        return
    warehouse = build(args.work, args.scale)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counted = con.execute("SELECT (SELECT count(*) FROM core.persons), (SELECT count(*) FROM core.cases)")
        persons, cases = counted.fetchone() or (0, 0)
    ids = sample_ids(warehouse)
    server = start_portal(args.work, warehouse, args.port)
    base = f"http://127.0.0.1:{args.port}"
    results: list[str] = []
    try:
        load(base, ids, 2, 5)  # warm-up
        single = load(base, ids, 1, min(15, args.seconds))
        results.append(row("idle, one user", 1, single))
        print(results[-1])
        closed = load(base, ids, args.users, args.seconds)
        results.append(row("idle, closed loop (no think time)", args.users, closed))
        print(results[-1])
        idle = load(base, ids, args.users, args.seconds, think=args.think)
        results.append(row(f"idle, {args.think:g} s mean think time", args.users, idle))
        print(results[-1])
        during: dict[str, float] | None = None
        sync_note = ""
        if not args.no_sync:
            day = len(list(args.work.glob("sync-*.done")))
            sync = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--role",
                    "sync",
                    "--work",
                    str(args.work),
                    "--scale",
                    args.scale,
                    "--day",
                    str(day),
                ],
                env=ENV,
            )
            while not (args.work / f"sync-{day}.started").exists() and sync.poll() is None:
                time.sleep(0.5)  # generating the day's exports is not part of the sync
            stop = threading.Event()
            watcher = threading.Thread(target=lambda: (sync.wait(), stop.set()))
            watcher.start()
            during = load(base, ids, args.users, 3600, stop, think=args.think)
            watcher.join()
            done = (args.work / f"sync-{day}.done").read_text().split()
            sync_note = (
                f"The sync during the run loaded {int(done[3]):,} rows in {float(done[1]):.0f} s and published "
                f"in {float(done[2]):.1f} s; the search load ran from its first commit to its publish."
            )
            results.append(row(f"during a sync, {args.think:g} s mean think time", args.users, during))
            print(results[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)
    target = (
        f"{'met' if idle['p95'] <= 100 else 'not met'} with {args.think:g} s think time "
        f"(p95 {idle['p95']:.0f} ms); in a closed loop {'met' if closed['p95'] <= 100 else 'not met'} "
        f"(p95 {closed['p95']:.0f} ms, the server saturated at {closed['per_s']:.0f} searches/s)"
    )
    during_target = ""
    if during:
        during_target = f"; during a sync p95 ≤ 2× idle: {'met' if during['p95'] <= 2 * idle['p95'] else 'not met'}"
    load_avg = os.getloadavg()
    body = f"""
Machine: {machine()}; commit {git_revision()}; load average before the run {load_avg[0]:.1f} (shared machine).
Warehouse: `{args.scale}` synthetic city, {persons:,} people, {cases:,} case-index rows; the portal is one
uvicorn worker process reading the published snapshot; the {args.users} users are threads of one client
process on the same 2 cores (client CPU counts against the server's). A search = POST /search (ID
number) → 303 → GET the person page with every record, masked and audited (one SQLite insert each).

| run | users | searches | errors | searches/s | p50 ms | p95 ms | p99 ms |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(results)}

Target: p95 ≤ 100 ms at {args.users} users: {target}{during_target}. {sync_note}
"""
    print(body)
    write_section(TITLE, body)


if __name__ == "__main__":
    main()
