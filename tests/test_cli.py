"""The command line: every command documented, and the README's first command works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli.common import ScaleName
from flows.cli.environment import prefect_api_configured, use_tierhub_prefect_home
from portal.masking import Role
from tierhub.errors import ConfigError
from tierhub.synth.city import SCALES
from warehouse.schema import open_warehouse

ROOT = Path(__file__).parents[1]
COMMANDS = sorted(
    [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    + [
        f"{group.name} {c.name}"
        for group in app.registered_groups
        if group.typer_instance
        for c in group.typer_instance.registered_commands
    ]
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_a_readme_mention(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
    assert f"tierhub {command}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_options_with_fixed_values_show_their_choices() -> None:
    assert set(get_args(ScaleName)) == set(SCALES)
    wide = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    for command, choices in (
        (["generate"], "demo|district|full"),
        (["demo"], "demo|district|full"),
        (["users", "add"], "|".join(Role)),
        (["sync"], "street|community"),
        (["report"], "zh|en"),
    ):
        result = CliRunner().invoke(app, [*command, "--help"], env=wide)
        assert choices in result.output, (command, result.output)


def test_version_and_python_m_tierhub() -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    version = subprocess.run([str(tierhub), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip().startswith("tierhub 0.")
    result = subprocess.run(
        [sys.executable, "-m", "tierhub", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "standards" in result.stdout and "sync" in result.stdout
    shown = subprocess.run([sys.executable, "-m", "tierhub", "--version"], capture_output=True, text=True, timeout=120)
    assert shown.stdout == version.stdout


def test_a_pipe_gets_whole_values_and_scripts_get_json(tmp_path: Path) -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TIERHUB_HOME": str(tmp_path)}
    piped = subprocess.run(
        [str(tierhub), "sources", "list", "--in", "120101", "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert piped.returncode == 0, piped.stderr
    assert "…" not in piped.stdout and max(len(line) for line in piped.stdout.splitlines()) > 80
    listed = json.loads(
        subprocess.run(
            [str(tierhub), "sources", "list", "--in", "120101", "--limit", "3", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        ).stdout
    )
    assert listed["shown"] == 3 and listed["total"] > 3
    assert all(s["code"].startswith("120101") and s["files"] == 0 for s in listed["sources"])
    items = json.loads(CliRunner().invoke(app, ["standards", "list", "--json"]).output)["items"]
    assert {"JY02", "SB01"} <= {i["code"] for i in items}
    assert next(i for i in items if i["code"] == "JY02")["time_limit_zh"] == "5个工作日"


@pytest.mark.parametrize("name", ["JY02", "jy02", "失业登记", "失业人员登记"])
def test_standards_show_finds_an_item_by_code_name_or_alias(name: str) -> None:
    result = CliRunner().invoke(app, ["standards", "show", name])
    assert result.exit_code == 0, result.output
    for text in ("JY02 失业登记", "2024.1版", "公民身份号码", "必填", "解除或终止劳动关系证明", "离职证明"):
        assert text in result.output, text
    for text in ("5个工作日", "0 未知的性别", "附录", "社区劳动保障工作站", "身份证号校验位错误"):
        assert text in result.output, text


def test_standards_show_in_english_and_unknown_items() -> None:
    result = CliRunner().invoke(app, ["standards", "show", "JY02", "--lang", "en", "--as-of", "2020-01-01"])
    assert result.exit_code == 0, result.output
    assert "Unemployment registration" in result.output and "not yet on 2020-01-01" in result.output
    assert "id_number" in result.output and "5 working days" in result.output
    missing = CliRunner().invoke(app, ["standards", "show", "no-such-item"])
    assert missing.exit_code != 0 and "JY02" in str(missing.exception)


def test_embedded_prefect_state_lives_under_the_tierhub_home(tmp_path: Path) -> None:
    nothing = str(tmp_path / "no-profiles.toml")
    env: dict[str, str] = {"PREFECT_PROFILES_PATH": nothing}
    assert use_tierhub_prefect_home(env, tmp_path / "home") == tmp_path / "home" / "prefect"
    assert env["PREFECT_HOME"] == str(tmp_path / "home" / "prefect")
    assert not (tmp_path / "home").exists()  # no installation there: nothing is created until a sync
    (tmp_path / "installed").mkdir()
    assert use_tierhub_prefect_home(dict(env, PREFECT_HOME=""), tmp_path / "installed")
    assert (tmp_path / "installed" / "prefect").is_dir()
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    # A user's own PREFECT_HOME, or a Prefect API to talk to, is left alone.
    mine = {"PREFECT_PROFILES_PATH": nothing, "PREFECT_HOME": "/srv/prefect"}
    assert use_tierhub_prefect_home(mine, tmp_path) is None and mine["PREFECT_HOME"] == "/srv/prefect"
    server = {"PREFECT_PROFILES_PATH": nothing, "PREFECT_API_URL": "http://prefect:4200/api"}
    assert use_tierhub_prefect_home(server, tmp_path) is None and "PREFECT_HOME" not in server
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://prefect:4200/api"\n')
    assert prefect_api_configured({"PREFECT_PROFILES_PATH": str(profiles)}, cwd=tmp_path)
    assert not prefect_api_configured({"PREFECT_PROFILES_PATH": str(profiles), "PREFECT_PROFILE": "other"}, tmp_path)
    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://prefect:4200/api"\n')
    assert prefect_api_configured({"PREFECT_PROFILES_PATH": nothing}, cwd=tmp_path)


SETTINGS_AFTER_MAIN = """
import sys
from flows.cli import main
assert "prefect" not in sys.modules, "the CLI must not import Prefect before it chose PREFECT_HOME"
sys.argv = ["tierhub", "--version"]
try:
    main()
