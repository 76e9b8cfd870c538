"""Readers during a load: what a second process sees while the warehouse is written.

uv run python -u bench/readers_during_load.py [--rows N]   → prints figures, rewrites a section of bench/RESULTS.md

Issue #5 item 3: the portal, the report flow and analysts must keep getting answers during a
sync, seeing the last committed state. A synthetic fact table (id_number, name, item,
community_code, dates, …; PRIMARY KEY (file_id, row_number), as the warehouse's core tables had until session 4)
holds 2/3 of ``--rows``; the writer then appends the last 1/3 from CSV in ``--batches``
commits while a reader process runs paced person lookups (``WHERE id_number = ?``).

Modes, each with its own reader and writer processes:
- ``lock``: the reader opens the writer's file read-only — DuckDB's file lock as a fact.
- ``snap-copy`` / ``snap-cfd``: the writer commits to a private file and after each commit
  publishes a read-only generation (``CHECKPOINT`` + file copy, or ``COPY FROM DATABASE``),
  then swaps the ``current.duckdb`` symlink with ``os.replace``; readers open the newest one.
- ``lake-*`` (DuckLake): needs duckdb 1.5.x and the ``duckdb-extension-ducklake`` /
  ``-sqlite`` / ``-httpfs`` wheels, which pin duckdb 1.5.5. This script re-runs itself with
  ``--ducklake-python`` (a scratch venv outside the project, made as printed below when
  missing) and merges the figures. ``--duckdb-cli`` names a ``duckdb-cli`` 1.5.5 binary used
  as "an analyst's CLI" during the loads (PyPI has no 2.0 CLI).

  uv venv /tmp/ducklake-venv && uv pip install --python /tmp/ducklake-venv duckdb==1.5.5 pytz \\
      duckdb-extension-ducklake==1.5.5 duckdb-extension-sqlite==1.5.5 duckdb-extension-httpfs==1.5.5
  uv venv /tmp/duckcli-venv && uv pip install --python /tmp/duckcli-venv duckdb-cli==1.5.5
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from tierhub.disk import fsync

TITLE = "Readers during a load: file lock, published snapshots, DuckLake (bench/readers_during_load.py)"
COLUMNS = {
    "file_id": "BIGINT",
    "row_number": "BIGINT",
    "load_id": "VARCHAR",
    "source_id": "VARCHAR",
    "item_code": "VARCHAR",
    "id_number": "VARCHAR",
    "name": "VARCHAR",
    "item": "VARCHAR",
    "community_code": "VARCHAR",
    "apply_date": "DATE",
    "accept_date": "DATE",
    "status": "VARCHAR",
    "amount": "DECIMAL(12,2)",
    "phone": "VARCHAR",
}
CSV_COLUMNS = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
LOOKUP = "SELECT name, item, community_code, apply_date, status FROM {table} WHERE id_number = ?"
STORAGE = "v1.5.0"  # so that duckdb-cli 1.5.x (the newest CLI on PyPI) can open the files
KEEP_GENERATIONS = 3
EXT_DIR = Path("/tmp/dl-ext")  # extension_directory laid out from the wheels (see ducklake_setup)
KEY = "bench-key-not-secret"


# ---------------------------------------------------------------- data


def generate(work: Path, rows: int, batches: int) -> dict[str, Any]:
    """base.csv (2/3 of the rows), batch_NN.csv (the rest) and 500 id_numbers present in base."""
    base_rows = rows * 2 // 3
    con = duckdb.connect()
    con.execute("CREATE MACRO h(x, m) AS (hash(x) % m)::BIGINT")
    con.execute(f"""
        CREATE TABLE g AS
        SELECT i // 500 AS file_id, i % 500 AS row_number, 'load-' || (i // 100000) AS load_id,
          '1201' || lpad(h(i * 16 + 1, 16)::VARCHAR, 2, '0') || lpad(h(i * 16 + 2, 300)::VARCHAR, 6, '0')
            AS source_id,
          ['JY02', 'SB01', 'SK01'][1 + i % 3] AS item_code,
          '1201' || lpad(h(i * 16 + 3, 17)::VARCHAR, 2, '0')
            || strftime(DATE '1950-01-01' + h(i * 16 + 4, 20000)::INTEGER, '%Y%m%d')
            || lpad(h(i * 16 + 5, 1000)::VARCHAR, 3, '0')
            || substr('0123456789X', 1 + h(i * 16 + 6, 11)::INTEGER, 1) AS id_number,
          ['王', '李', '张', '刘', '陈', '杨', '赵', '黄'][1 + h(i * 16 + 7, 8)]
            || ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '洋', '艳'][1 + h(i * 16 + 8, 10)]
            || ['', '华', '明', '军'][1 + h(i * 16 + 9, 4)] AS name,
          ['失业登记', '城乡居民养老保险参保登记', '社会保障卡申领'][1 + i % 3] AS item,
          '1201' || lpad(h(i * 16 + 1, 16)::VARCHAR, 2, '0') || lpad(h(i * 16 + 10, 6000)::VARCHAR, 6, '0')
            AS community_code,
          DATE '2020-01-01' + h(i * 16 + 11, 2000)::INTEGER AS apply_date,
          DATE '2020-01-01' + h(i * 16 + 11, 2000)::INTEGER + h(i * 16 + 12, 30)::INTEGER AS accept_date,
          ['受理', '办结', '退回'][1 + h(i * 16 + 13, 3)] AS status,
          (h(i * 16 + 14, 1000000) / 100)::DECIMAL(12, 2) AS amount,
          '1' || lpad(h(i * 16 + 15, 10000000000)::VARCHAR, 10, '0') AS phone
        FROM range({rows}) r(i)
    """)
    con.execute(f"COPY (SELECT * FROM g WHERE file_id * 500 + row_number < {base_rows}) TO '{work}/base.csv'")
    per = (rows - base_rows + batches - 1) // batches
    files = []
    for k in range(batches):
        lo, hi = base_rows + k * per, min(rows, base_rows + (k + 1) * per)
        path = work / f"batch_{k:02d}.csv"
        con.execute(f"COPY (SELECT * FROM g WHERE file_id * 500 + row_number BETWEEN {lo} AND {hi - 1}) TO '{path}'")
        files.append(str(path))
    sample = f"SELECT id_number FROM (FROM g WHERE file_id * 500 + row_number < {base_rows})"
    ids = [r[0] for r in con.execute(f"{sample} USING SAMPLE reservoir(500 ROWS) REPEATABLE (42)").fetchall()]
    meta = {"rows": rows, "base_rows": base_rows, "load_rows": rows - base_rows, "batches": files, "ids": ids}
    (work / "meta.json").write_text(json.dumps(meta))
    return meta


def read_csv(files: str | list[str]) -> str:
    paths = files if isinstance(files, list) else [files]
    return f"read_csv({paths!r}, header = true, columns = {CSV_COLUMNS})"


def fact_ddl(table: str, primary_key: bool = True) -> str:
    body = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
    return f"CREATE TABLE {table} ({body}{', PRIMARY KEY (file_id, row_number)' if primary_key else ''})"


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The single value a query returns."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if seconds == seconds else "—"


# ---------------------------------------------------------------- DuckDB file modes (duckdb 2.0.1)


def connect_retry(path: str, **kwargs: Any) -> tuple[duckdb.DuckDBPyConnection, int]:
    """Open read-write, retrying while another process holds the lock (a reader between queries)."""
    for attempt in range(1, 200):
        try:
            return duckdb.connect(path, **kwargs), attempt
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            time.sleep(0.01)
    raise RuntimeError(f"could not open {path}")


def publish(con: duckdb.DuckDBPyConnection, method: str, db: Path, snaps: Path, gen: int) -> dict[str, float]:
    """Write generation ``gen`` of the read-only copy and point ``current.duckdb`` at it."""
    tmp, final = snaps / f"gen-{gen:06d}.duckdb.tmp", snaps / f"gen-{gen:06d}.duckdb"
    started = time.perf_counter()
    if method == "copy":
        con.execute("CHECKPOINT")
        shutil.copyfile(db, tmp)
    else:
        name = one(con, "SELECT current_database()")
        con.execute(f"ATTACH '{tmp}' AS snap (STORAGE_VERSION '{STORAGE}')")
        con.execute(f"COPY FROM DATABASE {name} TO snap")
        con.execute("DETACH snap")
    copied = time.perf_counter()
    fsync(tmp)
    os.replace(tmp, final)
    link = snaps / "current.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(final.name)
    os.replace(link, snaps / "current.duckdb")
    fsync(snaps)
    for old in sorted(snaps.glob("gen-*.duckdb"))[:-KEEP_GENERATIONS]:
        old.unlink()  # a reader that still has it open keeps reading its inode
    return {"copy_s": copied - started, "publish_s": time.perf_counter() - started, "bytes": final.stat().st_size}


def role_writer(opts: dict[str, Any]) -> None:
    mode, db, snaps = opts["mode"], Path(opts["db"]), Path(opts["snaps"])
    config: dict[str, Any] = {"storage_compatibility_version": STORAGE}
    if opts.get("threads"):
        config["threads"] = opts["threads"]
    t_open = time.time()
    con, attempts = connect_retry(str(db), config=config)
    out: dict[str, Any] = {"open_attempts": attempts, "open_s": time.time() - t_open, "start": time.time()}
    out["batches"] = batches = []
    for k, path in enumerate(opts["batches"], start=1):
        started = time.perf_counter()
        con.execute(f"INSERT INTO fact SELECT * FROM {read_csv(path)}")
        entry: dict[str, Any] = {"insert_s": time.perf_counter() - started, "committed": time.time()}
        if mode.startswith("snap"):
            entry |= publish(con, mode.removeprefix("snap-"), db, snaps, k)
            entry["published"] = time.time()
        batches.append(entry)
        Path(opts["progress"]).write_text(str(k))
    out["end"] = time.time()
    con.close()
    Path(opts["out"]).write_text(json.dumps(out))


def role_reader(opts: dict[str, Any]) -> None:
    """Paced person lookups until the stop file appears; one sample per lookup."""
    mode, ids = opts["mode"], json.loads(Path(opts["ids"]).read_text())
    rng, period, stop = random.Random(7), 1 / opts["rate"], Path(opts["stop"])
    samples: list[tuple[float, float, Any, str | None, bool]] = []
    con: duckdb.DuckDBPyConnection | None = None
    seen: Any = None
    snaps = Path(opts["path"])
    next_at = time.perf_counter()
    while not stop.exists():
        person = rng.choice(ids)
        at, started, error, reopened, tag = time.time(), time.perf_counter(), None, False, None
        try:
            if mode == "lock":
                c = duckdb.connect(opts["path"], read_only=True)
                found = c.execute(LOOKUP.format(table="fact"), [person]).fetchall()
                c.close()
            else:
                target = os.readlink(snaps / "current.duckdb")
                if target != seen:
                    if con is not None:
                        con.close()
                    con = duckdb.connect(str(snaps / target), read_only=True)
                    seen, reopened = target, True
                assert con is not None
                found = con.execute(LOOKUP.format(table="fact"), [person]).fetchall()
                tag = int(target[4:10])
            if not found:
                error = "no row"
        except (duckdb.Error, OSError) as e:
            error = f"{type(e).__name__}: {clean(str(e).splitlines()[0])[:110]}"
        samples.append((at, time.perf_counter() - started, tag, error, reopened))
        next_at += period
        time.sleep(max(0.0, next_at - time.perf_counter()))
    Path(opts["out"]).write_text(json.dumps(samples))


def spawn(python: str, role: str, opts: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([python, "-u", __file__, "--role", role, "--opts", json.dumps(opts)])


def cli_probe(cli: str | None, sql: str, path: str | None = None) -> dict[str, Any]:
    """Run the duckdb CLI once as an analyst would; what it answered and how long it took."""
    if not cli or not Path(cli).exists():
        return {"result": "no CLI", "s": float("nan")}
    started = time.perf_counter()
    cmd = [cli, *(["-readonly", path] if path else []), "-csv", "-noheader", "-c", sql]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return {
        "result": clean(text[-1] if done.returncode == 0 else text[0])[:120],
        "ok": done.returncode == 0,
        "s": time.perf_counter() - started,
    }


def summarize(samples: list[Any], start: float, end: float) -> dict[str, Any]:
    idle = [s for s in samples if s[0] < start]
    during = [s for s in samples if start <= s[0] <= end]
    out: dict[str, Any] = {}
    for name, group in (("idle", idle), ("during", during)):
        ok = [s[1] for s in group if s[3] is None]
        cached = [s[1] for s in group if s[3] is None and not s[4]]
        errors: dict[str, int] = {}
        for s in group:
            if s[3]:
                errors[s[3]] = errors.get(s[3], 0) + 1
        out[name] = {
            "n": len(group),
            "ok": len(ok),
            "p50": pct(ok, 0.5),
            "p95": pct(ok, 0.95),
            "p95_cached": pct(cached, 0.95),
            "errors": errors,
            "err_s": pct([s[1] for s in group if s[3]], 0.5),
        }
    return out


def staleness(samples: list[Any], commits: list[float]) -> list[float]:
    """Per generation: first lookup that saw it minus the commit that made it."""
    first: dict[int, float] = {}
    for at, _, tag, error, *_ in samples:
        if tag is not None and error is None and tag not in first:
            first[tag] = at
    return [first[g] - c for g, c in enumerate(commits, start=1) if g in first]


def run_file_mode(mode: str, work: Path, meta: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    d = work / mode
    shutil.rmtree(d, ignore_errors=True)
    (d / "snaps").mkdir(parents=True)
    db = d / "w.duckdb"
    con = duckdb.connect(str(db), config={"storage_compatibility_version": STORAGE})
    con.execute(fact_ddl("fact"))
    con.execute(f"INSERT INTO fact SELECT * FROM {read_csv(str(work / 'base.csv'))}")
    gen0 = publish(con, "copy", db, d / "snaps", 0) if mode.startswith("snap") else None
    con.close()
    opts = {
        "mode": mode,
        "db": str(db),
        "snaps": str(d / "snaps"),
        "ids": str(work / "ids.json"),
        "rate": args.rate,
        "stop": str(d / "stop"),
        "progress": str(d / "progress"),
    }
    path = str(db) if mode == "lock" else str(d / "snaps")
    reader = spawn(sys.executable, "reader", opts | {"path": path, "out": str(d / "reader.json")})
    time.sleep(args.idle_seconds)
    writer = spawn(
        sys.executable,
        "writer",
        opts | {"batches": meta["batches"], "out": str(d / "writer.json"), "threads": args.writer_threads},
    )
    while writer.poll() is None and not (d / "progress").exists():
        time.sleep(0.02)
    cli_target = str(db) if mode == "lock" else str(d / "snaps" / "current.duckdb")
    cli = cli_probe(args.duckdb_cli, "SELECT count(*) FROM fact", cli_target) if writer.poll() is None else {}
    samples, result = finish(mode, d, writer, reader, meta, cli)
    result["staleness"] = staleness(samples, [b["committed"] for b in result["writer"]["batches"]])
    result["gen0"] = gen0
    result["db_bytes"] = db.stat().st_size
    if args.keep_files:
        return result
    shutil.rmtree(d, ignore_errors=True)
    return result


def finish(
    mode: str,
    d: Path,
    writer: subprocess.Popen[bytes],
    reader: subprocess.Popen[bytes],
    meta: dict[str, Any],
    cli: dict[str, Any],
) -> tuple[list[Any], dict[str, Any]]:
    """Wait for the writer, stop the reader; the reader's samples and the figures every mode reports."""
    if writer.wait() != 0:
        raise RuntimeError(f"{mode} writer failed")
    time.sleep(1.0)
    (d / "stop").touch()
    reader.wait()
    w = json.loads((d / "writer.json").read_text())
    samples = json.loads((d / "reader.json").read_text())
    load_s = w["end"] - w["start"]
    result = {
        "mode": mode,
        "writer": w,
        "load_s": load_s,
        "rows_per_s": meta["load_rows"] / load_s,
        "reader": summarize(samples, w["start"], w["end"]),
        "cli": cli,
    }
    return samples, result


