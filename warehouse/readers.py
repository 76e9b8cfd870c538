"""Read connections for the portal, the reports and analysts: never the loader's connection.

Every reader opens the warehouse through ``open_reader``: it opens the last published
snapshot (``snapshots/current.duckdb``, see ``warehouse.publish``) read-only, so a running
sync never blocks it and it never blocks the sync (docs/decisions/0007). A warehouse that
has never been published is opened read-only directly (tests, first runs).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from tierhub.errors import WarehouseError
from warehouse.publish import CURRENT, generation_as_of, snapshots_folder
from warehouse.storage import FROM_SETTINGS, Key, connect, resolve_key

log = logging.getLogger(__name__)

# What a person lookup reads besides the indexes: the case index's and the person master's
# columns. Scanning them once pulls their blocks into DuckDB's buffer pool, so the first
# search after a snapshot opens is not the one that loads them (bench/lookup.py: p95 of
# first lookups 7.4 → 5.0 ms at 10 M persons; the scan takes ~2.6 s there).
WARM_UP = (
    "SELECT max(id_number), max(item_code), max(source_id), max(business_date), max(load_id), max(file_id), "
    "max(row_number), max(superseded_by_load) FROM core.cases",
    "SELECT max(id_number), max(name), max(sex), max(birth_date), max(mobile_phone) FROM core.persons",
)


def warm_up(con: duckdb.DuckDBPyConnection) -> None:
    """Read the columns person lookups touch, so they are in memory before the first search."""
    for sql in WARM_UP:
        con.execute(sql).fetchall()


def published_file(warehouse: Path) -> Path:
    """The file a reader of ``warehouse`` opens: the current snapshot if one was published."""
    current = snapshots_folder(warehouse) / CURRENT
    return current.resolve() if current.exists() else warehouse


def _connect(path: Path, key: Key = FROM_SETTINGS) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist", fix="run `tierhub sync` (or `tierhub demo`) to create it"
        )
    try:
        return connect(path, key=key, read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(
            f"cannot open warehouse {path} for reading: {exc}",
            fix="publish a snapshot (`tierhub sync` does after each run) so readers never open the loader's file",
        ) from exc


def open_reader(warehouse: Path, *, key: Key = FROM_SETTINGS) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the last published state of ``warehouse``."""
    return _connect(published_file(warehouse), key)


def open_as_of(warehouse: Path, when: dt.datetime, *, key: Key = FROM_SETTINGS) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the generation that was current at ``when`` (for audits)."""
    snapshot = generation_as_of(snapshots_folder(warehouse), when)
    if snapshot is None:
        raise WarehouseError(
            f"no snapshot of {warehouse} was published at or before {when:%Y-%m-%d %H:%M}",
            fix="older generations were pruned, or none was published yet; facts can still be read as of a time "
            "with warehouse.queries (as_of=)",
        )
    return _connect(snapshot.path, key)


class SnapshotReader:
    """A long-lived reader (the portal's): reopens when a new generation is published.

    ``cursor()`` gives each request its own cursor on the shared connection (DuckDB
    cursors are safe to use from one thread each).
    """

    def __init__(
        self,
        warehouse: Path,
        *,
        key: Key = FROM_SETTINGS,
        on_open: Callable[[duckdb.DuckDBPyConnection, Path], None] | None = None,
    ) -> None:
        """``on_open(cursor, path)``: more warm-up work for each generation opened (in the warm-up thread)."""
        self.warehouse = warehouse
        self._key = resolve_key(key)
        self._lock = threading.Lock()
        self._on_open = on_open
        self._path = published_file(warehouse)
        self._con = _connect(self._path, self._key)
        self._warming = self._warm(self._con)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the newest published state."""
        with self._lock:
            newest = published_file(self.warehouse)
            if newest != self._path:
                # Requests still holding the old connection's cursors finish on it; the
                # old generation's file stays readable while open.
                self._con, self._path = _connect(newest, self._key), newest
                self._warming = self._warm(self._con)
            return self._con.cursor()

    def _warm(self, con: duckdb.DuckDBPyConnection) -> threading.Thread:
        """Warm a newly opened generation in the background; requests use it meanwhile."""
        cursor = con.cursor()
        path = self._path

        def run() -> None:
            try:
                warm_up(cursor)
                if self._on_open is not None:
                    self._on_open(cursor, path)
            except Exception as exc:  # a warm-up is an optimisation: every page works without it
                log.warning("could not warm %s: %s", path, exc)
            finally:
                cursor.close()

        thread = threading.Thread(target=run, name="tierhub-warm-up", daemon=True)
        thread.start()
        return thread

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Wait for the current generation's warm-up; whether it has finished."""
        self._warming.join(timeout)
        return not self._warming.is_alive()

    @property
    def path(self) -> Path:
        """The file currently read."""
        return self._path