except SystemExit:
    pass
from prefect.settings import get_current_settings
print(get_current_settings().home)
"""


@pytest.mark.slow
def test_prefect_reads_the_home_the_cli_chose(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"TIERHUB_HOME": str(tmp_path / "home"), "PREFECT_PROFILES_PATH": str(tmp_path / "none.toml")}
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_AFTER_MAIN], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == str((tmp_path / "home" / "prefect").resolve())


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    result = subprocess.run(
        [str(tierhub), "sync", "--drops", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_safe_to_rerun(tmp_path: Path) -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    home = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"TIERHUB_HOME": str(tmp_path / "tierhub-home"), "PREFECT_PROFILES_PATH": str(tmp_path / "none.toml")}
    run = [str(tierhub), "demo", "--home", str(home)]
    first = subprocess.run(run, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Warehouse:" in first.stdout and "quarantine.reasons" in first.stdout
    # No Prefect API configured: the sync runs directly, no temporary API and no Prefect database (decision 0026).
    assert not list((tmp_path / "tierhub-home" / "prefect").glob("*.db")), "an embedded demo started a Prefect server"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    [(files, rows)] = con.execute("SELECT count(*), sum(rows_loaded) FROM ops.files").fetchall()
    con.close()
    assert files > 500 and rows > 10_000
    second = subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    facts = json.loads(second.stdout)
    assert facts["run"]["files"] == 0 and facts["run"]["skipped_files"] > 500
    assert sum(d["files"] for d in facts["warehouse_by_district"]) == files and facts["quarantine_reasons"]


def test_serve_stops_when_it_cannot_read_the_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    open_warehouse(warehouse, key=None).close()  # a plain warehouse, like the demo's
    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path))
    monkeypatch.setenv("TIERHUB_WAREHOUSE_PATH", str(warehouse))  # serve sets it for its workers; restored after
    monkeypatch.setenv("TIERHUB_ENCRYPT", "true")
    monkeypatch.delenv("TIERHUB_WAREHOUSE_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--warehouse", str(warehouse), "--port", "1"])
    assert isinstance(result.exception, ConfigError) and "TIERHUB_WAREHOUSE_KEY" in str(result.exception)
