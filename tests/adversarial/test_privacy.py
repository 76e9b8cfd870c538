"""Privacy attacks: what a user sees of a person must come from their own area, masked per role.

Each test is named after the attack it stops; each asserts the safe outcome.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from portal.masking import POLICY, Role, Shown, policy_table, show, show_birth_date
from portal.sandbox import Limits, Sandbox
from tests.adversarial.conftest import ELSEWHERE, HEPING, NINGHE, OWN
from tests.test_portal_http import csrf_of
from warehouse.queries import find_person, person_360, search_people

ID = str(OWN["id_number"])
LEAKS = (str(ELSEWHERE["name"]), str(ELSEWHERE["mobile_phone"]), "宁河", NINGHE[:6] + "001")


# -- data recorded outside the user's area (issue #15, item 3) -----------------------------------


def test_other_districts_record_does_not_rename_the_person_in_the_lookup(two_districts: Path) -> None:
    with duckdb.connect(str(two_districts), read_only=True) as con:
        person = find_person(con, HEPING, ID)
    assert person is not None
    assert (person.name, person.mobile_phone, person.records) == (OWN["name"], OWN["mobile_phone"], 1)


def test_other_districts_record_does_not_leak_into_the_person_360_header(two_districts: Path) -> None:
    with duckdb.connect(str(two_districts), read_only=True) as con:
        person, records = person_360(con, HEPING, ID)
        theirs, _ = person_360(con, NINGHE, ID)
    assert person is not None and theirs is not None
    assert person.name == OWN["name"] and person.mobile_phone == OWN["mobile_phone"]
    assert {r.source_id[:6] for r in records} == {HEPING[:6]}
    # And the other way round: 宁河区 sees its own record's values, not 和平区's.
    assert theirs.name == ELSEWHERE["name"] and theirs.mobile_phone == ELSEWHERE["mobile_phone"]


def test_name_search_by_a_name_only_another_district_recorded_finds_nobody(two_districts: Path) -> None:
    with duckdb.connect(str(two_districts), read_only=True) as con:
        assert search_people(con, HEPING, str(ELSEWHERE["name"])) == []
        [hit] = search_people(con, HEPING, str(OWN["name"]))
    assert hit.id_number == ID and hit.name == OWN["name"] and hit.mobile_phone == OWN["mobile_phone"]


def test_person_page_shows_nothing_another_district_recorded(signed_in_as: dict[str, TestClient]) -> None:
    for account in ("heping", "heping_street"):
        page = signed_in_as[account].get(f"/person/{ID}")
        assert page.status_code == 200, account
        assert str(OWN["name"]) in page.text
        for leak in LEAKS:
            assert leak not in page.text, (account, leak)


def test_name_search_page_lists_no_name_another_district_recorded(signed_in_as: dict[str, TestClient]) -> None:
    client = signed_in_as["heping"]
    token = csrf_of(client.get("/").text)
    page = client.post("/search", data={"q": str(ELSEWHERE["name"]), "csrf_token": token})
    assert "/p/" not in page.text and str(ELSEWHERE["name"]) in page.text  # only the echo of the query
    page = client.post("/search", data={"q": "张", "csrf_token": token})
    assert str(OWN["name"]) in page.text
    for leak in LEAKS:
        assert leak not in page.text.replace('value="张"', "")


def test_analysts_persons_view_shows_nothing_another_district_recorded(two_districts: Path) -> None:
    with Sandbox(two_districts, HEPING, secret=b"s", masked=True, limits=Limits(seconds=5)) as box:
        result = box.run("SELECT name, mobile_phone, item_code, as_of_date FROM persons")
    [(name, phone, item, day)] = result.rows
    assert name == OWN["name"] and phone == "138****5678" and item == "JY02"
    assert str(day) == OWN["registration_date"]


# -- one table of what each role sees (item 1) ---------------------------------------------------

DECISION = Path(__file__).parents[2] / "docs" / "decisions" / "0019-what-each-role-sees.md"


def test_decision_table_says_what_the_code_enforces() -> None:
    text = DECISION.read_text(encoding="utf-8")
    table = text.split("<!-- policy-table:start -->\n", 1)[1].split("\n<!-- policy-table:end -->", 1)[0]
    assert table == policy_table()


@pytest.mark.parametrize("role", list(Role))
def test_masked_id_beside_full_birth_date_rebuilds_the_id(role: Role) -> None:
    sees = POLICY[role].sees
    if sees["id_number"] is not Shown.full:
        assert sees["birth_date"] in (Shown.year, Shown.none)
        assert sees["account"] is not Shown.full
    expected = {Shown.full: "1980-01-01", Shown.year: "1980", Shown.none: ""}[sees["birth_date"]]
    assert show_birth_date(dt.date(1980, 1, 1), role) == expected


def test_address_with_name_and_birth_year_singles_out_a_person_for_analysts(synced: Path) -> None:
    with Sandbox(synced, HEPING, secret=b"s", masked=True, limits=Limits(seconds=5)) as box:
        columns = {c for view in box.describe() for c in view.columns}
    assert not columns & {"hukou_address", "residence_address", "birth_date"}
    assert show("residence_address", "和平区南京路1号", Role.analyst) == "—"
    assert show("residence_address", "和平区南京路1号", Role.community) == "和平区南京路1号"


@pytest.mark.parametrize("account", ["analyst", "admin"])
def test_role_without_lookups_cannot_open_a_person_page(signed_in_as: dict[str, TestClient], account: str) -> None:
    page = signed_in_as[account].get(f"/person/{ID}")
    assert page.status_code == 403 and str(OWN["name"]) not in page.text
