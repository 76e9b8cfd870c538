"""Hostile files in an outbox: each one refuses itself, and the rest of its batch loads.

Every case drops one good export (和平区's street centre) and one hostile export (a community
workstation of the same street) into the same batch, syncs it for real (folders, a DuckDB
file), and requires the hostile file registered as rejected with a reason that names the
problem and the fix, and the good file loaded whole.
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from connectors.safety import MAX_CSV_LINE_BYTES, refuse_long_lines
from flows.pipeline import BatchOutcome, sync_sources
from warehouse.schema import open_warehouse

SAMPLES = Path(__file__).parent.parent / "samples"
GOOD_SOURCE, BAD_SOURCE = "120101001000", "120101001001"
GOOD_CSV = SAMPLES / "失业登记_120101001000_20261127_utf8.csv"
HEADER = GOOD_CSV.read_text(encoding="utf-8").splitlines()[0]
ROW = "3,王芳,120101198001010014,女,13812345678,120101001001,2026-11-02,2026-11-04,身份证,"
BAD_NAME = f"失业登记_{BAD_SOURCE}_20261127.csv"


def drop(root: Path, source: str, name: str) -> Path:
    """The path of an export in a source's outbox (folder layout: district/source/file)."""
    folder = root / source[:6] / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def sync_with(tmp_path: Path, write_bad: Callable[[Path], None], name: str = BAD_NAME) -> BatchOutcome:
    """Sync one batch holding the good export and the hostile one written by ``write_bad``."""
    root = tmp_path / "drops"
    shutil.copy(GOOD_CSV, drop(root, GOOD_SOURCE, GOOD_CSV.name))
    write_bad(drop(root, BAD_SOURCE, name))
    old = time.time() - 3_600  # settled long ago: no waiting
    for path in root.rglob("*.*"):
        os.utime(path, (old, old))
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    try:
        return sync_sources(con, root, [GOOD_SOURCE, BAD_SOURCE], sleep=lambda _: None)
    finally:
        con.close()


def assert_only_bad_refused(outcome: BatchOutcome, *words: str, name: str = BAD_NAME) -> str:
    """The hostile file is rejected with a reason holding ``words``; the good file loaded whole."""
    by_source = {e.source_id: e for e in outcome.entries}
    bad, good = by_source[BAD_SOURCE], by_source[GOOD_SOURCE]
    assert bad.status == "rejected" and bad.rows_in == 0
    assert bad.error and name in bad.error and "—" in bad.error  # names the file, then the fix
    for word in words:
        assert word in bad.error
    assert good.status != "rejected" and good.rows_in == 2
    return bad.error


def committed_files(tmp_path: Path) -> dict[str, str]:
    """Source → status of every file the warehouse registered."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT source_id, status FROM ops.files").fetchall())  # type: ignore[arg-type]
    finally:
        con.close()


def test_oversized_cell_refuses_only_its_file(tmp_path: Path) -> None:
    def write(path: Path) -> None:
        path.write_text(f"{HEADER}\n{ROW.replace('身份证', 'x' * 200_000)}\n", encoding="utf-8")

    error = assert_only_bad_refused(sync_with(tmp_path, write), "cell is longer than", "unclosed quote")
    assert "Traceback" not in error
    assert committed_files(tmp_path) == {GOOD_SOURCE: "loaded", BAD_SOURCE: "rejected"}


def test_unclosed_quote_swallowing_the_file_refuses_only_its_file(tmp_path: Path) -> None:
    def write(path: Path) -> None:
        rows = "\n".join(ROW for _ in range(3_000))
        path.write_text(f"{HEADER}\n{ROW.replace('王芳', chr(34) + '王芳')}\n{rows}\n", encoding="utf-8")

    assert_only_bad_refused(sync_with(tmp_path, write), "cell is longer than")


def test_workbook_with_a_truncated_sheet_refuses_only_its_file(tmp_path: Path) -> None:
    # The zip is sound, the sheet's XML is cut in half: calamine raises XmlError while the
    # rows are read, which no reader caught (it stopped the whole batch).
    sample = zipfile.ZipFile(SAMPLES / "失业登记_120101001000_20261127.xlsx")
    name = f"失业登记_{BAD_SOURCE}_20261127.xlsx"

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as out:
            for info in sample.infolist():
                data = sample.read(info)
                out.writestr(info.filename, data[: len(data) // 2] if "worksheets/" in info.filename else data)

    assert_only_bad_refused(sync_with(tmp_path, write, name), "cannot be read", "XmlError", name=name)


def test_single_line_of_columns_refuses_only_its_file(tmp_path: Path) -> None:
    # The real failure of a huge one-line file is memory: csv builds millions of fields for
    # the header scan. A 5 MiB line shows it without 150 MB on disk (the slow test has them).
    def write(path: Path) -> None:
        path.write_bytes(HEADER.encode() + b"," + b"a," * (MAX_CSV_LINE_BYTES // 2 + 10))

    assert_only_bad_refused(sync_with(tmp_path, write), "line 1 is longer than", "missing line break")


@pytest.mark.slow
@pytest.mark.parametrize("separator", [b",", b"x"], ids=["commas", "one-cell"])
def test_150_mb_single_line_file_refuses_only_its_file(tmp_path: Path, separator: bytes) -> None:
    def write(path: Path) -> None:
        block = (b"a" + separator) * (1 << 19)  # 1 MiB
        with path.open("wb") as handle:
            handle.write(HEADER.encode() + b"\n")
            for _ in range(150):
                handle.write(block)

    started = time.monotonic()
    assert_only_bad_refused(sync_with(tmp_path, write), "line 2 is longer than")
    assert time.monotonic() - started < 60


def test_undecodable_bytes_past_the_sample_refuse_only_their_file(tmp_path: Path) -> None:
    def write(path: Path) -> None:
        rows = "\n".join(ROW for _ in range(5_000))
        path.write_bytes(f"{HEADER}\n{rows}\n".encode() + "5,赵六,x\n".encode("gbk"))

    assert_only_bad_refused(sync_with(tmp_path, write), "cannot decode")


def test_truncated_workbook_refuses_only_its_file(tmp_path: Path) -> None:
    sample = (SAMPLES / "失业登记_120101001000_20261127.xlsx").read_bytes()
    name = f"失业登记_{BAD_SOURCE}_20261127.xlsx"
    outcome = sync_with(tmp_path, lambda p: p.write_bytes(sample[: len(sample) // 2]), name)
    assert_only_bad_refused(outcome, "workbook", name=name)


def test_binary_file_named_csv_refuses_only_its_file(tmp_path: Path) -> None:
    assert_only_bad_refused(sync_with(tmp_path, lambda p: p.write_bytes(os.urandom(4096) + b"\x00")), "binary")


def test_long_line_scan_finds_the_line_and_passes_ordinary_files(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a\n" * 10 + b"b" * 101 + b"\nc\n")
    assert refuse_long_lines(path, limit=100) is not None and "line 11" in (refuse_long_lines(path, 100) or "")
    path.write_bytes(b"a\n" * 10 + b"b" * 100 + b"\nc\n")
    assert refuse_long_lines(path, limit=100) is None
    assert refuse_long_lines(GOOD_CSV) is None
    assert refuse_long_lines(SAMPLES / "失业登记_120101001000_20261127.xlsx", limit=1) is None  # CSV only