def raw_ctas(work: Path, meta: dict[str, Any], threads: int | None = None) -> float:
    """rows/s of CREATE TABLE AS SELECT * FROM read_csv over the batch files into a fresh file."""
    path = work / "raw.duckdb"
    for p in (path, work / "raw.duckdb.wal"):
        p.unlink(missing_ok=True)
    config: dict[str, Any] = {"storage_compatibility_version": STORAGE}
    con = duckdb.connect(str(path), config=config | ({"threads": threads} if threads else {}))
    started = time.perf_counter()
    con.execute(f"CREATE TABLE fact AS SELECT * FROM {read_csv(meta['batches'])}")
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - started
    con.close()
    path.unlink()
    return float(meta["load_rows"] / elapsed)


def lock_facts(work: Path) -> dict[str, Any]:
    """Who waits for whom with DuckDB's file lock, and what hardlinks and reflinks give."""
    d = work / "facts"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    db = d / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    probe = (
        "import duckdb, sys, time\nt = time.perf_counter()\n"
        "try:\n    duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro').execute('SELECT 1'); r = 'opened'\n"
        "except Exception as e:\n    r = str(e).splitlines()[0]\n"
        "print(f'{time.perf_counter() - t:.4f}', r)\n"
    )

    def other(path: Path, flag: str) -> tuple[float, str]:
        out = subprocess.run([sys.executable, "-c", probe, str(path), flag], capture_output=True, text=True)
        seconds, _, message = out.stdout.strip().partition(" ")
        return float(seconds), message

    facts: dict[str, Any] = {"reader_while_writer": other(db, "ro")}
    os.link(db, d / "hard.duckdb")
    facts["hardlink_reader_while_writer"] = other(d / "hard.duckdb", "ro")
    con.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}, read_only=True); "
            "print('held', flush=True); time.sleep(3)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    facts["writer_while_reader"] = other(db, "rw")
    facts["second_reader_while_reader"] = other(db, "ro")
    holder.wait()
    with open(db, "rb") as src, open(d / "clone.duckdb", "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), 0x40049409, src.fileno())  # FICLONE
            facts["reflink"] = "works"
        except OSError as e:
            facts["reflink"] = f"{errno.errorcode.get(e.errno, e.errno)} ({os.strerror(e.errno or 0)})"
    shutil.rmtree(d, ignore_errors=True)
    return facts


def encryption_facts(work: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Encrypted warehouse file (duckdb 2.0.1): can it be written, published and read read-only?"""
    d = work / "enc"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    facts: dict[str, Any] = {}
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{d}/refused.duckdb' AS e (ENCRYPTION_KEY '{KEY}')")
        facts["write"] = "allowed"
    except duckdb.Error as e:
        facts["write"] = str(e).strip().split(".")[0]
    con.execute("SET force_mbedtls_unsafe = true")
    con.execute(f"ATTACH '{d}/plain.duckdb' AS p (STORAGE_VERSION '{STORAGE}')")
    con.execute(f"ATTACH '{d}/enc.duckdb' AS e (ENCRYPTION_KEY '{KEY}', STORAGE_VERSION '{STORAGE}')")
    for name in ("p", "e"):
        con.execute(fact_ddl(f"{name}.fact"))
        started = time.perf_counter()
        con.execute(f"INSERT INTO {name}.fact SELECT * FROM {read_csv(str(work / 'base.csv'))}")
        con.execute(f"CHECKPOINT {name}")
        facts[f"load_s_{name}"] = time.perf_counter() - started
    started = time.perf_counter()
    con.execute(f"ATTACH '{d}/enc_snap.duckdb' AS s (ENCRYPTION_KEY '{KEY}', STORAGE_VERSION '{STORAGE}')")
    con.execute("COPY FROM DATABASE e TO s")
    con.execute("DETACH s")
    facts["cfd_s"] = time.perf_counter() - started
    con.execute("DETACH e")
    con.execute("DETACH p")
    started = time.perf_counter()
    shutil.copyfile(d / "enc.duckdb", d / "enc_copy.duckdb")
    facts["copy_s"] = time.perf_counter() - started
    facts["plaintext_visible"] = meta["ids"][0].encode() in (d / "enc.duckdb").read_bytes()
    ids = meta["ids"][:100]
    for label, file, key in (
        ("plain", "plain.duckdb", None),
        ("enc", "enc_copy.duckdb", KEY),
        ("enc_snap", "enc_snap.duckdb", KEY),
    ):
        r = duckdb.connect()
        options = f"READ_ONLY, ENCRYPTION_KEY '{key}'" if key else "READ_ONLY"
        r.execute(f"ATTACH '{d}/{file}' AS x ({options})")
        times = []
        for person in ids:
            started = time.perf_counter()
            r.execute(LOOKUP.format(table="x.fact"), [person]).fetchall()
            times.append(time.perf_counter() - started)
        facts[f"lookup_p50_{label}"] = pct(times, 0.5)
        r.close()
    try:
        duckdb.connect(str(d / "enc_copy.duckdb"), read_only=True)
        facts["without_key"] = "opened"
    except duckdb.Error as e:
        facts["without_key"] = str(e).splitlines()[0]
    facts["bytes_plain"] = (d / "plain.duckdb").stat().st_size
    facts["bytes_enc"] = (d / "enc.duckdb").stat().st_size
    shutil.rmtree(d, ignore_errors=True)
    return facts


def default_version_fact(work: Path, cli: str | None) -> str:
    """What duckdb-cli 1.5.x says about a file written by duckdb 2.0.1 with default settings."""
    path = work / "default.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE fact AS SELECT 1 AS x").close()
    answer = cli_probe(cli, "SELECT count(*) FROM fact", str(path))
    path.unlink()
    return str(answer["result"])


# ---------------------------------------------------------------- DuckLake (duckdb 1.5.x, scratch venv)


def ducklake_setup() -> Path:
    """Lay the wheels' extension files out as an extension_directory (no network needed)."""
    import importlib

    target = EXT_DIR / f"v{duckdb.__version__}" / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    for package, stored, name in (
        ("duckdb_extension_ducklake", "ducklake", "ducklake"),
        ("duckdb_extension_sqlite", "sqlite", "sqlite_scanner"),
        ("duckdb_extension_httpfs", "httpfs", "httpfs"),
    ):
        module = importlib.import_module(package)
        source = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{stored}.duckdb_extension"
        link = target / f"{name}.duckdb_extension"
        if not link.exists():
            link.symlink_to(source)
    return EXT_DIR


def lake_connect(encrypted: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with the extensions loaded (~0.5 s: readers keep theirs)."""
    con = duckdb.connect(config={"extension_directory": str(EXT_DIR), "autoinstall_known_extensions": False})
    con.execute("LOAD ducklake; LOAD sqlite" + ("; LOAD httpfs" if encrypted else ""))  # httpfs: OpenSSL for writes
    return con


def lake_attach(con: duckdb.DuckDBPyConnection, opts: dict[str, Any], read_only: bool = False) -> None:
    extra = ", ENCRYPTED" if opts.get("encrypted") and not read_only else ""
    extra += ", READ_ONLY" if read_only else ""
    con.execute(f"ATTACH 'ducklake:{opts['catalog']}' AS lake (DATA_PATH '{opts['data']}'{extra})")


def role_lake_writer(opts: dict[str, Any]) -> None:
    con = lake_connect(opts["encrypted"])
    attempts = 1
    while True:
        try:
            lake_attach(con, opts)
            break
        except duckdb.Error as e:
            if "lock" not in str(e).lower() or attempts > 500:
                raise
            attempts += 1
            time.sleep(0.01)
    out: dict[str, Any] = {"open_attempts": attempts, "start": time.time(), "batches": []}
    for k, path in enumerate(opts["batches"], start=1):
        started = time.perf_counter()
        con.execute(f"INSERT INTO lake.fact SELECT * FROM {read_csv(path)}")
        out["batches"].append(
            {
                "insert_s": time.perf_counter() - started,
                "committed": time.time(),
                "snapshot": one(con, "FROM lake.current_snapshot()"),
            }
        )
        Path(opts["progress"]).write_text(str(k))
    out["end"] = time.time()
    con.close()
    Path(opts["out"]).write_text(json.dumps(out))


def role_lake_reader(opts: dict[str, Any]) -> None:
    """Like ``role_reader``; a DuckDB-file catalogue is attached per lookup (held, it locks the writer out)."""
    ids = json.loads(Path(opts["ids"]).read_text())
    rng, period, stop = random.Random(7), 1 / opts["rate"], Path(opts["stop"])
    per_query = opts["catalog"].endswith(".ducklake")
    samples: list[tuple[float, float, Any, str | None, bool, float]] = []
    con = lake_connect(opts["encrypted"])
    attached = False
    next_at = time.perf_counter()
    count = 0
    while not stop.exists():
        person = rng.choice(ids)
        at, started, error, tag, tag_at, reopened = time.time(), time.perf_counter(), None, None, 0.0, False
        try:
            if not attached:
                lake_attach(con, opts, read_only=True)
                attached = reopened = True
            found = con.execute(LOOKUP.format(table="lake.fact"), [person]).fetchall()
            if not found:
                error = "no row"
            elapsed = time.perf_counter() - started
            if count % 2 == 0:
                tag = one(con, "FROM lake.current_snapshot()")
                tag_at = time.time()
        except duckdb.Error as e:
            elapsed = time.perf_counter() - started
            error = f"{type(e).__name__}: {clean(str(e).splitlines()[0])[:110]}"
        if attached and (per_query or error):
            with contextlib.suppress(duckdb.Error):
                con.execute("DETACH lake")
            attached = False
        samples.append((at, elapsed, tag, error, reopened, tag_at))
        count += 1
        next_at += period
        time.sleep(max(0.0, next_at - time.perf_counter()))
    Path(opts["out"]).write_text(json.dumps(samples))


def run_lake_mode(mode: str, work: Path, meta: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    d = work / mode
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    catalog = f"sqlite:{d}/catalog.sqlite" if "sqlite" in mode else f"{d}/catalog.ducklake"
    opts = {
        "catalog": catalog,
        "data": f"{d}/data",
        "encrypted": mode.endswith("-enc"),
        "ids": str(work / "ids.json"),
        "rate": args.rate,
        "stop": str(d / "stop"),
        "progress": str(d / "progress"),
    }
    con = lake_connect(opts["encrypted"])
    lake_attach(con, opts)
    con.execute(fact_ddl("lake.fact", primary_key=False))
    con.execute(f"INSERT INTO lake.fact SELECT * FROM {read_csv(str(work / 'base.csv'))}")
    base_snapshot = one(con, "FROM lake.current_snapshot()")
    con.close()
    reader = spawn(sys.executable, "lake-reader", opts | {"out": str(d / "reader.json")})
    time.sleep(args.idle_seconds)
    writer = spawn(sys.executable, "lake-writer", opts | {"batches": meta["batches"], "out": str(d / "writer.json")})
    while writer.poll() is None and not (d / "progress").exists():
        time.sleep(0.02)
    attach = f"ATTACH 'ducklake:{catalog}' AS lake (DATA_PATH '{d}/data', READ_ONLY)"
    cli = (
        cli_probe(
            args.duckdb_cli,
            f"SET extension_directory = '{EXT_DIR}'; LOAD ducklake; LOAD sqlite; {attach}; "
            "SELECT count(*) FROM lake.fact",
        )
        if writer.poll() is None
        else {}
    )
    samples, result = finish(mode, d, writer, reader, meta, cli)
    first: dict[int, float] = {}
    for _, _, tag, error, _, tag_at in samples:
        if tag is not None and error is None and tag not in first:
            first[tag] = tag_at
    batches = result["writer"]["batches"]
    result["staleness"] = [first[b["snapshot"]] - b["committed"] for b in batches if b["snapshot"] in first]
    result["bytes"] = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    # time travel and files, in this process now that the writer is gone
    con = lake_connect(opts["encrypted"])
    lake_attach(con, opts, read_only=True)
    result["files"] = one(con, "SELECT count(*) FROM ducklake_list_files('lake', 'fact')")
    started = time.perf_counter()
    result["as_of_rows"] = one(con, f"SELECT count(*) FROM lake.fact AT (VERSION => {base_snapshot})")
    result["as_of_count_s"] = time.perf_counter() - started
    times = []
    for person in meta["ids"][:100]:
        started = time.perf_counter()
        con.execute(LOOKUP.format(table=f"lake.fact AT (VERSION => {base_snapshot})"), [person]).fetchall()
        times.append(time.perf_counter() - started)
    result["as_of_lookup_p50"] = pct(times, 0.5)
    con.close()
    if not args.keep_files:
        shutil.rmtree(d, ignore_errors=True)
    return result


def lake_compaction(work: Path, meta: dict[str, Any], commits: int) -> dict[str, Any]:
    """Many small commits (a sync's batches over weeks): files, lookup latency, merge."""
    d = work / "lake-small"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    con = lake_connect()
    lake_attach(con, {"catalog": f"sqlite:{d}/catalog.sqlite", "data": f"{d}/data"})
    con.execute(fact_ddl("lake.fact", primary_key=False))
    con.execute(f"CREATE TEMP TABLE src AS SELECT * FROM {read_csv(str(work / 'base.csv'))}")
    total = one(con, "SELECT count(*) FROM src")
    per = total // commits
    started = time.perf_counter()
    for k in range(commits):
        con.execute(f"INSERT INTO lake.fact SELECT * FROM src LIMIT {per} OFFSET {k * per}")
    out: dict[str, Any] = {
        "commits": commits,
        "rows_per_commit": per,
        "commit_s": (time.perf_counter() - started) / commits,
    }

    def lookups() -> float:
        times = []
        for person in meta["ids"][:100]:
            t = time.perf_counter()
            con.execute(LOOKUP.format(table="lake.fact"), [person]).fetchall()
            times.append(time.perf_counter() - t)
        return pct(times, 0.5)

    out["files_before"] = one(con, "SELECT count(*) FROM ducklake_list_files('lake', 'fact')")
    out["lookup_before"] = lookups()
    started = time.perf_counter()
    con.execute("CALL ducklake_merge_adjacent_files('lake')")
    con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
    con.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
    out["merge_s"] = time.perf_counter() - started
    out["files_after"] = one(con, "SELECT count(*) FROM ducklake_list_files('lake', 'fact')")
    out["lookup_after"] = lookups()
    con.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def lake_main(args: argparse.Namespace) -> None:
    ducklake_setup()
    work = Path(args.work)
    meta = json.loads((work / "meta.json").read_text())
    out: dict[str, Any] = {"duckdb": duckdb.__version__, "raw_rows_per_s": raw_ctas(work, meta)}
    con = lake_connect(encrypted=True)
    out["extensions"] = dict(
        con.execute(
            "SELECT extension_name, extension_version FROM duckdb_extensions() WHERE extension_name IN "
            "('ducklake', 'sqlite_scanner', 'httpfs')"
        ).fetchall()
    )
    con.close()
    for mode in ("lake-duckdb", "lake-sqlite", "lake-sqlite-enc"):
        print(f"[ducklake] {mode} …", flush=True)
        out[mode] = run_lake_mode(mode, work, meta, args)
    print("[ducklake] compaction …", flush=True)
    out["compaction"] = lake_compaction(work, meta, args.small_commits)
    Path(args.out).write_text(json.dumps(out))


# ---------------------------------------------------------------- report


def clean(text: str) -> str:
    """An error message without this run's paths and process ids."""
    text = re.sub(r'"/[^"]+"', '"<file>"', text)
    return re.sub(r"held in \S+ \(PID \d+\)", "held in <other process> (PID n)", text)


def reader_row(label: str, r: dict[str, Any], writer_label: str) -> str:
    idle, during = r["reader"]["idle"], r["reader"]["during"]
    errors = "; ".join(f"{n}× {clean(e)}" for e, n in during["errors"].items()) or "none"
    ratio = during["p95"] / idle["p95"] if during["ok"] and idle["ok"] else float("nan")
    stale = r.get("staleness") or []
    shown = "—" if ratio != ratio else f"{ratio:.2f}×"
    worst = max(stale) if stale else float("nan")
    return (
        f"| {label} | {writer_label} | {r['rows_per_s']:,.0f} | {ms(idle['p50'])} / {ms(idle['p95'])} "
        f"| {during['ok']}/{during['n']} | {ms(during['p50'])} / {ms(during['p95'])} "
        f"| {shown} | {ms(during['p95_cached'])} | {ms(pct(stale, 0.5))} / {ms(worst)} | {errors} |"
    )


def report(
    meta: dict[str, Any],
    raw: float,
    file_modes: dict[str, Any],
    facts: dict[str, Any],
    enc: dict[str, Any],
    lake: dict[str, Any] | None,
    args: argparse.Namespace,
    version_fact: str,
) -> str:
    lines = [
        f"Machine: {machine()}; commit {git_revision()}; duckdb {duckdb.__version__} (DuckLake rows: duckdb "
        f"{lake['duckdb'] if lake else '—'} in a scratch venv). Fact table of {meta['rows']:,} rows: "
        f"{meta['base_rows']:,} already there, {meta['load_rows']:,} appended from CSV in "
        f"{len(meta['batches'])} commits; one reader process does {args.rate:g} person lookups/s "
        f"(`WHERE id_number = ?`, no index) for {args.idle_seconds:g} s idle, then during the load. "
        f"Files use storage version {STORAGE}. The machine is shared: load average {args.load_before} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Raw `CREATE TABLE AS SELECT * FROM read_csv(...)` of the same {meta['load_rows']:,} rows: "
        f"**{raw:,.0f} rows/s** (duckdb {duckdb.__version__})"
        + (f", {lake['raw_rows_per_s']:,.0f} rows/s (duckdb {lake['duckdb']})." if lake else "."),
        "",
        "| mode | writer | load rows/s | idle p50 / p95 ms | lookups answered during load | during p50 / p95 ms "
        "| p95 during/idle | during p95 w/o reopen ms | commit→visible p50 / max ms | reader errors during load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = {
        "lock": ("reader opens the writer's file", "holds the file"),
        "snap-copy": ("snapshot: CHECKPOINT + file copy", "private file, publish per commit"),
        "snap-cfd": ("snapshot: COPY FROM DATABASE", "private file, publish per commit"),
    }
    for mode, r in file_modes.items():
        label, wl = names[mode.split("@")[0]]
        threads = mode.partition("@")[2]
        lines.append(reader_row(label, r, wl + (f", {threads} thread" if threads else "")))
    if lake:
        for mode, label in (
            ("lake-duckdb", "DuckLake, catalogue in DuckDB file"),
            ("lake-sqlite", "DuckLake, catalogue in SQLite"),
            ("lake-sqlite-enc", "DuckLake, SQLite, ENCRYPTED"),
        ):
            lines.append(reader_row(label, lake[mode], "one INSERT per commit"))
    lines += ["", "Load rows/s vs raw CTAS (target ≥ 0.67×):"]
    for mode, r in file_modes.items():
        w = r["writer"]["batches"]
        pub = [b["publish_s"] for b in w if "publish_s" in b]
        extra = (
            f"; publish {ms(min(pub))}–{ms(max(pub))} ms per commit ({w[-1]['bytes'] / 2**20:,.0f} MiB file at the end)"
            if pub
            else ""
        )
        insert = sum(b["insert_s"] for b in w)
        if pub:
            sizes = ", ".join(f"{b['bytes'] / 2**20:,.0f} MiB {ms(b['publish_s'])} ms" for b in w)
            lines.append(f"- {mode} publish per commit (file size, time): {sizes}")
        lines.append(
            f"- {mode}: {r['rows_per_s'] / raw:.2f}× (inserts alone {meta['load_rows'] / insert:,.0f} rows/s"
            f" = {meta['load_rows'] / insert / raw:.2f}×{extra}; writer opened at attempt "
            f"{r['writer']['open_attempts']})"
        )
    if lake:
        for mode in ("lake-duckdb", "lake-sqlite", "lake-sqlite-enc"):
            r = lake[mode]
            lines.append(
                f"- {mode}: {r['rows_per_s'] / lake['raw_rows_per_s']:.2f}× of raw CTAS in duckdb "
                f"{lake['duckdb']} ({r['files']} data files, {r['bytes'] / 2**20:,.0f} MiB on disk)"
            )
    lines += ["", "Facts (same machine, same run):"]
    rw = facts["reader_while_writer"]
    lines.append(
        f"- A reader process opening the file while a writer process holds it fails at once "
        f"({rw[0] * 1000:.0f} ms, no waiting): `{clean(rw[1])[:150]}`"
    )
    wr = facts["writer_while_reader"]
    lines.append(
        f"- The reverse too: a read-only process (an analyst's open CLI) makes the writer's open fail: "
        f"`{clean(wr[1])[:100]}…`; a second reader is fine ({facts['second_reader_while_reader'][1]})."
    )
    lines.append(
        f"- A hardlink shares the inode and so the lock: `{clean(facts['hardlink_reader_while_writer'][1])[:80]}…`; "
        f"it is no snapshot either (DuckDB rewrites blocks in place). Reflink (FICLONE) on this "
        f"filesystem: {facts['reflink']}."
    )
    lines.append(
        f"- duckdb-cli 1.5.5 on a file written by duckdb 2.0.1 with default settings: `{version_fact[:110]}` "
        f"— hence storage version {STORAGE} above."
    )
    for mode, r in file_modes.items():
        if r.get("cli"):
            lines.append(
                f"- duckdb-cli 1.5.5 during the load, {mode}: "
                f"{'answered ' + r['cli']['result'] if r['cli'].get('ok') else clean(r['cli']['result'])[:100]} "
                f"({r['cli']['s'] * 1000:.0f} ms)"
            )
    if lake:
        for mode in ("lake-duckdb", "lake-sqlite"):
            c = lake[mode]["cli"]
            if c:
                lines.append(
                    f"- duckdb-cli 1.5.5 + ducklake during the load, {mode}: "
                    f"{'answered ' + c['result'] if c.get('ok') else clean(c['result'])[:100]} "
                    f"({c['s'] * 1000:.0f} ms)"
                )
        s = lake["lake-sqlite"]
        lines.append(
            f"- DuckLake time travel: `count(*) … AT (VERSION => base)` = {s['as_of_rows']:,} rows in "
            f"{ms(s['as_of_count_s'])} ms; lookup AT VERSION p50 {ms(s['as_of_lookup_p50'])} ms."
        )
        c = lake["compaction"]
        lines.append(
            f"- DuckLake small commits: {c['commits']} commits of {c['rows_per_commit']:,} rows, "
            f"{ms(c['commit_s'])} ms each → {c['files_before']} data files, lookup p50 "
            f"{ms(c['lookup_before'])} ms; merge + expire + cleanup {c['merge_s']:.1f} s → "
            f"{c['files_after']} files, lookup p50 {ms(c['lookup_after'])} ms."
        )
        lines.append(
            f"- DuckLake extensions: {lake['extensions']}; PRIMARY KEY/UNIQUE are not supported "
            '("Not implemented"), so the fact tables\' keys would not be enforced.'
        )
    lines.append(
        f"- Encryption, duckdb {duckdb.__version__} offline: `ATTACH … (ENCRYPTION_KEY …)` for writing → "
        f"`{enc['write'][:150]}`. With `force_mbedtls_unsafe` (not for production): load of "
        f"{meta['base_rows']:,} rows {enc['load_s_p']:.1f} s plain vs {enc['load_s_e']:.1f} s encrypted; "
        f"encrypted COPY FROM DATABASE {enc['cfd_s']:.1f} s, file copy {enc['copy_s'] * 1000:.0f} ms; the copy "
        f"and the COPY FROM DATABASE snapshot open with `(READ_ONLY, ENCRYPTION_KEY …)`; lookup p50 plain "
        f"{ms(enc['lookup_p50_plain'])} / encrypted {ms(enc['lookup_p50_enc'])} ms; without the key: "
        f"`{clean(enc['without_key'])[:90]}`; an id_number in plaintext in the file: {enc['plaintext_visible']}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0, help="reader lookups per second")
    parser.add_argument("--idle-seconds", type=float, default=6.0)
    parser.add_argument("--small-commits", type=int, default=200)
    parser.add_argument("--writer-threads", type=int, default=None)
    parser.add_argument("--ducklake-python", default="/tmp/ducklake-venv/bin/python")
    parser.add_argument("--duckdb-cli", default="/tmp/duckcli-venv/bin/duckdb")
    parser.add_argument("--modes", default="lock,snap-copy,snap-cfd,snap-copy@1")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--part", choices=["file", "ducklake"], default="file")
    parser.add_argument("--work")
    parser.add_argument("--out")
    parser.add_argument("--role")
    parser.add_argument("--opts")
    args = parser.parse_args()
    if args.role:
        roles = {
            "writer": role_writer,
            "reader": role_reader,
            "lake-writer": role_lake_writer,
            "lake-reader": role_lake_reader,
        }
        if args.role.startswith("lake"):
            ducklake_setup()
        roles[args.role](json.loads(args.opts))
        return
    if args.part == "ducklake":
        lake_main(args)
        return
    args.load_before = f"{os.getloadavg()[0]:.1f}"
    work = Path(tempfile.mkdtemp(prefix="tierhub-bench-readers-"))
    try:
        started = time.perf_counter()
        meta = generate(work, args.rows, args.batches)
        (work / "ids.json").write_text(json.dumps(meta["ids"]))
        print(f"generated {meta['rows']:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        raw = raw_ctas(work, meta)
        print(f"raw CTAS: {raw:,.0f} rows/s", flush=True)
        facts = lock_facts(work)
        print("facts:", facts, flush=True)
        version_fact = default_version_fact(work, args.duckdb_cli)
        enc = encryption_facts(work, meta)
        print("encryption:", enc, flush=True)
        file_modes: dict[str, Any] = {}
        for mode in args.modes.split(","):
            base, _, threads = mode.partition("@")
            print(f"{mode} …", flush=True)
            run_args = argparse.Namespace(**{**vars(args), "writer_threads": int(threads) if threads else None})
            file_modes[mode] = r = run_file_mode(base, work, meta, run_args)
            print(json.dumps({k: v for k, v in r.items() if k != "writer"}, default=str)[:1500], flush=True)
        lake = None
        if Path(args.ducklake_python).exists():
            out = work / "lake.json"
            subprocess.run(
                [
                    args.ducklake_python,
                    "-u",
                    __file__,
                    "--part",
                    "ducklake",
                    "--work",
                    str(work),
                    "--out",
                    str(out),
                    "--rate",
                    str(args.rate),
                    "--idle-seconds",
                    str(args.idle_seconds),
                    "--small-commits",
                    str(args.small_commits),
                    "--duckdb-cli",
                    args.duckdb_cli,
                ],
                check=True,
            )
            lake = json.loads(out.read_text())
            for mode in ("lake-duckdb", "lake-sqlite", "lake-sqlite-enc"):
                print(mode, json.dumps({k: v for k, v in lake[mode].items() if k != "writer"}, default=str)[:1500])
            print("compaction", lake["compaction"])
        else:
            print(f"no DuckLake interpreter at {args.ducklake_python}: DuckLake rows skipped (see --help)")
    finally:
        if not args.keep_files:
            shutil.rmtree(work, ignore_errors=True)
    body = report(meta, raw, file_modes, facts, enc, lake, args, version_fact)
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
