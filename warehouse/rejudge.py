"""Re-judging (重新校验): open quarantine rows checked again against today's standards and aliases.

When a data engineer onboards a dialect — a code spelling mapped (``tierhub codes map``), a
code table or rule corrected in the catalogue — the rows already held for it need not be sent
again. ``rejudge`` reads each open quarantine row's cells as they were received
(``quarantine.rows.raw``), judges them with the same compiled query a sync uses, and loads the
rows that now pass through the normal commit (``warehouse.load.commit_batch``), so facts,
warnings, the case index, the person master and the cross-programme checks update as for any
load. Each loaded row stays in ``quarantine.rows`` as history: superseded by itself in that
load (``superseded_valid``, ``rejudged``), and the run — when, the SHA-256 of the catalogue and
of the local aliases in force, the counts — is a row of ``ops.rejudges``. ``ops.files`` moves the
rows from quarantined to loaded, so every file still reconciles. Decision 0023.

What re-judging keeps from the first verdict:

- **The day**: a row is judged as of the (Beijing) day its first load started, so a date that was
  in the future when it was sent does not become valid because time passed.
- **Duplicates**: a row held as a repeat of an earlier row of its file stays held (the first row is
  elsewhere — loaded or quarantined — and is not judged beside it).
- **Columns**: a column the file lacked is still lacking (``ops.files.missing_columns``); a column
  whose header was not recognised was never stored, so a header alias needs the file read again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from quality.lookups import install_lookups
from quality.normalise import normalise_batch
from quality.rules import JudgeContext
from quality.verdicts import input_table, judge_staged, judged_table, standard_fields
from tierhub.reference import DATA
from tierhub.reference.local import LocalAliases, active_local_aliases, use_local_aliases
from tierhub.scope import Scope
from tierhub.sql import ident, lit
from tierhub.standards import CATALOGUE_DIR, Catalogue, ItemStandard, catalogue
from warehouse.load import JudgedBatch, commit_batch

RUN_LABEL = "rejudge"
_PROVENANCE = ["_file_id", "_source_code", "_source_prefix", "_file_date", "_row_number", "_sheet", "_absent"]


@dataclass(frozen=True, slots=True)
class ItemCounts:
    """One item's open rows re-checked, and how many now pass."""

    open_before: int
    loaded: int
    warned: int

    @property
    def still_open(self) -> int:
        """Rows that still fail."""
        return self.open_before - self.loaded


@dataclass(frozen=True, slots=True)
class RejudgeResult:
    """What one re-judging did: ``open_before == loaded + still_open``, per item and in all."""

    scope: str
    item_code: str | None
    standards_hash: str
    aliases_hash: str
    dry_run: bool
    load_id: str | None  # the load that wrote the rows; None when nothing was loaded
    items: dict[str, ItemCounts] = field(default_factory=dict)

    @property
    def open_before(self) -> int:
        """Open rows re-checked."""
        return sum(c.open_before for c in self.items.values())

    @property
    def loaded(self) -> int:
        """Rows that now pass and were (or, dry, would be) loaded."""
        return sum(c.loaded for c in self.items.values())

    @property
    def warned(self) -> int:
        """Of ``loaded``: rows that carry warnings."""
        return sum(c.warned for c in self.items.values())

    @property
    def still_open(self) -> int:
        """Rows that still fail."""
        return self.open_before - self.loaded


def standards_fingerprint() -> str:
    """SHA-256 over the catalogue and the shipped reference data (what a verdict depends on)."""
    digest = hashlib.sha256()
    for folder in (CATALOGUE_DIR, DATA):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(folder)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def aliases_text(aliases: LocalAliases) -> str:
    """The local aliases as reviewable lines (``header 人员名称 → name``, ``code TABLE 合同期满 → 2``)."""
    lines = [f"header {text} → {fld}" for text, fld in aliases.headers]
    lines += [f"code {table} {text} → {code}" for table, text, code in aliases.codes]
    return "\n".join(lines)


def aliases_fingerprint(aliases: LocalAliases) -> str:
    """SHA-256 of the local aliases (``aliases_text``)."""
    return hashlib.sha256(aliases_text(aliases).encode()).hexdigest()


