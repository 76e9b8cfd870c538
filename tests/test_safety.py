"""What an outbox may hand tierhub, tested directly (connectors/safety.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from connectors.safety import MAX_FILE_BYTES, refuse_name, refuse_size, refuse_workbook

GOOD = "失业登记_120101001001_20261127.csv"


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../失业登记_120101001001_20261127.csv",
        "sub/失业登记_120101001001_20261127.csv",
        "/失业登记_120101001001_20261127.csv",
        "sub\\失业登记_120101001001_20261127.csv",
        "失业登记_120101001001_20261127.csv\x00.txt",
        "失业登记_120101001001\n_20261127.csv",
        "失业登记_120101001001_20261127\x1b.csv",
        "失业登记_120101001001_20261127\x7f.csv",
        ".失业登记_120101001001_20261127.csv",
        "失业登记_120101001001_20261127.exe",
        "失业登记_120101001001_20261127",
    ],
)
def test_unsafe_remote_names_are_refused(name: str) -> None:
    assert refuse_name(name) is not None


def test_a_slash_anywhere_is_refused_with_the_one_component_rule() -> None:
    assert "one path component" in (refuse_name("a/b.csv") or "")
    assert "one path component" in (refuse_name("b.csv/") or "")


@pytest.mark.parametrize("name", [GOOD, "失业登记_120101001001_20261127.XLSX", "JY02_120101001001_20261127.xls"])
def test_export_names_are_accepted(name: str) -> None:
    assert refuse_name(name) is None


def test_size_limit_is_inclusive() -> None:
    assert refuse_size(MAX_FILE_BYTES) is None
    assert refuse_size(MAX_FILE_BYTES + 1) is not None
    assert refuse_size(11, limit=10) == "file is 11 bytes, over the 10-byte limit"
    assert refuse_size(10, limit=10) is None


def test_zip_bomb_workbook_is_refused_and_a_normal_one_passes(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 5_000_000)
    assert "zip bomb" in (refuse_workbook(bomb) or "")
    sample = Path(__file__).parent / "samples" / "失业登记_120101001000_20261127.xlsx"
    assert refuse_workbook(sample) is None
    renamed = tmp_path / "bomb.csv"
    renamed.write_bytes(bomb.read_bytes())
    assert refuse_workbook(renamed) is None  # only XLSX files are archives
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    assert refuse_workbook(broken) is None  # left to the reader, which refuses it as unreadable


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a/b.csv", "one path component"),
        ("a\tb.csv", "contains control characters"),
        (".a.csv", "hidden or temporary file"),
        ("a.exe", "extension '.exe' is not an export format"),
        ("abc", "extension '(none)' is not an export format"),
    ],
)
def test_each_refusal_says_why(name: str, reason: str) -> None:
    assert reason in (refuse_name(name) or "")


def test_spaces_and_chinese_punctuation_are_fine_in_names() -> None:
    assert refuse_name("失业登记 （补报）_120101001001_20261127.csv") is None
    assert refuse_name("a\x7f.csv") is not None and refuse_name("a\x1f.csv") is not None


def test_a_line_exactly_at_the_limit_passes_whatever_the_chunking(tmp_path: Path) -> None:
    from connectors.safety import refuse_long_lines

    path = tmp_path / "x.csv"
    path.write_bytes(b"a" * 10 + b"\n" + b"b" * 10 + b"\n" + b"c" * 3)  # newlines on chunk boundaries
    assert refuse_long_lines(path, limit=10) is None
    path.write_bytes(b"a" * 10 + b"\n" + b"b" * 11)
    assert "line 2 is longer than 10 bytes" in (refuse_long_lines(path, limit=10) or "")
    path.write_bytes(b"a\n" * 7 + b"b" * 30)
    assert "line 8 " in (refuse_long_lines(path, limit=10) or "")


def test_done_markers_are_taken_as_markers_not_files(tmp_path: Path) -> None:
    from connectors.config import FolderEndpoint
    from connectors.local import LocalOutbox

    outbox = tmp_path / "120101" / "120101001001"
    outbox.mkdir(parents=True)
    (outbox / GOOD).write_text("x", encoding="utf-8")
    (outbox / f"{GOOD}.done").write_text("", encoding="utf-8")
    listings, refusals, markers = LocalOutbox(FolderEndpoint(root=str(tmp_path))).scan("120101001001")
    assert [x.name for x in listings] == [GOOD] and refusals == [] and markers == {GOOD}
