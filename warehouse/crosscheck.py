"""The one engine for cross-programme rules: each rule of ``tierhub.crossrules`` compiled to SQL.

A rule's two sides are read from the case index (``core.cases``: current records only),
joined to an item's fact table only where the rule filters on a field or dates a side by
one; the pairs of one ID number that satisfy where/when and have no ``unless`` record
between them become 协查 cases (``warehouse.crosscases``): one per rule × pair of records,
so running again opens nothing new. Run after every load over the people the load touched
(``run_after_load``, inside the load's transaction) and over everyone on demand
(``run_crosschecks``). Decision 0020.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tierhub.crossrules import CrossRule, Side, cross_rules
from tierhub.sql import ident, lit
from tierhub.standards import catalogue
from warehouse.crosscases import close_resolved, open_cases
from warehouse.schema import fact_columns, fact_table

PEOPLE = "_th_cross_people"  # the ID numbers a run is limited to (a temp table of the connection)
CASES = "_th_cross_cases"  # their current records of the rules' items, read once for every rule
HITS = "_th_cross_hits"


def _rule_items(rules: tuple[CrossRule, ...]) -> list[str]:
    """Every item a rule reads: both sides and the ``unless`` items."""
    return sorted({code for r in rules for code in (*r.first.items, *r.second.items, *r.unless)})


def _cases_relation(people: bool) -> str:
    """Where a run reads current records: the people's, gathered once (``gather_people_cases``), or all."""
    return CASES if people else "core.cases"


def gather_people_cases(con: duckdb.DuckDBPyConnection, rules: tuple[CrossRule, ...]) -> None:
    """The current records of the run's people, of the items the rules read, as one temp table.

    Every side and every ``unless`` of every rule then reads these few rows instead of scanning
    the whole case index again (eighteen sides and three ``unless`` lists: 48 s after a
    100,000-row load on a million people, issue #19).
    """
    items = ", ".join(lit(code) for code in _rule_items(rules))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CASES} AS SELECT c.id_number, c.item_code, c.source_id, c.business_date, "
        f"c.file_id, c.row_number, c.superseded_by_load FROM core.cases c SEMI JOIN {PEOPLE} p "
        f"ON c.id_number = p.id_number WHERE c.superseded_by_load IS NULL AND c.item_code IN ({items})"
    )


def _side_sql(side: Side, people: bool) -> str:
    """One row per current record of the side: id, item, source, the date that counts, the fact row."""
    parts = []
    for code in side.items:
        item = catalogue().items[code]
        columns = fact_columns(item)
        dates = [f"f.{ident(d)}" for d in side.date if columns.get(d) == "DATE"]
        conditions = [f"c.item_code = {lit(code)}", "c.superseded_by_load IS NULL"]
        for rule in side.filters:
            column = f"f.{ident(rule.field)}"
            if rule.filled:
                conditions.append(f"{column} IS NOT NULL")
            else:
                conditions.append(f"{column} IN ({', '.join(lit(v) for v in rule.any_of)})")
        join = (
            f" JOIN {fact_table(item)} f ON f.file_id = c.file_id AND f.row_number = c.row_number"
            if dates or side.filters
            else ""
        )
        day = f"coalesce({', '.join([*dates, 'c.business_date'])})"
        parts.append(
            f"SELECT c.id_number, c.item_code, c.source_id, {day} AS day, c.file_id, c.row_number "
            f"FROM {_cases_relation(people)} c{join} WHERE {' AND '.join(conditions)}"
        )
    return " UNION ALL ".join(parts)


