"""Faults inside a load's commit: whatever statement fails, the warehouse equals its state before the batch.

The hub's one promise is that nothing is lost: a file registered in ``ops.files`` whose rows
are missing would be skipped by the next run for ever. So every statement ``commit_batch``
sends is made to fail in turn — alternately as a DuckDB error and as an interrupt (Ctrl-C, a
bug) — and each time every table of the warehouse must be exactly as before, and a clean retry
must load the batch whole.

Which commit: two sources' exports of two items (71 statements), after the test has shown that
it sends statements from every place in the hub's code that the commit of the same sources'
exports of all items sends from (the chain of calls inside the project; a loop over the items
sends the same statements for each item). Replaying the full commit up to each of its ~390
statements cost the square of that number: 13 to 16 minutes, the slowest test of the suite.
"""

from __future__ import annotations

import copy
import datetime as dt
import traceback
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.exports import Selection
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
        self.sites: list[Site] = []

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


ITEMS = frozenset({"SB01", "JY02"})  # person master and history, quarantine, warnings, case index
Site = tuple[tuple[str, int], ...]


@pytest.fixture(scope="module")
def warehouse_and_batches(
    city: GeneratedCity, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, PreparedBatch, PreparedBatch]:
    """A warehouse holding part of the demo city; two more sources prepared (judged, not committed)
    with every item, and with two items."""
    path = tmp_path_factory.mktemp("faults") / "warehouse.duckdb"
    codes = [s.code for s in select_sources("demo")]
    first, second = codes[:12], codes[12:14]
    con = open_warehouse(path)
    try:
        commit_prepared(con, prepare_batch(con, city.drops, first, batch_state(con, first), today=TODAY))
        full = prepare_batch(con, city.drops, second, batch_state(con, second), today=TODAY)
        two = prepare_batch(
            con, city.drops, second, batch_state(con, second), today=TODAY, selection=Selection(items=ITEMS)
        )
    finally:
        con.close()
    assert full.judged and two.judged and len(two.outcome.entries) < len(full.outcome.entries)
    return path, full, two


ROOT = Path(__file__).resolve().parents[2]


def call_site() -> Site:
    """Where the hub's code sends the current statement: its chain of calls inside the project."""
    return tuple(
        (frame.filename, frame.lineno or 0)
        for frame in traceback.extract_stack()
        if frame.filename.startswith(str(ROOT))
        and not frame.filename.startswith((str(ROOT / ".venv"), str(ROOT / "tests")))
    )


def commit_sites(path: Path, prepared: PreparedBatch, tmp_path: Path) -> list[Site]:
    """Where each statement of the commit up to and including COMMIT is sent from (on a copy)."""
    copy_path = tmp_path / "count.duckdb"
    copy_path.write_bytes(path.read_bytes())
    con = open_warehouse(copy_path)
    try:
        counting = FailingConnection(con, fail_at=-1, error=Injected)
        commit_prepared(counting, copy.deepcopy(prepared))  # type: ignore[arg-type]
    finally:
        con.close()
        copy_path.unlink()
    # Statements after COMMIT only drop this connection's temp tables (their failure is ignored).
    assert counting.commit_at is not None
    return counting.sites[: counting.commit_at + 1]


@pytest.mark.timeout(1200)
def test_a_fault_at_any_statement_of_the_commit_leaves_the_warehouse_unchanged(
    warehouse_and_batches: tuple[Path, PreparedBatch, PreparedBatch], tmp_path: Path
) -> None:
    original, full, prepared = warehouse_and_batches
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(original.read_bytes())
    sites = commit_sites(path, prepared, tmp_path)
    everywhere = set(commit_sites(path, full, tmp_path))
    # The smaller commit goes everywhere the full one goes: registry, facts, quarantine, case
    # index, person master and history, supersession, cursor, source status, COMMIT.
    missing = sorted(everywhere - set(sites))
    assert not missing, [[f"{Path(f).name}:{line}" for f, line in site[-3:]] for site in missing]
    assert len(everywhere) > 20
    kinds: list[tuple[type[BaseException], type[BaseException]]] = [
        (duckdb.IOException, WarehouseError),  # a DuckDB error: wrapped, with the file named
        (Injected, Injected),  # an interrupt or a bug: raised as is
    ]
    con = open_warehouse(path)
    # One batch value for every attempt, as the runners retry a commit step with the value they hold:
    # a failed attempt must leave it as it came (provisional file ids), not only the warehouse.
    held = copy.deepcopy(prepared)
    try:
        before = digest(con)
        for fail_at in range(len(sites)):
            error, expected = kinds[fail_at % 2]
            failing = FailingConnection(con, fail_at, error)
            with pytest.raises(expected):
                commit_prepared(failing, held)  # type: ignore[arg-type]
            assert digest(con) == before, f"statement {fail_at} of {len(sites)} ({error.__name__}) left a trace"
        # And the batch still loads whole afterwards.
        outcome = commit_prepared(con, held)
        after = digest(con)
        orphans = con.execute(
            "SELECT count(*) FROM (SELECT file_id FROM core.cases UNION ALL SELECT file_id FROM quarantine.rows "
            "UNION ALL SELECT file_id FROM ops.cursor) WHERE file_id NOT IN (SELECT file_id FROM ops.files)"
        ).fetchone()
    finally:
        con.close()
    assert orphans == (0,), "rows of the retried batch point at no registered file"
    assert outcome.load is not None and outcome.load.rows_in == sum(e.rows_in for e in prepared.outcome.entries)
    assert after["ops.files"][0] == before["ops.files"][0] + len(prepared.outcome.entries)
