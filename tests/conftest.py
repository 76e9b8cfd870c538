"""Shared fixtures: one generated demo city and its synced warehouse per session."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded API needs ~17 s to start here; on a busy 2-core machine 20 s is too tight.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The commands' output is captured as from a pipe: the width of the terminal pytest runs in must
# not decide how a table wraps (a test that wants a width sets COLUMNS itself).
os.environ.pop("COLUMNS", None)
# Test warehouses hold synthetic people: unencrypted unless a test sets a key (test_encryption.py).
os.environ.setdefault("TIERHUB_ENCRYPT", "false")
# Flows run inside the test process: keep its CPU priority (tests/test_priority.py tests lowering it).
os.environ.setdefault("TIERHUB_SYNC_NICENESS", "0")

from flows.pipeline import sync_sources
from tests.sshd import Sshd
from tests.system import require_program
from tierhub.synth.city import GeneratedCity, generate_city, select_sources
from warehouse.readers import open_reader
from warehouse.schema import open_warehouse

TODAY = dt.date.today()


def pytest_configure(config: pytest.Config) -> None:
    """One day for the whole run: pytest-xdist's workers (spawned after this, inheriting it) must
    collect the same tests, and a test named after a date collected on each side of midnight would not be."""
    os.environ.setdefault("TIERHUB_TEST_RUN_DAY", dt.date.today().isoformat())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, so the workers start on the long ones and finish on short ones together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCity:
    """The demo-scale synthetic city (和平区 + 宁河区), generated once."""
    return generate_city(tmp_path_factory.mktemp("city"), scale="demo", seed=7, as_of=TODAY)


@pytest.fixture(scope="session")
def synced(city: GeneratedCity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding the demo city, synced without Prefect (the plain functions)."""
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    con = open_warehouse(path)
    try:
        codes = [s.code for s in select_sources("demo")]
        for i in range(0, len(codes), 400):
            sync_sources(con, city.drops, codes[i : i + 400], today=TODAY)
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse_ro(synced: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the synced demo warehouse."""
    con = open_reader(synced)
    yield con
    con.close()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sshd]:
    """A real OpenSSH sshd on loopback serving ``sshd.root``; the client key is in the env."""
    require_program("sshd")
    require_program("ssh-keygen")
    server = Sshd(tmp_path / "sshd")
    server.start()
    monkeypatch.setenv("TIERHUB_TEST_SFTP_KEY", str(server.client_key))
    yield server
    server.stop()
