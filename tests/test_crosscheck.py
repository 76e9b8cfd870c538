"""Cross-programme rules (decision 0020): the SQL engine against an independent Python oracle and
the injected ground truth; idempotence, the case life cycle, the privacy of evidence, the regional check."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
import yaml

from tierhub.crossrules import CROSS_RULES_FILE, CrossRule, Side, cross_rules
from tierhub.errors import CaseTransitionRefused, CatalogueError
from tierhub.standards import CATALOGUE_DIR, catalogue
from tierhub.synth.city import GeneratedCity
from tierhub.synth.situations import read_ground_truth
from warehouse.crosscases import cases_in_scope, transition
from warehouse.crosscheck import run_crosschecks
from warehouse.regional import regional_check
from warehouse.schema import fact_table, open_warehouse

Pair = tuple[str, int, int, int, int]  # rule, first (file, row), second (file, row)
HOME, AWAY = "120101000000", "120117000000"


# -- the oracle: the rules read in plain Python over every current fact row ------------------------


def _records(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, object]]]:
    """ID number → every current accepted record of the items the rules name, with all its fields."""
    codes = {c for r in cross_rules() for c in (*r.first.items, *r.second.items, *r.unless)}
    people: dict[str, list[dict[str, object]]] = defaultdict(list)
    for code in sorted(codes):
        item = catalogue().items[code]
        cursor = con.execute(f"SELECT * FROM {fact_table(item)} WHERE superseded_by_load IS NULL")
        names = [d[0] for d in cursor.description or []]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            if row.get("id_number"):
                people[str(row["id_number"])].append(row)
    return people


def _day(row: dict[str, object], side: Side) -> dt.date | None:
    business = catalogue().items[str(row["item_code"])].versions[0].business_date
    for name in (*side.date, business):
        if isinstance(row.get(name), dt.date):
            return row[name]  # type: ignore[return-value]
    return None


def _on_side(row: dict[str, object], side: Side) -> bool:
    if row["item_code"] not in side.items:
        return False
    return all((row.get(f.field) is not None) if f.filled else (row.get(f.field) in f.any_of) for f in side.filters)


def _fires(rule: CrossRule, a: dict[str, object], da: dt.date, b: dict[str, object], db: dt.date) -> bool:
    if (a["file_id"], a["row_number"]) == (b["file_id"], b["row_number"]):
        return False
    sa, sb = str(a["source_id"]), str(b["source_id"])
    if (rule.where == "other_source" and sa == sb) or (rule.where == "other_district" and sa[:6] == sb[:6]):
        return False
    relation = rule.when.relation
    if (relation == "after" and not db > da) or (relation == "not_before" and not db >= da):
        return False
    if relation == "within_days" and abs((db - da).days) > (rule.when.days or 0):
        return False
    return not (rule.symmetric and (da, a["file_id"], a["row_number"]) >= (db, b["file_id"], b["row_number"]))


def oracle(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, Pair]]:
    """(rule, ID, pair) of every hit, found without the SQL engine."""
    hits = set()
    for id_number, rows in _records(con).items():
        for rule in cross_rules():
            firsts = [(r, d) for r in rows if _on_side(r, rule.first) and (d := _day(r, rule.first))]
            seconds = [(r, d) for r in rows if _on_side(r, rule.second) and (d := _day(r, rule.second))]
            for a, da in firsts:
                for b, db in seconds:
                    if not _fires(rule, a, da, b, db):
                        continue
                    low, high = min(da, db), max(da, db)
                    explained = any(
                        r["item_code"] in rule.unless and low <= r["registration_date"] <= high  # type: ignore[operator]
                        for r in rows
                    )
                    if not explained:
                        pair = (
                            rule.code,
                            int(a["file_id"]),
                            int(a["row_number"]),
                            int(b["file_id"]),
                            int(b["row_number"]),
                        )  # type: ignore[call-overload]
                        hits.add((rule.code, id_number, pair))
    return hits


def engine_cases(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, Pair]]:
    rows = con.execute(
        "SELECT rule, id_number, first_file, first_row, second_file, second_row FROM ops.crosscheck_cases"
    ).fetchall()
    return {(str(r), str(i), (str(r), int(a), int(b), int(c), int(d))) for r, i, a, b, c, d in rows}


@pytest.fixture(scope="module")
def writable(synced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the synced demo warehouse that tests may change."""
    path = tmp_path_factory.mktemp("cross") / "warehouse.duckdb"
    shutil.copy(synced, path)
    return path


# -- the rules as data -----------------------------------------------------------------------------


def test_every_rule_is_valid_and_names_real_items() -> None:
    rules = cross_rules()
    assert len(rules) >= 8
    assert all(r.title_zh and r.zh and r.en for r in rules)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"first": {"items": ["XX99"]}}, "not an item"),
        ({"first": {"items": ["SB01"], "filters": [{"field": "death_date", "filled": True}]}}, "no field death_date"),
        ({"when": {"relation": "within_days"}}, "days goes with within_days"),
        ({"where": "anywhere"}, "where"),
    ],
)
def test_a_wrong_rule_is_refused_with_its_reason(tmp_path: Path, change: dict[str, object], problem: str) -> None:
    data = yaml.safe_load((CATALOGUE_DIR / CROSS_RULES_FILE).read_text(encoding="utf-8"))
    data["rules"][0].update(change)
    (tmp_path / CROSS_RULES_FILE).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError, match=problem):
        cross_rules(tmp_path)


# -- scoring on the demo city ----------------------------------------------------------------------


