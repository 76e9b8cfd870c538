"""The one read path for the CLI, the portal and the reports.

Every function takes the caller's scope — a division code — and returns nothing outside
that node's subtree. Scope is applied here, in SQL, never by the caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from tierhub.errors import ScopeError
from tierhub.reference import divisions
from tierhub.scope import CITY_CODE, Scope
from tierhub.standards import catalogue
from warehouse.schema import fact_table

CITY = CITY_CODE
R = TypeVar("R")


def _in_scope(con: duckdb.DuckDBPyConnection, sql: str, scope: str, record: Callable[..., R]) -> list[R]:
    """Run ``sql``, whose one parameter is the scope's code prefix; one ``record`` per row."""
    return [record(*r) for r in con.execute(sql, [Scope(scope).prefix]).fetchall()]


@dataclass(frozen=True, slots=True)
class DistrictCounts:
    """Loaded and quarantined rows and files of one district."""

    district_code: str
    district_name: str
    files: int
    rejected_files: int
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


def district_counts(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> list[DistrictCounts]:
    """Per district inside ``scope``: files and rows received, loaded and quarantined."""
    return _in_scope(
        con,
        """
        SELECT d.code, d.name, count(f.file_id), count(f.file_id) FILTER (WHERE f.status = 'rejected'),
               coalesce(sum(f.rows_in), 0), coalesce(sum(f.rows_loaded), 0), coalesce(sum(f.rows_quarantined), 0)
        FROM ref.divisions d
        LEFT JOIN ops.files f ON starts_with(f.source_id, d.prefix)
        WHERE d.level = 'district' AND starts_with(d.code, ?)
        GROUP BY d.code, d.name
        HAVING count(f.file_id) > 0
        ORDER BY d.code
        """,
        scope,
        DistrictCounts,
    )


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How often one rule failed inside a scope."""

    rule: str
    title_zh: str
    title_en: str
    rows: int


def reason_counts(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> list[ReasonCount]:
    """Quarantine reasons inside ``scope``, most frequent first (a row may have several)."""
    return _in_scope(
        con,
        """
        SELECT q.rule, any_value(m.title_zh), any_value(m.title_en), count(*)
        FROM (SELECT source_id, unnest(reasons).rule AS rule FROM quarantine.rows) q
        JOIN ref.rules m USING (rule)
        WHERE starts_with(q.source_id, ?)
        GROUP BY q.rule ORDER BY 4 DESC, 1
        """,
        scope,
        ReasonCount,
    )


def last_commit(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """When the last load committed ("data as of")."""
    [(when,)] = con.execute("SELECT max(committed_at) FROM ops.loads").fetchall()
    return when  # type: ignore[no-any-return]


def rejected_files(con: duckdb.DuckDBPyConnection, scope: str = CITY, limit: int = 20) -> list[tuple[str, str, str]]:
    """Files inside ``scope`` that could not be read: (source, path, error)."""
    return [
        (str(s), str(p), str(e))
        for s, p, e in con.execute(
            "SELECT source_id, path, error FROM ops.files WHERE status = 'rejected' AND starts_with(source_id, ?) "
            "ORDER BY path LIMIT ?",
            [Scope(scope).prefix, limit],
        ).fetchall()
    ]


@dataclass(frozen=True, slots=True)
class SourceActivity:
    """What the warehouse knows of one source's submissions."""

    source_id: str
    files: int
    last_file_at: dt.datetime | None


def source_activity(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> dict[str, SourceActivity]:
    """Per source inside ``scope``: files taken and the newest file's modification time."""
    rows = con.execute(
        "SELECT source_id, count(*), max(modified_at) FROM ops.cursor WHERE starts_with(source_id, ?) GROUP BY 1",
        [Scope(scope).prefix],
    ).fetchall()
    return {str(s): SourceActivity(str(s), int(n), last) for s, n, last in rows}


# -- one person across every item and service point (一点登陆、多点查询) -------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """The person master's view of one person, as far as the caller's scope shows them."""

    id_number: str
    name: str | None
    sex: str | None
    birth_date: dt.date | None
    mobile_phone: str | None
    records: int  # accepted records inside the scope


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One accepted record of a person: which item, which service point, when, and its fields."""

    item_code: str
    item_name_zh: str
    item_name_en: str
    category: str
    source_id: str
    source_name: str
    business_date: dt.date | None
    load_id: str
    fields: dict[str, object]
    file_id: int = 0  # with row_number: the fact row's key (its warnings are keyed so)
    row_number: int = 0


@dataclass(frozen=True, slots=True)
class RecordWarning:
    """A warning a loaded record carries (decision 0017): a time limit missed, a document not listed."""

    rule: str
    field: str | None
    message_zh: str
    message_en: str
    fix_zh: str | None
    fix_en: str | None


def record_warnings(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[int, int]]
) -> dict[tuple[int, int], list[RecordWarning]]:
    """The warnings of the records keyed (file id, row number), with their messages."""
    if not keys:
        return {}
    files = ", ".join(sorted({str(int(f)) for f, _ in keys}))
    wanted = set(keys)
    found: dict[tuple[int, int], list[RecordWarning]] = {}
    for f, r, rule, field, zh, en, fix_zh, fix_en in con.execute(
        "SELECT file_id, row_number, rule, field, message_zh, message_en, fix_zh, fix_en "
        f"FROM core.warning_messages WHERE file_id IN ({files}) ORDER BY file_id, row_number, rule, field"
    ).fetchall():
        key = (int(f), int(r))
        if key in wanted:
            found.setdefault(key, []).append(RecordWarning(str(rule), field, str(zh), str(en), fix_zh, fix_en))
    return found


def _as_of_filter(alias: str, as_of: dt.datetime | None) -> str:
    """SQL restricting case-index rows to what the warehouse said at ``as_of`` (None: now)."""
    if as_of is None:
        return f"{alias}.superseded_by_load IS NULL"
    when = f"TIMESTAMPTZ '{as_of.isoformat()}'"
    return (
        f"{alias}.load_id IN (SELECT load_id FROM ops.loads WHERE committed_at <= {when}) "
        f"AND ({alias}.superseded_by_load IS NULL OR {alias}.superseded_by_load NOT IN "
        f"(SELECT load_id FROM ops.loads WHERE committed_at <= {when}))"
    )


_ID_TEXT = re.compile(r"[0-9A-Z]{1,20}")

CaseRow = tuple[str, str, dt.date | None, str, int, int]  # item, source, date, load, file id, row


def _cases_of(con: duckdb.DuckDBPyConnection, scope: str, id_number: str, as_of: dt.datetime | None) -> list[CaseRow]:
    """The person's case-index rows inside ``scope`` as of ``as_of``, newest first.

    One index lookup on the ID as a SQL literal (DuckDB uses the index and zone maps for a
    constant but scans for a prepared parameter or a compound filter: 2 ms vs 156 ms at
    100 k persons, bench/lookup.py); scope and history are then applied to the few rows
    found. Only letters and digits pass as an ID, so nothing a user types reaches the SQL.
    """
    key = id_number.strip().upper()
    if not _ID_TEXT.fullmatch(key):
        return []
    rows = con.execute(
        "SELECT item_code, source_id, business_date, load_id, file_id, row_number, superseded_by_load "
        f"FROM core.cases WHERE id_number = '{key}'"
    ).fetchall()
    prefix = Scope(scope).prefix
    rows = [r for r in rows if str(r[1]).startswith(prefix)]
    if as_of is None:
        current = [r for r in rows if r[6] is None]
    else:
        committed = {
            str(load)
            for (load,) in con.execute("SELECT load_id FROM ops.loads WHERE committed_at <= ?", [as_of]).fetchall()
        }
        current = [r for r in rows if r[3] in committed and (r[6] is None or r[6] not in committed)]
    current.sort(key=lambda r: (r[2] or dt.date.min, r[3], r[4], -r[5]), reverse=True)
    return [(str(i), str(s), d, str(load), int(f), int(n)) for i, s, d, load, f, n, _ in current]


def case_index(
    con: duckdb.DuckDBPyConnection, scope: str, id_number: str, *, as_of: dt.datetime | None = None
) -> list[CaseRow]:
    """The person's case-index rows inside ``scope`` (item, source, date, load, file id, row), newest first."""
    return _cases_of(con, scope, id_number, as_of)


def find_person(
    con: duckdb.DuckDBPyConnection, scope: str, id_number: str, *, as_of: dt.datetime | None = None
) -> Person | None:
    """The person with this ID number as their records inside ``scope`` describe them (None: no record there)."""
    return person_360(con, scope, id_number, as_of=as_of)[0]


def search_people(
    con: duckdb.DuckDBPyConnection, scope: str, name: str, *, limit: int = 50, as_of: dt.datetime | None = None
) -> list[Person]:
    """People with a record inside ``scope`` (a district or below) whose name *there* contains ``name``.

    A name search over the whole city is refused: names are not unique, and the bureau's
    rule is to search by name within a district. The name matched and shown is the one the
    scope's own records carry, never the city-wide master's, which may come from a record
    another district submitted (issue #15).
    """
    if divisions().get(scope).level == "city":
        raise ScopeError("a search by name needs a district (or smaller) scope", fix="choose a district first")
    needle = name.strip()
    if not needle:
        return []
    prefix = Scope(scope).prefix
    named = [
        f"SELECT id_number, file_id, row_number FROM {table} "
        f"WHERE starts_with(source_id, '{prefix}') AND contains(name, $needle)"
        for table in tables_with(con, ("id_number", "name"))
    ]
    if not named:
        return []
    rows = con.execute(
        f"SELECT DISTINCT h.id_number FROM ({' UNION ALL '.join(named)}) h "
        "JOIN core.cases c USING (file_id, row_number) "
        f"WHERE starts_with(c.source_id, '{prefix}') AND {_as_of_filter('c', as_of)} "
        "ORDER BY 1 LIMIT $cap",
        {"needle": needle, "cap": 4 * limit},
    ).fetchall()
    people = [p for (key,) in rows if (p := find_person(con, scope, str(key), as_of=as_of)) is not None]
    return sorted(people, key=lambda p: (p.name or "", p.id_number))[:limit]


def tables_with(con: duckdb.DuckDBPyConnection, columns: tuple[str, ...]) -> list[str]:
    """The catalogue's fact tables in this warehouse that have ``columns`` (and a source)."""
    found: dict[str, set[str]] = {}
    for schema, table, column in con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()"
    ).fetchall():
        found.setdefault(f"{schema}.{table}", set()).add(str(column))
    wanted = {*columns, "source_id", "file_id", "row_number"}
    return [
        table
        for table in dict.fromkeys(fact_table(item) for item in catalogue().items.values())
        if wanted <= found.get(table, set())
    ]


def person_360(
    con: duckdb.DuckDBPyConnection, scope: str, id_number: str, *, as_of: dt.datetime | None = None
) -> tuple[Person | None, list[PersonRecord]]:
    """The person and every accepted record of theirs inside ``scope`` — one case-index lookup for both.

    Who the person is (name, sex, birth date, mobile) comes from those records only, newest
    first: the city-wide master (``core.persons``) takes the latest record of any district,
    and a record another district submitted must not show through (issue #15). Sex and birth
    date the records do not carry are read from the ID number, which the caller already has.
    """
    cases = _cases_of(con, scope, id_number, as_of)
    if not cases:
        return None, []
    records = _records(con, cases)
    key = id_number.strip().upper()  # checked by _cases_of
    return scoped_person(key, records, len(cases)), records


def scoped_person(id_number: str, records: list[PersonRecord], count: int | None = None) -> Person:
    """A person as ``records`` (newest first) describe them, with sex and birth date from the ID otherwise."""

    def latest(field: str) -> object:
        return next((r.fields[field] for r in records if r.fields.get(field) not in (None, "")), None)

    name, sex, birth, mobile = latest("name"), latest("sex"), latest("birth_date"), latest("mobile_phone")
    return Person(
        id_number,
        None if name is None else str(name),
        str(sex) if sex is not None else sex_from_id(id_number),
        birth if isinstance(birth, dt.date) else birth_date_from_id(id_number),
        None if mobile is None else str(mobile),
        len(records) if count is None else count,
    )


def sex_from_id(id_number: str) -> str | None:
    """The GB/T 2261.1 sex code an 18-character ID carries (odd 17th digit: 1 male, even: 2 female)."""
    if len(id_number) != 18 or not id_number[16].isdigit():
        return None
    return "1" if int(id_number[16]) % 2 else "2"


def birth_date_from_id(id_number: str) -> dt.date | None:
    """The birth date an 18-character ID number carries (characters 7-14)."""
    if len(id_number) != 18:
        return None
    try:
        return dt.datetime.strptime(id_number[6:14], "%Y%m%d").date()
    except ValueError:
        return None


def person_records(
    con: duckdb.DuckDBPyConnection, scope: str, id_number: str, *, as_of: dt.datetime | None = None
) -> list[PersonRecord]:
    """Every accepted record of the person inside ``scope``, across all items and tiers, newest first."""
    return _records(con, _cases_of(con, scope, id_number, as_of))


def _records(con: duckdb.DuckDBPyConnection, cases: list[CaseRow]) -> list[PersonRecord]:
    items, tree = catalogue().items, divisions()
    records = []
    for code, source, day, load, file_id, row_number in cases:
        item = items.get(code)
        if item is None:
            continue  # an item since removed from the catalogue: its rows stay, unnamed here
        cursor = con.execute(
            f"SELECT * FROM {fact_table(item)} WHERE file_id = {int(file_id)} AND row_number = {int(row_number)}"
        )
        names = [c[0] for c in cursor.description or []]
        values = cursor.fetchone() or ()
        fields = {
            k: v
            for k, v in zip(names, values, strict=False)
            if k not in _INTERNAL_COLUMNS and v is not None and v != []
        }
        node = tree.by_code.get(source)
        records.append(
            PersonRecord(
                code,
                item.name_zh,
                item.name_en,
                item.category,
                source,
                node.name if node else source,
                day,
                load,
                fields,
                int(file_id),
                int(row_number),
            )
        )
    return records


_INTERNAL_COLUMNS = frozenset(
    {
        "file_id",
        "row_number",
        "load_id",
        "source_id",
        "item_code",
        "sheet",
        "record_key",
        "alt_key",
        "superseded_by_load",
        "superseded_by_file",
        "superseded_by_row",
    }
)


def loads_as_of(con: duckdb.DuckDBPyConnection, day: dt.date) -> dt.datetime | None:
    """The commit time of the last load on or before the end of ``day`` — "the sync of date X"."""
    [(when,)] = con.execute(
        "SELECT max(committed_at) FROM ops.loads WHERE CAST(committed_at AS DATE) <= ?", [day]
    ).fetchall()
    return when  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WidelyServed:
    """A person with current records at several service points inside a scope."""

    id_number: str
    name: str | None
    service_points: int
    districts: int
    items: int


def widely_served(
    con: duckdb.DuckDBPyConnection, scope: str = CITY, *, min_points: int = 3, min_districts: int = 2, limit: int = 5
) -> list[WidelyServed]:
    """People seen at ``min_points`` or more service points in ``min_districts`` or more districts.

    The person view that "one login, multi-point query" (一点登陆、多点查询) exists for; the
    demo names one of them.
    """
    # The person master's name is city-wide: a narrower scope gets no name (issue #15: what a user
    # sees of a person comes only from records in their scope).
    name = "any_value(p.name)" if Scope(scope).level == "city" else "NULL"
    rows = con.execute(
        f"SELECT c.id_number, {name}, count(DISTINCT c.source_id) AS points, "
        "count(DISTINCT left(c.source_id, 6)) AS districts, count(DISTINCT c.item_code) "
        "FROM core.cases c LEFT JOIN core.persons p USING (id_number) "
        "WHERE c.superseded_by_load IS NULL AND starts_with(c.source_id, ?) GROUP BY c.id_number "
        "HAVING points >= ? AND districts >= ? ORDER BY points DESC, districts DESC, c.id_number LIMIT ?",
        [Scope(scope).prefix, min_points, min_districts, limit],
    ).fetchall()
    return [WidelyServed(str(i), n, int(p), int(d), int(k)) for i, n, p, d, k in rows]


@dataclass(frozen=True, slots=True)
class UnknownCodeCount:
    """A value no code table accepted, in open quarantine rows of one item, field and version."""

    item_code: str
    standard_version: str
    field: str
    value: str
    rows: int


def open_unknown_codes(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> list[UnknownCodeCount]:
    """CODE_UNKNOWN values of the open quarantine inside ``scope`` (what ``tierhub codes unknown`` lists)."""
    return _in_scope(
        con,
        """
        SELECT item_code, standard_version, r.field, r.value, count(*)
        FROM (SELECT item_code, standard_version, source_id, unnest(reasons) AS r FROM quarantine.open_rows)
        WHERE r.rule = 'CODE_UNKNOWN' AND r.value IS NOT NULL AND starts_with(source_id, ?)
        GROUP BY ALL ORDER BY 5 DESC, 1, 3, 4
        """,
        scope,
        UnknownCodeCount,
    )


@dataclass(frozen=True, slots=True)
class UnknownHeaderCount:
    """A header text no field matched, in files registered inside a scope."""

    header: str
    files: int


def unknown_header_counts(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> list[UnknownHeaderCount]:
    """Header texts of registered files that named no field, by how many files carried them."""
    return _in_scope(
        con,
        """
        SELECT h, count(DISTINCT file_id)
        FROM (SELECT file_id, source_id, unnest(unknown_headers) AS h FROM ops.files)
        WHERE starts_with(source_id, ?)
        GROUP BY h ORDER BY 2 DESC, 1
        """,
        scope,
        UnknownHeaderCount,
    )
