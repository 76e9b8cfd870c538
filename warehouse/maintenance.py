"""Warehouse maintenance: check, compact, back up, restore.

Each operation first opens the warehouse for writing, which DuckDB grants to one process
only: a maintenance run and a sync can never overlap, and an operation started during a
sync fails at once with a clear error instead of corrupting anything.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tierhub.errors import WarehouseError
from warehouse.schema import open_warehouse
from warehouse.storage import FROM_SETTINGS, Key, connect, resolve_key


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``check`` found; ``problems`` is empty for a healthy warehouse."""

    tables: dict[str, int]
    problems: list[str]


def _writer(path: Path, key: Key) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise WarehouseError(f"warehouse {path} does not exist", fix="check the path or run `tierhub sync` first")
    try:
        return open_warehouse(path, key=key)
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"warehouse {path} is in use by another process ({exc})",
            fix="wait for the running sync to finish, then retry",
        ) from exc


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per persistent table."""
    names = [
        str(r[0])
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE NOT temporary "
            "AND database_name = current_database() ORDER BY 1"
        ).fetchall()
    ]
    return {name: int(con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]) for name in names}


def check_connection(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Invariants every load keeps: counts reconcile file by file and overall."""
    problems = []
    bad_files = con.execute(
        "SELECT count(*) FROM ops.files WHERE rows_in <> rows_loaded + rows_quarantined"
    ).fetchall()[0][0]
    if bad_files:
        problems.append(f"{bad_files} files whose rows in ≠ loaded + quarantined")
    [(rows_in, loaded, quarantined)] = con.execute(
        "SELECT coalesce(sum(rows_in), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
        "FROM ops.files"
    ).fetchall()
    tables = table_counts(con)
    # Rows `tierhub rejudge` loaded stay in quarantine.rows as history; ops.files counts them as loaded.
    [(rejudged,)] = con.execute("SELECT count(*) FROM quarantine.rows WHERE rejudged").fetchall()
    held = tables.get("quarantine.rows", 0) - int(rejudged)
    facts = sum(n for name, n in tables.items() if name.startswith("core.") and name not in _NOT_FACTS)
    if facts != loaded:
        problems.append(f"{facts:,} rows in fact tables, but the registry says {loaded:,} were loaded")
    if held != quarantined:
        problems.append(f"{held:,} quarantine rows held, but the registry says {quarantined:,}")
    if loaded + quarantined != rows_in:
        problems.append(f"registry: {rows_in:,} rows in ≠ {loaded:,} loaded + {quarantined:,} quarantined")
    # The person master has an index, not a primary key (decision 0013): the load keeps it one
    # row per ID number, and this is where that is checked.
    [(repeated,)] = con.execute(
        "SELECT count(*) FROM (SELECT id_number FROM core.persons GROUP BY id_number HAVING count(*) > 1)"
    ).fetchall()
    if repeated:
        problems.append(f"{repeated:,} ID numbers with more than one row in the person master")
    return CheckResult(tables, problems)


_NOT_FACTS = frozenset({"core.persons", "core.person_history", "core.cases", "core.employers", "core.warnings"})


def check(path: Path, *, key: Key = FROM_SETTINGS) -> CheckResult:
    """Check a warehouse file's invariants (read-only)."""
    try:
        con = connect(path, key=key, read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open {path}: {exc}") from exc
    try:
        return check_connection(con)
    finally:
        con.close()


def backup(path: Path, folder: Path, *, key: Key = FROM_SETTINGS) -> Path:
    """Copy a consistent warehouse into ``folder`` (checkpointed, verified); the backup's path."""
    key = resolve_key(key)
    con = _writer(path, key)
    try:
        con.execute("CHECKPOINT")
        expected = table_counts(con)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.duckdb"
        partial = target.with_name(target.name + ".tmp")
        shutil.copyfile(path, partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
    finally:
        con.close()
    found = check(partial, key=key)
    if found.tables != expected:
        partial.unlink()
        raise WarehouseError(f"backup of {path} does not match the warehouse", fix="retry; check the disk")
    os.replace(partial, target)
    return target


def restore(backup_file: Path, path: Path, *, key: Key = FROM_SETTINGS) -> Path | None:
    """Replace the warehouse with a backup; the replaced file is kept beside it. Returns its path."""
    key = resolve_key(key)
    found = check(backup_file, key=key)
    if found.problems:
        raise WarehouseError(f"backup {backup_file} fails its checks: {'; '.join(found.problems)}")
    kept = None
    if path.exists():
        _writer(path, key).close()  # refuses while a sync holds the warehouse
        kept = path.with_name(f"{path.name}.replaced-{dt.datetime.now():%Y%m%d-%H%M%S}")
        os.replace(path, kept)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            os.replace(wal, kept.with_name(kept.name + ".wal"))
    partial = path.with_name(path.name + ".restoring")
    shutil.copyfile(backup_file, partial)
    os.replace(partial, path)
    return kept


def compact(path: Path, *, key: Key = FROM_SETTINGS) -> tuple[int, int]:
    """Rewrite the warehouse into a fresh file (reclaims space of deleted/updated rows): bytes before, after."""
    key = resolve_key(key)
    before = path.stat().st_size
    con = _writer(path, key)
    fresh = path.with_name(path.name + ".compact")
    fresh.unlink(missing_ok=True)
    try:
        con.execute("CHECKPOINT")
        expected = table_counts(con)
        [(name,)] = con.execute("SELECT current_database()").fetchall()
        encryption = " (ENCRYPTION_KEY '" + key.replace("'", "''") + "')" if key else ""
        con.execute(f"ATTACH '{fresh}' AS th_compact{encryption}")
        con.execute(f'COPY FROM DATABASE "{name}" TO th_compact')
        con.execute("DETACH th_compact")
    finally:
        con.close()
    if check(fresh, key=key).tables != expected:
        fresh.unlink()
        raise WarehouseError(f"compacted copy of {path} does not match; the warehouse is unchanged")
    os.replace(fresh, path)
    return before, path.stat().st_size
