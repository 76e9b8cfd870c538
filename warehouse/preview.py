"""What committing a judged batch would do, per file — the report of a dry run (issue #18 item 7).

A dry run reads and judges every new file and commits nothing; what it reports is this run's
own verdicts, never the warehouse's quarantine table: per file, the rows that would load (and
how many of them carry warnings), the rows that would be quarantined, and why, by rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from tierhub.standards import rule_messages
from warehouse.load import RegistryEntry


@dataclass(frozen=True, slots=True)
class RuleCount:
    """Rows of one file that one rule would quarantine (or warn about)."""

    rule: str
    title_zh: str
    title_en: str
    rows: int


@dataclass(frozen=True, slots=True)
class FilePreview:
    """What a commit would do with one file: ``rows_in == would_load + would_quarantine``."""

    path: str
    source_id: str
    item_code: str | None
    status: str  # loaded (would load) | rejected (the file itself is refused; ``error`` says why)
    rows_in: int
    would_load: int
    with_warnings: int  # of would_load
    would_quarantine: int
    quarantine_rules: list[RuleCount] = field(default_factory=list)  # most rows first
    warning_rules: list[RuleCount] = field(default_factory=list)
    error: str | None = None


def _rule_rows(judged: Mapping[str, pa.Table], column: str) -> dict[int, list[tuple[str, int]]]:
    """Per file id: (rule, rows) of the judged rows' ``_reasons`` or ``_warnings``, most rows first."""
    found: dict[int, list[tuple[str, int]]] = {}
    con = duckdb.connect()
    try:
        for table in judged.values():
            if column not in table.column_names or table.num_rows == 0:
                continue
            con.register("th_preview", table)
            rows = con.execute(
                f"SELECT _file_id, r.rule, count(DISTINCT _row_number) FROM th_preview "
                f"CROSS JOIN UNNEST({column}) AS u(r) GROUP BY ALL ORDER BY 1, 3 DESC, 2"
            ).fetchall()
            con.unregister("th_preview")
            for file_id, rule, n in rows:
                found.setdefault(int(file_id), []).append((str(rule), int(n)))
    finally:
        con.close()
    return found


def preview_files(entries: Iterable[RegistryEntry], judged: Mapping[str, pa.Table]) -> list[FilePreview]:
    """Per new file of a judged batch: rows that would load, with warnings, and would be quarantined by rule."""
    messages = rule_messages()
    reasons = _rule_rows(judged, "_reasons")
    warnings = _rule_rows(judged, "_warnings")

    def named(pairs: list[tuple[str, int]]) -> list[RuleCount]:
        return [
            RuleCount(
                rule, messages.get(rule, {}).get("title_zh", rule), messages.get(rule, {}).get("title_en", rule), n
            )
            for rule, n in pairs
        ]

    return [
        FilePreview(
            path=e.path,
            source_id=e.source_id,
            item_code=e.item_code,
            status=e.status,
            rows_in=e.rows_loaded + e.rows_quarantined,
            would_load=e.rows_loaded,
            with_warnings=e.rows_warned,
            would_quarantine=e.rows_quarantined,
            quarantine_rules=named(reasons.get(e.file_id, [])),
            warning_rules=named(warnings.get(e.file_id, [])),
            error=e.error,
        )
        for e in sorted(entries, key=lambda e: e.path)
    ]


def rule_totals(previews: Iterable[FilePreview], *, warnings: bool = False) -> list[RuleCount]:
    """The rules over many files: rows per rule, most first."""
    totals: dict[str, RuleCount] = {}
    for preview in previews:
        for r in preview.warning_rules if warnings else preview.quarantine_rules:
            seen = totals.get(r.rule)
            totals[r.rule] = RuleCount(r.rule, r.title_zh, r.title_en, r.rows + (seen.rows if seen else 0))
    return sorted(totals.values(), key=lambda r: (-r.rows, r.rule))
