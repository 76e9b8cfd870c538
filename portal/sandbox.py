"""Analyst SQL: one read-only SELECT over views already filtered to the analyst's scope.

Each query gets a fresh in-memory DuckDB database that ATTACHes the warehouse READ_ONLY
under a random alias and defines one view per table in its ``main`` schema, each filtered
to the scope's code prefix and with identifiers masked. Then external access is switched
off and the configuration locked. DuckDB has no privileges, so the attached catalog stays
reachable by name (``<alias>.core.persons``) and through ``query()``; the statement check
below is what keeps an analyst inside the views:

- exactly one statement, of type SELECT, that DuckDB can serialise to JSON;
- every table it reads is one of the views (or a CTE of the query), unqualified or
  ``main.``/``memory.main.``; every catalog or schema named anywhere is ``memory``/``main``;
- table functions only from a short allowlist (``range``, ``generate_series``, ``unnest``);
- table-reference kinds only from an allowlist (``SHOW_REF`` for DESCRIBE/SUMMARIZE is not).

What DuckDB enforces underneath (tests/test_portal_sandbox.py): no file reads or writes,
ATTACH, COPY, INSTALL/LOAD (``enable_external_access = false``), no SET (``lock_configuration``),
a memory cap, one thread, a time limit (``interrupt``) and a row limit (``fetchmany``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from duckdb.func import PythonUDFType

from tierhub.errors import TierhubError
from tierhub.sql import ident
from warehouse.analyst_views import view_definitions

MAX_SQL_CHARS = 20_000
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
ALLOWED_REF_TYPES = frozenset(
    {"BASE_TABLE", "SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "TABLE_FUNCTION", "PIVOT", "COLUMN_DATA"}
)
ALLOWED_NODE_TYPES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})


class SqlRefused(TierhubError):
    """An analyst's statement is not a single SELECT over the scoped views."""


class SqlFailed(TierhubError):
    """An analyst's SELECT was accepted but DuckDB could not run it (syntax, binding, limits)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one analyst query may use."""

    seconds: float = 10.0
    rows: int = 1000
    memory: str = "512MB"
    result_bytes: int = 4_000_000  # what is sent to the browser, whatever the row count


@dataclass(frozen=True, slots=True)
class SqlResult:
    """Columns and rows of an analyst query; ``truncated`` when the row limit cut it."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class ViewInfo:
    """One view an analyst may query, with its columns."""

    name: str
    columns: list[str]
    description: str


# -- the statement check ----------------------------------------------------------------------

_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _serialise(sql: str) -> dict[str, Any]:
    """DuckDB's own parse tree of ``sql`` (an empty in-memory database does the parsing)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
        row = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    assert row is not None
    tree: dict[str, Any] = json.loads(row[0])
    return tree


