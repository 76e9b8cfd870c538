"""The views an analyst's sandbox shows: every table of the warehouse, filtered to one scope and masked.

The portal's SQL sandbox (``portal/sandbox.py``) attaches the warehouse under a random
alias and creates these views over it; their SQL lives here, beside the schema it reads.
``person_key(id_number)`` is a function the sandbox registers: a keyed pseudonym that lets
analysts count and join people without their ID numbers.
"""

from __future__ import annotations

import re

import duckdb

from tierhub.masking import ADDRESS_FIELDS, CHANGE_VALUE_FIELDS, SENSITIVE_FIELDS, mask_sql, mask_text_sql
from tierhub.scope import Scope
from tierhub.sql import ident

# Columns the loader keeps for itself; analysts see the record, not the bookkeeping.
INTERNAL_COLUMNS = ("sheet", "record_key", "alt_key", "superseded_by_file", "superseded_by_row", "rank_key")
PERSON_COLUMNS = ("id_number", "name", "sex", "birth_date", "mobile_phone", "item_code", "as_of_date")


def _all_columns(con: duckdb.DuckDBPyConnection, alias: str) -> dict[str, list[str]]:
    """``schema.table`` → its columns in order, for every table of the attached warehouse."""
    found: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE database_name = ? "
        "ORDER BY schema_name, table_name, column_index",
        [alias],
    ).fetchall():
        found.setdefault(f"{schema}.{table}", []).append(str(column))
    return found


def _select_list(columns: list[str], masked: bool) -> str:
    parts = []
    for column in columns:
        if column in INTERNAL_COLUMNS or (masked and column in ADDRESS_FIELDS):
            continue  # masked roles get no address (decision 0019)
        if masked and column in SENSITIVE_FIELDS:
            parts.append(f"{mask_sql(column, column)} AS {ident(column)}")
        elif masked and column == "birth_date":
            # The masked ID hides the birth date: analysts get the year (age statistics need no more).
            parts.append(f"year({ident(column)}) AS birth_year")
        elif masked and column in CHANGE_VALUE_FIELDS:
            parts.append(f"{mask_text_sql(column)} AS {ident(column)}")
        else:
            parts.append(ident(column))
        if masked and column == "id_number":
            parts.append('person_key("id_number") AS person_key')
    return ", ".join(parts)


def _scoped_persons(known: dict[str, list[str]], a: str, prefix: str) -> str:
    """One row per person with a current record inside ``prefix``: each field from the newest such record."""
    parts = []
    for table, columns in known.items():
        if not table.startswith("core.") or not {"id_number", "file_id", "row_number", "source_id"} <= set(columns):
            continue
        if table in ("core.cases", "core.persons", "core.person_history"):
            continue
        picked = ", ".join(
            f"f.{ident(field)}" if field in columns else f"CAST(NULL AS {kind}) AS {ident(field)}"
            for field, kind in (
                ("name", "VARCHAR"),
                ("sex", "VARCHAR"),
                ("birth_date", "DATE"),
                ("mobile_phone", "VARCHAR"),
            )
        )
        schema, name = table.split(".")
        parts.append(
            f"SELECT f.id_number, {picked}, c.item_code, c.business_date, concat_ws('|', "
            "coalesce(strftime(c.business_date, '%Y-%m-%d'), '0000'), c.load_id, "
            "lpad(CAST(c.file_id AS VARCHAR), 12, '0'), "
            "lpad(CAST(c.row_number AS VARCHAR), 12, '0')) AS _rank "
            f"FROM {a}.{schema}.{ident(name)} f JOIN {a}.core.cases c USING (file_id, row_number) "
            f"WHERE starts_with(c.source_id, '{prefix}') AND c.superseded_by_load IS NULL"
        )
    sex_from_id = "CASE WHEN CAST(substr(id_number, 17, 1) AS INTEGER) % 2 = 1 THEN '1' ELSE '2' END"
    birth_from_id = "TRY_CAST(try_strptime(substr(id_number, 7, 8), '%Y%m%d') AS DATE)"
    latest = {
        f: f"arg_max({f}, _rank) FILTER (WHERE {f} IS NOT NULL)" for f in ("name", "sex", "birth_date", "mobile_phone")
    }
    return (
        f"SELECT id_number, {latest['name']} AS name, coalesce({latest['sex']}, any_value({sex_from_id})) AS sex, "
        f"coalesce({latest['birth_date']}, any_value({birth_from_id})) AS birth_date, "
        f"{latest['mobile_phone']} AS mobile_phone, arg_max(item_code, _rank) AS item_code, "
        f"max(business_date) AS as_of_date FROM ({' UNION ALL '.join(parts)}) GROUP BY id_number"
    )


def view_definitions(
    con: duckdb.DuckDBPyConnection, alias: str, scope: str, masked: bool
) -> dict[str, tuple[str, str]]:
    """View name → (SELECT over the attached warehouse filtered to ``scope``, description)."""
    prefix = Scope(scope).prefix
    assert re.fullmatch(r"\d{2,12}", prefix)
    inside = f"starts_with(source_id, '{prefix}')"
    a = ident(alias)
    views: dict[str, tuple[str, str]] = {}
    known = _all_columns(con, alias)
    tables = con.execute(f"SELECT code, name_zh, fact_table FROM {a}.ref.items ORDER BY code").fetchall()
    for code, name_zh, fact in tables:
        schema, table = str(fact).split(".")
        columns = known.get(f"{schema}.{table}", [])
        if not columns:
            continue  # an item the catalogue knows but this warehouse has no table for yet
        views[table] = (
            f"SELECT {_select_list(columns, masked)} FROM {a}.{schema}.{ident(table)} WHERE {inside}",
            f"{code} {name_zh}",
        )
    views["cases"] = (
        f"SELECT {_select_list(known['core.cases'], masked)} FROM {a}.core.cases WHERE {inside}",
        "每条受理记录 one row per accepted record (item, service point, business date)",
    )
    # Who a person is comes from the scope's own records, newest first — never from the
    # city-wide master (core.persons), whose name and phone may come from a record another
    # district submitted (issue #15). Sex and birth date fall back to what the ID says.
    views["persons"] = (
        f"SELECT {_select_list(list(PERSON_COLUMNS), masked)} FROM ({_scoped_persons(known, a, prefix)})",
        "人员主表 people with a record inside the scope, as the scope's records describe them",
    )
    views["quarantine_reasons"] = (
        "SELECT file_id, row_number, load_id, source_id, item_code, standard_version, r.rule AS rule, "
        f"r.field AS field FROM {a}.quarantine.rows CROSS JOIN UNNEST(reasons) AS u(r) WHERE {inside}",
        "隔离原因 one row per reason of a quarantined row (values withheld)",
    )
    views["files"] = (
        "SELECT file_id, load_id, source_id, item_code, export_date, status, rows_in, rows_loaded, "
        f"rows_quarantined, modified_at FROM {a}.ops.files WHERE {inside}",
        "收到的文件 files received",
    )
    views["loads"] = (f"SELECT load_id, committed_at FROM {a}.ops.loads", "同步批次 sync commits")
    views["divisions"] = (f"SELECT * FROM {a}.ref.divisions", "区划 division tree")
    views["items"] = (f"SELECT * FROM {a}.ref.items", "服务事项 service items")
    views["rules"] = (f"SELECT rule, title_zh, title_en FROM {a}.ref.rules", "校验规则 rules")
    return views
