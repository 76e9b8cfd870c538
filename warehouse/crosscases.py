"""协查 cases: what a cross-programme rule found, their life cycle, their audit, and who sees what.

A case is one rule × one pair of records (``case_id`` is a hash of both, so a rerun opens
nothing twice), routed to the division — district or street, as the rule says — that holds
the later record. Life cycle: ``open`` → ``confirmed`` | ``cleared`` (with a reason) →
``closed``; a case whose records no longer match (a record corrected, a cancellation
submitted late) is cleared by the system with that reason. Every transition, opening
included, is a row of ``ops.crosscheck_events`` (who, when, from, to, reason).

Privacy (decision 0020): a user sees the full record of evidence inside their scope; of
evidence outside it only the item, the date and the district — enough to know whom to call,
not what another district holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

from tierhub.crossrules import CrossRule, cross_rules
from tierhub.errors import CaseTransitionRefused
from tierhub.reference import divisions
from tierhub.scope import Scope
from tierhub.sql import ident
from tierhub.standards import catalogue

DDL = """
CREATE TABLE IF NOT EXISTS ops.crosscheck_cases (
    case_id VARCHAR PRIMARY KEY,          -- md5 of rule and both records, first 16 hex digits
    rule VARCHAR NOT NULL,
    id_number VARCHAR NOT NULL,
    first_item VARCHAR NOT NULL,
    first_source VARCHAR NOT NULL,
    first_date DATE NOT NULL,
    first_file BIGINT NOT NULL,
    first_row BIGINT NOT NULL,
    second_item VARCHAR NOT NULL,
    second_source VARCHAR NOT NULL,
    second_date DATE NOT NULL,
    second_file BIGINT NOT NULL,
    second_row BIGINT NOT NULL,
    act_source VARCHAR NOT NULL,          -- the service point holding the later record
    act_division VARCHAR NOT NULL,        -- its street or district, as the rule's act_tier says
    status VARCHAR NOT NULL,              -- open | confirmed | cleared | closed
    reason VARCHAR,                       -- of the last transition
    opened_load VARCHAR,                  -- NULL: opened by an on-demand run
    opened_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.crosscheck_events (
    case_id VARCHAR NOT NULL,
    from_status VARCHAR,                  -- NULL when the case opened
    to_status VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,               -- a user name, or system
    happened_at TIMESTAMPTZ NOT NULL,
    reason VARCHAR,
    load_id VARCHAR
)
"""

STATUSES = ("open", "confirmed", "cleared", "closed")
# Which status may follow which; a clearance always carries a reason.
TRANSITIONS = {"open": ("confirmed", "cleared"), "confirmed": ("closed",), "cleared": ("closed",)}
NO_LONGER_MATCHES = "记录已更正或补录，规则不再命中 / the records changed; the rule no longer matches"


def open_cases(
    con: duckdb.DuckDBPyConnection, hits: str, acts: Mapping[str, str], *, load_id: str | None, actor: str
) -> int:
    """Open a case for every hit in the table ``hits`` that has none yet; how many were opened."""
    division = (
        "CASE rule "
        + " ".join(
            f"WHEN '{code}' THEN "
            + ("left(act_source, 9) || '000'" if tier == "street" else "left(act_source, 6) || '000000'")
            for code, tier in acts.items()
        )
        + " END"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _th_cross_new AS "
        f"SELECT *, {division} AS act_division FROM ("
        "SELECT *, left(md5(concat_ws('|', rule, first_file, first_row, second_file, second_row)), 16) AS case_id, "
        "CASE WHEN (second_date, second_file, second_row) >= (first_date, first_file, first_row) "
        "THEN second_source ELSE first_source END AS act_source "
        f"FROM {hits}) "
        "WHERE case_id NOT IN (SELECT case_id FROM ops.crosscheck_cases) "
        "QUALIFY row_number() OVER (PARTITION BY case_id) = 1"
    )
    con.execute(
        "INSERT INTO ops.crosscheck_cases SELECT case_id, rule, id_number, first_item, first_source, first_date, "
        "first_file, first_row, second_item, second_source, second_date, second_file, second_row, act_source, "
        "act_division, 'open', NULL, ?, now(), now() FROM _th_cross_new ORDER BY case_id",
        [load_id],
    )
    con.execute(
        "INSERT INTO ops.crosscheck_events SELECT case_id, NULL, 'open', ?, now(), NULL, ? FROM _th_cross_new",
        [actor, load_id],
    )
    [(opened,)] = con.execute("SELECT count(*) FROM _th_cross_new").fetchall()
    con.execute("DROP TABLE _th_cross_new")
    return int(opened)


def close_resolved(
    con: duckdb.DuckDBPyConnection, hits: str, people: str | None, *, load_id: str | None, actor: str
) -> int:
    """Clear the open cases of the people checked (``people``: a table of ID numbers, None: all)
    whose pair the rules no longer find; how many."""
    among = f"AND id_number IN (SELECT id_number FROM {people})" if people else ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _th_cross_gone AS SELECT case_id FROM ops.crosscheck_cases "
        f"WHERE status = 'open' {among} AND case_id NOT IN "
        "(SELECT left(md5(concat_ws('|', rule, first_file, first_row, second_file, second_row)), 16) "
        f"FROM {hits})"
    )
    con.execute(
        "INSERT INTO ops.crosscheck_events SELECT case_id, 'open', 'cleared', ?, now(), ?, ? FROM _th_cross_gone",
        [actor, NO_LONGER_MATCHES, load_id],
    )
    con.execute(
        "UPDATE ops.crosscheck_cases SET status = 'cleared', reason = ?, updated_at = now() "
        "WHERE case_id IN (SELECT case_id FROM _th_cross_gone)",
        [NO_LONGER_MATCHES],
    )
    [(gone,)] = con.execute("SELECT count(*) FROM _th_cross_gone").fetchall()
    con.execute("DROP TABLE _th_cross_gone")
    return int(gone)


def transition(
    con: duckdb.DuckDBPyConnection, case_id: str, to: str, *, actor: str, scope: str, reason: str | None = None
) -> None:
    """Move a case to ``to`` on behalf of ``actor`` working in ``scope`` (audited).

    Raises CaseTransitionRefused if the case is unknown or routed outside ``scope``, if the
    life cycle does not allow the step, or if a clearance has no reason.
    """
    found = con.execute("SELECT status, act_division FROM ops.crosscheck_cases WHERE case_id = ?", [case_id]).fetchall()
    if not found:
        raise CaseTransitionRefused(f"no 协查 case {case_id!r}", fix="copy the case id from `tierhub crosscheck`")
    status, division = str(found[0][0]), str(found[0][1])
    if not Scope(scope).contains(division):
        raise CaseTransitionRefused(
            f"case {case_id} is routed to {division}, outside your scope {scope}",
            fix="the division holding the later record acts on it",
        )
    if to not in TRANSITIONS.get(status, ()):
        allowed = ", ".join(TRANSITIONS.get(status, ())) or "nothing (closed)"
        raise CaseTransitionRefused(f"case {case_id} is {status}; it can move to {allowed}, not {to}")
    if to == "cleared" and not (reason and reason.strip()):
        raise CaseTransitionRefused(f"clearing case {case_id} needs a reason", fix="say why the pair is in order")
    con.execute("BEGIN")
    try:
        con.execute(
            "UPDATE ops.crosscheck_cases SET status = ?, reason = ?, updated_at = now() WHERE case_id = ?",
            [to, reason, case_id],
        )
        con.execute(
            "INSERT INTO ops.crosscheck_events VALUES (?, ?, ?, ?, now(), ?, NULL)",
            [case_id, status, to, actor, reason],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# -- what a user sees -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record a case cites. Outside the viewer's scope only item, date and district are set."""

    item_code: str
    item_name_zh: str
    item_name_en: str
    business_date: dt.date
    district_code: str
    district_name: str
    in_scope: bool
    source_id: str | None = None
    source_name: str | None = None
    file_id: int | None = None
    row_number: int | None = None
    fields: dict[str, object] = field(default_factory=dict)

    @property
    def place(self) -> str:
        """Where the record lies, as far as the viewer may know: the service point, else the district."""
        return self.source_name if self.source_name else self.district_name


@dataclass(frozen=True, slots=True)
class CrossCase:
    """A 协查 case as one user sees it."""

    case_id: str
    rule: str
    title_zh: str
    title_en: str
    id_number: str
    status: str
    reason: str | None
    act_division: str
    act_street: str
    routed_here: bool  # the viewer's scope holds the division that must act
    opened_at: dt.datetime
    first: Evidence
    second: Evidence

    def message(self, language: str = "zh") -> str:
        """The rule's message filled in with what the viewer may see."""
        rule = _rules()[self.rule]
        template = rule.zh if language == "zh" else rule.en
        name = "item_name_zh" if language == "zh" else "item_name_en"
        return template.format(
            first_place=self.first.place,
            second_place=self.second.place,
            first_date=self.first.business_date.isoformat(),
            second_date=self.second.business_date.isoformat(),
            first_item=getattr(self.first, name),
            second_item=getattr(self.second, name),
        )


def _rules() -> dict[str, CrossRule]:
    return {r.code: r for r in cross_rules()}


Record = tuple[str, str, dt.date, int, int]  # item, source, date, file id, row


def _evidence(
    con: duckdb.DuckDBPyConnection, scope: Scope, rule: CrossRule, record: Record, with_fields: bool
) -> Evidence:
    item_code, source, day, file_id, row_number = record
    item, tree = catalogue().items[item_code], divisions()
    district = tree.get(source[:6] + "000000")
    if not scope.contains(source):
        return Evidence(item_code, item.name_zh, item.name_en, day, district.code, district.name, in_scope=False)
    fields: dict[str, object] = {}
    if with_fields:
        # Here, not at the top: warehouse.schema imports this module for its DDL.
        from warehouse.schema import fact_columns, fact_table

        wanted = [f for f in ("name", *rule.evidence) if f in fact_columns(item)]
        values = con.execute(
            f"SELECT {', '.join(ident(f) for f in wanted)} FROM {fact_table(item)} "
            f"WHERE file_id = {int(file_id)} AND row_number = {int(row_number)}"
        ).fetchone()
        fields = {k: v for k, v in zip(wanted, values or (), strict=False) if v is not None}
    node = tree.by_code.get(source)
    return Evidence(
        item_code,
        item.name_zh,
        item.name_en,
        day,
        district.code,
        district.name,
        in_scope=True,
        source_id=source,
        source_name=node.name if node else source,
        file_id=file_id,
        row_number=row_number,
        fields=fields,
    )


def cases_in_scope(
    con: duckdb.DuckDBPyConnection,
    scope: str,
    *,
    statuses: tuple[str, ...] = STATUSES,
    routed_only: bool = False,
    with_fields: bool = True,
    case_id: str | None = None,
) -> list[CrossCase]:
    """The 协查 cases a user of ``scope`` sees: those routed into it and those citing a record in it.

    ``routed_only``: only the cases the scope must act on; ``case_id``: only that case (if the
    scope sees it). Evidence outside the scope shows item, date and district only.
    """
    where = Scope(scope)
    prefix = where.prefix
    rows = con.execute(
        "SELECT case_id, rule, id_number, status, reason, act_division, act_source, opened_at, "
        "first_item, first_source, first_date, first_file, first_row, "
        "second_item, second_source, second_date, second_file, second_row FROM ops.crosscheck_cases "
        "WHERE list_contains(?, status) AND (? IS NULL OR case_id = ?) AND (starts_with(act_division, ?) "
        + ("" if routed_only else "OR starts_with(first_source, ?) OR starts_with(second_source, ?)")
        + ") ORDER BY act_division, rule, second_date, case_id",
        [list(statuses), case_id, case_id, prefix] + ([] if routed_only else [prefix, prefix]),
    ).fetchall()
    rules = _rules()
    cases = []
    for case_id, code, id_number, status, reason, division, act_source, opened, *sides in rows:
        rule = rules.get(str(code))
        if rule is None:
            continue  # a rule since removed: its cases stay, unlisted
        first = _evidence(
            con, where, rule, (str(sides[0]), str(sides[1]), sides[2], int(sides[3]), int(sides[4])), with_fields
        )
        second = _evidence(
            con, where, rule, (str(sides[5]), str(sides[6]), sides[7], int(sides[8]), int(sides[9])), with_fields
        )
        cases.append(
            CrossCase(
                str(case_id),
                rule.code,
                rule.title_zh,
                rule.title_en,
                str(id_number),
                str(status),
                reason,
                str(division),
                str(act_source)[:9] + "000",
                where.contains(str(division)),
                opened,
                first,
                second,
            )
        )
    return cases
