"""The command line: every command documented, and the README's first command works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tierhub.errors import ConfigError
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


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    result = subprocess.run(
        [str(tierhub), "sync", "--drops", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_end_to_end_and_is_safe_to_rerun(tmp_path: Path) -> None:
    tierhub = Path(sys.executable).parent / "tierhub"
    home = tmp_path / "demo"
    first = subprocess.run([str(tierhub), "demo", "--home", str(home)], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Warehouse:" in first.stdout and "quarantine.reasons" in first.stdout
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    [(files, rows)] = con.execute("SELECT count(*), sum(rows_loaded) FROM ops.files").fetchall()
    con.close()
    assert files > 500 and rows > 10_000
    second = subprocess.run([str(tierhub), "demo", "--home", str(home)], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 new files" in second.stdout


def test_serve_stops_when_it_cannot_read_the_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    open_warehouse(warehouse, key=None).close()  # a plain warehouse, like the demo's
    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path))
    monkeypatch.setenv("TIERHUB_WAREHOUSE_PATH", str(warehouse))  # serve sets it for its workers; restored after
    monkeypatch.setenv("TIERHUB_ENCRYPT", "true")
    monkeypatch.delenv("TIERHUB_WAREHOUSE_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--warehouse", str(warehouse), "--port", "1"])
    assert isinstance(result.exception, ConfigError) and "TIERHUB_WAREHOUSE_KEY" in str(result.exception)
