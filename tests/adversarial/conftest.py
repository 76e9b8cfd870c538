"""Fixtures of the adversarial suite: a person recorded by two districts, a portal over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flows.pipeline import sync_sources
from portal.app import create_app
from portal.auth import hash_password
from tests.cases import BASE, SOURCE, TODAY
from tests.test_history import write_export
from tests.test_portal_http import PASSWORD, login
from tierhub.settings import TierhubSettings
from warehouse.schema import open_warehouse

HEPING, NINGHE = "120101000000", "120117000000"
NINGHE_SOURCE = "120117001000"
# The same person as 和平区 recorded them, and as 宁河区 recorded them later with another name and phone.
OWN = {**BASE}
ELSEWHERE = {
    **BASE,
    "name": "张卫东",
    "mobile_phone": "13999990000",
    "community_code": "120117001001",
    "registration_date": "2026-11-20",
    "handled_at": "2026-11-21",
}
ACCOUNTS = {
    "heping": ("district", HEPING),
    "heping_street": ("street", SOURCE),
    "heping_community": ("community", "120101001001"),
    "ninghe": ("district", NINGHE),
    "city": ("city", "120000000000"),
    "analyst": ("analyst", HEPING),
    "admin": ("admin", "120000000000"),
}


def sync_both_districts(
    root: Path, own: dict[str, str | None], elsewhere: dict[str, str | None], elsewhere_day: str
) -> duckdb.DuckDBPyConnection:
    """和平区's record (exported 2026-11-05) and 宁河区's (exported ``elsewhere_day``) synced into
    ``root``/warehouse.duckdb; the warehouse, open."""
    drops = root / "drops"
    write_export(drops / SOURCE[:6] / SOURCE, f"失业登记_{SOURCE}_20261105.csv", [own])
    write_export(
        drops / NINGHE_SOURCE[:6] / NINGHE_SOURCE, f"失业登记_{NINGHE_SOURCE}_{elsewhere_day}.csv", [elsewhere]
    )
    con = open_warehouse(root / "warehouse.duckdb")
    try:
        sync_sources(con, drops, [SOURCE, NINGHE_SOURCE], today=TODAY)
    except BaseException:
        con.close()
        raise
    return con


@pytest.fixture(scope="session")
def two_districts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse where 宁河区 submitted a later record (other name, other phone) for a 和平区 person."""
    root = tmp_path_factory.mktemp("two_districts")
    path = root / "warehouse.duckdb"
    con = sync_both_districts(root, OWN, ELSEWHERE, "20261122")
    try:
        # The precondition of the attack: the city-wide master holds 宁河区's values.
        [(name, phone)] = con.execute("SELECT name, mobile_phone FROM core.persons").fetchall()
        assert (name, phone) == (ELSEWHERE["name"], ELSEWHERE["mobile_phone"])
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def two_district_app(two_districts: Path, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The portal over that warehouse, one account per role."""
    settings = TierhubSettings(
        home=tmp_path_factory.mktemp("portal2"), warehouse_path=two_districts, portal_ip_max_failures=10_000
    )
    app = create_app(settings)
    password_hash = hash_password(PASSWORD)
    for name, (role, code) in ACCOUNTS.items():
        app.state.portal.state.add_user(name, f"{name} user", role, code, password_hash)
    return app


@pytest.fixture
def signed_in_as(two_district_app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """``signed_in_as[name]``: a client signed in as that account (made on first use)."""
    clients: dict[str, TestClient] = {}

    class Clients(dict[str, TestClient]):
        def __missing__(self, name: str) -> TestClient:
            client = login(TestClient(two_district_app), name)
            clients[name] = client
            self[name] = client
            return client

    yield Clients()
    for client in clients.values():
        client.close()
