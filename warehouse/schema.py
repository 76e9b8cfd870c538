"""The warehouse's layers and their DDL: ref (dimensions), ops (registry), core, quarantine.

``open_warehouse`` creates whatever is missing and refreshes the reference tables from
the shipped data and the standards catalogue, so a new catalogue field or item needs no
migration script: its fact table or column is added here.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from tierhub.reference import DATA, divisions, field_dictionary
from tierhub.sql import ident
from tierhub.standards import CATALOGUE_DIR, ItemStandard, catalogue, rule_messages
from warehouse.crosscases import DDL as CROSSCHECK_DDL
from warehouse.source_status import DDL as SOURCE_STATUS_DDL
from warehouse.source_status import ensure_source_status
from warehouse.storage import FROM_SETTINGS, Key, connect

# Where a row came from: the first columns of quarantine.rows and of every fact table.
ROW_ORIGIN = """file_id BIGINT NOT NULL,
    row_number BIGINT NOT NULL,
    load_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    standard_version VARCHAR NOT NULL,
    sheet VARCHAR"""

DDL = f"""
CREATE SCHEMA IF NOT EXISTS ref;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SEQUENCE IF NOT EXISTS ops.file_id_seq START 1;
CREATE TABLE IF NOT EXISTS ops.meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ops.loads (
    load_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    run_label VARCHAR,
    files INTEGER NOT NULL,
    rows_in BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.files (
    file_id BIGINT PRIMARY KEY,
    load_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL,
    item_code VARCHAR,
    export_date DATE,
    sheet VARCHAR,
    encoding VARCHAR,
    header_row INTEGER,
    unknown_headers VARCHAR[],
    skipped_rows INTEGER[],
    rows_in BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    status VARCHAR NOT NULL,            -- loaded | rejected
    error VARCHAR,
    CHECK (rows_in = rows_loaded + rows_quarantined),
    UNIQUE (source_id, sha256)
);
-- Decision 0017: rows loaded with warnings (of rows_loaded), and the required columns an export lacks.
ALTER TABLE ops.files ADD COLUMN IF NOT EXISTS rows_warned BIGINT DEFAULT 0;
ALTER TABLE ops.files ADD COLUMN IF NOT EXISTS missing_columns VARCHAR[];
CREATE TABLE IF NOT EXISTS ops.cursor (
    source_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL,
    sha256 VARCHAR NOT NULL,
    file_id BIGINT NOT NULL,             -- the registry entry of that content
    load_id VARCHAR NOT NULL,
    PRIMARY KEY (source_id, path)
);
-- A database item's cursor value (connectors/database.py), NULL for files.
ALTER TABLE ops.cursor ADD COLUMN IF NOT EXISTS position VARCHAR;
CREATE TABLE IF NOT EXISTS ops.refusals (
    source_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    load_id VARCHAR NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_id, path)
);
-- One person across all programmes and tiers: the person master keyed by ID number (the
-- latest accepted record by business date wins), the history of each change, and an index of
-- every accepted record of a person (item, source, the fact row it points to).
-- One row per ID number, kept so by the load (warehouse/persons.py inserts only people not yet
-- here, grouped by ID) and checked by `tierhub warehouse check`. An index rather than a primary
-- key, whose uniqueness lookups cost ~0.5 s per million new people (bench/load_parts.py).
CREATE TABLE IF NOT EXISTS core.persons (
    id_number VARCHAR NOT NULL,
    name VARCHAR,
    sex VARCHAR,
    birth_date DATE,
    mobile_phone VARCHAR,
    source_id VARCHAR NOT NULL,          -- the service point whose record the values come from
    item_code VARCHAR NOT NULL,
    as_of_date DATE,                     -- business date of that record
    rank_key VARCHAR NOT NULL,           -- the record the attribution comes from, see warehouse/persons.py
    first_load VARCHAR NOT NULL,
    last_load VARCHAR NOT NULL
);
ALTER TABLE core.persons ADD COLUMN IF NOT EXISTS name_rank VARCHAR;
ALTER TABLE core.persons ADD COLUMN IF NOT EXISTS sex_rank VARCHAR;
ALTER TABLE core.persons ADD COLUMN IF NOT EXISTS birth_date_rank VARCHAR;
ALTER TABLE core.persons ADD COLUMN IF NOT EXISTS mobile_phone_rank VARCHAR;
CREATE INDEX IF NOT EXISTS persons_by_id ON core.persons (id_number);
CREATE TABLE IF NOT EXISTS core.person_history (
    id_number VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    old_value VARCHAR,
    new_value VARCHAR,
    source_id VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    load_id VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);