def rule_sql(rule: CrossRule, *, people: bool = False) -> str:
    """The SELECT of a rule's hits: the rule, the ID and both records (first_*, second_*).

    ``people``: only the records gathered by ``gather_people_cases`` (the ID numbers in ``_th_cross_people``).
    """
    where = {
        "other_source": "a.source_id <> b.source_id",
        "other_district": "left(a.source_id, 6) <> left(b.source_id, 6)",
        "any": "true",
    }[rule.where]
    when = {
        "after": "b.day > a.day",
        "not_before": "b.day >= a.day",
        "overlap": "true",
        "within_days": f"abs(date_diff('day', a.day, b.day)) <= {int(rule.when.days or 0)}",
    }[rule.when.relation]
    conditions = [
        "a.day IS NOT NULL AND b.day IS NOT NULL",
        "NOT (a.file_id = b.file_id AND a.row_number = b.row_number)",
        where,
        when,
    ]
    if rule.symmetric:  # each unordered pair once, the earlier record first
        conditions.append("(a.day, a.file_id, a.row_number) < (b.day, b.file_id, b.row_number)")
    if rule.unless:
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {_cases_relation(people)} u WHERE u.id_number = a.id_number "
            f"AND u.superseded_by_load IS NULL AND u.item_code IN ({', '.join(lit(c) for c in rule.unless)}) "
            "AND u.business_date BETWEEN least(a.day, b.day) AND greatest(a.day, b.day))"
        )
    record = (
        "{s}.item_code AS {p}_item, {s}.source_id AS {p}_source, {s}.day AS {p}_date, "
        "{s}.file_id AS {p}_file, {s}.row_number AS {p}_row"
    )
    return (
        f"SELECT {lit(rule.code)} AS rule, a.id_number, {record.format(s='a', p='first')}, "
        f"{record.format(s='b', p='second')} "
        f"FROM ({_side_sql(rule.first, people)}) a JOIN ({_side_sql(rule.second, people)}) b "
        f"ON a.id_number = b.id_number WHERE {' AND '.join(conditions)}"
    )


@dataclass(frozen=True, slots=True)
class CrossCheckRun:
    """What one run found: hits per rule, cases opened, open cases no longer matching (closed)."""

    people: int | None  # None: everyone
    hits: dict[str, int]
    opened: int
    resolved: int


def _run(con: duckdb.DuckDBPyConnection, load_id: str | None, people: bool, actor: str) -> CrossCheckRun:
    rules = cross_rules()
    if people:
        gather_people_cases(con, rules)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {HITS} AS " + " UNION ALL ".join(rule_sql(r, people=people) for r in rules)
    )
    hits = {r.code: 0 for r in rules}
    hits.update({str(k): int(n) for k, n in con.execute(f"SELECT rule, count(*) FROM {HITS} GROUP BY 1").fetchall()})
    acts = {r.code: r.act_tier for r in rules}
    opened = open_cases(con, HITS, acts, load_id=load_id, actor=actor)
    resolved = close_resolved(con, HITS, PEOPLE if people else None, load_id=load_id, actor=actor)
    count = int(con.execute(f"SELECT count(*) FROM {PEOPLE}").fetchall()[0][0]) if people else None
    con.execute(f"DROP TABLE {HITS}")
    con.execute(f"DROP TABLE IF EXISTS {CASES}")
    return CrossCheckRun(count, hits, opened, resolved)


def run_after_load(con: duckdb.DuckDBPyConnection, load_id: str) -> CrossCheckRun:
    """Check every rule for the people this load brought records of (inside the load's transaction)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PEOPLE} AS SELECT DISTINCT id_number FROM core.cases WHERE load_id = ?",
        [load_id],
    )
    if con.execute(f"SELECT count(*) FROM {PEOPLE}").fetchall() == [(0,)]:  # a load of no one (nothing new)
        con.execute(f"DROP TABLE {PEOPLE}")
        return CrossCheckRun(0, {r.code: 0 for r in cross_rules()}, 0, 0)
    try:
        return _run(con, load_id, True, "system")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PEOPLE}")


def run_crosschecks(con: duckdb.DuckDBPyConnection, *, actor: str = "system") -> CrossCheckRun:
    """Check every rule for everyone in the warehouse, in one transaction."""
    con.execute("BEGIN")
    try:
        result = _run(con, None, False, actor)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result
