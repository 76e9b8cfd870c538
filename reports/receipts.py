"""Receipts: every registered file gets one, written back into its source's outbox.

A receipt names the file, its SHA-256, when it reached the outbox and when the hub took it,
the rows received, loaded and refused, and the standard version applied; then each refused
row with its problem and fix — so a street can prove what it sent and see at once what was
refused. Receipts go to ``<outbox>/receipts/``: both scanners skip folders, so a receipt is
never taken for an export. ``ops.receipts`` records each one; a file never gets two.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from connectors.config import FileEndpoint, SourcesConfig
from connectors.exports import AnyEndpoint
from connectors.outboxes import Outboxes
from reports.model import labels
from tierhub.cells import csv_row
from tierhub.errors import TierhubError
from tierhub.scope import Scope
from warehouse.marts import TZ

RECEIPTS_FOLDER = "receipts"


def subfolder_outboxes(config: SourcesConfig, landing: Path, folder: str) -> Outboxes:
    """The same outboxes, with every upload going into ``<outbox>/<folder>/``."""

    def moved(endpoint: AnyEndpoint) -> AnyEndpoint:
        if not isinstance(endpoint, FileEndpoint):
            return endpoint  # a database has no outbox: its upload says so
        return endpoint.model_copy(update={"outbox": f"{endpoint.outbox}/{folder}"})

    return Outboxes(
        SourcesConfig(
            default=moved(config.default),
            districts={code: moved(e) for code, e in config.districts.items()},
            sources=config.sources,
        ),
        landing,
    )


@dataclass(frozen=True, slots=True)
class Receipt:
    """One rendered receipt."""

    file_id: int
    source_id: str
    name: str
    body: bytes


def receipt_name(path: str, sha256: str) -> str:
    """``回执_<export name>_<first 8 hex of its SHA-256>.csv``: one per version of a file."""
    return f"回执_{path.rsplit('/', 1)[-1]}_{sha256[:8]}.csv"


def pending_receipts(con: duckdb.DuckDBPyConnection, scope: str) -> list[tuple[int, str]]:
    """(file id, source) of every registered file inside ``scope`` that has no receipt yet, oldest first."""
    rows = con.execute(
        "SELECT f.file_id, f.source_id FROM ops.files f ANTI JOIN ops.receipts r USING (file_id) "
        "WHERE starts_with(f.source_id, ?) ORDER BY f.file_id",
        [Scope(scope).prefix],
    ).fetchall()
    return [(int(f), str(s)) for f, s in rows]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}


def _versions(con: duckdb.DuckDBPyConnection, file_id: int, item_code: str | None) -> list[str]:
    tables = ["quarantine.rows"]
    if item_code:
        found = con.execute("SELECT fact_table FROM ref.items WHERE code = ?", [item_code]).fetchall()
        existing = _tables(con)
        tables += [str(t) for (t,) in found if t in existing]
    union = " UNION ".join(f"SELECT standard_version FROM {t} WHERE file_id = $id" for t in tables)
    return sorted(str(v) for (v,) in con.execute(union, {"id": file_id}).fetchall())


def render_receipt(con: duckdb.DuckDBPyConnection, file_id: int, language: str = "zh") -> Receipt:
    """The receipt of one registered file, as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    words = labels(language)
    found = con.execute(
        "SELECT f.source_id, f.path, f.sha256, f.modified_at, l.committed_at, f.item_code, f.rows_in, "
        "f.rows_loaded, f.rows_quarantined, f.status, f.error, coalesce(f.rows_warned, 0), "
        "coalesce(f.missing_columns, []) "
        "FROM ops.files f JOIN ops.loads l USING (load_id) WHERE f.file_id = ?",
        [file_id],
    ).fetchall()
    if not found:
        raise TierhubError(f"file {file_id} is not in the registry", fix="sync it first")
    source, path, sha, modified, received, item, rows_in, loaded, quarantined, status, error, warned, missing = found[0]
    versions = _versions(con, file_id, item)
    if status == "rejected":
        summary = words["receipt_summary_rejected"].format(error=error or "")
    elif quarantined:
        summary = words["receipt_summary"].format(rows_in=rows_in, rows_loaded=loaded, rows_quarantined=quarantined)
    else:
        summary = words["receipt_summary_clean"].format(rows_in=rows_in)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    head: list[list[Any]] = [
        [words["receipt_title"]],
        [words["receipt_file"], str(path).rsplit("/", 1)[-1]],
        [words["receipt_sha256"], sha],
        [words["receipt_modified_at"], _local(modified)],
        [words["receipt_received_at"], _local(received)],
        [words["receipt_rows_in"], rows_in],
        [words["receipt_rows_loaded"], loaded],
        [words["receipt_rows_quarantined"], quarantined],
        [words["receipt_rows_warned"], warned],
        [words["receipt_status"], words[f"receipt_status_{status}"]],
        [words["receipt_standard"], " ".join(f"{item} {v}" for v in versions) if item else ""],
        [words["receipt_note"], summary],
    ]
    if missing:
        head.append([words["receipt_missing_columns"], missing_columns_message(con, list(missing), language)])
    writer.writerows(csv_row(r) for r in head)
    reasons = con.execute(
        "SELECT r.row_number, coalesce(fd.label_zh, r.field), r.field, r.value, r.message_zh, r.fix_zh, "
        "r.message_en, r.fix_en FROM quarantine.reasons r LEFT JOIN ref.fields fd ON fd.field = r.field "
        "WHERE r.file_id = ? AND NOT EXISTS (SELECT 1 FROM quarantine.rows q WHERE q.file_id = r.file_id "
        "AND q.row_number = r.row_number AND q.rejudged) "  # loaded since by `tierhub rejudge`
        "ORDER BY r.row_number, r.field, r.rule",
        [file_id],
    ).fetchall()
    if reasons:
        writer.writerow([])
        writer.writerow(csv_row([words["row"], words["field"], words["value"], words["reason"], words["fix"]]))
        for number, label, fld, value, mzh, fzh, men, fen in reasons:
            zh = language == "zh"
            # A quarantined value is what a clerk typed: it may begin with "=" (CSV injection).
            writer.writerow(csv_row([number, label if zh else fld, value, mzh if zh else men, fzh if zh else fen]))
    warnings = con.execute(
        "SELECT w.row_number, coalesce(fd.label_zh, w.field), w.field, w.value, w.message_zh, w.fix_zh, "
        "w.message_en, w.fix_en FROM core.warning_messages w LEFT JOIN ref.fields fd ON fd.field = w.field "
        "WHERE w.file_id = ? ORDER BY w.row_number, w.field, w.rule",
        [file_id],
    ).fetchall()
    if warnings:
        writer.writerow([])
        writer.writerow([words["receipt_warnings"]])
        writer.writerow([words["row"], words["field"], words["value"], words["reason"], words["fix"]])
        for number, label, fld, value, mzh, fzh, men, fen in warnings:
            zh = language == "zh"
            writer.writerow(csv_row([number, label if zh else fld, value, mzh if zh else men, fzh if zh else fen]))
    body = "\ufeff" + buffer.getvalue()
    return Receipt(file_id, str(source), receipt_name(str(path), str(sha)), body.encode("utf-8"))


