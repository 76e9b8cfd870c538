"""Hostile or broken outboxes: links to elsewhere, missing folders, file names that forge log lines.

``tierhub sources check`` must look for each outbox and fail when one is missing; an outbox
that is a symbolic link (to ``/etc``, say) is refused, never followed; a file name holding a
newline or a terminal escape is printed escaped wherever it is shown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.config import FolderEndpoint
from connectors.local import LocalOutbox
from flows.cli import app
from flows.pipeline import sync_sources
from tierhub.errors import SourceUnreachable, UnreadableFile, printable
from warehouse.schema import open_warehouse

STREET = "120101001000"
SCOPE = "120101001"  # the street and its community workstations
SAMPLE = Path(__file__).parent.parent / "samples" / "失业登记_120101001000_20261127_utf8.csv"
FORGED = "失业登记_120101001000_20261127\n[ok] 120101001000 all files loaded\x1b[2J.csv"


def outbox(root: Path, source: str) -> Path:
    folder = root / source[:6] / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check(tmp_path: Path, root: Path) -> tuple[int, str]:
    """Run ``tierhub sources check`` over one street: (exit code, output)."""
    env = {"TIERHUB_HOME": str(tmp_path / "home"), "TIERHUB_DROPS_ROOT": str(root), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["sources", "check", "--in", SCOPE], env=env)
    return result.exit_code, result.output


def street_sources() -> list[str]:
    from flows.cli.sources import selected_sources

    return [s.code for s in selected_sources(SCOPE)]


def test_sources_check_with_missing_drops_root_exits_nonzero(tmp_path: Path) -> None:
    code, output = check(tmp_path, tmp_path / "no-such-root")
    assert code == 1
    assert f"0 of {len(street_sources())} sources reachable" in output
    assert "drops root" in output and "does not exist" in output


def test_sources_check_with_missing_outboxes_exits_nonzero(tmp_path: Path) -> None:
    root = tmp_path / "drops"
    sources = street_sources()
    for source in sources[:2]:
        outbox(root, source)
    code, output = check(tmp_path, root)
    assert code == 1
    assert f"2 of {len(sources)} sources reachable" in output
    assert f"outbox {root / sources[2][:6] / sources[2]} does not exist" in output


def test_sources_check_with_every_outbox_present_exits_zero(tmp_path: Path) -> None:
    root = tmp_path / "drops"
    for source in street_sources():
        outbox(root, source)
    code, output = check(tmp_path, root)
    assert code == 0, output
    assert f"{len(street_sources())} of {len(street_sources())} sources reachable" in output


def test_outbox_symlinked_to_etc_is_refused_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "drops"
    (root / STREET[:6]).mkdir(parents=True)
    (root / STREET[:6] / STREET).symlink_to("/etc")
    box = LocalOutbox(FolderEndpoint(root=str(root)))
    with pytest.raises(SourceUnreachable, match="symbolic link to /etc"):
        box.scan(STREET)
    with pytest.raises(SourceUnreachable, match="symbolic link"):
        box.probe(STREET)


def test_district_folder_symlinked_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    outbox(elsewhere, STREET)
    root = tmp_path / "drops"
    root.mkdir()
    (root / STREET[:6]).symlink_to(elsewhere / STREET[:6])
    with pytest.raises(SourceUnreachable, match="symbolic link"):
        LocalOutbox(FolderEndpoint(root=str(root))).scan(STREET)


def test_sync_reports_a_symlinked_outbox_as_unreachable_and_reads_nothing(tmp_path: Path) -> None:
    root = tmp_path / "drops"
    (root / STREET[:6]).mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    (root / STREET[:6] / STREET).symlink_to(secret)
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        outcome = sync_sources(con, root, [STREET], sleep=lambda _: None)
    finally:
        con.close()
    assert outcome.entries == []
    [(source, error)] = outcome.unreachable
    assert source == STREET and "symbolic link" in error


def test_sync_with_missing_drops_root_reports_every_source_unreachable(tmp_path: Path) -> None:
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        outcome = sync_sources(con, tmp_path / "gone", [STREET, "120101001001"], sleep=lambda _: None)
    finally:
        con.close()
    assert sorted(s for s, _ in outcome.unreachable) == [STREET, "120101001001"]


def test_newline_in_file_name_cannot_forge_a_line_in_sources_check(tmp_path: Path) -> None:
    root = tmp_path / "drops"
    for source in street_sources():
        outbox(root, source)
    (outbox(root, STREET) / FORGED).write_bytes(SAMPLE.read_bytes())
    code, output = check(tmp_path, root)
    assert code == 0, output
    assert "\x1b" not in output
    assert not any(line.startswith("[ok]") for line in output.splitlines())
    assert "\\n[ok] 120101001000" in output


def test_newline_in_file_name_is_escaped_in_errors_and_the_run_summary(tmp_path: Path) -> None:
    error = UnreadableFile("cannot be read", source_id=STREET, path=f"{STREET[:6]}/{STREET}/{FORGED}")
    assert "\n" not in str(error) and "\x1b" not in str(error)
    root = tmp_path / "drops"
    (outbox(root, STREET) / FORGED).write_bytes(SAMPLE.read_bytes())
    os.utime(outbox(root, STREET) / FORGED, (0, 0))
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        outcome = sync_sources(con, root, [STREET], sleep=lambda _: None)
    finally:
        con.close()
    [refusal] = outcome.refusals
    assert "\n" in refusal.path  # the record keeps the real name; only what is printed is escaped
    from flows.pipeline import PreparedBatch
    from flows.sync import BatchPlan, summarise

    prepared = PreparedBatch.__new__(PreparedBatch)
    object.__setattr__(prepared, "outcome", outcome)
    [summary] = summarise(BatchPlan("test", [STREET], "folder"), prepared)
    for path, problem in summary.errors:
        assert printable(path) == path and printable(problem) == problem


def test_printable_keeps_chinese_and_escapes_controls() -> None:
    assert printable("失业登记_120101001000_20261127.csv") == "失业登记_120101001000_20261127.csv"
    assert printable("a\nb\rc\x1b[31m\u202e") == "a\\nb\\rc\\x1b[31m\\u202e"