def open_items(con: duckdb.DuckDBPyConnection, scope: Scope) -> list[str]:
    """Items with open quarantine rows inside ``scope``."""
    rows = con.execute(
        "SELECT DISTINCT item_code FROM quarantine.open_rows WHERE starts_with(source_id, ?) ORDER BY 1",
        [scope.prefix],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _open_rows(con: duckdb.DuckDBPyConnection, item: ItemStandard, scope: Scope) -> pa.Table:
    """The item's open rows in scope as a sync stages them, plus the day of their first verdict."""
    fields = standard_fields(item)
    # One parse per row into a struct of text (a json_extract per field parsed each row 16 times: 5× slower).
    shape = "{" + ", ".join(f'"{f}": "VARCHAR"' for f in fields) + "}"
    cells = ", ".join(f"q._cells.{ident(f)} AS {ident(f)}" for f in fields)
    return con.execute(
        "SELECT q.file_id AS _file_id, q.source_id AS _source_code, d.prefix AS _source_prefix, "
        "f.export_date AS _file_date, q.row_number AS _row_number, q.sheet AS _sheet, "
        "coalesce(f.missing_columns, []::VARCHAR[]) AS _absent, "
        f"{cells}, "
        "CAST(timezone('Asia/Shanghai', l.started_at) AS DATE) AS _judged_on, "
        "list_contains(list_transform(q.reasons, x -> x.rule), 'DUPLICATE_ROW') AS _repeat "
        f"FROM (SELECT *, from_json(raw, {lit(shape)}) AS _cells FROM quarantine.open_rows) q "
        "JOIN ops.files f USING (file_id) JOIN ops.loads l ON l.load_id = q.load_id "
        "JOIN ref.divisions d ON d.code = q.source_id "
        "WHERE q.item_code = ? AND starts_with(q.source_id, ?) ORDER BY q.file_id, q.row_number",
        [item.code, scope.prefix],
    ).to_arrow_table()


def _judge(con: duckdb.DuckDBPyConnection, item: ItemStandard, rows: pa.Table, day: dt.date) -> pa.Table:
    """Judge ``rows`` (open rows of one item, one verdict day) as a sync would; the judged rows."""
    install_lookups(con)
    staged = rows.drop_columns(["_judged_on", "_repeat"])
    batches = [normalise_batch(b) for b in staged.to_batches(max_chunksize=100_000)]
    con.register("_th_rejudge_src", pa.Table.from_batches(batches) if batches else staged)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {input_table(item)} AS SELECT * FROM _th_rejudge_src")
    finally:
        con.unregister("_th_rejudge_src")
    judge_staged(con, item, JudgeContext(today=day))
    try:
        return con.execute(f"SELECT * FROM {judged_table(item)}").to_arrow_table()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {judged_table(item)}")
        con.execute(f"DROP TABLE IF EXISTS {input_table(item)}")


def _now_passing(judged: pa.Table, repeats: set[tuple[int, int]]) -> pa.Table:
    """The judged rows with no error left that were not held as repeats of an earlier row."""
    valid = pc.equal(pc.list_value_length(judged["_reasons"]), 0)
    if repeats:
        keys = zip(judged["_file_id"].to_pylist(), judged["_row_number"].to_pylist(), strict=True)
        valid = pc.and_(valid, pa.array([(f, r) not in repeats for f, r in keys]))
    return judged.filter(valid)


def _days(rows: pa.Table, today: dt.date | None) -> Iterable[tuple[dt.date, pa.Table]]:
    if today is not None:
        yield today, rows
        return
    for day in sorted(set(rows["_judged_on"].to_pylist())):
        yield day, rows.filter(pc.equal(rows["_judged_on"], pa.scalar(day, pa.date32())))


def rejudge(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    item: str | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
    aliases: LocalAliases | None = None,
    standards: Catalogue | None = None,
) -> RejudgeResult:
    """Re-check the open quarantine rows inside ``scope`` (of ``item``, else every item); load those that pass.

    ``aliases`` (from ``quality.aliases.load_local_aliases``) are put in force first; without them
    the aliases already in force count. ``today`` judges every row as of that day instead of the
    day of its first verdict (tests). ``dry_run`` judges and counts, and writes nothing. One
    transaction: every row that now passes is loaded, or none.
    """
    where = scope or Scope.city()
    standards = standards or catalogue()
    if aliases is not None:
        use_local_aliases(aliases)
    in_force = active_local_aliases()
    started = dt.datetime.now(dt.UTC)
    codes = [standards.find(item).code] if item else open_items(con, where)
    counts: dict[str, ItemCounts] = {}
    passing: dict[str, pa.Table] = {}
    for code in codes:
        standard = standards.items[code]
        rows = _open_rows(con, standard, where)
        if rows.num_rows == 0:
            continue
        repeat_mask = rows["_repeat"]
        repeats = {
            (f, r)
            for f, r in zip(
                rows.filter(repeat_mask)["_file_id"].to_pylist(),
                rows.filter(repeat_mask)["_row_number"].to_pylist(),
                strict=True,
            )
        }
        parts = [_now_passing(_judge(con, standard, group, day), repeats) for day, group in _days(rows, today)]
        now = pa.concat_tables(parts, promote_options="permissive") if parts else None
        loaded = now.num_rows if now is not None else 0
        warned = int(pc.sum(pc.greater(pc.list_value_length(now["_warnings"]), 0)).as_py() or 0) if now else 0
        counts[code] = ItemCounts(rows.num_rows, loaded, warned)
        if now is not None and loaded:
            passing[code] = now
    result = RejudgeResult(
        scope=str(where),
        item_code=codes[0] if item else None,
        standards_hash=standards_fingerprint(),
        aliases_hash=aliases_fingerprint(in_force),
        dry_run=dry_run,
        load_id=None,
        items=counts,
    )
    if dry_run or not passing:
        return result
    batch = JudgedBatch(
        started_at=started,
        run_label=RUN_LABEL,
        entries=[],
        judged=passing,
        supersede=False,
        within=lambda c, load_id: _record(c, load_id, result, passing, in_force, started),
    )
    load = commit_batch(con, batch, standards=standards)
    return dataclasses.replace(result, load_id=load.load_id)


def _record(
    con: duckdb.DuckDBPyConnection,
    load_id: str,
    result: RejudgeResult,
    passing: dict[str, pa.Table],
    aliases: LocalAliases,
    started: dt.datetime,
) -> None:
    """Inside the load's transaction: supersede the quarantine rows loaded, move the file counts, log the run."""
    keys = pa.concat_tables(
        [
            t.select(["_file_id", "_row_number"]).append_column(
                "warned", pc.greater(pc.list_value_length(t["_warnings"]), 0)
            )
            for t in passing.values()
        ]
    )
    con.register("_th_rejudged", keys)
    try:
        [(marked,)] = con.execute(
            "UPDATE quarantine.rows q SET superseded_by_load = ?, superseded_by_file = q.file_id, "
            "superseded_by_row = q.row_number, superseded_valid = true, rejudged = true "
            "FROM _th_rejudged r WHERE q.file_id = r._file_id AND q.row_number = r._row_number "
            "AND q.superseded_by_load IS NULL",
            [load_id],
        ).fetchall()
        if marked != keys.num_rows:
            raise duckdb.ConstraintException(
                f"{keys.num_rows} rows re-judged but {marked} were still open: another writer changed quarantine"
            )
        con.execute(
            "UPDATE ops.files f SET rows_loaded = f.rows_loaded + c.n, rows_quarantined = f.rows_quarantined - c.n, "
            "rows_warned = coalesce(f.rows_warned, 0) + c.w "
            "FROM (SELECT _file_id, count(*) AS n, count(*) FILTER (WHERE warned) AS w FROM _th_rejudged "
            "GROUP BY _file_id) c WHERE f.file_id = c._file_id"
        )
    finally:
        con.unregister("_th_rejudged")
    con.execute(
        "INSERT INTO ops.rejudges VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            started,
            result.scope,
            result.item_code,
            result.standards_hash,
            result.aliases_hash,
            aliases_text(aliases),
            result.open_before,
            result.loaded,
            result.warned,
            result.still_open,
        ],
    )