-- No primary key: (file_id, row_number) is the key of the fact row a case points to, unique
-- because a file is registered once and is of one item. A second index here cost ~10% of a
-- load and nothing reads by it (decision 0013). Each load's cases are written in ID order.
CREATE TABLE IF NOT EXISTS core.cases (
    id_number VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    business_date DATE,
    file_id BIGINT NOT NULL,
    row_number BIGINT NOT NULL,
    load_id VARCHAR NOT NULL,
    superseded_by_load VARCHAR
);
CREATE INDEX IF NOT EXISTS cases_by_person ON core.cases (id_number);
-- The warnings a loaded row carries (decision 0017): a time limit missed, a document not listed.
-- Keyed like the fact row (file_id, row_number), one row per warning.
CREATE TABLE IF NOT EXISTS core.warnings (
    file_id BIGINT NOT NULL,
    row_number BIGINT NOT NULL,
    load_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    field VARCHAR,
    value VARCHAR,
    detail VARCHAR
);
CREATE TABLE IF NOT EXISTS core.employers (
    employer_uscc VARCHAR PRIMARY KEY,
    employer_name VARCHAR,
    source_id VARCHAR NOT NULL,
    first_load VARCHAR NOT NULL,
    last_load VARCHAR NOT NULL
);
-- Verdict history: per load, item and standard version, the rows checked and how many
-- lacked each field, and how many rows failed each rule (Data Docs and reports read these).
CREATE TABLE IF NOT EXISTS ops.rule_checks (
    load_id VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    standard_version VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    rows_checked BIGINT NOT NULL,
    rows_missing BIGINT NOT NULL,
    PRIMARY KEY (load_id, item_code, standard_version, field)
);
CREATE TABLE IF NOT EXISTS ops.rule_failures (
    load_id VARCHAR NOT NULL,
    item_code VARCHAR NOT NULL,
    standard_version VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    detail VARCHAR,                      -- the document for DOC_MISSING, else NULL
    rows_failed BIGINT NOT NULL,
    examples VARCHAR[] NOT NULL          -- up to 20 offending values as received
);
CREATE TABLE IF NOT EXISTS quarantine.rows (
    {ROW_ORIGIN},
    raw JSON NOT NULL,
    reasons STRUCT(rule VARCHAR, field VARCHAR, value VARCHAR, detail VARCHAR)[] NOT NULL,
    PRIMARY KEY (file_id, row_number)
);
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS record_key VARCHAR;
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS alt_key VARCHAR;
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS superseded_by_load VARCHAR;
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS superseded_by_file BIGINT;
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS superseded_by_row BIGINT;
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS superseded_valid BOOLEAN;
-- Re-judging (decision 0023): a row `tierhub rejudge` loaded is superseded by itself, flagged
-- here (it counts as loaded in ops.files, no longer as quarantined), with the run in ops.rejudges.
ALTER TABLE quarantine.rows ADD COLUMN IF NOT EXISTS rejudged BOOLEAN;
CREATE TABLE IF NOT EXISTS ops.rejudges (
    load_id VARCHAR PRIMARY KEY,         -- the load that wrote the rows (ops.loads)
    started_at TIMESTAMPTZ NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    scope VARCHAR NOT NULL,              -- the division whose open rows were re-checked
    item_code VARCHAR,                   -- NULL: every item
    standards_hash VARCHAR NOT NULL,     -- SHA-256 of the catalogue and reference data in force
    aliases_hash VARCHAR NOT NULL,       -- SHA-256 of the deployment-local aliases in force
    aliases VARCHAR NOT NULL,            -- those aliases as text (reviewable)
    open_before BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_warned BIGINT NOT NULL,         -- of rows_loaded
    still_open BIGINT NOT NULL,
    CHECK (open_before = rows_loaded + still_open)
);
-- The quarantined rows no later submission has replaced: what a street still has to fix.
CREATE OR REPLACE VIEW quarantine.open_rows AS SELECT * FROM quarantine.rows WHERE superseded_by_load IS NULL;
-- Receipts: one per registered file, put into the source's outbox (receipts/ folder) once.
CREATE TABLE IF NOT EXISTS ops.receipts (
    file_id BIGINT PRIMARY KEY,
    source_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,               -- where the receipt lies, relative to the endpoint root
    sha256 VARCHAR NOT NULL,             -- of the receipt itself
    written_at TIMESTAMPTZ NOT NULL
);
-- Quality report deliveries, one row per attempt series: a (district, period, channel) that has a
-- row with status sent is not sent again unless forced.
CREATE SEQUENCE IF NOT EXISTS ops.delivery_id_seq START 1;
CREATE TABLE IF NOT EXISTS ops.deliveries (
    delivery_id BIGINT PRIMARY KEY,
    district_code VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    channel VARCHAR NOT NULL,            -- sftp | email
    status VARCHAR NOT NULL,             -- sent | failed
    attempts INTEGER NOT NULL,
    error VARCHAR,
    target VARCHAR,                      -- remote folder, or the recipients
    files VARCHAR[] NOT NULL,
    forced BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ
)
"""


def _message_columns(reason: str) -> str:
    """SQL: a reason's messages for people ({field} → the Chinese label, {value}, {detail}) and its fixes."""
    filled = f"'{{value}}', coalesce({reason}.value, '')), '{{detail}}', coalesce({reason}.detail, ''))"
    return (
        f"replace(replace(replace(m.message_zh, '{{field}}', coalesce(fl.label_zh, {reason}.field)),\n"
        f"               {filled} AS message_zh,\n"
        f"       replace(replace(replace(m.message_en, '{{field_en}}', {reason}.field),\n"
        f"               {filled} AS message_en,\n"
        "       m.fix_zh, m.fix_en"
    )


