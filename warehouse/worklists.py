"""Worklists for community staff (社区工作清单): who to certify, who to visit, whom to follow up.

- **Entitlement checks** (领取待遇资格认证 / 老年人生存调查, SB05): every pensioner — a current
  resident-pension claim (SB04) or a retiree under community management (JC02) — whose last
  certification is more than a year old at the end of the period (or who has none on record)
  is due. Where the warehouse holds **recent evidence of life** from another programme — a
  medical reimbursement (YB02), social security card activity (SK01–SK05), any other record
  handled in person — the item is **pre-cleared** and the evidence is named, so the home visit
  goes only where nothing shows the person alive. A certification that comes back through the
  normal SB05 export closes the item (status ``done``); a recorded death (a JC02 death date
  on any current record) or a cancellation (SB06) takes the person off the list.
- **Hardship follow-ups** (就业困难人员跟踪): people recognised in hardship (JY04) whose last
  contact — the recognition, a labour-resource survey visit (JC01) or a job-service record
  (JY06) — is ``FOLLOW_UP_DAYS`` old by the end of the period; an employment registration
  (JY01) since the recognition is shown, since it calls for a review of the recognition.

Privacy as for 协查 cases (decision 0020): evidence from outside the viewer's scope names only
the item, the date and the district. Decision 0025.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import duckdb

from tierhub.reference import divisions
from tierhub.scope import Scope
from tierhub.sql import lit
from tierhub.standards import catalogue
from warehouse.marts import Period
from warehouse.schema import fact_table

PENSION_ITEMS = ("SB04", "JC02")  # resident pension claims; retirees under community management
CERTIFICATION = "SB05"
CANCELLATION = "SB06"
HARDSHIP = "JY04"
CONTACT_ITEMS = ("JY04", "JC01", "JY06")  # records that count as a hardship follow-up contact
EMPLOYMENT = "JY01"
MEDICAL = ("YB02",)
CARD = ("SK01", "SK02", "SK03", "SK04", "SK05")
# Never evidence of life: the pension records themselves (evidence must come from another
# programme), a cancellation (often filed by relatives after a death), the staff roster.
NOT_EVIDENCE = ("SB04", "JC02", "SB06", "JC03")
EVIDENCE_DAYS = 90  # how recent a record must be to pre-clear a home visit
FOLLOW_UP_DAYS = 90  # hardship follow-ups: at least one contact a quarter
STATUSES = ("due", "pre_cleared", "done")


def month_of(day: dt.date) -> Period:
    """The calendar month holding ``day`` (the worklists' default period)."""
    start = day.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return Period(start, following - dt.timedelta(days=1))


@dataclass(frozen=True, slots=True)
class LifeEvidence:
    """The record that pre-clears a visit. Outside the viewer's scope: item, date and district only."""

    kind: str  # medical | card | in_person
    item_code: str
    item_name_zh: str
    item_name_en: str
    business_date: dt.date
    district_name: str
    place: str  # the service point inside the scope, else the district


@dataclass(frozen=True, slots=True)
class PensionCheck:
    """One pensioner on a community's certification worklist."""

    community_code: str
    community_name: str
    id_number: str
    name: str
    pension_item: str  # SB04 or JC02
    last_certified: dt.date | None  # before this period
    due_on: dt.date | None  # None: no certification on record, due now
    status: str  # due | pre_cleared | done
    evidence: LifeEvidence | None = None
    certified_on: dt.date | None = None  # the SB05 record that closed the item
    certification_method: str | None = None
    benefit_status: str | None = None


@dataclass(frozen=True, slots=True)
class HardshipFollowUp:
    """One person recognised in hardship whose follow-up contact is due."""

    community_code: str
    community_name: str
    id_number: str
    name: str
    recognised_on: dt.date
    last_contact: dt.date
    due_on: dt.date
    employed_since: dt.date | None


@dataclass
class CommunityTally:
    """One community's line of the worklist summary."""

    code: str
    name: str
    due: int = 0
    pre_cleared: int = 0
    done: int = 0
    follow_ups: int = 0

    @property
    def visits(self) -> int:
        """Home visits still needed: the due items nothing pre-clears."""
        return self.due


@dataclass
class Worklists:
    """The worklists of one scope for one period."""

    scope: str
    period: Period
    today: dt.date
    pensions: list[PensionCheck] = field(default_factory=list)
    follow_ups: list[HardshipFollowUp] = field(default_factory=list)

    def by_community(self) -> list[CommunityTally]:
        """Per community: items due, pre-cleared, done, and hardship follow-ups."""
        tallies: dict[str, CommunityTally] = {}
        for p in self.pensions:
            tally = tallies.setdefault(p.community_code, CommunityTally(p.community_code, p.community_name))
            setattr(tally, p.status, getattr(tally, p.status) + 1)
        for f in self.follow_ups:
            tallies.setdefault(f.community_code, CommunityTally(f.community_code, f.community_name)).follow_ups += 1
        return [tallies[k] for k in sorted(tallies)]

    def counts(self) -> Counter[str]:
        """Items per status over the whole scope."""
        return Counter(p.status for p in self.pensions)


def _pension_sql(prefix: str) -> str:
    """Latest current pension record per person inside the scope, with its community and name."""
    parts = []
    for code in PENSION_ITEMS:
        item = catalogue().items[code]
        parts.append(
            f"SELECT c.id_number, c.item_code, c.source_id, c.business_date, c.file_id, c.row_number, "
            "f.community_code, f.name FROM core.cases c "
            f"JOIN {fact_table(item)} f ON f.file_id = c.file_id AND f.row_number = c.row_number "
            f"WHERE c.item_code = {lit(code)} AND c.superseded_by_load IS NULL "
            f"AND starts_with(f.community_code, {lit(prefix)})"
        )
    return (
        "SELECT * FROM (" + " UNION ALL ".join(parts) + ") "
        "QUALIFY row_number() OVER (PARTITION BY id_number ORDER BY business_date DESC, file_id DESC, "
        "row_number DESC) = 1"
    )


def _evidence_kind() -> str:
    medical = ", ".join(lit(c) for c in MEDICAL)
    card = ", ".join(lit(c) for c in CARD)
    return (
        f"CASE WHEN item_code IN ({medical}) THEN 'medical' WHEN item_code IN ({card}) THEN 'card' ELSE 'in_person' END"
    )


def pension_checks(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, today: dt.date, viewer: str | None = None
) -> list[PensionCheck]:
    """The certification worklist of the pensioners living in ``scope`` for ``period``.

    ``viewer``: the scope whose user reads the list (default ``scope``); evidence outside it
    names only item, date and district.
    """
    where, seen_by = Scope(scope), Scope(viewer or scope)
    certification = fact_table(catalogue().items[CERTIFICATION])
    retirees = fact_table(catalogue().items["JC02"])
    year_before = _plus_year(period.end, -1)
    since = today - dt.timedelta(days=EVIDENCE_DAYS)
    not_evidence = ", ".join(lit(c) for c in (*NOT_EVIDENCE, CERTIFICATION))
    rows = con.execute(
        f"""
        WITH pensioners AS MATERIALIZED ({_pension_sql(where.prefix)}),
        certified AS (
            SELECT c.id_number,
                   max(c.business_date) FILTER (WHERE c.business_date < ?) AS before_period,
                   arg_max(struct_pack(d := c.business_date, m := f.certification_method, s := f.benefit_status),
                           c.business_date) FILTER (WHERE c.business_date BETWEEN ? AND ?) AS in_period
            FROM core.cases c JOIN {certification} f ON f.file_id = c.file_id AND f.row_number = c.row_number
            WHERE c.item_code = {lit(CERTIFICATION)} AND c.superseded_by_load IS NULL
              AND c.id_number IN (SELECT id_number FROM pensioners)
            GROUP BY c.id_number
        ),
        cancelled AS (
            SELECT DISTINCT c.id_number FROM core.cases c JOIN pensioners p USING (id_number)
            WHERE c.item_code = {lit(CANCELLATION)} AND c.superseded_by_load IS NULL
              AND c.business_date >= p.business_date
        ),
        dead AS (
            SELECT DISTINCT c.id_number FROM core.cases c JOIN {retirees} f
              ON f.file_id = c.file_id AND f.row_number = c.row_number
            WHERE c.item_code = 'JC02' AND c.superseded_by_load IS NULL AND f.death_date IS NOT NULL
              AND c.id_number IN (SELECT id_number FROM pensioners)
        ),
        alive AS (
            SELECT id_number,
                   arg_max(struct_pack(kind := {_evidence_kind()}, item := item_code, src := source_id,
                                       d := business_date),
                           (CASE WHEN item_code IN ({", ".join(lit(c) for c in MEDICAL + CARD)}) THEN 1 ELSE 0 END,
                            business_date, item_code)) AS best
            FROM core.cases
            WHERE superseded_by_load IS NULL AND business_date BETWEEN ? AND ?
              AND item_code NOT IN ({not_evidence})
              AND id_number IN (SELECT id_number FROM pensioners)
            GROUP BY id_number
        )
        SELECT p.community_code, p.id_number, p.name, p.item_code, c.before_period,
               c.in_period.d, c.in_period.m, c.in_period.s, a.best.kind, a.best.item, a.best.src, a.best.d
        FROM pensioners p
        LEFT JOIN certified c USING (id_number)
        LEFT JOIN alive a USING (id_number)
        WHERE p.id_number NOT IN (SELECT id_number FROM cancelled) AND p.id_number NOT IN (SELECT id_number FROM dead)
          AND (c.in_period IS NOT NULL OR c.before_period IS NULL OR c.before_period <= ?)
        ORDER BY p.community_code, p.id_number
        """,
        [period.start, period.start, period.end, since, today, year_before],
    ).fetchall()
    # Names and places looked up once per division, not once per row (a city has ~10^6 rows).
    tree, items = divisions(), catalogue().items
    communities: dict[str, str] = {}
    places: dict[str, tuple[str, str]] = {}
    inside = seen_by.prefix
    checks = []
    for community, id_number, name, item, before, done_on, method, benefit, kind, code, source, day in rows:
        if community not in communities:
            node = tree.by_code.get(community)
            communities[community] = node.name if node else str(community)
        evidence = None
        if done_on is not None:
            status = "done"
        elif kind is not None:
            status = "pre_cleared"
            if source not in places:
                district = tree.get(source[:6] + "000000").name
                node = tree.by_code.get(source)
                places[source] = (district, (node.name if node else source) if source.startswith(inside) else district)
            district, place = places[source]
            evidence = LifeEvidence(kind, code, items[code].name_zh, items[code].name_en, day, district, place)
        else:
            status = "due"
        checks.append(
            PensionCheck(
                community_code=community,
                community_name=communities[community],
                id_number=id_number,
                name=name or "",
                pension_item=item,
                last_certified=before,
                due_on=_plus_year(before) if before else None,
                status=status,
                evidence=evidence,
                certified_on=done_on,
                certification_method=method,
                benefit_status=benefit,
            )
        )
    return checks


def _plus_year(day: dt.date, years: int = 1) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def hardship_follow_ups(
    con: duckdb.DuckDBPyConnection, scope: str, period: Period, *, follow_up_days: int = FOLLOW_UP_DAYS
) -> list[HardshipFollowUp]:
    """People recognised in hardship, living in ``scope``, whose follow-up falls due by the period's end."""
    hardship = fact_table(catalogue().items[HARDSHIP])
    contacts = ", ".join(lit(c) for c in CONTACT_ITEMS)
    rows = con.execute(
        f"""
        WITH recognised AS (
            SELECT c.id_number, c.business_date AS recognised_on, f.community_code, f.name
            FROM core.cases c JOIN {hardship} f ON f.file_id = c.file_id AND f.row_number = c.row_number
            WHERE c.item_code = {lit(HARDSHIP)} AND c.superseded_by_load IS NULL
              AND starts_with(f.community_code, ?)
            QUALIFY row_number() OVER (PARTITION BY c.id_number ORDER BY c.business_date DESC, c.file_id DESC,
                                       c.row_number DESC) = 1
        ),
        contact AS (
            SELECT id_number, max(business_date) AS last_contact FROM core.cases
            WHERE superseded_by_load IS NULL AND item_code IN ({contacts})
              AND id_number IN (SELECT id_number FROM recognised)
            GROUP BY id_number
        ),
        employed AS (
            SELECT c.id_number, min(c.business_date) AS since FROM core.cases c JOIN recognised r USING (id_number)
            WHERE c.item_code = {lit(EMPLOYMENT)} AND c.superseded_by_load IS NULL
              AND c.business_date >= r.recognised_on
            GROUP BY c.id_number
        )
        SELECT r.community_code, r.id_number, r.name, r.recognised_on,
               greatest(r.recognised_on, coalesce(k.last_contact, r.recognised_on)) AS last_contact, e.since
        FROM recognised r LEFT JOIN contact k USING (id_number) LEFT JOIN employed e USING (id_number)
        WHERE greatest(r.recognised_on, coalesce(k.last_contact, r.recognised_on)) + ? <= ?
        ORDER BY r.community_code, r.id_number
        """,
        [Scope(scope).prefix, follow_up_days, period.end],
    ).fetchall()
    tree = divisions()
    found = []
    for community, id_number, name, recognised, last, employed in rows:
        node = tree.by_code.get(community)
        found.append(
            HardshipFollowUp(
                str(community),
                node.name if node else str(community),
                str(id_number),
                str(name or ""),
                recognised,
                last,
                last + dt.timedelta(days=follow_up_days),
                employed,
            )
        )
    return found


def worklists(
    con: duckdb.DuckDBPyConnection,
    scope: str,
    period: Period | None = None,
    *,
    today: dt.date | None = None,
    viewer: str | None = None,
) -> Worklists:
    """Both worklists of ``scope`` for ``period`` (default: the month of ``today``)."""
    today = today or dt.date.today()
    period = period or month_of(today)
    return Worklists(
        str(Scope(scope)),
        period,
        today,
        pension_checks(con, scope, period, today=today, viewer=viewer),
        hardship_follow_ups(con, scope, period),
    )
