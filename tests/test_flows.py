"""The Prefect flow gives the same warehouse as the plain functions, and is deployable."""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb
import pytest
import yaml

from tierhub.synth.city import GeneratedCity

ROOT = Path(__file__).parents[1]


def counts(path: Path, district: str) -> tuple[int, ...]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.files "
            "WHERE starts_with(source_id, ?)",
            [district],
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return tuple(int(x) for x in row)


@pytest.mark.usefixtures("prefect_harness")
def test_sync_flow_matches_the_plain_pipeline(city: GeneratedCity, synced: Path, tmp_path: Path) -> None:
    from flows.sync import sync_flow

    warehouse = tmp_path / "flow.duckdb"
    summary = sync_flow(
        drops_root=str(city.drops), warehouse=str(warehouse), districts=["120101"], sources_per_batch=30
    )
    assert len(summary.batches) == 3  # 70 sources of 和平区 in batches of 30
    assert counts(warehouse, "120101") == counts(synced, "120101")
    assert summary.total("rows_loaded") + summary.total("rows_quarantined") == counts(warehouse, "120101")[1]


def test_every_deployment_entrypoint_imports() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert config["deployments"]
    for deployment in config["deployments"]:
        module_path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert hasattr(getattr(module, name), "fn"), deployment["name"]