# The reasons of quarantined rows and the warnings of loaded rows, with their messages.
REASONS_VIEW = f"""
CREATE OR REPLACE VIEW quarantine.reasons AS
SELECT q.file_id, q.row_number, q.source_id, q.item_code, q.standard_version, q.load_id,
       f.path, r.rule, r.field, r.value, r.detail,
       {_message_columns("r")}
FROM quarantine.rows q
JOIN ops.files f USING (file_id)
CROSS JOIN UNNEST(q.reasons) AS u(r)
JOIN ref.rules m ON m.rule = r.rule
LEFT JOIN ref.fields fl ON fl.field = r.field;
-- The warnings of loaded rows (decision 0017) with their messages, as quarantine.reasons has them.
CREATE OR REPLACE VIEW core.warning_messages AS
SELECT w.file_id, w.row_number, w.source_id, w.item_code, w.load_id, w.rule, w.field, w.value, w.detail,
       {_message_columns("w")}
FROM core.warnings w
JOIN ref.rules m ON m.rule = w.rule
LEFT JOIN ref.fields fl ON fl.field = w.field
"""


# Record identity and history, on fact tables and quarantine rows alike (see warehouse/load.py):
# a later submission of the same record from the same source supersedes the earlier one.
RECORD_COLUMNS = {
    "record_key": "VARCHAR",
    "alt_key": "VARCHAR",
    "superseded_by_load": "VARCHAR",
    "superseded_by_file": "BIGINT",
    "superseded_by_row": "BIGINT",
}


def fact_table(item: ItemStandard) -> str:
    """The core table holding an item's accepted records."""
    return f"core.{item.dataset}"


def fact_columns(item: ItemStandard) -> dict[str, str]:
    """Field → DuckDB type of an item's fact table."""
    types: dict[str, str] = {}
    for version in item.versions:
        for rule in version.fields:
            if rule.field == "documents" or (rule.code_table and rule.multiple):
                types[rule.field] = "VARCHAR[]"
            elif rule.type == "date":
                types[rule.field] = "DATE"
            elif rule.type == "decimal":
                types[rule.field] = "DECIMAL(18, 2)"
            elif rule.type == "integer":
                types[rule.field] = "BIGINT"
            else:
                types.setdefault(rule.field, "VARCHAR")
    return types


# Changes to the fact tables' layout that ``open_warehouse`` must apply to existing files; part
# of the schema fingerprint, so a warehouse made before a change is migrated when next opened.
FACT_LAYOUT = "2: no primary key on (file_id, row_number), decision 0013"


