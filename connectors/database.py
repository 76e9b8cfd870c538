"""SQL databases as sources: a district's own 人社 system, read table by table through DuckDB's scanners.

Each item is a table or a query (DuckDB's SQL, run over the database's tables) with a cursor
column that only grows — an increasing id, or ``updated_at`` set by the database. A survey
counts the rows past the last cursor value the warehouse committed for (source, item); taking
them fixes the slice ``(last, highest]`` so rows written meanwhile wait for the next sync. The
new value is stored in ``ops.cursor`` by the same transaction as the rows, so a batch that
fails or rolls back takes the same rows again next time.

SQLite and PostgreSQL are attached read-only with the ``sqlite_scanner`` and
``postgres_scanner`` extensions, loaded from their PyPI wheels (no download at run time;
docs/decisions/0016-source-plugins.md says why not SQLAlchemy).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.config import DatabaseEndpoint, DatabaseItem
from connectors.exports import Known, Selection, Survey
from connectors.readers import MIN_KNOWN_HEADERS, map_header
from connectors.records import Listing, Refusal
from tierhub.clock import BUREAU_TIME
from tierhub.errors import ConfigError, HeaderMismatch, SourceUnreachable
from tierhub.sql import ident
from tierhub.standards import Catalogue, ItemStandard, catalogue

CATALOG = "src"
# URL scheme → (wheel module, extension, ATTACH type).
SCANNERS = {
    "sqlite": ("duckdb_extension_sqlite_scanner", "sqlite_scanner", "sqlite"),
    "postgresql": ("duckdb_extension_postgres_scanner", "postgres_scanner", "postgres"),
    "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner", "postgres"),
}


@cache
def scanner_extension(module: str, name: str) -> str:
    """The path of a DuckDB extension shipped in its PyPI wheel, for the installed DuckDB version."""
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"the DuckDB extension {name} is not installed",
            fix=f"install {module.replace('_', '-')}=={duckdb.__version__} (uv sync)",
        ) from exc
    found = sorted((Path(str(package.__file__)).parent / "extensions" / f"v{duckdb.__version__}").glob(f"{name}.*"))
    if not found:
        raise ConfigError(
            f"the DuckDB extension {name} for DuckDB {duckdb.__version__} is not installed",
            fix=f"install the {module.replace('_', '-')} version equal to duckdb's (uv sync)",
        )
    return str(found[0])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def attach(con: duckdb.DuckDBPyConnection, url: str, label: str) -> None:
    """Attach the database at ``url`` read-only as catalogue ``src``."""
    scheme, _, rest = url.partition(":")
    scanner = SCANNERS.get(scheme.lower())
    if scanner is None:
        raise ConfigError(
            f"{label}: unsupported database URL scheme {scheme!r}",
            fix="use sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname",
        )
    module, extension, kind = scanner
    target = url
    if kind == "sqlite":
        target = "/" + rest.lstrip("/") if rest.startswith("//") else rest
        if not Path(target).is_file():
            raise SourceUnreachable(f"{label}: no SQLite database at {target}", fix="check the URL's path")
    con.execute(f"LOAD {_literal(scanner_extension(module, extension))}")
    try:
        con.execute(f"ATTACH {_literal(target)} AS {CATALOG} (TYPE {kind}, READ_ONLY)")
    except duckdb.Error as exc:
        # The URL may hold a password: never show it.
        detail = str(exc).replace(url, "***").replace(target, "***")
        raise SourceUnreachable(f"{label}: cannot connect: {detail}", fix="retried at the next sync") from exc


@dataclass(frozen=True, slots=True)
class _Slice:
    """The rows of one item of one source between two cursor values: ``(after, upto]``."""

    item: str
    spec: DatabaseItem
    sql: str  # the item's rows for this source, as a subquery
    cursor_type: str
    after: str | None
    upto: str
    rows: int


@dataclass
class TableRows:
    """A database slice being read: its columns already mapped to canonical fields."""

    sheet: str
    unknown_headers: list[str]
    batches: Iterator[pa.RecordBatch]
    encoding: str | None = None
    header_row: int = 0
    skipped_rows: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TableExport:
    """The new rows of one database item for one source."""

    source: DatabaseSource
    slice: _Slice
    source_id: str
    identity: str
    received_at: dt.datetime

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what defines the slice: database, source, item, query and the cursor range."""
        s = self.slice
        text = "|".join(
            [self.source.endpoint.url_env, self.source_id, s.item, s.sql, str(s.spec.cursor), str(s.after), s.upto]
        )
        return hashlib.sha256(f"{text}|{s.rows}".encode()).hexdigest()

    @property
    def size(self) -> int:
        """Rows in the slice."""
        return self.slice.rows

    @property
    def position(self) -> str | None:
        """The cursor value this export advances to."""
        return self.slice.upto

    def describe(self, standards: Catalogue) -> tuple[ItemStandard, dt.date | None]:
        """The configured item; the export date is the day the rows were read, in Tianjin."""
        return standards.find(self.slice.item), self.received_at.astimezone(BUREAU_TIME).date()

    def open(self, *, batch_rows: int, encoding: str | None) -> TableRows:
        """Read the slice in cursor order, each column as text under its canonical field."""
        return self.source.read(self, batch_rows)


