"""Publish read-only snapshots of the warehouse after a sync, so readers are never blocked.

DuckDB lets one process hold a database file for writing and refuses every other process
while it does (docs/decisions/0007). The sync writes the private warehouse file; after it
commits, ``publish`` checkpoints it and copies it to ``snapshots/gen-NNNNNN.duckdb``, then
atomically repoints ``snapshots/current.duckdb`` (a symlink) at the new generation. Readers
(the portal, the reports, analysts with ``duckdb -readonly``) open ``current.duckdb`` and see
the last published state; a reader holding an older generation keeps reading it even after
it is pruned (the inode lives while it is open).

Generations are kept for audits — "what did the warehouse say after the sync of date X" —
by ``prune``: the newest ``keep`` generations plus the last one of each of the last
``days`` days.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tierhub.disk import fsync
from warehouse.schema import open_warehouse

CURRENT = "current.duckdb"
_GENERATION = re.compile(r"gen-(\d{6})\.duckdb")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One published generation."""

    generation: int
    path: Path
    published_at: dt.datetime
    bytes: int


def snapshots_folder(warehouse: Path) -> Path:
    """Where a warehouse's snapshots are published: ``snapshots/`` beside it."""
    return warehouse.parent / "snapshots"


def generations(folder: Path) -> list[Snapshot]:
    """Every complete generation in ``folder``, oldest first."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _GENERATION.fullmatch(path.name)
            if match:
                stat = path.stat()
                found.append(
                    Snapshot(int(match[1]), path, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC), stat.st_size)
                )
    return sorted(found, key=lambda s: s.generation)


def publish(con: duckdb.DuckDBPyConnection, warehouse: Path, folder: Path | None = None) -> Snapshot:
    """Checkpoint the warehouse (``con`` is its writer) and publish it as the next generation."""
    folder = folder or snapshots_folder(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    con.execute("CHECKPOINT")
    existing = generations(folder)
    generation = existing[-1].generation + 1 if existing else 1
    final = folder / f"gen-{generation:06d}.duckdb"
    partial = final.with_name(final.name + ".tmp")
    shutil.copyfile(warehouse, partial)
    fsync(partial)
    os.replace(partial, final)
    link = folder / f".{CURRENT}.{generation}"
    link.unlink(missing_ok=True)
    link.symlink_to(final.name)
    os.replace(link, folder / CURRENT)
    fsync(folder)
    stat = final.stat()
    return Snapshot(generation, final, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC), stat.st_size)


def publish_file(warehouse: Path) -> Snapshot:
    """Open the warehouse file (no other writer may hold it), publish it, close it."""
    con = open_warehouse(warehouse)
    try:
        return publish(con, warehouse)
    finally:
        con.close()


def prune(folder: Path, *, keep: int = 24, days: int = 90, now: dt.datetime | None = None) -> list[Path]:
    """Delete generations outside the retention policy and leftovers of interrupted publishes."""
    now = now or dt.datetime.now(dt.UTC)
    all_generations = generations(folder)
    kept = {s.generation for s in all_generations[-keep:]}
    last_of_day: dict[dt.date, int] = {}
    for snapshot in all_generations:
        if now - snapshot.published_at <= dt.timedelta(days=days):
            last_of_day[snapshot.published_at.date()] = snapshot.generation
    kept |= set(last_of_day.values())
    current = (folder / CURRENT).resolve() if (folder / CURRENT).exists() else None
    removed = []
    for snapshot in all_generations:
        if snapshot.generation not in kept and snapshot.path.resolve() != current:
            snapshot.path.unlink()
            removed.append(snapshot.path)
    for leftover in [*folder.glob("gen-*.duckdb.tmp"), *folder.glob(f".{CURRENT}.*")]:
        leftover.unlink()
        removed.append(leftover)
    return removed


def generation_as_of(folder: Path, when: dt.datetime) -> Snapshot | None:
    """The newest kept generation published at or before ``when``."""
    older = [s for s in generations(folder) if s.published_at <= when]
    return older[-1] if older else None
