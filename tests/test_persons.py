"""One person across all items and tiers: the person master, scoped lookups, history, as-of."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tests.cases import BASE, SOURCE, TODAY
from tests.test_history import write_export
from tierhub.errors import ScopeError
from tierhub.standards import catalogue
from warehouse.queries import CITY, find_person, last_commit, person_records, search_people
from warehouse.schema import open_warehouse


def someone_in_several_items(con: duckdb.DuckDBPyConnection) -> str:
    [(id_number,)] = con.execute(
        "SELECT id_number FROM core.cases WHERE superseded_by_load IS NULL "
        "GROUP BY id_number HAVING count(DISTINCT item_code) >= 2 ORDER BY id_number LIMIT 1"
    ).fetchall()
    return str(id_number)


def test_person_master_has_one_row_per_accepted_id(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    [(persons, ids)] = warehouse_ro.execute(
        "SELECT (SELECT count(*) FROM core.persons), (SELECT count(DISTINCT id_number) FROM core.cases)"
    ).fetchall()
    assert persons == ids > 1000


def test_one_lookup_shows_every_item_and_service_point(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    id_number = someone_in_several_items(warehouse_ro)
    person = find_person(warehouse_ro, CITY, id_number)
    assert person is not None and person.records >= 2 and person.name
    records = person_records(warehouse_ro, CITY, id_number)
    assert len(records) == person.records
    assert len({r.item_code for r in records}) >= 2
    days = [r.business_date for r in records if r.business_date]
    assert days == sorted(days, reverse=True)
    assert all(r.source_name and r.item_name_zh for r in records)
    assert all(r.fields.get("id_number") == id_number for r in records)


def test_scope_hides_people_and_records_outside_the_subtree(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    id_number = someone_in_several_items(warehouse_ro)
    home = person_records(warehouse_ro, CITY, id_number)[0].source_id
    own_district = home[:6] + "000000"
    other_district = "120117000000" if home.startswith("120101") else "120101000000"
    assert find_person(warehouse_ro, own_district, id_number) is not None
    assert find_person(warehouse_ro, other_district, id_number) is None
    assert person_records(warehouse_ro, other_district, id_number) == []
    person = find_person(warehouse_ro, CITY, id_number)
    assert person is not None and person.name
    found = search_people(warehouse_ro, own_district, person.name)
    assert id_number in {p.id_number for p in found}
    assert id_number not in {p.id_number for p in search_people(warehouse_ro, other_district, person.name)}


def test_name_search_needs_a_district(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ScopeError):
        search_people(warehouse_ro, CITY, "张")


@pytest.mark.slow
def test_changes_are_kept_and_as_of_shows_the_past(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    outbox = drops / SOURCE[:6] / SOURCE
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    write_export(outbox, f"失业登记_{SOURCE}_20261105.csv", [BASE])
    sync_sources(con, drops, [SOURCE], today=TODAY)
    first_commit = last_commit(con)
    time.sleep(0.01)
    # The street re-exports the record with a new mobile number.
    write_export(outbox, f"失业登记_{SOURCE}_20261106.csv", [{**BASE, "mobile_phone": "13900000000"}])
    sync_sources(con, drops, [SOURCE], today=TODAY)

    id_number = str(BASE["id_number"])
    person = find_person(con, CITY, id_number)
    assert person is not None and person.mobile_phone == "13900000000" and person.records == 1
    history = con.execute("SELECT field, old_value, new_value FROM core.person_history").fetchall()
    assert history == [("mobile_phone", "13812345678", "13900000000")]
    [now] = person_records(con, CITY, id_number)
    [then] = person_records(con, CITY, id_number, as_of=first_commit)
    assert now.fields["mobile_phone"] == "13900000000" and then.fields["mobile_phone"] == "13812345678"


def test_person_360_is_the_lookup_and_the_records_in_one(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    from warehouse.queries import person_360

    id_number = someone_in_several_items(warehouse_ro)
    person, records = person_360(warehouse_ro, CITY, id_number)
    assert person == find_person(warehouse_ro, CITY, id_number)
    assert records == person_records(warehouse_ro, CITY, id_number)
    assert person_360(warehouse_ro, CITY, "1' OR '1'='1") == (None, [])


def test_a_case_index_made_with_a_primary_key_loses_it_and_keeps_its_rows(tmp_path: Path) -> None:
    """Warehouses created before decision 0013 had a primary key on core.cases; opening one drops it."""
    path = tmp_path / "warehouse.duckdb"
    con = open_warehouse(path)
    con.execute("DROP TABLE core.cases")
    con.execute(
        "CREATE TABLE core.cases (id_number VARCHAR NOT NULL, item_code VARCHAR NOT NULL, source_id VARCHAR NOT NULL, "
        "business_date DATE, file_id BIGINT NOT NULL, row_number BIGINT NOT NULL, load_id VARCHAR NOT NULL, "
        "superseded_by_load VARCHAR, PRIMARY KEY (file_id, row_number))"
    )
    con.execute("CREATE INDEX cases_by_person ON core.cases (id_number)")
    con.execute(f"INSERT INTO core.cases VALUES ('{BASE['id_number']}', 'JY02', '{SOURCE}', NULL, 7, 2, 'L1', NULL)")
    con.execute("DELETE FROM ops.meta WHERE key = 'reference_fingerprint'")  # as after an upgrade
    con.close()

    con = open_warehouse(path)
    constraints = con.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE schema_name = 'core' AND table_name = 'cases'"
    ).fetchall()
    assert "PRIMARY KEY" not in [kind for kind, _ in constraints]
    assert ("NOT NULL", ["file_id"]) in constraints
    assert con.execute("SELECT id_number, file_id, row_number FROM core.cases").fetchall() == [
        (BASE["id_number"], 7, 2)
    ]
    indexes = con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'cases'").fetchall()
    assert indexes == [("cases_by_person",)]


def _synced_copy_with_a_primary_key(tmp_path: Path, synced: Path, table: str, key: str, order: str) -> list[tuple]:
    """Copy the synced warehouse with ``table`` rebuilt as older versions made it, keyed on ``key``,
    and its fingerprint cleared as after an upgrade; the table's rows in ``order``."""
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(synced.read_bytes())
    con = open_warehouse(path)
    before = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    assert before
    con.execute(f"CREATE TABLE core.old AS SELECT * FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM core.old WITH NO DATA")
    con.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
    con.execute(f"INSERT INTO {table} SELECT * FROM core.old")
    con.execute("DROP TABLE core.old")
    con.execute("DELETE FROM ops.meta WHERE key = 'reference_fingerprint'")
    con.close()
    return before


