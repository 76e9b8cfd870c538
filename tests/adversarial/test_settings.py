"""Wrong settings fail at once, with one line naming the file, the line and the fix.

A typo in the sources file, an unknown item or division code on the command line, a missing
warehouse key: none of them is transient, so none may be ignored, retried or left to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.config import load_sources
from tierhub.errors import ConfigError

SOURCES = """\
default:
  kind: folder
  root: /srv/drops
{districts}:
  "120101":
    kind: sftp
    {host}: sftp.hp.example
    user: tierhub
    key_env: TIERHUB_SFTP_KEY
    known_hosts: /etc/tierhub/known_hosts
    root: /srv/outbox
sources:
  "120101001001": {{{encoding}: gbk}}
"""


def write(tmp_path: Path, districts: str = "districts", host: str = "host", encoding: str = "encoding") -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES.format(districts=districts, host=host, encoding=encoding), encoding="utf-8")
    return path


def test_the_sample_sources_file_loads(tmp_path: Path) -> None:
    config = load_sources(write(tmp_path))
    assert config.endpoint_for("120101001001").kind == "sftp"


@pytest.mark.parametrize("outbox", ["/etc", "../../etc", "{source}/../..", "{district6}/{sourc}", "\\\\host\\share"])
def test_an_outbox_template_that_leaves_the_root_or_names_no_placeholder_is_refused(
    tmp_path: Path, outbox: str
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"default:\n  kind: folder\n  root: /srv/drops\n  outbox: {json.dumps(outbox)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    assert "outbox" in str(caught.value) and str(path) in str(caught.value)


def test_misspelt_districts_key_names_file_line_and_district(tmp_path: Path) -> None:
    path = write(tmp_path, districts="distrcts")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert f"{path}:4" in message and "'distrcts'" in message and "120101" in message
    assert "did you mean 'districts'" in message


def test_misspelt_endpoint_key_names_its_line_and_district(tmp_path: Path) -> None:
    path = write(tmp_path, host="hots")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert f"{path}:7" in message and "districts.120101.hots: Extra inputs are not permitted (line 7)" in message


def test_misspelt_source_override_names_its_line_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, encoding="encodng")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    assert f"{path}:13" in str(caught.value) and "sources.120101001001.encodng" in str(caught.value)


def test_unknown_district_code_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('"120101"', '"120199"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.yaml:5: district 120199 \(line 5\) is not a Tianjin district"):
        load_sources(path)


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("default:\n  kind: folder\n  root: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.yaml:\d+: not valid YAML"):
        load_sources(path)


# -- unknown codes on the command line: refused before anything starts --


def tierhub(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, float]:
    """Run the real ``tierhub`` command: (exit code, stderr, seconds)."""
    (tmp_path / "drops").mkdir(exist_ok=True)
    environ = {
        **os.environ,
        "TIERHUB_HOME": str(tmp_path),
        "TIERHUB_DROPS_ROOT": str(tmp_path / "drops"),
        "COLUMNS": "200",
        **env,
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tierhub", *args], env=environ, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stderr, time.monotonic() - started


def test_unknown_item_code_is_refused_before_the_sync_starts(tmp_path: Path) -> None:
    code, stderr, seconds = tierhub(tmp_path, "sync", "--item", "XX99")
    assert code == 2 and seconds < 15
    assert stderr.count("\n") == 1 and "XX99" in stderr and "JY02" in stderr  # one line, with the known codes
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").iterdir())


def test_unknown_district_code_is_refused_before_the_sync_starts(tmp_path: Path) -> None:
    code, stderr, seconds = tierhub(tmp_path, "sync", "--district", "999999")
    assert code == 2 and seconds < 15
    assert stderr.count("\n") == 1 and "999999" in stderr and "120101 和平区" in stderr


def test_street_code_as_district_is_refused() -> None:
    from tierhub.reference import divisions

    with pytest.raises(ConfigError, match="a street"):
        divisions().district_codes(["120101001000"])
    assert divisions().district_codes(["120101", "120117000000"]) == ["120101000000", "120117000000"]


def test_item_names_become_codes_and_unknown_items_list_the_catalogue() -> None:
    from tierhub.errors import StandardNotFound
    from tierhub.standards import catalogue

    assert catalogue().codes_of(["失业登记", "JY03"]) == ["JY02", "JY03"]
    with pytest.raises(StandardNotFound, match="JY01"):
        catalogue().codes_of(["XX99"])


def test_sync_flow_refuses_unknown_codes_before_any_task() -> None:
    from flows.sync import sync_flow
    from tierhub.errors import StandardNotFound

    with pytest.raises(StandardNotFound):
        sync_flow.fn(items=["XX99"])
    with pytest.raises(ConfigError, match="999999"):
        sync_flow.fn(districts=["999999"])


# -- a wrong setting is not transient: never retried --


def test_missing_warehouse_key_fails_the_cli_at_once_in_one_line(tmp_path: Path) -> None:
    code, stderr, seconds = tierhub(tmp_path, "sync", TIERHUB_ENCRYPT="true", TIERHUB_WAREHOUSE_KEY="")
    assert code == 2 and seconds < 15
    assert stderr.count("\n") == 1 and "not set" in stderr and "Traceback" not in stderr


def test_config_error_is_not_retried_but_a_busy_warehouse_is() -> None:
    from prefect.states import Failed

    from flows.retries import transient_only
    from tierhub.errors import WarehouseError

    assert transient_only(None, None, Failed(data=ConfigError("no key"))) is False  # type: ignore[arg-type]
    assert transient_only(None, None, Failed(data=WarehouseError("in use"))) is True  # type: ignore[arg-type]


def test_every_retrying_task_refuses_to_retry_config_errors() -> None:
    from prefect import Task

    import flows.maintain
    import flows.reports
    import flows.sync
    from flows.retries import transient_only

    tasks = [
        value
        for module in (flows.sync, flows.maintain, flows.reports)
        for value in vars(module).values()
        if isinstance(value, Task) and value.retries
    ]
    assert len(tasks) >= 9
    assert [t.name for t in tasks if t.retry_condition_fn is not transient_only] == []


@pytest.mark.slow
def test_missing_warehouse_key_in_a_task_fails_at_once(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    from flows.sync import read_state

    monkeypatch.setenv("TIERHUB_ENCRYPT", "true")
    monkeypatch.delenv("TIERHUB_WAREHOUSE_KEY", raising=False)

    @flow
    def reads() -> None:
        read_state(str(tmp_path / "w.duckdb"), [])

    started = time.monotonic()
    with pytest.raises(ConfigError, match="not set"):
        reads()
    assert time.monotonic() - started < 5  # the first retry alone would wait 5 s


# -- deployment: settings before the worker, schedules off until resumed --

ROOT = Path(__file__).parent.parent.parent


def test_every_schedule_is_declared_paused() -> None:
    import yaml

    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    schedules = [s for d in declared["deployments"] for s in d.get("schedules") or []]
    assert schedules and all(s["active"] is False for s in schedules)
    assert "active: false" in (ROOT / "prefect.yaml").read_text(encoding="utf-8").split("name: tierhub")[0]


@pytest.mark.parametrize("doc", ["README.md", "docs/deployment.md"])
def test_deployment_docs_set_the_settings_before_the_worker_starts(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    worker = text.index("prefect worker start --pool tierhub-process")
    for setting in ("TIERHUB_HOME", "TIERHUB_WAREHOUSE_KEY"):
        assert f"export {setting}=" in text[:worker] or f"TIERHUB_HOME=/srv/tierhub {setting}" in text[:worker]
    assert "schedule resume" in text[worker:]
