"""tierhub's SFTP pull against OpenSSH's ``sftp -b`` on the same local sshd.

uv run python bench/sftp_pull.py   → prints figures and rewrites a section of bench/RESULTS.md

Targets (connectors issue): 1,000 files of 20 KB at ≥ 0.8× OpenSSH's files/s; one 200 MB file
at ≥ 0.6× its MB/s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import git_revision, machine, write_section
from connectors.sftp import SftpOutbox
from tests.sshd import Sshd

SOURCE = "120101001000"
SMALL_FILES = 1_000
SMALL_SIZE = 20 * 1024
BIG_SIZE = 200 * 1024 * 1024
REPEATS = 3


def openssh_get(server: Sshd, remote_glob: str, target: Path) -> float:
    target.mkdir(parents=True, exist_ok=True)
    batch = target.parent / "batch.txt"
    batch.write_text(f"get {remote_glob} {target}/\n")
    started = time.perf_counter()
    subprocess.run(
        [
            "sftp",
            "-q",
            "-b",
            str(batch),
            "-i",
            str(server.client_key),
            "-P",
            str(server.port),
            "-o",
            f"UserKnownHostsFile={server.home / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"{server.user}@127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def tierhub_get(server: Sshd, landing: Path, connections: int, prefetch: int) -> float:
    box = SftpOutbox(server.endpoint(max_connections=connections, prefetch_requests=prefetch), landing)
    started = time.perf_counter()
    listings, _, _ = box.scan(SOURCE)
    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(box.fetch, listings))
    elapsed = time.perf_counter() - started
    box.close()
    return elapsed


def best(runs: list[float]) -> float:
    return min(runs)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="tierhub-bench-sftp-"))
    server = Sshd(home / "sshd")
    server.start()
    os.environ["TIERHUB_TEST_SFTP_KEY"] = str(server.client_key)
    outbox = server.root / SOURCE[:6] / SOURCE
    outbox.mkdir(parents=True)
    old = time.time() - 600
    for i in range(SMALL_FILES):
        path = outbox / f"失业登记_{SOURCE}_2026{i // 28 % 12 + 1:02d}{i % 28 + 1:02d}_{i:04d}.csv"
        path.write_bytes(os.urandom(SMALL_SIZE))
        os.utime(path, (old, old))
    lines = []
    try:
        ssh_small = best([openssh_get(server, f"{outbox}/*", home / f"o{r}") for r in range(REPEATS)])
        results = {}
        for connections in (1, 4, 8):
            results[connections] = best(
                [tierhub_get(server, home / f"t{connections}-{r}", connections, 1024) for r in range(REPEATS)]
            )
        lines.append(f"| 1,000 × 20 KB | OpenSSH `sftp -b` | 1 | {SMALL_FILES / ssh_small:,.0f} files/s | 1.00× |")
        for connections, elapsed in results.items():
            lines.append(
                f"| 1,000 × 20 KB | tierhub | {connections} | {SMALL_FILES / elapsed:,.0f} files/s "
                f"| {ssh_small / elapsed:.2f}× |"
            )
        for path in outbox.iterdir():
            path.unlink()
        big = outbox / f"失业登记_{SOURCE}_20261127.csv"
        big.write_bytes(os.urandom(BIG_SIZE))
        os.utime(big, (old, old))
        for d in home.glob("[ot]*"):
            shutil.rmtree(d, ignore_errors=True)
        ssh_big = best([openssh_get(server, str(big), home / f"ob{r}") for r in range(REPEATS)])
        mb = BIG_SIZE / 1024**2
        lines.append(f"| 1 × 200 MB | OpenSSH `sftp -b` | 1 | {mb / ssh_big:,.0f} MB/s | 1.00× |")
        for prefetch in (64, 1024):
            elapsed = best([tierhub_get(server, home / f"tb{prefetch}-{r}", 1, prefetch) for r in range(REPEATS)])
            lines.append(
                f"| 1 × 200 MB | tierhub, prefetch {prefetch} | 1 | {mb / elapsed:,.0f} MB/s "
                f"| {ssh_big / elapsed:.2f}× |"
            )
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    table = "| workload | client | connections | throughput | vs OpenSSH |\n|---|---|---:|---:|---:|\n" + "\n".join(
        lines
    )
    print(table)
    write_section(
        "SFTP pull vs OpenSSH (bench/sftp_pull.py)",
        f"Machine: {machine()}; commit {git_revision()}; sshd on loopback; best of {REPEATS} runs each.\n\n{table}\n\n"
        "Targets: small files ≥ 0.8×, big file ≥ 0.6× OpenSSH. tierhub's time includes listing the outbox, "
        "hashing (SHA-256) and the verify-then-rename of every file.",
    )


if __name__ == "__main__":
    main()