def _constraint_kinds(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str]]:
    schema, name = table.split(".")
    return con.execute(
        "SELECT constraint_type FROM duckdb_constraints() WHERE schema_name = ? AND table_name = ?", [schema, name]
    ).fetchall()


def test_a_person_master_made_with_a_primary_key_loses_it_and_keeps_its_rows(tmp_path: Path, synced: Path) -> None:
    """core.persons had a primary key on id_number before session 5; opening replaces it with an index."""
    before = _synced_copy_with_a_primary_key(tmp_path, synced, "core.persons", "id_number", "id_number")
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    kinds = _constraint_kinds(con, "core.persons")
    assert ("PRIMARY KEY",) not in kinds and ("NOT NULL",) in kinds
    assert con.execute("SELECT * FROM core.persons ORDER BY id_number").fetchall() == before
    indexes = con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'persons'").fetchall()
    assert indexes == [("persons_by_id",)]
    # the lookup reads through the index (decided at run time: plain EXPLAIN shows a sequential scan)
    plan = con.execute(f"EXPLAIN ANALYZE SELECT * FROM core.persons WHERE id_number = '{before[0][0]}'").fetchall()
    assert "Type: Index Scan" in plan[0][1]


def test_fact_tables_made_with_a_primary_key_lose_it_and_keep_their_rows(tmp_path: Path, synced: Path) -> None:
    """Fact tables had a primary key on (file_id, row_number) before session 4; opening drops it."""
    from warehouse.schema import fact_table

    table = fact_table(catalogue().items["JY02"])
    order = "file_id, row_number"
    before = _synced_copy_with_a_primary_key(tmp_path, synced, table, order, order)
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    try:
        kinds = _constraint_kinds(con, table)
        assert ("PRIMARY KEY",) not in kinds and ("NOT NULL",) in kinds
        assert con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall() == before
        assert not con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%with_primary_key'"
        ).fetchall()
    finally:
        con.close()


# Three records of one person (business date, source, name, mobile); the newest has no mobile.
RECORDS = [
    ("2026-01-05", "120101001000", "王一", "13800000001"),
    ("2026-03-02", "120102001000", "王二", None),
    ("2026-02-10", "120101001000", "王三", "13800000003"),
]
SOMEONE = "120101199001011234"
OTHER = "120101198502023456"  # one record only, in every batching


def _load_records(con: duckdb.DuckDBPyConnection, number: int, batch: list[int]) -> None:
    """Run the person master step for RECORDS[batch] (and OTHER) as load ``number``."""
    from warehouse.persons import record_people

    rows = [(SOMEONE, *RECORDS[i]) for i in batch] + [(OTHER, "2026-01-01", "120101001000", "李四", None)]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE judged AS SELECT id_number, CAST(day AS DATE) AS registration_date, "
        "source AS _source_code, 'JY02' AS _item_code, CAST(name AS VARCHAR) AS name, "
        "CAST(mobile_phone AS VARCHAR) AS mobile_phone, CAST(NULL AS VARCHAR) AS sex, "
        "CAST(NULL AS DATE) AS birth_date, CAST(NULL AS VARCHAR) AS employer_uscc, "
        "CAST(NULL AS VARCHAR) AS employer_name, 1 AS _file_id, 1 AS _row_number, "
        "CAST([] AS VARCHAR[]) AS _reasons FROM (VALUES "
        + ", ".join("(?, ?, ?, ?, ?)" for _ in rows)
        + ") t(id_number, day, source, name, mobile_phone)",
        [value for row in rows for value in row],
    )
    record_people(con, f"load-{number}", [(catalogue().find("JY02"), "judged")])


