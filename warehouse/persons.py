"""One person across all programmes and tiers: the person master, its history, the case index.

Called inside a load's transaction (``warehouse.load.commit_batch``), so the master never
disagrees with the facts. Rules:

- Every accepted record with an ID number is indexed in ``core.cases`` (item, source,
  business date, the fact row) — the person 360 view reads this index, then the rows.
- ``core.persons`` holds name, sex, birth date and mobile from the *latest* accepted record
  by business date (a record about an older date never overwrites a newer one; ranked per field); sex and
  birth date fall back to what the ID number says when an item does not collect them.
- Every change of a master value is kept in ``core.person_history`` with the record's
  source, item and load.
- Employers (GB 32100 codes on accepted records) are kept in ``core.employers``.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from tierhub.sql import lit, union_all
from tierhub.standards import ItemStandard
from warehouse.schema import fact_columns, fact_table

MASTER_FIELDS = ("name", "sex", "birth_date", "mobile_phone")
# Which record's values the master shows, per field: the latest business date, then source,
# item and the value itself — a total order, so the master does not depend on how sources were
# batched or in what order loads ran (a load killed and rerun ends in the same master).


def _business_date(item: ItemStandard, columns: dict[str, str]) -> str:
    dates = [d for d in dict.fromkeys(v.business_date for v in item.versions) if columns.get(d) == "DATE"]
    return "coalesce(" + ", ".join(f'"{d}"' for d in dates) + ")" if dates else "CAST(NULL AS DATE)"


Staged = Sequence[tuple[ItemStandard, str]]  # each item of a load with the relation holding its judged rows


def index_cases(con: duckdb.DuckDBPyConnection, load_id: str, staged: Staged) -> None:
    """Index the accepted rows of this load that carry an ID number in the case index (core.cases).

    One statement for every item of the load: a statement per item cost ~10 ms of fixed work
    each, 34 items per batch (decision 0032).
    """
    parts = []
    for item, judged in staged:
        columns = fact_columns(item)
        if "id_number" in columns:
            parts.append(
                f"SELECT id_number, _item_code, _source_code, {_business_date(item, columns)} AS business_date, "
                f"_file_id, _row_number FROM {judged} WHERE len(_reasons) = 0 AND id_number IS NOT NULL"
            )
    if not parts:
        return
    con.execute(
        "INSERT INTO core.cases SELECT id_number, _item_code, _source_code, business_date, _file_id, _row_number, "
        f"?, NULL FROM {union_all(parts)} "
        # In key order: DuckDB writes an index built from sorted keys in half the time at the
        # commit's checkpoint (0.72 → 0.38 s per million keys, bench/load_parts.py), and each load's
        # part of the index is then sorted, so its zone maps prune lookups too (decision 0013, session 5).
        "ORDER BY id_number",
        [load_id],
    )


def _record_employers(con: duckdb.DuckDBPyConnection, load_id: str, staged: Staged) -> None:
    parts = []
    for item, judged in staged:
        columns = fact_columns(item)
        if "employer_uscc" in columns:
            name = '"employer_name"' if "employer_name" in columns else "CAST(NULL AS VARCHAR)"
            parts.append(
                f"SELECT employer_uscc, {name} AS employer_name, _source_code, _file_id, _row_number FROM {judged} "
                "WHERE len(_reasons) = 0 AND employer_uscc IS NOT NULL"
            )
    if not parts:
        return
    con.execute(
        "INSERT INTO core.employers SELECT employer_uscc, employer_name, _source_code, ?, ? "
        f"FROM {union_all(parts)} "
        "QUALIFY row_number() OVER (PARTITION BY employer_uscc ORDER BY _file_id DESC, _row_number DESC) = 1 "
        "ON CONFLICT (employer_uscc) DO UPDATE SET "
        "employer_name = coalesce(excluded.employer_name, employer_name), last_load = excluded.last_load",
        [load_id, load_id],
    )


def _candidates(item: ItemStandard, judged: str) -> str | None:
    """SQL: one row per accepted record of the item with an ID number, in the master's fields."""
    columns = fact_columns(item)
    if "id_number" not in columns:
        return None
    day = _business_date(item, columns)
    sex_from_id = "CASE WHEN CAST(substr(id_number, 17, 1) AS INTEGER) % 2 = 1 THEN '1' ELSE '2' END"
    birth_from_id = "CAST(strptime(substr(id_number, 7, 8), '%Y%m%d') AS DATE)"
    values = {
        # Typed NULLs: a bare NULL would make an INTEGER column that the UPDATE cannot mix with VARCHAR.
        "name": 'CAST("name" AS VARCHAR)' if "name" in columns else "CAST(NULL AS VARCHAR)",
        "sex": f'coalesce(CAST("sex" AS VARCHAR), {sex_from_id})' if "sex" in columns else sex_from_id,
        "birth_date": f'coalesce("birth_date", {birth_from_id})' if "birth_date" in columns else birth_from_id,
        "mobile_phone": 'CAST("mobile_phone" AS VARCHAR)' if "mobile_phone" in columns else "CAST(NULL AS VARCHAR)",
    }
    selected = ", ".join(f"{expr} AS {field}" for field, expr in values.items())
    return (
        f"SELECT id_number, {selected}, _source_code AS source_id, _item_code AS item_code, {day} AS as_of_date "
        f"FROM {judged} WHERE len(_reasons) = 0 AND id_number IS NOT NULL"
    )