def ensure_fact_table(con: duckdb.DuckDBPyConnection, item: ItemStandard) -> None:
    """Create the item's fact table, or add the columns a newer standard introduced.

    No primary key: nothing reads by it (the person 360 finds its rows through zone maps, rows
    being stored in load order), and maintaining its index was ~40 % of the fact insert and half
    of the commit's checkpoint (decision 0013). A row is never loaded twice because a file is
    never registered twice; ``tierhub warehouse check`` reconciles the fact rows with the registry.
    """
    table = fact_table(item)
    columns = fact_columns(item)
    body = ",\n    ".join(f'"{name}" {kind}' for name, kind in columns.items())
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {table} (
    {ROW_ORIGIN},
    {body}
)"""
    )
    for column, kind in RECORD_COLUMNS.items():
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    schema, name = table.split(".")
    existing = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    for column, kind in columns.items():
        if column not in existing:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}')


def _attribute_table(objects: Sequence[object], names: tuple[str, ...]) -> pa.Table:
    """A table with one column per attribute name, one row per object."""
    return pa.table({name: [getattr(o, name) for o in objects] for name in names})


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register("_ref_src", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _ref_src")
    finally:
        con.unregister("_ref_src")


def refresh_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the ref tables from the shipped data and the catalogue."""
    nodes = sorted(divisions().by_code.values(), key=lambda d: d.code)
    _replace_table(
        con,
        "ref.divisions",
        # A node's subtree is every code starting with its prefix.
        _attribute_table(
            nodes, ("code", "name", "level", "parent_code", "unit_type", "district_code", "street_code", "prefix")
        ),
    )
    items = list(catalogue())
    _replace_table(
        con,
        "ref.items",
        _attribute_table(items, ("code", "name_zh", "name_en", "category", "owner_system")).append_column(
            "fact_table", pa.array([fact_table(i) for i in items])
        ),
    )
    messages = rule_messages()
    _replace_table(
        con,
        "ref.rules",
        pa.table(
            {
                "rule": list(messages),
                "title_zh": [m["title_zh"] for m in messages.values()],
                "title_en": [m["title_en"] for m in messages.values()],
                "message_zh": [m["zh"] for m in messages.values()],
                "message_en": [m["en"] for m in messages.values()],
                "fix_zh": [m["fix_zh"] for m in messages.values()],
                "fix_en": [m["fix_en"] for m in messages.values()],
            }
        ),
    )
    fields = field_dictionary()
    _replace_table(
        con,
        "ref.fields",
        pa.table({"field": list(fields), "label_zh": [f.zh_header for f in fields.values()]}),
    )


def reference_fingerprint() -> str:
    """A hash of every data file the ref tables and fact tables are built from.

    Kept per process for the files' (path, size, mtime): a sync opens the warehouse once per
    batch, and reading and hashing the reference data each time cost ~45 ms.
    """
    files = tuple(
        (str(path), stat.st_size, stat.st_mtime_ns)
        for folder in (DATA, CATALOGUE_DIR)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (stat := path.stat())
    )
    return _fingerprint(files)


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in files:
        path = Path(name)
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for text in (DDL, CROSSCHECK_DDL, REASONS_VIEW, SOURCE_STATUS_DDL, FACT_LAYOUT):
        digest.update(text.encode())
    return digest.hexdigest()


def open_warehouse(path: Path, *, key: Key = FROM_SETTINGS) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse file and bring its schema up to date.

    The reference tables are rewritten only when the shipped data or the catalogue changed.
    Encrypted with the key the settings name unless ``key`` says otherwise (``warehouse.storage``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path, key=key)
    fingerprint = reference_fingerprint()
    if _stored_fingerprint(con) == fingerprint:
        return con
    con.execute("BEGIN")
    set_aside = _set_aside_tables_with_primary_key(
        con, ["core.persons", "core.cases", *(fact_table(i) for i in catalogue())]
    )
    for statement in (DDL + ";" + CROSSCHECK_DDL).split(";"):
        if statement.strip():
            con.execute(statement)
    refresh_reference(con)
    for item in catalogue():
        ensure_fact_table(con, item)
    for table in set_aside:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {table}_with_primary_key")
        con.execute(f"DROP TABLE {table}_with_primary_key")
    con.execute(REASONS_VIEW)
    ensure_source_status(con)
    con.execute("INSERT OR REPLACE INTO ops.meta VALUES ('reference_fingerprint', ?)", [fingerprint])
    con.execute("COMMIT")
    # Schema changes go into the file now, not the WAL: DuckDB 1.5.5 cannot replay an
    # ALTER TABLE … ADD COLUMN … DEFAULT from the WAL after a crash ("GetDefaultDatabase with no
    # default database set"), so a sync killed before its first checkpoint left a warehouse that
    # would not open (tests/test_crash.py, tests/test_maintenance.py).
    con.execute("CHECKPOINT")
    return con


def _set_aside_tables_with_primary_key(con: duckdb.DuckDBPyConnection, tables: list[str]) -> list[str]:
    """Rename those of ``tables`` made with a primary key, so the DDL creates them anew without one.

    DuckDB cannot drop a primary key in place; ``open_warehouse`` copies the rows back. Made
    with a key: ``core.cases`` before decision 0013, the fact tables before session 4,
    ``core.persons`` before session 5.
    """
    keyed = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }
    set_aside = [t for t in tables if t in keyed]
    for table in set_aside:
        schema, name = table.split(".")
        # A table with an index cannot be renamed; the DDL creates its indexes anew.
        for (index,) in con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchall():
            con.execute(f"DROP INDEX {schema}.{ident(index)}")
        con.execute(f"ALTER TABLE {table} RENAME TO {name}_with_primary_key")
    return set_aside


def _stored_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'meta'"
    ).fetchall()
    if rows != [(1,)]:
        return None
    found = con.execute("SELECT value FROM ops.meta WHERE key = 'reference_fingerprint'").fetchall()
    return str(found[0][0]) if found else None
