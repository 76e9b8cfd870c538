"""The one read path for the CLI, the portal and the reports.

Every function takes the caller's scope — a division code — and returns nothing outside
that node's subtree. Scope is applied here, in SQL, never by the caller.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from tierhub.reference import divisions

CITY = "120000000000"


def scope_prefix(scope: str) -> str:
    """The code prefix of a scope node (raises if the code is not a division)."""
    return divisions().get(scope).prefix


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
    rows = con.execute(
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
        [scope_prefix(scope)],
    ).fetchall()
    return [DistrictCounts(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How often one rule failed inside a scope."""

    rule: str
    title_zh: str
    title_en: str
    rows: int


def reason_counts(con: duckdb.DuckDBPyConnection, scope: str = CITY) -> list[ReasonCount]:
    """Quarantine reasons inside ``scope``, most frequent first (a row may have several)."""
    rows = con.execute(
        """
        SELECT q.rule, any_value(m.title_zh), any_value(m.title_en), count(*)
        FROM (SELECT source_id, unnest(reasons).rule AS rule FROM quarantine.rows) q
        JOIN ref.rules m USING (rule)
        WHERE starts_with(q.source_id, ?)
        GROUP BY q.rule ORDER BY 4 DESC, 1
        """,
        [scope_prefix(scope)],
    ).fetchall()
    return [ReasonCount(*r) for r in rows]


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
            [scope_prefix(scope), limit],
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
        [scope_prefix(scope)],
    ).fetchall()
    return {str(s): SourceActivity(str(s), int(n), last) for s, n, last in rows}