def missing_columns_message(con: duckdb.DuckDBPyConnection, fields: list[str], language: str = "zh") -> str:
    """COLUMN_MISSING's message for these fields, with the catalogue's labels (导出文件缺少列：提交材料、经办日期 …)."""
    found = con.execute("SELECT message_zh, message_en FROM ref.rules WHERE rule = 'COLUMN_MISSING'").fetchall()
    labels_zh = dict(
        con.execute("SELECT field, label_zh FROM ref.fields WHERE list_contains(?, field)", [fields]).fetchall()
    )
    if language == "zh":
        detail = "、".join(str(labels_zh.get(f, f)) for f in fields)
        template = str(found[0][0]) if found else "导出文件缺少列：{detail}"
    else:
        detail = ", ".join(fields)
        template = str(found[0][1]) if found else "The export lacks the columns {detail}"
    return template.replace("{detail}", detail)


def _local(moment: dt.datetime | None) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@dataclass
class ReceiptRun:
    """What one pass of ``send_receipts`` did."""

    written: list[str]
    failed: list[tuple[str, str]]  # (source, error)


def send_receipts(
    con: duckdb.DuckDBPyConnection,
    outboxes: Outboxes,
    scope: str,
    workdir: Path,
    *,
    language: str = "zh",
) -> ReceiptRun:
    """Write a receipt for every registered file inside ``scope`` that has none, into its source's
    ``receipts/`` folder, and record it. A source whose outbox fails is left for the next run."""
    boxes = subfolder_outboxes(outboxes.config, outboxes.landing, RECEIPTS_FOLDER)
    workdir.mkdir(parents=True, exist_ok=True)
    run = ReceiptRun([], [])
    broken: set[str] = set()
    try:
        for file_id, source in pending_receipts(con, scope):
            if source in broken:
                continue
            receipt = render_receipt(con, file_id, language)
            local = workdir / receipt.name
            local.write_bytes(receipt.body)
            try:
                remote = boxes.for_source(receipt.source_id).upload(local, receipt.source_id, receipt.name)
            except (TierhubError, OSError) as exc:
                broken.add(receipt.source_id)
                run.failed.append((receipt.source_id, str(exc)))
                continue
            finally:
                local.unlink(missing_ok=True)
            con.execute(
                "INSERT INTO ops.receipts VALUES (?, ?, ?, ?, now())",
                [file_id, receipt.source_id, remote, hashlib.sha256(receipt.body).hexdigest()],
            )
            run.written.append(remote)
    finally:
        boxes.close()
    return run