def check_select(sql: str, views: set[str]) -> None:
    """Raise :class:`SqlRefused` unless ``sql`` is one SELECT reading only ``views`` (see module doc)."""
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused(f"the statement has {len(sql):,} characters", fix=f"keep it under {MAX_SQL_CHARS:,}")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlFailed(f"DuckDB cannot parse the statement: {_first_line(exc)}", fix="check the SQL syntax") from None
    if len(statements) != 1:
        raise SqlRefused(
            f"{len(statements)} statements were sent", fix="send exactly one SELECT (no ';'-separated batches)"
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SqlRefused(
            f"only SELECT is allowed, this is {statements[0].type.name}",
            fix="write a SELECT (or FROM …) over the views listed beside the box",
        )
    tree = _serialise(sql)
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise SqlRefused(
            f"the statement cannot be checked: {tree.get('error_message', 'not one statement')}",
            fix="write a plain SELECT (DESCRIBE, SUMMARIZE, PIVOT and SHOW are not available here)",
        )
    node = tree["statements"][0]["node"]
    _walk(node, views, frozenset())


def _declared_ctes(value: dict[str, Any]) -> set[str]:
    """The CTE names a query node declares (visible inside that node only)."""
    cte_map = value.get("cte_map")
    if not isinstance(cte_map, dict):
        return set()
    return {str(entry.get("key", "")).lower() for entry in cte_map.get("map", [])}


def _walk(value: Any, views: set[str], ctes: frozenset[str]) -> None:
    # A CTE is resolved by scope: its name counts only inside the node that declares it. A
    # CTE named like a system view inside a subquery must not let the real view be read
    # elsewhere in the statement (issue #15).
    if isinstance(value, list):
        for child in value:
            _walk(child, views, ctes)
        return
    if not isinstance(value, dict):
        return
    declared = _declared_ctes(value)
    if declared:
        ctes = ctes | declared
    for key in ("catalog_name", "catalog"):
        if str(value.get(key) or "").lower() not in ("", "memory"):
            raise SqlRefused(f"database {value[key]!r} is not available", fix="query the views listed beside the box")
    for key in ("schema_name", "schema"):
        if str(value.get(key) or "").lower() not in ("", "main"):
            raise SqlRefused(f"schema {value[key]!r} is not available", fix="query the views listed beside the box")
    kind = value.get("type")
    if isinstance(kind, str) and kind.endswith("_NODE") and kind not in ALLOWED_NODE_TYPES:
        raise SqlRefused(f"{kind} queries are not available", fix="write a plain SELECT")
    if "table_name" in value or kind in ("SHOW_REF", "TABLE_FUNCTION") or _is_table_ref(value):
        _check_table_ref(value, views, ctes)
    for child in value.values():
        _walk(child, views, ctes)


def _is_table_ref(value: dict[str, Any]) -> bool:
    # Table references carry "sample" next to "type" and "alias"; expressions carry "class".
    return "sample" in value and "alias" in value and "class" not in value and "type" in value


def _check_table_ref(ref: dict[str, Any], views: set[str], ctes: frozenset[str]) -> None:
    kind = ref.get("type")
    if kind not in ALLOWED_REF_TYPES:
        raise SqlRefused(f"{kind} is not available", fix="write a plain SELECT over the views")
    if kind == "BASE_TABLE":
        name = str(ref.get("table_name", "")).lower()
        if name not in views and name not in ctes:
            raise SqlRefused(
                f"table {ref.get('table_name')!r} is not available", fix="query the views listed beside the box"
            )
    elif kind == "TABLE_FUNCTION":
        function = ref.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise SqlRefused(
                f"table function {name!r} is not available",
                fix=f"only {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} may be used in FROM",
            )


# -- the sandbox database ---------------------------------------------------------------------


def person_key(secret: bytes, id_number: str) -> str:
    """A stable pseudonym of a person for counting and joining without the ID number."""
    return hmac.new(secret, id_number.encode(), hashlib.sha256).hexdigest()[:20]


class Sandbox:
    """A throwaway DuckDB database showing one scope's views and nothing else (see module doc)."""

    def __init__(
        self, warehouse: Path, scope: str, *, secret: bytes, masked: bool, limits: Limits, key: str | None = None
    ) -> None:
        if not warehouse.exists():
            raise SqlFailed(f"warehouse {warehouse} does not exist", fix="run `tierhub sync` first")
        self.limits = limits
        self.alias = "wh_" + secrets.token_hex(16)  # detached again before any analyst SQL runs
        self.con = duckdb.connect(
            ":memory:",
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": 1,
                "memory_limit": limits.memory,
            },
        )
        try:
            options = "READ_ONLY"
            if key is not None:  # an encrypted warehouse (warehouse/storage.py): OpenSSL from the httpfs wheel
                from warehouse.storage import httpfs_extension

                self.con.execute(f"LOAD '{_sql_string(httpfs_extension())}'")
                options += f", ENCRYPTION_KEY '{_sql_string(key)}'"
            self.con.execute(f"ATTACH '{_sql_string(str(warehouse))}' AS {self.alias} ({options})")
            # A native UDF: the arrow kind imports pandas on first use (~5 s here), this one numpy (~1 s).
            self.con.create_function(
                "person_key",
                functools.partial(person_key, secret),
                [duckdb.sqltype("VARCHAR")],
                duckdb.sqltype("VARCHAR"),
                type=PythonUDFType.NATIVE,
                side_effects=False,
            )
            self.views = view_definitions(self.con, self.alias, scope, masked)
            # Materialised, not views over the attached warehouse: once the warehouse is
            # detached the connection holds the scope's masked rows and nothing else, so
            # neither a flaw in the statement check nor a system view (duckdb_databases(),
            # duckdb_tables(), duckdb_views()) can reach a path, a table or a row outside it.
            for name, (select, _) in self.views.items():
                self.con.execute(f"CREATE TABLE main.{ident(name)} AS {select}")
            self.con.execute(f"DETACH {self.alias}")
            # The pseudonym's keyed function goes too: with it an analyst could compute the
            # person_key of any ID number they know and find that person's rows.
            self.con.remove_function("person_key")
            for setting in (
                "SET enable_external_access = false",
                "SET allow_community_extensions = false",
                f"SET memory_limit = '{_sql_string(limits.memory)}'",
                "SET threads = 1",
                "SET lock_configuration = true",
            ):
                self.con.execute(setting)
        except duckdb.Error as exc:
            self.con.close()
            raise SqlFailed(
                f"cannot open the warehouse for analysts: {_first_line(exc)}",
                fix="check the warehouse key (TIERHUB_WAREHOUSE_KEY) and that a snapshot was published",
            ) from exc
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        """Drop the database (and the attachment) with the connection."""
        self.con.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> list[ViewInfo]:
        """The views and their columns, for the page beside the SQL box."""
        out = []
        for name, (_, description) in self.views.items():
            columns = [str(r[0]) for r in self.con.execute(f"DESCRIBE main.{ident(name)}").fetchall()]
            out.append(ViewInfo(name, columns, description))
        return out

    def run(self, sql: str) -> SqlResult:
        """Check and run one SELECT under the time, row and result-size limits."""
        check_select(sql, set(self.views))
        started = time.monotonic()
        timer = threading.Timer(self.limits.seconds, self.con.interrupt)
        timer.start()
        try:
            cursor = self.con.execute(sql)
            columns = [str(d[0]) for d in cursor.description or []]
            rows, truncated = _fetch_bounded(cursor, self.limits)
        except duckdb.InterruptException:
            raise SqlFailed(
                f"the query ran longer than {self.limits.seconds:g} s and was stopped",
                fix="filter or aggregate more (WHERE, GROUP BY), or add LIMIT",
            ) from None
        except duckdb.OutOfMemoryException:
            raise SqlFailed(
                f"the query needed more than {self.limits.memory} of memory and was stopped",
                fix="aggregate more, or select fewer and shorter columns",
            ) from None
        except duckdb.Error as exc:
            raise SqlFailed(
                _first_line(exc), fix="check the statement against the views listed beside the box"
            ) from None
        finally:
            timer.cancel()
        return SqlResult(columns, rows, truncated, time.monotonic() - started)


def _fetch_bounded(cursor: duckdb.DuckDBPyConnection, limits: Limits) -> tuple[list[tuple[Any, ...]], bool]:
    """At most ``limits.rows`` rows and about ``limits.result_bytes`` bytes of them; True when cut."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    while len(rows) <= limits.rows:
        batch = cursor.fetchmany(min(100, limits.rows + 1 - len(rows)))
        if not batch:
            return rows, False
        for row in batch:
            size += sum(len(v) if isinstance(v, str | bytes) else 16 for v in row)
            if size > limits.result_bytes or len(rows) == limits.rows:
                return rows, True
            rows.append(row)
    return rows, True


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def run_analyst_sql(
    warehouse: Path,
    scope: str,
    sql: str,
    *,
    secret: bytes,
    masked: bool = True,
    limits: Limits | None = None,
    key: str | None = None,
) -> SqlResult:
    """Run one analyst SELECT in a fresh sandbox over ``scope``'s views."""
    with Sandbox(warehouse, scope, secret=secret, masked=masked, limits=limits or Limits(), key=key) as box:
        return box.run(sql)