class DatabaseSource:
    """The items of one database endpoint, for every source of its district(s)."""

    def __init__(self, endpoint: DatabaseEndpoint, landing: Path | None = None) -> None:
        self._endpoint = endpoint
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._slices: dict[tuple[str, str], _Slice] = {}

    @property
    def endpoint(self) -> DatabaseEndpoint:
        """The endpoint's configuration."""
        return self._endpoint

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of this thread's own to the attached database (attached on first use)."""
        with self._lock:
            if self._con is None:
                url = os.environ.get(self.endpoint.url_env)
                if not url:
                    raise ConfigError(
                        f"{self.endpoint.label}: the environment variable {self.endpoint.url_env} is not set",
                        fix=f"set {self.endpoint.url_env} to the database's URL on every worker "
                        "(sqlite:///path.db or postgresql://user:password@host/db)",
                    )
                con = duckdb.connect()
                try:
                    con.execute("SET TimeZone = 'UTC'")
                    attach(con, url, self.endpoint.label)
                except BaseException:
                    con.close()
                    raise
                self._con = con
            cursor = self._con.cursor()
        # Each cursor has its own default catalogue: queries name the database's tables unqualified.
        cursor.execute(f"USE {CATALOG}")
        return cursor

    def _rows_sql(self, spec: DatabaseItem, source_code: str) -> str:
        """The item's rows of one source, as SQL to wrap in a subquery."""
        if spec.table is not None:
            body = "SELECT * FROM " + ".".join(ident(part) for part in spec.table.split("."))
        else:
            body = str(spec.query).replace("{source}", source_code)  # a 12-digit code: safe to inline
        if self.endpoint.source_column:
            return f"SELECT * FROM ({body}) AS q WHERE q.{ident(self.endpoint.source_column)} = {_literal(source_code)}"
        return body

    def _columns(self, con: duckdb.DuckDBPyConnection, sql: str, item: str) -> dict[str, str]:
        try:
            described = con.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as exc:
            raise ConfigError(
                f"{self.endpoint.label}: item {item} cannot be read: {exc}",
                fix="check the table name or the query in the sources file",
            ) from exc
        return {str(row[0]): str(row[1]) for row in described}

    def survey(
        self, source_code: str, known: Known, selection: Selection, standards: Catalogue, now: dt.datetime
    ) -> Survey:
        """Per item, the rows past the cursor; rows whose cursor is NULL are reported, not taken."""
        survey = Survey()
        con = self._cursor()
        try:
            for item in self.endpoint.items:
                if not selection.takes_item(item, standards):
                    survey.unselected += 1
                    continue
                spec = self.endpoint.item(item)
                column = str(spec.cursor)
                identity = f"database/{item}/{column}"
                sql = self._rows_sql(spec, source_code)
                types = self._columns(con, sql, item)
                if column not in types:
                    raise ConfigError(
                        f"{self.endpoint.label}: item {item} has no cursor column {column!r} "
                        f"(columns: {', '.join(types)})",
                        fix="name an increasing column (an id or updated_at) as cursor",
                    )
                after = known.positions.get((source_code, identity))
                newer = f"q.{ident(column)} > CAST(? AS {types[column]})" if after is not None else "true"
                params = [after, after] if after is not None else []
                rows, upto, unset = con.execute(
                    f"SELECT count(*) FILTER (WHERE {newer}), CAST(max(q.{ident(column)}) FILTER (WHERE {newer}) "
                    f"AS VARCHAR), count(*) FILTER (WHERE q.{ident(column)} IS NULL) FROM ({sql}) AS q",
                    params,
                ).fetchone() or (0, None, 0)
                if unset:
                    survey.refusals.append(
                        Refusal(
                            source_code,
                            identity,
                            int(unset),
                            f"{unset} rows have no {column}: they are taken once the database sets it",
                        )
                    )
                if rows and upto is not None:
                    listing = Listing(source_code, identity, int(rows), now.replace(microsecond=0))
                    self._slices[(source_code, identity)] = _Slice(
                        item, spec, sql, types[column], after, str(upto), int(rows)
                    )
                    survey.candidates.append(listing)
        except duckdb.Error as exc:
            raise SourceUnreachable(f"{self.endpoint.label}: {exc}", source_id=source_code) from exc
        finally:
            con.close()
        return survey

    def settle(self, fresh: list[Listing], sleep: Callable[[float], None]) -> tuple[list[Listing], list[Listing]]:
        """A committed row is stable: nothing to wait for."""
        return fresh, []

    def take(self, listing: Listing) -> TableExport:
        """The surveyed slice as an export (read when staged)."""
        return TableExport(
            self, self._slices[(listing.source_id, listing.path)], listing.source_id, listing.path, listing.modified_at
        )

    def read(self, export: TableExport, batch_rows: int) -> TableRows:
        """Stream a slice's rows in cursor order as batches of canonical text columns."""
        s = export.slice
        con = self._cursor()
        try:
            types = self._columns(con, s.sql, s.item)
            names = list(types)
            columns, unknown = map_header(names)
            if len(columns) < MIN_KNOWN_HEADERS:
                raise HeaderMismatch(
                    f"{s.item}: only {len(columns)} of the columns {', '.join(names)} name known fields",
                    source_id=export.source_id,
                    path=export.identity,
                    fix="name the columns with the standard headers or their snake_case names (field_dictionary.csv), "
                    "or alias them in the query (SELECT xm AS 姓名 …)",
                )
            cursor = ident(str(s.spec.cursor))
            selected = ", ".join(f"CAST(q.{ident(names[p])} AS VARCHAR) AS {ident(f)}" for p, f in columns.items())
            newer = f"q.{cursor} > CAST(? AS {s.cursor_type}) AND " if s.after is not None else ""
            params = ([s.after] if s.after is not None else []) + [s.upto]
            reader = con.execute(
                f"SELECT {selected} FROM ({s.sql}) AS q WHERE {newer}q.{cursor} <= CAST(? AS {s.cursor_type}) "
                f"ORDER BY q.{cursor}",
                params,
            ).to_arrow_reader(batch_rows)
        except BaseException:
            con.close()
            raise
        sheet = s.spec.table or s.item

        def batches() -> Iterator[pa.RecordBatch]:
            number = 0
            try:
                for batch in reader:
                    n = batch.num_rows
                    rows = pa.array(range(number + 1, number + n + 1), pa.int64())
                    number += n
                    yield pa.RecordBatch.from_arrays(
                        [rows, pa.array([sheet] * n, pa.string()), *batch.columns],
                        names=["_row_number", "_sheet", *batch.schema.names],
                    )
            finally:
                con.close()

        return TableRows(sheet, unknown, batches())

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]:
        """Every item with rows for this source (for ``sources check``)."""
        survey = self.survey(source_code, Known({}, {}), Selection(), catalogue(), dt.datetime.now(dt.UTC))
        return survey.candidates, survey.refusals, set()

    def probe(self, source_code: str) -> str:
        """Where the source's rows are: connects and lists its items (raises ``SourceUnreachable``)."""
        self.scan(source_code)
        return self.endpoint.where(source_code)

    def upload(self, local: Path, source_code: str, name: str | None = None) -> str:
        """A database has no outbox to put receipts or reports into."""
        raise ConfigError(
            f"{self.endpoint.label} is a database: tierhub cannot put {name or local.name} "
            f"where {source_code} reads it",
            source_id=source_code,
            fix="send receipts and reports to database sources by mail",
        )

    def close(self) -> None:
        """Detach the database."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
