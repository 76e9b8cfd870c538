"""Worklists (资格认证 pre-cleared by evidence of life; hardship follow-ups), the staff roster and
Table 1, funding by workload — on the synced demo city, checked against plain-Python oracles
that read the case index, and the SB05 round trip that closes worklist items."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tests.conftest import TODAY
from tierhub.errors import ConfigError
from tierhub.reference import divisions
from tierhub.standards import catalogue
from tierhub.synth.city import GeneratedCity
from warehouse.funding import EXAMPLE_PRICES, centre_funding, load_prices
from warehouse.marts import Period, workload
from warehouse.roster import current_roster, education_group, table_one
from warehouse.schema import fact_table, open_warehouse
from warehouse.worklists import (
    CARD,
    EVIDENCE_DAYS,
    FOLLOW_UP_DAYS,
    MEDICAL,
    NOT_EVIDENCE,
    PENSION_ITEMS,
    hardship_follow_ups,
    month_of,
    pension_checks,
    worklists,
)

CITY, HEPING, NINGHE = "120000000000", "120101000000", "120117000000"
PERIOD = month_of(TODAY)
HEADER = ["姓名", "公民身份号码", "性别", "出生日期", "所属社区", "认证方式", "登记日期", "提交材料"]


def _plus_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def oracle(con: duckdb.DuckDBPyConnection, period: Period, today: dt.date) -> dict[str, tuple[str, str, str | None]]:
    """ID → (community, status, evidence item) computed in plain Python from every current record."""
    cases: dict[str, list[tuple[str, str, dt.date]]] = {}
    for id_number, item, source, day in con.execute(
        "SELECT id_number, item_code, source_id, business_date FROM core.cases WHERE superseded_by_load IS NULL"
    ).fetchall():
        cases.setdefault(id_number, []).append((item, source, day))
    pensions: dict[str, tuple[dt.date, int, int, str, dt.date | None]] = {}
    for code in PENSION_ITEMS:
        item = catalogue().items[code]
        death = "death_date" if code == "JC02" else "NULL"
        for id_number, day, file_id, row, community, died in con.execute(
            f"SELECT f.id_number, c.business_date, f.file_id, f.row_number, f.community_code, {death} "
            f"FROM {fact_table(item)} f JOIN core.cases c USING (file_id, row_number) "
            "WHERE c.superseded_by_load IS NULL"
        ).fetchall():
            key = (day, file_id, row)
            if id_number not in pensions or key > pensions[id_number][:3]:
                pensions[id_number] = (day, file_id, row, community, died)
    dead = {i for i, (_, _, _, _, died) in pensions.items() if died is not None}
    for (id_number,) in con.execute(
        f"SELECT f.id_number FROM {fact_table(catalogue().items['JC02'])} f "
        "JOIN core.cases c USING (file_id, row_number) WHERE c.superseded_by_load IS NULL AND f.death_date IS NOT NULL"
    ).fetchall():
        dead.add(id_number)
    certifications: dict[str, list[dt.date]] = {}
    for id_number, day in con.execute(
        "SELECT id_number, business_date FROM core.cases WHERE item_code = 'SB05' AND superseded_by_load IS NULL"
    ).fetchall():
        certifications.setdefault(id_number, []).append(day)
    year_before = (
        period.end.replace(year=period.end.year - 1)
        if (period.end.month, period.end.day) != (2, 29)
        else (period.end.replace(year=period.end.year - 1, day=28))
    )
    expected = {}
    for id_number, (claimed, _, _, community, _) in pensions.items():
        if id_number in dead:
            continue
        if any(i == "SB06" and d >= claimed for i, _, d in cases[id_number]):
            continue
        certs = certifications.get(id_number, [])
        in_period = [d for d in certs if period.start <= d <= period.end]
        before = [d for d in certs if d < period.start]
        if not in_period and before and max(before) > year_before:
            continue  # certified within the year: not on the list
        if in_period:
            expected[id_number] = (community, "done", None)
            continue
        window = [
            (i in MEDICAL or i in CARD, d, i)
            for i, _, d in cases[id_number]
            if i not in NOT_EVIDENCE and i != "SB05" and today - dt.timedelta(days=EVIDENCE_DAYS) <= d <= today
        ]
        if window:
            expected[id_number] = (community, "pre_cleared", max(window)[2])
        else:
            expected[id_number] = (community, "due", None)
    return expected


def test_the_certification_worklist_equals_the_oracle(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    checks = pension_checks(warehouse_ro, CITY, PERIOD, today=TODAY)
    found = {c.id_number: (c.community_code, c.status, c.evidence.item_code if c.evidence else None) for c in checks}
    assert found == oracle(warehouse_ro, PERIOD, TODAY)
    statuses = Counter(c.status for c in checks)
    assert statuses["due"] and statuses["pre_cleared"], statuses  # both kinds occur in the demo
    for check in checks:
        if check.evidence is not None:  # the evidence is named, recent, and from another programme
            assert check.evidence.item_code not in (*PENSION_ITEMS, "SB05", "SB06")
            assert TODAY - dt.timedelta(days=EVIDENCE_DAYS) <= check.evidence.business_date <= TODAY
            assert check.evidence.kind == (
                "medical"
                if check.evidence.item_code in MEDICAL
                else "card"
                if check.evidence.item_code in CARD
                else "in_person"
            )


def test_the_dead_and_the_cancelled_are_off_the_list(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    listed = {c.id_number for c in pension_checks(warehouse_ro, CITY, PERIOD, today=TODAY)}
    dead = {
        r[0]
        for r in warehouse_ro.execute(
            f"SELECT id_number FROM {fact_table(catalogue().items['JC02'])} WHERE death_date IS NOT NULL "
            "AND superseded_by_load IS NULL"
        ).fetchall()
    }
    cancelled = {
        r[0]
        for r in warehouse_ro.execute(
            "SELECT id_number FROM core.cases WHERE item_code = 'SB06' AND superseded_by_load IS NULL"
        ).fetchall()
    }
    assert dead and cancelled, "the demo city records deaths and cancellations (tierhub.synth.situations)"
    assert not listed & dead
    # A cancellation takes a pensioner off unless a pension record came after it (a new enrolment).
    for id_number in listed & cancelled:
        days = warehouse_ro.execute(
            "SELECT max(business_date) FILTER (WHERE item_code = 'SB06'), "
            "max(business_date) FILTER (WHERE item_code IN ('SB04', 'JC02')) FROM core.cases "
            "WHERE id_number = ? AND superseded_by_load IS NULL",
            [id_number],
        ).fetchone()
        assert days is not None and days[1] > days[0]


def test_a_district_sees_its_own_communities_and_names_other_districts_only(
    warehouse_ro: duckdb.DuckDBPyConnection,
) -> None:
    city = pension_checks(warehouse_ro, CITY, PERIOD, today=TODAY)
    heping = pension_checks(warehouse_ro, HEPING, PERIOD, today=TODAY)
    assert heping and all(c.community_code.startswith("120101") for c in heping)
    assert {c.id_number for c in heping} == {c.id_number for c in city if c.community_code.startswith("120101")}
    tree = divisions()
    for check in heping:
        if check.evidence is not None and check.evidence.place != check.evidence.district_name:
            # a named service point must lie inside 和平区
            assert any(d.name == check.evidence.place and d.code.startswith("120101") for d in tree.by_code.values()), (
                check.evidence
            )


def test_hardship_follow_ups_are_due_a_quarter_after_the_last_contact(
    warehouse_ro: duckdb.DuckDBPyConnection,
) -> None:
    found = hardship_follow_ups(warehouse_ro, CITY, PERIOD)
    recognised = {
        r[0]
        for r in warehouse_ro.execute(
            "SELECT DISTINCT id_number FROM core.cases WHERE item_code = 'JY04' AND superseded_by_load IS NULL"
        ).fetchall()
    }
    assert found and {f.id_number for f in found} <= recognised
    for f in found:
        last = warehouse_ro.execute(
            "SELECT max(business_date) FROM core.cases WHERE id_number = ? AND superseded_by_load IS NULL "
            "AND item_code IN ('JY04', 'JC01', 'JY06')",
            [f.id_number],
        ).fetchone()
        assert last is not None and f.last_contact == last[0]
        assert f.due_on == f.last_contact + dt.timedelta(days=FOLLOW_UP_DAYS) <= PERIOD.end


def test_results_come_back_through_the_sb05_export_and_close_the_items(
    synced: Path, city: GeneratedCity, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(synced, path)
    con = open_warehouse(path)
    try:
        before = worklists(con, HEPING, PERIOD, today=TODAY)
        due = [c for c in before.pensions if c.status in ("due", "pre_cleared")][:3]
        assert len(due) == 3
        drops = tmp_path / "drops"
        by_source: dict[str, list[list[str]]] = {}
        for check in due:
            id_number = check.id_number
            sex = "1" if int(id_number[16]) % 2 else "2"
            born = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
            row = [check.name, id_number, sex, born, check.community_code, "3", TODAY.isoformat(), "居民身份证"]
            by_source.setdefault(check.community_code[:9] + "000", []).append(row)
        for source, rows in by_source.items():
            folder = drops / source[:6] / source
            folder.mkdir(parents=True)
            name = f"城乡居民养老保险领取待遇资格认证_{source}_{TODAY:%Y%m%d}.csv"
            with (folder / name).open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(HEADER)
                writer.writerows(rows)
        outcome = sync_sources(con, drops, sorted(by_source), today=TODAY)
        after = {c.id_number: c for c in worklists(con, HEPING, PERIOD, today=TODAY).pensions}
    finally:
        con.close()
    assert (outcome.load.rows_loaded, outcome.load.rows_quarantined) == (3, 0), outcome.entries
    for check in due:
        closed = after[check.id_number]
        assert (closed.status, closed.certified_on, closed.certification_method) == ("done", TODAY, "3")
        assert closed.evidence is None
    assert Counter(c.status for c in after.values())["done"] == before.counts()["done"] + 3


def test_the_roster_loads_and_table_one_counts_every_person(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    roster = current_roster(warehouse_ro, CITY)
    assert roster, "the demo city sends one roster per street centre (tierhub.synth.roster)"
    streets = {d.code for d in divisions().at_level("street") if d.code[:6] in ("120101", "120117")}
    assert {m.street_code for m in roster} <= streets
    quarantined = warehouse_ro.execute(
        "SELECT count(*) FROM quarantine.rows q JOIN ops.files f USING (file_id) WHERE f.path LIKE '%名册%'"
    ).fetchone()
    assert quarantined == (0,)
    rows = table_one(warehouse_ro, CITY, by="district", as_of=TODAY)
    assert sum(r.staff for r in rows) == len(roster)
    for r in rows:
        assert sum(r.ages.values()) == sum(r.education.values()) == r.staff
    by_post = {(r.division_code, r.post): r for r in rows}
    ninghe_centre, ninghe_village = by_post[(NINGHE, "01")], by_post[(NINGHE, "03")]
    # The study's picture: centre staff younger and better educated than village coordinators.
    assert ninghe_centre.mean_age is not None and ninghe_village.mean_age is not None
    assert ninghe_centre.mean_age < ninghe_village.mean_age
    college = ("研究生", "大学本科", "大学专科")
    share = {k: sum(r.education[g] for g in college) / r.staff for k, r in by_post.items()}
    assert share[(NINGHE, "01")] > share[(NINGHE, "03")]
    assert education_group("21") == "大学本科" and education_group("71") == "初中及以下"


def test_funding_is_workload_times_price_beside_the_roster(
    warehouse_ro: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    period = Period(TODAY - dt.timedelta(days=60), TODAY)
    prices = load_prices(tmp_path)  # no prices.csv in this home: the example, marked
    assert prices.example and prices.path == EXAMPLE_PRICES
    assert "EXAMPLE" in EXAMPLE_PRICES.read_text(encoding="utf-8").splitlines()[0]
    funding = centre_funding(warehouse_ro, HEPING, period, prices)
    expected: dict[str, Decimal] = {}
    for work in workload(warehouse_ro, HEPING, [period], by="street"):
        if work.item_code != "JC03":
            expected[work.division_code] = expected.get(work.division_code, Decimal(0)) + (
                prices.prices[work.item_code] * work.records
            )
    assert {c.code: c.amount for c in funding.centres if c.workload} == expected
    staff = Counter(m.street_code for m in current_roster(warehouse_ro, HEPING))
    assert {c.code: c.head_count for c in funding.centres if c.head_count} == dict(staff)
    (tmp_path / "prices.csv").write_text("# 本局单价\nitem_code,price_yuan\nSB05,100\n", encoding="utf-8")
    own = load_prices(tmp_path)
    assert not own.example and own.prices == {"SB05": Decimal(100)}
    funded = centre_funding(warehouse_ro, HEPING, period, own)
    sb05 = sum(w.records for w in workload(warehouse_ro, HEPING, [period], by="street") if w.item_code == "SB05")
    assert funded.total == 100 * sb05
    assert sum(c.unpriced for c in funded.centres) == sum(c.workload for c in funded.centres) - sb05


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("item_code,price_yuan\nXX99,5\n", ["line 2", "XX99"]),
        ("# c\nitem_code,price_yuan\nSB05,abc\n", ["line 3", "abc", "SB05"]),
        ("item_code,price_yuan\nSB05,-1\n", ["line 2", "-1"]),
        ("code,price\nSB05,1\n", ["line 1", "item_code,price_yuan"]),
        ("item_code,price_yuan\nSB05,1\nsb05,2\n", ["line 3", "twice"]),
    ],
)
def test_a_bad_price_file_names_its_line_and_field(tmp_path: Path, text: str, names: list[str]) -> None:
    (tmp_path / "prices.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_prices(tmp_path)
    for name in [str(tmp_path / "prices.csv"), *names]:
        assert name in str(caught.value)
