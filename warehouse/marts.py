"""Marts: the figures the quality reports and the portal read — the one place they are computed.

Every function takes the caller's scope (a division code) and returns nothing outside that
node's subtree; scope is applied here, in SQL. Grouping ``by`` a level above the scope gives
nothing (a street sees no district totals), as in ``warehouse.queries``. A period is an inclusive date range, an ISO
week by default. A file counts for the period holding its export date (the date in its name;
the day it reached the outbox when the name had none). Decision 0009 says why, and what
"expected" and "late" mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from tierhub.calendar import is_working_day
from tierhub.clock import BUREAU_TIME, epoch_us, from_epoch_us
from tierhub.errors import ConfigError
from tierhub.scope import Scope
from tierhub.standards import catalogue

TZ = BUREAU_TIME
ANY_ITEM = "*"  # a community workstation with no configured items: any one export per period
Level = Literal["source", "street", "district"]
Calendar = Literal["daily", "weekly", "monthly"]
_GROUP = {"source": "d.code", "street": "d.street_code", "district": "d.district_code"}
# The day a file counts for: its export date, else the day (Beijing time) it reached the outbox.
_FILE_DAY = "coalesce(f.export_date, CAST(timezone('Asia/Shanghai', f.modified_at) AS DATE))"


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """An inclusive range of days; an ISO week unless asked otherwise."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ConfigError(f"period {self.start} – {self.end} ends before it starts", fix="give --from before --to")

    @property
    def days(self) -> int:
        """Its length in days."""
        return (self.end - self.start).days + 1

    @property
    def is_week(self) -> bool:
        """Whether it is exactly one ISO week (Monday to Sunday)."""
        return self.start.isoweekday() == 1 and self.days == 7

    @property
    def label(self) -> str:
        """``2026-W48`` for an ISO week, else ``2026-11-01~2026-11-30``."""
        if self.is_week:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.isoformat()}~{self.end.isoformat()}"

    def shifted(self, periods: int) -> Period:
        """The period ``periods`` lengths later (earlier when negative)."""
        step = dt.timedelta(days=self.days * periods)
        return Period(self.start + step, self.end + step)

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` lies inside."""
        return self.start <= day <= self.end

    def periods_since(self, day: dt.date) -> int:
        """How many whole periods of this length ``day``'s period lies before this one (0: inside)."""
        return max(0, -((day - self.start).days // self.days))


def week_of(day: dt.date) -> Period:
    """The ISO week holding ``day``."""
    monday = day - dt.timedelta(days=day.isoweekday() - 1)
    return Period(monday, monday + dt.timedelta(days=6))


def last_week(today: dt.date) -> Period:
    """The ISO week before the one holding ``today``: what the Monday report covers."""
    return week_of(today).shifted(-1)


def trailing(period: Period, count: int) -> list[Period]:
    """``count`` periods of the same length ending with ``period``, oldest first."""
    return [period.shifted(-n) for n in range(count - 1, -1, -1)]


def deadline(last_day: dt.date, working_days: int) -> dt.datetime:
    """Submissions for a slot ending on ``last_day`` are due by the end (Beijing time) of the
    ``working_days``-th working day after it (法定节假日 and adjusted weekends counted)."""
    day = last_day
    left = working_days
    while left > 0:
        day += dt.timedelta(days=1)
        left -= is_working_day(day)
    return dt.datetime.combine(day, dt.time(23, 59, 59), TZ)


def _periods_params(periods: Sequence[Period]) -> list[list[dt.date]]:
    return [[p.start for p in periods], [p.end for p in periods]]


_PERIODS = "(SELECT unnest(?::DATE[]) AS p_start, unnest(?::DATE[]) AS p_end)"


# ---------------------------------------------------------------- counts and pass rates


class RowsPassRate:
    """The pass rate of a record that counts rows received (``rows_in``) and loaded (``rows_loaded``)."""

    __slots__ = ()
    rows_in: int
    rows_loaded: int

    @property
    def pass_rate(self) -> float | None:
        """Share of received rows that passed every check (None: nothing received)."""
        return self.rows_loaded / self.rows_in if self.rows_in else None


@dataclass(frozen=True, slots=True)
class Counts(RowsPassRate):
    """Files and rows received for one division, item and period."""

    period: Period
    division_code: str
    division_name: str
    item_code: str | None  # None: a file whose name named no known item (rejected)
    files: int
    rejected_files: int
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


def counts(
    con: duckdb.DuckDBPyConnection, scope: str, periods: Sequence[Period], *, by: Level = "street"
) -> list[Counts]:
    """Per division (at level ``by``) × item × period inside ``scope``: files and rows received."""
    rows = con.execute(
        f"""
        SELECT p.p_start, p.p_end, g.code, any_value(n.name), g.item_code, count(*),
               count(*) FILTER (WHERE g.status = 'rejected'), sum(g.rows_in), sum(g.rows_loaded),
               sum(g.rows_quarantined)
        FROM (SELECT {_GROUP[by]} AS code, f.item_code, f.status, f.rows_in, f.rows_loaded, f.rows_quarantined,
                     {_FILE_DAY} AS day
              FROM ops.files f JOIN ref.divisions d ON d.code = f.source_id
              WHERE starts_with(f.source_id, ?)) g
        JOIN {_PERIODS} p ON g.day BETWEEN p.p_start AND p.p_end
        JOIN ref.divisions n ON n.code = g.code AND starts_with(n.code, ?)
        GROUP BY p.p_start, p.p_end, g.code, g.item_code
        ORDER BY p.p_start, g.code, g.item_code
        """,
        [Scope(scope).prefix, *_periods_params(periods), Scope(scope).prefix],
    ).fetchall()
    return [
        Counts(Period(s, e), str(c), str(n), i, int(f), int(r), int(a), int(b), int(q))
        for s, e, c, n, i, f, r, a, b, q in rows
    ]


@dataclass(frozen=True, slots=True)
class PassRate(RowsPassRate):
    """Rows received and passed for one division and period, all items together."""

    period: Period
    division_code: str
    division_name: str
    files: int
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


def pass_rates(
    con: duckdb.DuckDBPyConnection, scope: str, periods: Sequence[Period], *, by: Level = "street"
) -> list[PassRate]:
    """Per division (at level ``by``) and period inside ``scope``: the quality pass rate."""
    totals: dict[tuple[Period, str], list[int]] = {}
    names: dict[str, str] = {}
    for c in counts(con, scope, periods, by=by):
        names[c.division_code] = c.division_name
        acc = totals.setdefault((c.period, c.division_code), [0, 0, 0, 0])
        for i, value in enumerate((c.files, c.rows_in, c.rows_loaded, c.rows_quarantined)):
            acc[i] += value
    return [PassRate(p, code, names[code], *acc) for (p, code), acc in sorted(totals.items())]


# ---------------------------------------------------------------- reasons and items


@dataclass(frozen=True, slots=True)
class ReasonTally:
    """How many rows received in a period failed one rule, inside one division."""

    division_code: str
    rule: str
    title_zh: str
    title_en: str
    rows: int


def reason_tallies(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, by: Level = "street"
) -> list[ReasonTally]:
    """Per division (at level ``by``): rules failed by rows received in ``period``, most frequent first."""
    rows = con.execute(
        f"""
        SELECT {_GROUP[by]}, r.rule, any_value(m.title_zh), any_value(m.title_en),
               count(DISTINCT (q.file_id, q.row_number))
        FROM quarantine.rows q
        JOIN ops.files f USING (file_id)
        JOIN ref.divisions d ON d.code = q.source_id
        CROSS JOIN UNNEST(q.reasons) AS u(r)
        JOIN ref.rules m ON m.rule = r.rule
        WHERE starts_with(q.source_id, $prefix) AND starts_with({_GROUP[by]}, $prefix)
          AND {_FILE_DAY} BETWEEN $start AND $end
        GROUP BY ALL ORDER BY 1, 5 DESC, 2
        """,
        {"prefix": Scope(scope).prefix, "start": period.start, "end": period.end},
    ).fetchall()
    return [ReasonTally(str(d), str(r), str(z), str(e), int(n)) for d, r, z, e, n in rows]


@dataclass(frozen=True, slots=True)
class ItemQuality:
    """Rows received and failed for one service item in a period."""

    item_code: str
    name_zh: str
    name_en: str
    rows_in: int
    rows_quarantined: int
    top_rule: str | None
    top_rule_zh: str | None
    top_rule_en: str | None


def item_quality(con: duckdb.DuckDBPyConnection, scope: str, period: Period) -> list[ItemQuality]:
    """Per service item inside ``scope``: rows received and quarantined in ``period``, most failures first."""
    rows = con.execute(
        f"""
        WITH f AS (SELECT f.*, {_FILE_DAY} AS day FROM ops.files f
                   WHERE starts_with(f.source_id, ?) AND f.item_code IS NOT NULL),
        tally AS (SELECT q.item_code, r.rule, count(*) AS n FROM quarantine.rows q JOIN f USING (file_id)
                  CROSS JOIN UNNEST(q.reasons) AS u(r) WHERE f.day BETWEEN ? AND ? GROUP BY ALL),
        top AS (SELECT item_code, arg_max(rule, n) AS rule FROM tally GROUP BY item_code)
        SELECT f.item_code, any_value(i.name_zh), any_value(i.name_en), sum(f.rows_in), sum(f.rows_quarantined),
               any_value(t.rule), any_value(m.title_zh), any_value(m.title_en)
        FROM f JOIN ref.items i ON i.code = f.item_code
        LEFT JOIN top t ON t.item_code = f.item_code LEFT JOIN ref.rules m ON m.rule = t.rule
        WHERE f.day BETWEEN ? AND ?
        GROUP BY f.item_code ORDER BY 5 DESC, 1
        """,
        [Scope(scope).prefix, period.start, period.end, period.start, period.end],
    ).fetchall()
    return [ItemQuality(str(c), str(z), str(e), int(n), int(q), t, tz, te) for c, z, e, n, q, t, tz, te in rows]


# ---------------------------------------------------------------- completeness and timeliness


@dataclass(frozen=True, slots=True)
class Expectations:
    """What each source is expected to submit, per period (decision 0009).

    ``street_items``: the items every street centre submits; ``community_items``: those of a
    community workstation (empty: at least one export of any item); ``overrides``: per source
    (items, calendar) from the sources file; ``deadline_working_days``: working days after a
    slot's last day by whose end its files are due.
    """

    street_items: tuple[str, ...]
    community_items: tuple[str, ...] = ()
    overrides: Mapping[str, tuple[tuple[str, ...] | None, Calendar | None]] = field(default_factory=dict)
    deadline_working_days: int = 1

    def for_source(self, code: str, level: str) -> tuple[tuple[str, ...], Calendar]:
        """(expected items, calendar) of one source; ``(ANY_ITEM,)`` means any one export."""
        items, calendar = self.overrides.get(code, (None, None))
        if items is None:
            items = self.street_items if level == "street" else self.community_items
        return (items or (ANY_ITEM,)), (calendar or "weekly")


def default_expectations(
    day: dt.date,
    *,
    street_items: Iterable[str] = (),
    community_items: Iterable[str] = (),
    overrides: Mapping[str, tuple[tuple[str, ...] | None, Calendar | None]] | None = None,
    deadline_working_days: int = 1,
) -> Expectations:
    """Expectations with the catalogue's items in force on ``day`` as the street default."""
    streets = tuple(street_items) or tuple(
        sorted(i.code for i in catalogue().items.values() if any(v.effective_from <= day for v in i.versions))
    )
    return Expectations(streets, tuple(community_items), dict(overrides or {}), deadline_working_days)


@dataclass(frozen=True, slots=True)
class Slot:
    """One expected submission: a source's item for one calendar slot."""

    item_code: str
    first: dt.date
    last: dt.date
    due: dt.datetime

    @property
    def label(self) -> str:
        """The slot's dates, for a report."""
        return self.first.isoformat() if self.first == self.last else f"{self.first}~{self.last}"


def slots(period: Period, calendar: Calendar, items: Sequence[str], working_days: int) -> list[Slot]:
    """The submissions a source on ``calendar`` owes for ``period``: every calendar slot ending inside it."""
    ranges: list[tuple[dt.date, dt.date]] = []
    day = period.start
    while day <= period.end:
        if calendar == "daily" and is_working_day(day):
            ranges.append((day, day))
        elif calendar == "weekly" and day.isoweekday() == 7:
            ranges.append((day - dt.timedelta(days=6), day))
        elif calendar == "monthly" and (day + dt.timedelta(days=1)).day == 1:
            ranges.append((day.replace(day=1), day))
        day += dt.timedelta(days=1)
    return [Slot(item, a, b, deadline(b, working_days)) for a, b in ranges for item in items]


@dataclass(frozen=True, slots=True)
class Submission:
    """One received file, as completeness sees it."""

    source_id: str
    item_code: str | None
    path: str
    day: dt.date
    received_us: int  # since the epoch: fetching a tz-aware datetime per file cost ~50 ms for the city
    status: str

    @property
    def received_at(self) -> dt.datetime:
        """When the file reached the outbox, in Tianjin's time."""
        return from_epoch_us(self.received_us).astimezone(TZ)


@dataclass(frozen=True, slots=True)
class LateSubmission:
    """A file that reached the outbox after its slot's deadline."""

    source_id: str
    item_code: str
    path: str
    received_at: dt.datetime
    due: dt.datetime


@dataclass(frozen=True, slots=True)
class SourceCompleteness:
    """Expected against received submissions of one source in one period."""

    source_id: str
    source_name: str
    street_code: str
    level: str
    calendar: str
    expected: int
    received: int
    files: int
    missing: tuple[Slot, ...]
    late: tuple[LateSubmission, ...]
    due_passed: bool  # every slot's deadline has passed: what is missing now is overdue

    @property
    def silent(self) -> bool:
        """Sent nothing at all in the period."""
        return self.files == 0

    @property
    def on_time(self) -> int:
        """Expected submissions received before their deadline."""
        return self.received - len({(late.item_code, late.path) for late in self.late})


def completeness(
    con: duckdb.DuckDBPyConnection,
    scope: str,
    period: Period,
    expectations: Expectations,
    *,
    now: dt.datetime | None = None,
) -> list[SourceCompleteness]:
    """Per source inside ``scope``: expected, received, missing and late submissions for ``period``."""
    now = now or dt.datetime.now(TZ)
    prefix = Scope(scope).prefix
    sources = con.execute(
        "SELECT code, name, street_code, level FROM ref.divisions "
        "WHERE level IN ('street', 'community') AND starts_with(code, ?) ORDER BY code",
        [prefix],
    ).fetchall()
    # Monthly slots may start before the period: read back to the first day of its first month.
    since = period.start.replace(day=1)
    files: dict[str, list[Submission]] = {}
    for s, i, p, day, at, status in con.execute(
        f"SELECT f.source_id, f.item_code, f.path, {_FILE_DAY}, epoch_us(f.modified_at), f.status FROM ops.files f "
        f"WHERE starts_with(f.source_id, ?) AND {_FILE_DAY} BETWEEN ? AND ? ORDER BY f.modified_at",
        [prefix, since, period.end],
    ).fetchall():
        files.setdefault(str(s), []).append(Submission(str(s), i, str(p), day, at, str(status)))
    result: list[SourceCompleteness] = []
    # Sources on the same calendar owing the same items owe the same slots: made once, not per
    # source (5,916 times for the city, each walking the period and its deadlines: ~1 s).
    owed_by: dict[tuple[Calendar, tuple[str, ...]], list[Slot]] = {}
    passed: dict[tuple[Calendar, tuple[str, ...]], bool] = {}
    due_us: dict[dt.datetime, int] = {}  # each deadline once, as the files' arrival is read
    for code, name, street, level in sources:
        items, calendar = expectations.for_source(str(code), str(level))
        owed = owed_by.get((calendar, items))
        if owed is None:
            owed = owed_by[calendar, items] = slots(period, calendar, items, expectations.deadline_working_days)
            due_us.update((s.due, epoch_us(s.due)) for s in owed)
            passed[calendar, items] = all(s.due <= now for s in owed)
        sent = files.get(str(code), [])
        missing: list[Slot] = []
        late: list[LateSubmission] = []
        by_item: dict[str | None, list[Submission]] = {}
        for f in sent:
            by_item.setdefault(f.item_code, []).append(f)
        for slot in owed:
            # The first file (in arrival order) of the slot's item, or of any item, dated inside the slot.
            candidates = sent if slot.item_code == ANY_ITEM else by_item.get(slot.item_code, ())
            first = next((f for f in candidates if slot.first <= f.day <= slot.last), None)
            if first is None:
                missing.append(slot)
            elif first.received_us > due_us[slot.due]:
                late.append(
                    LateSubmission(str(code), first.item_code or ANY_ITEM, first.path, first.received_at, slot.due)
                )
        result.append(
            SourceCompleteness(
                source_id=str(code),
                source_name=str(name),
                street_code=str(street),
                level=str(level),
                calendar=calendar,
                expected=len(owed),
                received=len(owed) - len(missing),
                files=sum(period.contains(f.day) for f in sent),
                missing=tuple(missing),
                late=tuple(late),
                due_passed=passed[calendar, items],
            )
        )
    return result


# ---------------------------------------------------------------- workload (以事定费)


@dataclass(frozen=True, slots=True)
class Workload:
    """Accepted records of one item whose business date lies in a period, for one division."""

    period: Period
    division_code: str
    division_name: str
    item_code: str
    records: int


def workload(
    con: duckdb.DuckDBPyConnection, scope: str, periods: Sequence[Period], *, by: Level = "source"
) -> list[Workload]:
    """Per division (at level ``by``) × item × period inside ``scope``: the records handled.

    A record counts once, in its latest accepted copy (a re-export supersedes the earlier one),
    in the period of its business date (e.g. the registration date) — the figure the city
    funds by (以事定费). Items that are lists rather than services (the staff roster,
    ``workload: false`` in the catalogue) are not counted.
    """
    existing = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    parts: list[str] = []
    for code, table in con.execute("SELECT code, fact_table FROM ref.items ORDER BY code").fetchall():
        item = catalogue().items.get(str(code))
        if item is None or not item.workload or table not in existing:
            continue
        dates = ", ".join(dict.fromkeys(f'"{v.business_date}"' for v in item.versions))
        parts.append(
            f"SELECT source_id, item_code, CAST(coalesce({dates}) AS DATE) AS day FROM {table} "
            "WHERE superseded_by_load IS NULL AND starts_with(source_id, $prefix)"
        )
    if not parts:
        return []
    rows = con.execute(
        f"""
        SELECT p.p_start, p.p_end, {_GROUP[by]} AS code, any_value(n.name), r.item_code, count(*)
        FROM ({" UNION ALL ".join(parts)}) r
        JOIN ref.divisions d ON d.code = r.source_id
        JOIN (SELECT unnest($starts::DATE[]) AS p_start, unnest($ends::DATE[]) AS p_end) p
          ON r.day BETWEEN p.p_start AND p.p_end
        JOIN ref.divisions n ON n.code = {_GROUP[by]} AND starts_with(n.code, $prefix)
        GROUP BY p.p_start, p.p_end, {_GROUP[by]}, r.item_code
        ORDER BY p.p_start, code, r.item_code
        """,
        {"prefix": Scope(scope).prefix, "starts": [p.start for p in periods], "ends": [p.end for p in periods]},
    ).fetchall()
    return [Workload(Period(s, e), str(c), str(n), str(i), int(k)) for s, e, c, n, i, k in rows]


# ---------------------------------------------------------------- failing rows and the correction loop


@dataclass(frozen=True, slots=True)
class FailingLine:
    """One reason of one quarantined row, as a district report lists it.

    ``status``: ``open`` (still failing at the period's end) or ``fixed`` (a corrected row
    arrived in the period). ``record_key`` is the record's stable id; ``first_day`` the export
    date of its first failing submission, followed back through every resubmission that
    failed again; ``age`` how many periods before this one that was.
    """

    status: Literal["open", "fixed"]
    record_key: str
    source_id: str
    source_name: str
    street_code: str
    item_code: str
    item_name_zh: str
    item_name_en: str
    file_id: int
    path: str
    row_number: int
    sheet: str | None
    field: str | None
    field_label_zh: str | None
    value: str | None
    rule: str
    message_zh: str
    message_en: str
    fix_zh: str
    fix_en: str
    first_day: dt.date
    age: int
    fixed_by_path: str | None
    fixed_by_row: int | None

    @property
    def file_name(self) -> str:
        """The file's name without its folder."""
        return self.path.rsplit("/", 1)[-1]


def failing_lines(con: duckdb.DuckDBPyConnection, scope: str, period: Period) -> list[FailingLine]:
    """Every reason of every row inside ``scope`` still failing at ``period``'s end, and of every
    row fixed during it, ordered by source, file and row."""
    rows = con.execute(
        f"""
        WITH RECURSIVE
        fl AS (SELECT f.file_id, f.path, {_FILE_DAY} AS day FROM ops.files f WHERE starts_with(f.source_id, $prefix)),
        q AS (SELECT q.file_id, q.row_number, q.superseded_by_file, q.superseded_by_row, q.superseded_valid,
                     a.day, b.day AS next_day, b.path AS next_path
              FROM quarantine.rows q JOIN fl a USING (file_id) LEFT JOIN fl b ON b.file_id = q.superseded_by_file
              WHERE starts_with(q.source_id, $prefix) AND a.day <= $end),
        chain(file_id, row_number, first_day) AS (
            SELECT file_id, row_number, day FROM q
            UNION ALL
            SELECT n.file_id, n.row_number, c.first_day
            FROM chain c JOIN q p ON p.file_id = c.file_id AND p.row_number = c.row_number
            JOIN q n ON n.file_id = p.superseded_by_file AND n.row_number = p.superseded_by_row),
        firsts AS (SELECT file_id, row_number, min(first_day) AS first_day FROM chain GROUP BY ALL),
        picked AS (
            SELECT q.*, CASE WHEN q.superseded_by_file IS NULL OR q.next_day > $end THEN 'open'
                             WHEN q.superseded_valid AND q.next_day >= $start THEN 'fixed' END AS status,
                   c.first_day
            FROM q JOIN firsts c USING (file_id, row_number))
        SELECT p.status, qr.record_key, qr.source_id, d.name, d.street_code, qr.item_code, i.name_zh, i.name_en,
               qr.file_id, r.path, qr.row_number, qr.sheet, r.field, fd.label_zh, r.value, r.rule, r.message_zh,
               r.message_en, r.fix_zh, r.fix_en, p.first_day, p.next_path, qr.superseded_by_row
        FROM picked p
        JOIN quarantine.rows qr ON qr.file_id = p.file_id AND qr.row_number = p.row_number
        JOIN quarantine.reasons r ON r.file_id = p.file_id AND r.row_number = p.row_number
        JOIN ref.divisions d ON d.code = qr.source_id
        JOIN ref.items i ON i.code = qr.item_code
        LEFT JOIN ref.fields fd ON fd.field = r.field
        WHERE p.status IS NOT NULL
        ORDER BY qr.source_id, r.path, qr.row_number, r.field, r.rule
        """,
        {"prefix": Scope(scope).prefix, "start": period.start, "end": period.end},
    ).fetchall()
    lines: list[FailingLine] = []
    for row in rows:
        status, key, source, name, street, item, item_zh, item_en, file_id, path, number, sheet = row[:12]
        fld, label, value, rule, mzh, men, fzh, fen, first, next_path, next_row = row[12:]
        lines.append(
            FailingLine(
                status=status,
                record_key=str(key or f"{file_id}:{number}"),
                source_id=str(source),
                source_name=str(name),
                street_code=str(street),
                item_code=str(item),
                item_name_zh=str(item_zh),
                item_name_en=str(item_en),
                file_id=int(file_id),
                path=str(path),
                row_number=int(number),
                sheet=sheet,
                field=fld,
                field_label_zh=label,
                value=value,
                rule=str(rule),
                message_zh=str(mzh),
                message_en=str(men),
                fix_zh=str(fzh),
                fix_en=str(fen),
                first_day=first,
                age=period.periods_since(first),
                fixed_by_path=next_path if status == "fixed" else None,
                fixed_by_row=int(next_row) if status == "fixed" and next_row is not None else None,
            )
        )
    return lines


def escalations(lines: Iterable[FailingLine], after_periods: int) -> list[FailingLine]:
    """Open lines whose record first failed ``after_periods`` or more periods ago."""
    return [line for line in lines if line.status == "open" and line.age >= after_periods]


def division_names(con: duckdb.DuckDBPyConnection, scope: str, level: Level) -> dict[str, str]:
    """Code → name of the divisions at ``level`` inside ``scope`` (streets: centres included)."""
    kind = {"source": "('street', 'community')", "street": "('street')", "district": "('district')"}[level]
    return {
        str(c): str(n)
        for c, n in con.execute(
            f"SELECT code, name FROM ref.divisions WHERE level IN {kind} AND starts_with(code, ?) ORDER BY code",
            [Scope(scope).prefix],
        ).fetchall()
    }


@dataclass(frozen=True, slots=True)
class ExportGap:
    """One file received in a period that lacked required columns, or loaded rows with warnings."""

    street_code: str
    path: str
    rows_warned: int
    missing_columns: list[str]


def export_gaps(con: duckdb.DuckDBPyConnection, scope: str, period: Period) -> list[ExportGap]:
    """Files of ``period`` inside ``scope`` with warned rows or missing columns (decision 0017)."""
    rows = con.execute(
        f"""
        SELECT d.street_code, f.path, coalesce(f.rows_warned, 0), coalesce(f.missing_columns, [])
        FROM ops.files f JOIN ref.divisions d ON d.code = f.source_id
        WHERE starts_with(f.source_id, ?) AND {_FILE_DAY} BETWEEN ? AND ?
          AND (coalesce(f.rows_warned, 0) > 0 OR len(coalesce(f.missing_columns, [])) > 0)
        ORDER BY d.street_code, f.path
        """,
        [Scope(scope).prefix, period.start, period.end],
    ).fetchall()
    return [ExportGap(str(s), str(p), int(w), [str(x) for x in m]) for s, p, w, m in rows]
