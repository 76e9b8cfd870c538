"""Faults inside a load's commit: whatever statement fails, the warehouse equals its state before the batch.

The hub's one promise is that nothing is lost: a file registered in ``ops.files`` whose rows
are missing would be skipped by the next run for ever. So every statement ``commit_batch``
sends is made to fail — as a DuckDB error and as an interrupt (Ctrl-C, a bug) — and each time
every table of the warehouse must be exactly as before, and a clean retry must load the batch whole.

Which statements: the first statement sent from each place in the hub's code (the chain of
its calls inside the project: a loop over the items sends the same statement for every item),
the statement before COMMIT and COMMIT itself, the two kinds of fault taking turns. Replaying
the commit up to every one of its ~400 statements costs the square of their number (13 to 16
minutes, the slowest test of the suite); a fault in the insert of the fifth item takes the same
path as in the first.
"""

from __future__ import annotations

import copy
import datetime as dt
import traceback
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.pipeline import PreparedBatch, batch_state, commit_prepared, prepare_batch
from tierhub.errors import WarehouseError
from tierhub.synth.city import GeneratedCity, select_sources
from warehouse.schema import open_warehouse

TODAY = dt.date.today()
pytestmark = pytest.mark.slow


class Injected(Exception):
    """Not a DuckDB error: a bug or an interrupt in the middle of the commit."""


class FailingConnection:
    """A DuckDB connection that fails its ``fail_at``-th statement (counting from 0)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, fail_at: int, error: type[BaseException]) -> None:
        self._con = con
        self.fail_at = fail_at
        self.error = error
        self.statements = 0
        self.commit_at: int | None = None
        self.sites: list[tuple[tuple[str, int], ...]] = []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        # ROLLBACK must go through: it is how the commit cleans up after the fault.
        if sql.strip().upper() != "ROLLBACK":
            if sql.strip().upper() == "COMMIT":
                self.commit_at = self.statements
            if self.fail_at < 0:
                self.sites.append(call_site())
            if self.statements == self.fail_at:
                self.statements += 1
                raise self.error(f"injected fault at statement {self.fail_at}: {sql[:60]}")
            self.statements += 1
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def digest(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Every persistent table: (rows, order-independent hash of its rows)."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY ALL"
    ).fetchall()
    found = {}
    for schema, table in tables:
        row = con.execute(f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{schema}"."{table}" t').fetchone()
        assert row is not None
        found[f"{schema}.{table}"] = (int(row[0]), int(row[1]))
    return found


@pytest.fixture(scope="module")
def warehouse_and_batch(city: GeneratedCity, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedBatch]:
    """A warehouse holding part of the demo city, and a prepared (judged, not committed) batch of more."""
    path = tmp_path_factory.mktemp("faults") / "warehouse.duckdb"
    codes = [s.code for s in select_sources("demo")]
    first, second = codes[:12], codes[12:14]
    con = open_warehouse(path)
    try:
        commit_prepared(con, prepare_batch(con, city.drops, first, batch_state(con, first), today=TODAY))
        prepared = prepare_batch(con, city.drops, second, batch_state(con, second), today=TODAY)
    finally:
        con.close()
    assert prepared.judged and prepared.outcome.entries
    return path, prepared


ROOT = Path(__file__).resolve().parents[2]


def call_site() -> tuple[tuple[str, int], ...]:
    """Where the hub's code sends the current statement: its chain of calls inside the project."""
    return tuple(
        (frame.filename, frame.lineno or 0)
        for frame in traceback.extract_stack()
        if frame.filename.startswith(str(ROOT))
        and not frame.filename.startswith((str(ROOT / ".venv"), str(ROOT / "tests")))
    )


def fault_points(path: Path, prepared: PreparedBatch, tmp_path: Path) -> tuple[int, list[int]]:
    """(statements up to and including COMMIT, the statements to fail: the first from each call site, the last two)."""
    copy_path = tmp_path / "count.duckdb"
    copy_path.write_bytes(path.read_bytes())
    con = open_warehouse(copy_path)
    try:
        counting = FailingConnection(con, fail_at=-1, error=Injected)
        commit_prepared(counting, copy.deepcopy(prepared))  # type: ignore[arg-type]
    finally:
        con.close()
    # Statements after COMMIT only drop this connection's temp tables (their failure is ignored).
    assert counting.commit_at is not None
    total = counting.commit_at + 1
    first: dict[tuple[tuple[str, int], ...], int] = {}
    for index, site in enumerate(counting.sites[:total]):
        first.setdefault(site, index)
    return total, sorted({*first.values(), total - 2, total - 1})


@pytest.mark.timeout(1800)
def test_a_fault_at_any_kind_of_statement_of_the_commit_leaves_the_warehouse_unchanged(
    warehouse_and_batch: tuple[Path, PreparedBatch], tmp_path: Path
) -> None:
    original, prepared = warehouse_and_batch
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(original.read_bytes())
    total, points = fault_points(path, prepared, tmp_path)
    assert total > 20  # registry, facts, quarantine, case index, person master, history, cursor, status…
    assert len(points) > 10
    kinds: list[tuple[type[BaseException], type[BaseException]]] = [
        (duckdb.IOException, WarehouseError),  # a DuckDB error: wrapped, with the file named
        (Injected, Injected),  # an interrupt or a bug: raised as is
    ]
    con = open_warehouse(path)
    try:
        before = digest(con)
        for turn, fail_at in enumerate(points):
            error, expected = kinds[turn % 2]
            failing = FailingConnection(con, fail_at, error)
            with pytest.raises(expected):
                commit_prepared(failing, copy.deepcopy(prepared))  # type: ignore[arg-type]
            assert digest(con) == before, f"statement {fail_at} of {total} ({error.__name__}) left a trace"
        # And the batch still loads whole afterwards.
        outcome = commit_prepared(con, copy.deepcopy(prepared))
        after = digest(con)
    finally:
        con.close()
    assert outcome.load is not None and outcome.load.rows_in == sum(e.rows_in for e in prepared.outcome.entries)
    assert after["ops.files"][0] == before["ops.files"][0] + len(prepared.outcome.entries)
