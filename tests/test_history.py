"""A corrected resubmission supersedes the quarantined original; the history keeps both."""

from __future__ import annotations

import csv
from pathlib import Path

from flows.pipeline import sync_sources
from tests.cases import BASE, SOURCE, TODAY, with_check
from tierhub.reference import field_dictionary
from warehouse.schema import open_warehouse


def write_export(outbox: Path, name: str, rows: list[dict[str, str | None]]) -> None:
    labels = {f: spec.zh_header for f, spec in field_dictionary().items()}
    fields = list(rows[0])
    outbox.mkdir(parents=True, exist_ok=True)
    with (outbox / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([labels[f] for f in fields])
        writer.writerows([[row[f] or "" for f in fields] for row in rows])


def test_a_corrected_row_supersedes_its_quarantined_original(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    outbox = drops / SOURCE[:6] / SOURCE
    other = {**BASE, "name": "李娜", "id_number": with_check("12010119900202002"), "sex": "女"}
    other["birth_date"] = "1990-02-02"
    wrong = {**BASE, "mobile_phone": "1381234567"}  # 10 digits
    write_export(outbox, f"失业登记_{SOURCE}_20261105.csv", [wrong, other])
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    first = sync_sources(con, drops, [SOURCE], today=TODAY).load
    assert (first.rows_loaded, first.rows_quarantined) == (1, 1)

    # The street fixes the phone number and re-exports both rows.
    write_export(outbox, f"失业登记_{SOURCE}_20261106.csv", [BASE, other])
    second = sync_sources(con, drops, [SOURCE], today=TODAY).load
    assert (second.rows_loaded, second.rows_quarantined) == (2, 0)

    history = con.execute(
        "SELECT q.load_id, q.superseded_by_load, q.superseded_valid, f.path "
        "FROM quarantine.rows q JOIN ops.files f ON f.file_id = q.superseded_by_file"
    ).fetchall()
    assert history == [(first.load_id, second.load_id, True, f"{SOURCE[:6]}/{SOURCE}/失业登记_{SOURCE}_20261106.csv")]
    assert con.execute("SELECT count(*) FROM quarantine.open_rows").fetchall() == [(0,)]

    # Both copies of the accepted record stay; only the newer one is current.
    facts = con.execute(
        "SELECT name, load_id, superseded_by_load FROM core.unemployment_registration ORDER BY name, load_id"
    ).fetchall()
    current = sorted((n, load) for n, load, superseded in facts if superseded is None)
    assert current == sorted([("张伟", second.load_id), ("李娜", second.load_id)])
    assert (("李娜", first.load_id, second.load_id)) in facts
    assert len(facts) == 3


def test_rows_from_another_source_never_supersede(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    neighbour = "120101002000"
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    write_export(drops / SOURCE[:6] / SOURCE, f"失业登记_{SOURCE}_20261105.csv", [{**BASE, "mobile_phone": "1"}])
    sync_sources(con, drops, [SOURCE], today=TODAY)
    moved = {**BASE, "community_code": "120101002001"}
    write_export(drops / SOURCE[:6] / neighbour, f"失业登记_{neighbour}_20261106.csv", [moved])
    sync_sources(con, drops, [neighbour], today=TODAY)
    still_open = con.execute("SELECT source_id FROM quarantine.open_rows").fetchall()
    assert (SOURCE,) in still_open
