"""The whole path on the demo city: every row accounted for, every defect caught, idempotent."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tierhub.errors import WarehouseError
from tierhub.standards import catalogue, rule_severity
from tierhub.synth.city import FILES, GeneratedCity, read_manifest
from warehouse import load
from warehouse.queries import district_counts, reason_counts
from warehouse.schema import fact_table, open_warehouse


def quarantined(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], set[str]]:
    rows = con.execute(
        "SELECT f.path, q.row_number, list_transform(q.reasons, lambda r: r.rule) "
        "FROM quarantine.rows q JOIN ops.files f USING (file_id)"
    ).fetchall()
    return {(str(path), int(n)): set(rules) for path, n, rules in rows}


def warned(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], set[str]]:
    rows = con.execute(
        "SELECT f.path, w.row_number, list(w.rule) FROM core.warnings w JOIN ops.files f USING (file_id) GROUP BY ALL"
    ).fetchall()
    return {(str(path), int(n)): set(rules) for path, n, rules in rows}


def test_every_injected_defect_is_quarantined_or_warned_by_its_severity(
    city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection
) -> None:
    held, loaded_with = quarantined(warehouse_ro), warned(warehouse_ro)
    manifest = read_manifest(city.root)
    missed = [
        d
        for d in manifest
        if d.rule
        not in (loaded_with if rule_severity(d.rule) == "warning" else held).get((d.file, d.row_number), set())
    ]
    assert missed == []
    assert len(manifest) > 500
    assert any(rule_severity(d.rule) == "warning" for d in manifest)


def test_no_clean_row_is_quarantined(city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    defective = {(d.file, d.row_number) for d in read_manifest(city.root) if rule_severity(d.rule) == "error"}
    assert [key for key in quarantined(warehouse_ro) if key not in defective] == []
    defective_at_all = {(d.file, d.row_number) for d in read_manifest(city.root)}
    assert [key for key in warned(warehouse_ro) if key not in defective_at_all] == []


def test_rows_in_equal_loaded_plus_quarantined(city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    with (city.root / FILES).open(encoding="utf-8") as handle:
        expected = {r["file"]: int(r["rows"]) for r in csv.DictReader(handle)}
    registry = {
        path: (rows_in, loaded, held)
        for path, rows_in, loaded, held in warehouse_ro.execute(
            "SELECT path, rows_in, rows_loaded, rows_quarantined FROM ops.files WHERE status = 'loaded'"
        ).fetchall()
    }
    # Rows loaded with warnings are loaded rows: the registry's count is the rows in core.warnings.
    assert warehouse_ro.execute(
        "SELECT sum(rows_warned), (SELECT count(DISTINCT (file_id, row_number)) FROM core.warnings) FROM ops.files"
    ).fetchone() == (len(warned(warehouse_ro)), len(warned(warehouse_ro)))
    assert {p: v[0] for p, v in registry.items()} == expected
    loaded = " + ".join(f"(SELECT count(*) FROM {fact_table(item)})" for item in catalogue())
    facts = warehouse_ro.execute(f"SELECT {loaded}, (SELECT count(*) FROM quarantine.rows)").fetchone()
    assert facts == (sum(v[1] for v in registry.values()), sum(v[2] for v in registry.values()))
    assert sum(expected.values()) == sum(facts)


def test_quarantine_reasons_read_in_chinese(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    message, fix = warehouse_ro.execute(
        "SELECT message_zh, fix_zh FROM quarantine.reasons WHERE rule = 'ID_CHECKSUM' LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    assert message.startswith("公民身份号码“") and "校验位错误" in message and fix


def test_queries_are_scoped(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    city = district_counts(warehouse_ro)
    assert [d.district_name for d in city] == ["和平区", "宁河区"]
    assert [d.district_name for d in district_counts(warehouse_ro, "120117000000")] == ["宁河区"]
    assert district_counts(warehouse_ro, "120101001000") == []  # a street sees no district totals
    assert sum(r.rows for r in reason_counts(warehouse_ro, "120117000000")) < sum(
        r.rows for r in reason_counts(warehouse_ro)
    )


@pytest.mark.slow
def test_a_second_sync_loads_nothing(city: GeneratedCity, tmp_path: Path) -> None:
    con = open_warehouse(tmp_path / "w.duckdb")
    codes = ["120101001000", *[f"120101001{n:03d}" for n in range(1, 12)]]
    first = sync_sources(con, city.drops, codes)
    second = sync_sources(con, city.drops, codes)
    assert first.load.files > 0 and first.load.rows_in > 0
    assert (second.load.files, second.load.rows_in, second.skipped_files) == (0, 0, first.load.files)
    [(loads,)] = con.execute("SELECT count(*) FROM ops.loads").fetchall()
    assert loads == 2


@pytest.mark.slow
def test_a_broken_file_is_rejected_and_the_rest_load(city: GeneratedCity, tmp_path: Path) -> None:
    source = "120101001000"
    drops = tmp_path / "drops"
    outbox = drops / source[:6] / source
    outbox.mkdir(parents=True)
    good = next((city.drops / source[:6] / source).glob("*.csv"))
    (outbox / good.name).write_bytes(good.read_bytes())
    (outbox / f"失业登记_{source}_20261101.csv").write_bytes(bytes(range(256)) * 4)
    (outbox / f"未知事项_{source}_20261101.csv").write_text("姓名,身份证号\n张三,1\n", encoding="utf-8")
    (outbox / "失业登记_120101002000_20261101.csv").write_text("姓名,身份证号\n李四,2\n", encoding="utf-8")
    (outbox / "readme.md").write_text("hello", encoding="utf-8")  # .txt is an export format (Unicode 文本)
    con = open_warehouse(tmp_path / "w.duckdb")
    outcome = sync_sources(con, drops, [source], today=dt.date.today())
    status = {e.path.rsplit("/", 1)[1]: (e.status, e.error or "") for e in outcome.entries}
    assert status[good.name][0] == "loaded"
    assert (
        status[f"失业登记_{source}_20261101.csv"][0] == "rejected"
        and "binary" in status[f"失业登记_{source}_20261101.csv"][1]
    )
    assert "未知事项" in status[f"未知事项_{source}_20261101.csv"][1]
    assert "120101002000" in status["失业登记_120101002000_20261101.csv"][1]
    [refused] = outcome.refusals
    assert refused.path.endswith("readme.md") and ".md" in refused.reason
    [(registered,)] = con.execute("SELECT count(*) FROM ops.files").fetchall()
    assert registered == 4
    assert con.execute("SELECT path, reason FROM ops.refusals").fetchall() == [(refused.path, refused.reason)]


@pytest.mark.slow
def test_source_status_commits_with_the_rows_or_not_at_all(
    city: GeneratedCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = sorted(p.name for p in (city.drops / "120101").iterdir())[:3]
    con = open_warehouse(tmp_path / "w.duckdb")

    def fail(*_: object) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(load, "record_rule_stats", fail)
    with pytest.raises(WarehouseError, match="could not commit"):
        sync_sources(con, city.drops, codes)
    assert con.execute(
        "SELECT (SELECT count(*) FROM ops.loads), (SELECT count(*) FROM ops.source_status)"
    ).fetchone() == (0, 0)

    monkeypatch.undo()
    outcome = sync_sources(con, city.drops, codes)
    rows = con.execute("SELECT DISTINCT load_id FROM ops.source_status").fetchall()
    assert rows == [(outcome.load.load_id,)] and len(outcome.status) == len(codes)