def test_the_engine_and_the_oracle_find_the_same_pairs(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    """Two implementations proving each other, over every ordinary and injected record."""
    expected, found = oracle(warehouse_ro), engine_cases(warehouse_ro)
    assert found == expected
    assert len(found) > 20


def test_precision_and_recall_are_total_on_the_ground_truth(
    city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection
) -> None:
    truth = read_ground_truth(city.root)
    assert {rule for rule, *_ in truth} == {r.code for r in cross_rules()}
    assert any(not fires for _, _, fires, _ in truth)  # near-misses are part of it
    fired: dict[str, set[str]] = defaultdict(set)
    for rule, id_number, _ in engine_cases(warehouse_ro):
        fired[id_number].add(rule)
    # Expected hits: the injected situations, plus what the oracle finds among ordinary records.
    injected = {id_number for _, id_number, _, _ in truth}
    expected = {(r, i) for r, i, fires, _ in truth if fires}
    expected |= {(rule, i) for rule, i, _ in oracle(warehouse_ro) if i not in injected}
    got = {(rule, i) for i, rules in fired.items() for rule in rules}
    true_positive = len(got & expected)
    precision, recall = true_positive / len(got), true_positive / len(expected)
    assert (precision, recall) == (1.0, 1.0), (got - expected, expected - got)
    for rule, id_number, fires, label in truth:  # an injected person trips their rule and nothing else
        assert fired.get(id_number, set()) == ({rule} if fires else set()), label


# -- life cycle, idempotence, privacy ----------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_opens_nothing_and_every_transition_is_audited(writable: Path) -> None:
    con = open_warehouse(writable)
    try:
        before = con.execute("SELECT count(*) FROM ops.crosscheck_cases").fetchall()
        again = run_crosschecks(con)
        assert (again.opened, again.resolved) == (0, 0)
        assert con.execute("SELECT count(*) FROM ops.crosscheck_cases").fetchall() == before
        [(case_id, division)] = con.execute(
            "SELECT case_id, act_division FROM ops.crosscheck_cases WHERE status = 'open' "
            "AND rule = 'DUAL_RESIDENT_PENSION' ORDER BY case_id LIMIT 1"
        ).fetchall()
        other = HOME if division == AWAY else AWAY
        with pytest.raises(CaseTransitionRefused, match="outside your scope"):
            transition(con, case_id, "confirmed", actor="clerk", scope=other)
        with pytest.raises(CaseTransitionRefused, match="needs a reason"):
            transition(con, case_id, "cleared", actor="clerk", scope=division)
        with pytest.raises(CaseTransitionRefused, match="can move to"):
            transition(con, case_id, "closed", actor="clerk", scope=division)
        transition(con, case_id, "confirmed", actor="clerk", scope=division, reason="两地均在缴费")
        transition(con, case_id, "closed", actor="chief", scope="120000000000", reason="已注销一处")
        events = con.execute(
            "SELECT from_status, to_status, actor FROM ops.crosscheck_events WHERE case_id = ? ORDER BY happened_at",
            [case_id],
        ).fetchall()
        assert events == [(None, "open", "system"), ("open", "confirmed", "clerk"), ("confirmed", "closed", "chief")]
    finally:
        con.close()


def test_evidence_outside_the_scope_shows_item_date_and_district_only(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    city = cases_in_scope(warehouse_ro, "120000000000")
    home = cases_in_scope(warehouse_ro, HOME)
    assert home and len(home) < len(city)
    across = [c for c in home if c.first.district_code != c.second.district_code]
    assert across
    for case in home:
        for evidence in (case.first, case.second):
            inside = evidence.district_code == HOME
            assert evidence.in_scope is inside
            if inside:
                assert evidence.source_id and evidence.source_name and evidence.fields.get("name")
            else:
                assert (evidence.source_id, evidence.source_name, evidence.file_id, evidence.fields) == (
                    None,
                    None,
                    None,
                    {},
                )
                assert evidence.district_name and evidence.business_date and evidence.item_code
                assert evidence.district_name in case.message("zh")
    routed = cases_in_scope(warehouse_ro, HOME, routed_only=True)
    assert routed and all(c.routed_here and c.act_division.startswith("120101") for c in routed)


def test_each_case_goes_to_the_division_holding_the_later_record(warehouse_ro: duckdb.DuckDBPyConnection) -> None:
    tiers = {r.code: r.act_tier for r in cross_rules()}
    for case in cases_in_scope(warehouse_ro, "120000000000", with_fields=False):
        later = max((case.first, case.second), key=lambda e: (e.business_date, e.file_id or 0, e.row_number or 0))
        assert later.source_id is not None
        expected = later.source_id[:9] + "000" if tiers[case.rule] == "street" else later.source_id[:6] + "000000"
        assert case.act_division == expected


# -- the regional check ---------------------------------------------------------------------------


def test_the_regional_check_answers_in_milliseconds_with_a_hashed_receipt(
    city: GeneratedCity, warehouse_ro: duckdb.DuckDBPyConnection
) -> None:
    truth = read_ground_truth(city.root)
    [loaner] = [i for _, i, _, label in truth if "business loan" in label][:1]
    started = time.perf_counter()
    receipt = regional_check(warehouse_ro, loaner, AWAY)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.2
    loan, job, hardship = receipt.findings
    assert loan.found and loan.district_code == HOME  # the loan lies in the other district
    assert not hardship.found  # the recognition is in the asking district itself
    assert not job.found
    assert [c.district_code for c in receipt.consulted] == [HOME]
    assert receipt.consulted[0].last_load and "北京时间" in receipt.csv_text
    assert receipt.sha256 == hashlib.sha256(receipt.csv_text.encode()).hexdigest()
