"""Worker processes that read export files to the end (issue #20, decision 0034).

Reading an export is Python from the first byte to the last Arrow batch — decoding, the
delimiter and header search, the row loop — and holds the GIL, so threads do not help: a
city's 9,634 files read at ~1 ms each on one core while the other idled. ``read_pool`` gives
this process's pool of reading processes; ``read_whole`` is what a worker does with a file
(``warehouse.staging`` hands small files over in chunks and stages what comes back).

Workers are forked from a ``forkserver`` that has imported the readers once: a fork of the
parent itself could inherit a lock held by a DuckDB or Arrow thread. The tasks carry the local
aliases in force in the parent, so a worker reads as the parent would. Like every
``multiprocessing`` child, a worker also imports the parent's ``__main__`` module (the
``tierhub`` script imports only the command line, ~0.2 s).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from connectors.files import read_guarded
from tierhub.errors import TierhubError

log = logging.getLogger("tierhub.connectors")

Job = tuple[str, str, str, int, str | None]  # (local path, path in outbox, source, batch rows, encoding)


@dataclass
class ReadFacts:
    """What reading a file to the end found, without its rows (small enough to send back)."""

    sheet: str
    encoding: str | None
    header_row: int
    unknown_headers: list[str]
    skipped_rows: list[int]
    fields: frozenset[str] | None
    rows_in: int = 0


@dataclass
class WholeRead:
    """An export read to the end in a worker: what the reader found and all its batches."""

    facts: ReadFacts
    rows: list[pa.RecordBatch]


def read_whole(job: Job) -> WholeRead | TierhubError:
    """Read one file to the end; its error (naming the file) if it cannot be read."""
    local, path, source_id, batch_rows, encoding = job
    try:
        read = read_guarded(Path(local), path, source_id, batch_rows, encoding)
        rows = list(read.batches)  # skipped_rows fills while the batches are read
    except TierhubError as exc:
        return exc
    fields = getattr(read, "fields", None)
    facts = ReadFacts(read.sheet, read.encoding, read.header_row, read.unknown_headers, read.skipped_rows, fields)
    facts.rows_in = sum(batch.num_rows for batch in rows)
    return WholeRead(facts, rows)


_pools: dict[int, ProcessPoolExecutor] = {}
_lock = threading.Lock()


def read_pool(workers: int, preload: tuple[str, ...] = ("connectors.readahead",)) -> ProcessPoolExecutor | None:
    """This process's pool of ``workers`` reading processes, started on first use (None if 0).

    ``preload``: the modules the fork server imports once (those of the tasks to be run); a
    process has one fork server, so the first pool's preload is the one in force.
    A process that may not have children (a daemonic Dask worker) reads in process; that is
    logged, not raised: the rows read are the same.
    """
    if workers <= 0:
        return None
    with _lock:
        if workers not in _pools:
            if multiprocessing.current_process().daemon:
                log.info("reading in process: a daemonic process (a Dask worker) cannot start read workers")
                return None
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(preload))
            _pools[workers] = ProcessPoolExecutor(workers, mp_context=context)
        return _pools[workers]


def start_read_workers(workers: int, preload: tuple[str, ...] = ("connectors.readahead",)) -> None:
    """Start the read workers now (they import the readers, ~0.5 s), so a batch finds them ready."""
    pool = read_pool(workers, preload)
    if pool is not None:
        for _ in range(workers):  # processes start on demand: one submission each starts them all
            pool.submit(int)


def forget_pool(pool: ProcessPoolExecutor | None) -> None:
    """Drop a broken pool, so the next batch starts a new one."""
    with _lock:
        for workers, known in list(_pools.items()):
            if known is pool:
                del _pools[workers]


@atexit.register
def stop_read_workers() -> None:
    """End every read worker of this process."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
