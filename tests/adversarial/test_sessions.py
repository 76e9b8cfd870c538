"""Session and audit attacks: anonymous traffic cannot grow the session table, and no other site can
make a signed-in browser record an audited lookup in its user's name."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from portal.context import COOKIE
from portal.state import ANONYMOUS_PER_ADDRESS
from tests.adversarial.conftest import OWN
from tests.test_portal_http import PASSWORD, csrf_of, post_login

ID = str(OWN["id_number"])


def _sessions(app: FastAPI) -> int:
    with sqlite3.connect(app.state.portal.state.path) as con:
        return int(con.execute("SELECT count(*) FROM sessions").fetchone()[0])


def _audit(app: FastAPI, username: str) -> int:
    return len(app.state.portal.state.audit_entries(username=username, action="person."))


# -- sessions (item 8) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_thousand_cookieless_login_pages_add_a_bounded_number_of_sessions(two_district_app: FastAPI) -> None:
    before = _sessions(two_district_app)
    for _ in range(1000):
        with TestClient(two_district_app) as anonymous:  # a fresh client: no cookie
            assert anonymous.get("/login").status_code == 200
    assert _sessions(two_district_app) - before <= ANONYMOUS_PER_ADDRESS


def test_cookieless_requests_to_other_pages_add_no_session(two_district_app: FastAPI) -> None:
    before = _sessions(two_district_app)
    with TestClient(two_district_app) as anonymous:
        for path in ("/", "/dashboard", "/sql", f"/person/{ID}", "/p/x", "/nowhere", "/static/none.css"):
            for _ in range(20):
                anonymous.get(path, follow_redirects=False)
                anonymous.cookies.clear()
    assert _sessions(two_district_app) == before


def test_forged_session_cookies_add_no_session(two_district_app: FastAPI) -> None:
    before = _sessions(two_district_app)
    for n in range(50):
        with TestClient(two_district_app, cookies={COOKIE: f"forged-{n}"}) as forger:
            forger.get("/", follow_redirects=False)
    assert _sessions(two_district_app) == before


def test_anonymous_session_still_rotates_at_login(two_district_app: FastAPI) -> None:
    with TestClient(two_district_app) as c:
        page = c.get("/login")
        planted = c.cookies.get(COOKIE)
        c.post("/login", data={"username": "heping", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert c.cookies.get(COOKIE) not in (None, planted)


# -- cross-site audited lookups (item 9) ---------------------------------------------------------


def test_session_cookie_is_samesite_strict(two_district_app: FastAPI) -> None:
    with TestClient(two_district_app) as c:
        page = c.get("/login")
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        response = post_login(c, page.text)
        assert "samesite=strict" in response.headers["set-cookie"].lower()


CROSS_SITE = {
    "link_on_another_site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    "image_on_another_site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
    "sibling_subdomain_link": {"Sec-Fetch-Site": "same-site"},
    "fetch_from_a_foreign_origin": {"Origin": "https://evil.example"},
}


@pytest.mark.parametrize("attack", list(CROSS_SITE))
def test_cross_site_person_lookup_records_no_audit_and_shows_nobody(
    signed_in_as: dict[str, TestClient], two_district_app: FastAPI, attack: str
) -> None:
    client = signed_in_as["heping"]
    before = _audit(two_district_app, "heping")
    page = client.get(f"/person/{ID}", headers=CROSS_SITE[attack])
    assert page.status_code == 403 and str(OWN["name"]) not in page.text
    assert _audit(two_district_app, "heping") == before


def test_cross_site_handle_link_records_no_audit(
    signed_in_as: dict[str, TestClient], two_district_app: FastAPI
) -> None:
    client = signed_in_as["heping"]
    found = client.post("/search", data={"q": ID, "csrf_token": csrf_of(client.get("/").text)}, follow_redirects=False)
    handle = found.headers["location"]
    before = _audit(two_district_app, "heping")
    page = client.get(handle, headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 403 and _audit(two_district_app, "heping") == before
    # Within the portal the same link works, and is audited.
    assert client.get(handle, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert _audit(two_district_app, "heping") == before + 1


def test_typed_address_still_opens_the_person(signed_in_as: dict[str, TestClient], two_district_app: FastAPI) -> None:
    before = _audit(two_district_app, "heping")
    page = signed_in_as["heping"].get(f"/person/{ID}", headers={"Sec-Fetch-Site": "none"})
    assert page.status_code == 200 and str(OWN["name"]) in page.text
    assert _audit(two_district_app, "heping") == before + 1


def test_login_redirect_to_a_planted_lookup_is_not_followed(two_district_app: FastAPI) -> None:
    before = _audit(two_district_app, "heping")
    with TestClient(two_district_app) as c:
        page = c.get(f"/login?next=/person/{ID}")
        response = post_login(c, page.text, next=f"/person/{ID}")
        assert response.headers["location"] == "/"
    assert _audit(two_district_app, "heping") == before