def _master_row(con: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    [person] = con.execute(
        "SELECT id_number, name, sex, birth_date, mobile_phone, source_id, item_code, as_of_date, rank_key, "
        "name_rank, mobile_phone_rank FROM core.persons WHERE id_number = ?",
        [SOMEONE],
    ).fetchall()
    [other] = con.execute("SELECT name, sex, birth_date FROM core.persons WHERE id_number = ?", [OTHER]).fetchall()
    assert other == ("李四", "1", dt.date(1985, 2, 2))  # sex and birth date from the ID number
    return person


def _master_after(tmp_path: Path, batches: list[list[int]]) -> tuple[object, ...]:
    con = open_warehouse(tmp_path / f"master-{len(list(tmp_path.iterdir()))}.duckdb")
    for number, batch in enumerate(batches):
        _load_records(con, number, batch)
    return _master_row(con)


@pytest.mark.slow
@pytest.mark.parametrize("batches", [[[1], [0], [2]], [[2, 1], [0]], [[0], [1, 2]], [[2], [1], [0]]])
def test_the_master_is_the_same_however_records_are_batched(tmp_path: Path, batches: list[list[int]]) -> None:
    all_at_once = _master_after(tmp_path, [[0, 1, 2]])
    # Per field, the newest record that has a value: the name of 3-2, the mobile of 2-10.
    assert all_at_once[1] == "王二" and all_at_once[4] == "13800000003"
    assert str(all_at_once[7]) == "2026-03-02" and all_at_once[5] == "120102001000"
    assert _master_after(tmp_path, batches) == all_at_once


def test_a_loads_judged_parts_rank_together_as_in_two_loads(tmp_path: Path) -> None:
    """The person master ranks every judged part of a load together (one pass per load, all items):
    the same master and case index whether two parts come in one load or one after the other."""
    from warehouse.persons import index_cases, record_people

    def judged(con: duckdb.DuckDBPyConnection, name: str, item: str, day: str, source: str, person: str) -> None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT ? AS id_number, CAST(? AS DATE) AS registration_date, "
            "? AS _source_code, ? AS _item_code, ? AS name, CAST(NULL AS VARCHAR) AS mobile_phone, "
            "CAST(NULL AS VARCHAR) AS sex, CAST(NULL AS DATE) AS birth_date, CAST(NULL AS VARCHAR) AS employer_uscc, "
            "CAST(NULL AS VARCHAR) AS employer_name, 1 AS _file_id, 1 AS _row_number, "
            "CAST([] AS VARCHAR[]) AS _reasons",
            [SOMEONE, day, source, item, person],
        )

    jy02 = catalogue().find("JY02")
    masters = []
    for together in (True, False):
        con = open_warehouse(tmp_path / f"together-{together}.duckdb")
        judged(con, "a", "JY02", "2026-01-05", "120101001000", "王一")
        judged(con, "b", "JY02", "2026-03-02", "120102001000", "王二")  # the newer record, another source
        loads = [[(jy02, "a"), (jy02, "b")]] if together else [[(jy02, "b")], [(jy02, "a")]]
        for number, staged in enumerate(loads):
            index_cases(con, f"load-{number}", staged)
            record_people(con, f"load-{number}", staged)
        master = "SELECT name, source_id, as_of_date FROM core.persons WHERE id_number = ?"
        masters.append(con.execute(master, [SOMEONE]).fetchall())
        assert con.execute("SELECT count(*) FROM core.cases WHERE id_number = ?", [SOMEONE]).fetchone() == (2,)
    assert masters[0] == masters[1] == [("王二", "120102001000", dt.date(2026, 3, 2))]


def test_an_item_without_a_mobile_leaves_the_masters_mobile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warehouse.persons
    from warehouse.schema import fact_columns

    con = open_warehouse(tmp_path / "warehouse.duckdb")
    _load_records(con, 0, [0])
    assert _master_row(con)[4] == "13800000001"
    # The next load comes from an item that collects no mobile number (its columns say so).
    without_mobile = {k: v for k, v in fact_columns(catalogue().find("JY02")).items() if k != "mobile_phone"}
    monkeypatch.setattr(warehouse.persons, "fact_columns", lambda item: without_mobile)
    _load_records(con, 1, [2])
    person = _master_row(con)
    assert person[1] == "王三" and person[4] == "13800000001"  # the newer name; the mobile kept


def test_a_person_seen_across_districts_by_a_city_and_a_district_user(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    """一点登陆、多点查询: the city sees every service point of a mover; a district only its own."""
    from warehouse.queries import person_360, widely_served

    [mover] = widely_served(warehouse_ro, min_points=3, min_districts=2, limit=1)
    _, city_records = person_360(warehouse_ro, "120000000000", mover.id_number)
    assert len({r.source_id for r in city_records}) >= 3
    assert len({r.source_id[:6] for r in city_records}) >= 2
    for district in {r.source_id[:6] for r in city_records}:
        _, seen = person_360(warehouse_ro, district + "000000", mover.id_number)
        assert seen and {r.source_id[:6] for r in seen} == {district}