def record_people(con: duckdb.DuckDBPyConnection, load_id: str, staged: Staged) -> None:
    """Update the employers and the person master (with its history) from the accepted rows of this load.

    All items of the load at once: a person with records of several items in one load is ranked
    once, and the person master's seven statements run once per load instead of once per item
    (decision 0032). The ranking is a total order, so the master is the same either way.
    """
    _record_employers(con, load_id, staged)
    parts = [sql for item, judged in staged if (sql := _candidates(item, judged)) is not None]
    if not parts:
        return
    # Per field, the value of the highest-ranked record that has one (rank + the value), so
    # the master never depends on the order records arrived in.
    base = "concat_ws('|', coalesce(strftime(as_of_date, '%Y-%m-%d'), '0000'), source_id, item_code)"
    full = "concat_ws('|', _base, " + ", ".join(f"coalesce(CAST({f} AS VARCHAR), '')" for f in MASTER_FIELDS) + ")"
    # One row per accepted record, with its rank for the record as a whole (_full) and per field.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _th_candidates AS SELECT *, {full} AS _full, "
        + ", ".join(f"_base || '|' || CAST({f} AS VARCHAR) AS {f}_rank" for f in MASTER_FIELDS)
        + f" FROM (SELECT *, {base} AS _base FROM {union_all(parts)})"
    )
    # Most people have one record in a load: that record is their row as it stands. Only people
    # with several go through the per-field ranking (string aggregates over a million groups
    # cost ~1 s per million records; decision 0013, session 5).
    per_field = ", ".join(
        f"arg_max({f}, {f}_rank) FILTER (WHERE {f} IS NOT NULL) AS {f}, max({f}_rank) AS {f}_rank"
        for f in MASTER_FIELDS
    )
    fields = ", ".join(f"{f}, {f}_rank" for f in MASTER_FIELDS)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _th_several AS "
        "SELECT id_number FROM _th_candidates GROUP BY id_number HAVING count(*) > 1"
    )
    ranked = (
        f"SELECT id_number, {fields}, source_id, item_code, as_of_date, _full AS rank_key "
        "FROM _th_candidates ANTI JOIN _th_several USING (id_number) UNION ALL "
        f"SELECT id_number, {per_field}, arg_max(source_id, _full), arg_max(item_code, _full), "
        "arg_max(as_of_date, _full), max(_full) "
        "FROM _th_candidates SEMI JOIN _th_several USING (id_number) GROUP BY id_number"
    )
    # This load's view of each person beside the master's (NULL for a person not yet in it):
    # one join serves the history, the update of known persons and the insert of new ones.
    old = ", ".join(f"p.{c} AS _old_{c}" for c in (*MASTER_FIELDS, *(f"{f}_rank" for f in MASTER_FIELDS)))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _th_people AS SELECT n.id_number, "
        + ", ".join(f"n.{f}, n.{f}_rank" for f in MASTER_FIELDS)
        + ", n.source_id, n.item_code, n.as_of_date, "
        f"n.rank_key, p.id_number IS NULL AS _new, {old} "
        f"FROM ({ranked}) n LEFT JOIN core.persons p USING (id_number)"
    )
    con.execute("DROP TABLE _th_candidates; DROP TABLE _th_several")
    changes = " UNION ALL ".join(
        f"SELECT id_number, {lit(f)}, CAST(_old_{f} AS VARCHAR), CAST({f} AS VARCHAR), source_id, item_code "
        f"FROM _th_people WHERE NOT _new AND {f}_rank > coalesce(_old_{f}_rank, '') AND _old_{f} IS DISTINCT FROM {f}"
        for f in MASTER_FIELDS
    )
    con.execute(
        f"INSERT INTO core.person_history SELECT *, ?, now() FROM ({changes})",
        [load_id],
    )
    # Known persons: each field takes this load's value where it ranks higher. An UPDATE and
    # a plain INSERT instead of INSERT … ON CONFLICT, which took 3.5 s per million new persons
    # against 1.6 s (bench/load_parts.py; decision 0013, session 5).
    newer = "n.rank_key > p.rank_key"
    updates = ", ".join(
        f"{f} = CASE WHEN n.{f}_rank > coalesce(p.{f}_rank, '') THEN n.{f} ELSE p.{f} END, "
        f"{f}_rank = CASE WHEN n.{f}_rank > coalesce(p.{f}_rank, '') THEN n.{f}_rank ELSE p.{f}_rank END"
        for f in MASTER_FIELDS
    )
    record = ", ".join(
        f"{c} = CASE WHEN {newer} THEN n.{c} ELSE p.{c} END"
        for c in ("source_id", "item_code", "as_of_date", "rank_key")
    )
    con.execute(
        f"UPDATE core.persons p SET {updates}, {record}, last_load = ? "
        "FROM _th_people n WHERE p.id_number = n.id_number AND NOT n._new",
        [load_id],
    )
    ranks = ", ".join(f"{f}_rank" for f in MASTER_FIELDS)
    con.execute(
        f"INSERT INTO core.persons (id_number, {', '.join(MASTER_FIELDS)}, source_id, item_code, as_of_date, "
        f"rank_key, first_load, last_load, {ranks}) "
        f"SELECT id_number, {', '.join(MASTER_FIELDS)}, source_id, item_code, as_of_date, rank_key, ?, ?, {ranks} "
        "FROM _th_people WHERE _new ORDER BY id_number",
        [load_id, load_id],
    )
    con.execute("DROP TABLE _th_people")


def mark_superseded_cases(con: duckdb.DuckDBPyConnection, load_id: str, items: Sequence[ItemStandard]) -> None:
    """Mark in the case index the records this load superseded in ``items``' facts (as-of queries still see them)."""
    parts = [f"SELECT file_id, row_number FROM {fact_table(item)} WHERE superseded_by_load = $load" for item in items]
    if parts:
        con.execute(
            f"UPDATE core.cases c SET superseded_by_load = $load FROM {union_all(parts)} f "
            "WHERE c.file_id = f.file_id AND c.row_number = f.row_number",
            {"load": load_id},
        )
