"""The portal over HTTP (FastAPI TestClient) on the synced demo warehouse: sessions, CSRF,
lockout, scope, masking, audit, and hostile input in every field."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.auth import hash_password
from portal.context import COOKIE
from portal.routes import admin, dashboard, sessions, sql
from portal.routes import people as people_routes
from tierhub.settings import TierhubSettings

HEPING, NINGHE = "120101000000", "120117000000"
PASSWORD = "correct horse battery"
INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "120101' OR id_number LIKE '%",
    "%",
    "_",
    "'; DROP TABLE core.persons; --",
    "1 UNION SELECT id_number, name FROM core.persons --",
    '" OR ""="',
    "\\' OR 1=1 /*",
    "120117%",
    "' UNION SELECT * FROM read_csv('/etc/passwd') --",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "\x00' OR '1'='1",
]


def people_only_in(con: duckdb.DuckDBPyConnection, district: str, limit: int = 3) -> list[str]:
    """People whose every record is inside one district, with records of at least two items."""
    return [
        r[0]
        for r in con.execute(
            "SELECT id_number FROM core.cases WHERE superseded_by_load IS NULL GROUP BY id_number "
            "HAVING bool_and(starts_with(source_id, ?)) AND count(DISTINCT item_code) >= 2 "
            "ORDER BY count(DISTINCT item_code) DESC, id_number LIMIT ?",
            [district[:6], limit],
        ).fetchall()
    ]


@pytest.fixture(scope="module")
def people(synced: Path) -> dict[str, list[str]]:
    """Test subjects: people of 和平区 only, of 宁河区 only."""
    with duckdb.connect(str(synced), read_only=True) as con:
        found = {"heping": people_only_in(con, HEPING), "ninghe": people_only_in(con, NINGHE)}
        street = con.execute(
            "SELECT left(source_id, 9) || '000' FROM core.cases WHERE id_number = ? LIMIT 1", [found["heping"][0]]
        ).fetchone()
        assert street is not None
        found["heping_street"] = [street[0]]
        name = con.execute("SELECT name FROM core.persons WHERE id_number = ?", [found["heping"][0]]).fetchone()
        assert name is not None
        found["heping_name"] = [name[0]]
    assert found["heping"] and found["ninghe"]
    return found


ACCOUNTS = {
    "admin": ("admin", "120000000000"),
    "city": ("city", "120000000000"),
    "heping": ("district", HEPING),
    "ninghe": ("district", NINGHE),
    "analyst": ("analyst", HEPING),
}


@pytest.fixture(scope="module")
def app(synced: Path, people: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The portal with one account per role, state in a fresh SQLite file."""
    home = tmp_path_factory.mktemp("portal")
    settings = TierhubSettings(home=home, warehouse_path=synced, portal_max_failures=5, portal_ip_max_failures=1000)
    portal_app = create_app(settings)
    state = portal_app.state.portal.state
    password_hash = hash_password(PASSWORD)
    accounts = dict(ACCOUNTS)
    accounts["street"] = ("street", people["heping_street"][0])
    accounts["community"] = ("community", "120101001001")
    for name, (role, code) in accounts.items():
        state.add_user(name, f"{name} user", role, code, password_hash)
    return portal_app


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def post_login(client: TestClient, page: str, **next_url: str) -> httpx.Response:
    """Submit ``page``'s login form as heping (``next=…`` optional), not following the redirect."""
    data = {"username": "heping", "password": PASSWORD, "csrf_token": csrf_of(page), **next_url}
    return client.post("/login", data=data, follow_redirects=False)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/"}
    )
    assert response.status_code == 200, response.text[:500]
    return client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def as_user(app: FastAPI, username: str) -> TestClient:
    return login(TestClient(app), username)


def search(client: TestClient, q: str, **extra: str) -> object:
    home = client.get("/")
    return client.post("/search", data={"q": q, "csrf_token": csrf_of(home.text), **extra})


# -- sessions, CSRF, lockout ---------------------------------------------------------------------


def test_pages_need_login(client: TestClient) -> None:
    for path in ("/", "/dashboard", "/sql", "/admin/audit", "/person/120101199001011234", "/p/abc"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


def test_login_logout_and_cookie_flags(client: TestClient) -> None:
    page = client.get("/login")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    response = post_login(client, page.text)
    assert response.status_code == 303
    after = client.get("/")
    assert after.status_code == 200 and "heping user" in after.text
    assert "数据截至" in after.text  # data as of <last committed sync>
    client.post("/logout", data={"csrf_token": csrf_of(after.text)})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_secure_cookie_behind_tls_proxy(synced: Path, tmp_path: Path) -> None:
    settings = TierhubSettings(home=tmp_path, warehouse_path=synced, portal_trusted_proxies=["testclient"])
    with TestClient(create_app(settings)) as c:
        behind = c.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"})
        assert "Secure" in behind.headers["set-cookie"]
    with TestClient(create_app(TierhubSettings(home=tmp_path, warehouse_path=synced))) as c:
        # From an untrusted peer the header is a claim, not a fact.
        direct = c.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" not in direct.headers["set-cookie"]


def test_session_id_rotates_at_login(app: FastAPI) -> None:
    with TestClient(app) as c:
        page = c.get("/login")
        planted = c.cookies.get(COOKIE)
        assert planted
        c.post("/login", data={"username": "heping", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        issued = c.cookies.get(COOKIE)
        assert issued and issued != planted
    # The pre-login id (what an attacker could have planted) opens nothing afterwards.
    with TestClient(app, cookies={COOKIE: planted}) as attacker:
        assert attacker.get("/", follow_redirects=False).status_code == 303


def test_csrf_required_on_every_form(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "heping")
    analyst = as_user(app, "analyst")
    routers = (sessions.router, people_routes.router, dashboard.router, sql.router, admin.router)
    posts = [r.path for router in routers for r in router.routes if "POST" in getattr(r, "methods", set())]
    assert set(posts) >= {"/login", "/logout", "/search", "/sql", "/account/password"}
    for path in posts:
        for who in (c, analyst):
            for data in ({}, {"csrf_token": "forged"}):
                response = who.post(path, data={"q": people["heping"][0], "sql": "SELECT 1", **data})
                assert response.status_code == 403, (path, data, response.status_code)
    # A token from another session is no good either.
    other = as_user(app, "heping")
    stolen = csrf_of(other.get("/").text)
    assert c.post("/search", data={"q": people["heping"][0], "csrf_token": stolen}).status_code == 403
    # A cross-site Origin is refused even with the right token.
    token = csrf_of(c.get("/").text)
    assert (
        c.post(
            "/search", data={"q": people["heping"][0], "csrf_token": token}, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )


@pytest.mark.slow
def test_lockout_after_five_failures(app: FastAPI) -> None:
    state = app.state.portal.state
    state.add_user("victim", "victim", "district", HEPING, hash_password(PASSWORD))
    with TestClient(app) as c:
        for attempt in range(5):
            page = c.get("/login")
            response = c.post(
                "/login", data={"username": "victim", "password": f"wrong-{attempt}", "csrf_token": csrf_of(page.text)}
            )
            assert response.status_code in (401, 429)
        assert response.status_code == 429 and "锁定" in response.text
        page = c.get("/login")
        # Even the right password is refused while locked.
        locked = c.post("/login", data={"username": "victim", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert locked.status_code == 429
        assert c.get("/", follow_redirects=False).status_code == 303
    with sqlite3.connect(state.path) as db:
        # The right password during the lockout was not even checked: no attempt was recorded.
        assert db.execute("SELECT count(*) FROM login_attempts WHERE username = 'victim'").fetchone() == (5,)


def test_unknown_accounts_look_like_known_ones(client: TestClient) -> None:
    page = client.get("/login")
    unknown = client.post("/login", data={"username": "nobody", "password": "x" * 12, "csrf_token": csrf_of(page.text)})
    page = client.get("/login")
    wrong = client.post("/login", data={"username": "city", "password": "x" * 12, "csrf_token": csrf_of(page.text)})
    assert unknown.status_code == wrong.status_code == 401
    assert "用户名或密码错误" in unknown.text and "用户名或密码错误" in wrong.text


def test_per_address_rate_limit(synced: Path, tmp_path: Path) -> None:
    settings = TierhubSettings(home=tmp_path, warehouse_path=synced, portal_ip_max_failures=3, portal_max_failures=50)
    with TestClient(create_app(settings)) as c:
        codes = []
        for n in range(5):
            page = c.get("/login")
            codes.append(
                c.post(
                    "/login", data={"username": f"user{n}", "password": "x" * 12, "csrf_token": csrf_of(page.text)}
                ).status_code
            )
        assert codes == [401, 401, 401, 429, 429]


def test_open_redirect_refused(client: TestClient) -> None:
    page = client.get("/login?next=//evil.example/x")
    assert 'value="/"' in page.text
    response = post_login(client, page.text, next="https://evil.example")
    assert response.headers["location"] == "/"


# -- person 360, scope, masking, audit -----------------------------------------------------------


def test_person_by_id_shows_every_record_newest_first(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "heping")
    subject = people["heping"][0]
    page = search(c, subject)
    assert page.status_code == 200  # redirected to /p/<handle>
    assert subject not in str(page.url)  # the ID number never appears in a URL
    items = set(re.findall(r'data-item="([A-Z]{2}\d{2})"', page.text))
    assert len(items) >= 2
    dates = re.findall(r'<td class="nowrap">(\d{4}-\d{2}-\d{2}|—)</td>', page.text)
    real = [d for d in dates if d != "—"]
    assert real == sorted(real, reverse=True)
    assert subject in page.text  # district staff see the full ID number


def test_district_user_cannot_see_another_district(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "heping")
    for foreign in people["ninghe"]:
        by_search = search(c, foreign)
        assert by_search.status_code == 404 and 'id="no-person"' in by_search.text
        assert 'id="records"' not in by_search.text
        by_url = c.get(f"/person/{foreign}")
        assert by_url.status_code == 404 and 'id="error-message"' in by_url.text
        assert 'id="records"' not in by_url.text and 'id="person-id"' not in by_url.text
    # A handle made in someone else's session does not open in this one.
    other = as_user(app, "ninghe")
    opened = search(other, people["ninghe"][0])
    handle = str(opened.url).rsplit("/", 1)[-1]
    assert c.get(f"/p/{handle}").status_code == 404
    # Nor can a name search be pointed at another district.
    token = csrf_of(c.get("/").text)
    response = c.post("/search", data={"q": "王", "district": NINGHE, "csrf_token": token})
    assert response.status_code == 404


def test_city_sees_both_and_searches_names_per_district(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "city")
    for subject in (people["heping"][0], people["ninghe"][0]):
        assert search(c, subject).status_code == 200
    name = people["heping_name"][0]
    refused = search(c, name)
    assert refused.status_code == 400 and "区县" in refused.text
    found = search(c, name, district=HEPING)
    assert found.status_code == 200 and 'id="results"' in found.text


def masking_subject(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str]:
    """(ID number, mobile, community) of a 和平区 person with a mobile and a record at a community workstation."""
    row = con.execute(
        "SELECT c.id_number, p.mobile_phone, c.source_id FROM core.cases c JOIN core.persons p USING (id_number) "
        "WHERE p.mobile_phone IS NOT NULL AND p.birth_date IS NOT NULL AND starts_with(c.source_id, '120101') "
        "AND right(c.source_id, 3) <> '000' AND c.superseded_by_load IS NULL "
        "ORDER BY c.source_id, c.id_number LIMIT 1"
    ).fetchone()
    assert row is not None, "the demo city has community records of people with a mobile"
    return str(row[0]), str(row[1]), str(row[2])


def test_masking_by_role(app: FastAPI, synced: Path) -> None:
    with duckdb.connect(str(synced), read_only=True) as con:
        subject, phone, community_code = masking_subject(con)
        birth = con.execute("SELECT birth_date FROM core.persons WHERE id_number = ?", [subject]).fetchone()
    assert birth is not None
    birth_date = birth[0].isoformat()
    masked_id = subject[:6] + "********" + subject[-4:]
    masked_phone = phone[:3] + "****" + phone[-4:]
    state = app.state.portal.state
    state.add_user("community_m", "community user", "community", community_code, hash_password(PASSWORD))
    state.add_user("street_m", "street user", "street", community_code[:9] + "000", hash_password(PASSWORD))
    district = search(as_user(app, "heping"), subject)
    assert district.status_code == 200 and subject in district.text and phone in district.text
    street = search(as_user(app, "street_m"), subject)
    assert street.status_code == 200 and subject in street.text
    assert phone not in street.text and masked_phone in street.text
    page = search(as_user(app, "community_m"), subject)
    assert page.status_code == 200
    assert subject not in page.text and masked_id in page.text
    # The masked ID hides the eight birth-date digits: the page must not show them elsewhere.
    assert birth_date not in page.text and subject[6:14] not in page.text
    assert phone not in page.text


def test_no_full_phone_reaches_a_street_user_through_any_field(app: FastAPI, synced: Path) -> None:
    """A phone typed into a change record (变更后), remarks or an address is masked by what it is."""
    with duckdb.connect(str(synced), read_only=True) as con:
        phones = {
            r[0] for r in con.execute("SELECT mobile_phone FROM core.persons WHERE mobile_phone IS NOT NULL").fetchall()
        }
        in_heping = (
            "SELECT DISTINCT id_number FROM core.cases WHERE starts_with(source_id, ?) "
            "AND superseded_by_load IS NULL {} ORDER BY id_number LIMIT 40"
        )
        subjects = [r[0] for r in con.execute(in_heping.format(""), [HEPING[:6]]).fetchall()]
        change_items = "AND item_code IN ('SB02', 'SK05')"
        changes = [r[0] for r in con.execute(in_heping.format(change_items), [HEPING[:6]]).fetchall()]
    assert phones and subjects and changes
    state = app.state.portal.state
    state.add_user("heping_street_all", "masked district-wide", "street", HEPING, hash_password(PASSWORD))
    client = as_user(app, "heping_street_all")
    digits = re.compile(r"1[3-9]\d{9}")
    for subject in subjects + changes:
        page = client.get(f"/person/{subject}")
        assert page.status_code == 200, subject
        leaked = set(digits.findall(page.text)) & phones
        assert not leaked, (subject, leaked)


def test_analyst_and_admin_have_no_person_lookup(app: FastAPI, people: dict[str, list[str]]) -> None:
    for who in ("analyst", "admin"):
        c = as_user(app, who)
        assert c.get(f"/person/{people['heping'][0]}").status_code == 403


def test_every_lookup_is_audited(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "ninghe")
    subject, foreign = people["ninghe"][0], people["heping"][0]
    search(c, subject)
    c.get(f"/person/{foreign}")
    admin = as_user(app, "admin")
    page = admin.get(f"/admin/audit?user=ninghe&target={subject}")
    assert page.status_code == 200 and subject in page.text and "person.view" in page.text
    entries = app.state.portal.state.audit_entries(username="ninghe", target=foreign)
    assert entries and entries[0].action == "person.view" and entries[0].results == 0
    assert entries[0].client_ip == "testclient" and entries[0].scope == NINGHE
    # Only admins read the audit log.
    assert c.get("/admin/audit").status_code == 403


@pytest.mark.slow
def test_injection_in_every_input(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "heping")
    foreign = set(people["ninghe"])
    bodies = []
    for text in INJECTIONS:
        for response in (
            search(c, text),
            c.get(f"/person/{quote(text, safe='')}"),
            c.get(f"/p/{quote(text, safe='')}"),
            c.get("/dashboard", params={"node": text}),
            c.get("/dashboard", params={"node": HEPING, "month": text, "item": text}),
            c.get("/dashboard/export.csv", params={"node": text}),
        ):
            assert response.status_code < 500, (text, response.status_code)
            bodies.append(response.text)
    admin = as_user(app, "admin")
    for text in INJECTIONS:
        response = admin.get("/admin/audit", params={"user": text, "action": text, "target": text})
        assert response.status_code == 200
    analyst = as_user(app, "analyst")
    for text in INJECTIONS:
        token = csrf_of(analyst.get("/sql").text)
        response = analyst.post(
            "/sql", data={"sql": f"SELECT * FROM persons WHERE name = '{text}'", "csrf_token": token}
        )
        assert response.status_code in (200, 400)
        bodies.append(response.text)
    leaked = [i for i in foreign for body in bodies if i in body or i[:6] + "********" + i[-4:] in body]
    assert not leaked
    # The person master is intact.
    assert search(c, people["heping"][0]).status_code == 200


@pytest.mark.slow
def test_dashboard_stays_in_scope(app: FastAPI) -> None:
    c = as_user(app, "heping")
    assert c.get("/dashboard", params={"node": NINGHE}).status_code == 404
    assert c.get("/dashboard/export.csv", params={"node": NINGHE}).status_code == 404
    own = c.get("/dashboard")
    assert own.status_code == 200 and "宁河" not in own.text
    city = as_user(app, "city").get("/dashboard")
    assert "和平区" in city.text and "宁河区" in city.text


@pytest.mark.slow
def test_dashboard_export(app: FastAPI) -> None:
    c = as_user(app, "city")
    csv_file = c.get("/dashboard/export.csv")
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    text = csv_file.content.decode("utf-8-sig")
    assert "和平区" in text and "宁河区" in text
    xlsx = c.get("/dashboard/export.xlsx", params={"node": HEPING})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_analyst_sql_is_scoped_and_masked(app: FastAPI, people: dict[str, list[str]]) -> None:
    c = as_user(app, "analyst")
    token = csrf_of(c.get("/sql").text)
    own = c.post("/sql", data={"sql": "SELECT DISTINCT left(source_id, 6) AS d FROM cases", "csrf_token": token})
    assert own.status_code == 200 and "120101" in own.text and "120117" not in own.text
    ids = c.post("/sql", data={"sql": "SELECT id_number FROM persons LIMIT 50", "csrf_token": token})
    assert "********" in ids.text and people["heping"][0] not in ids.text
    for forbidden in (
        "SELECT * FROM core.persons",
        "SELECT * FROM query('SELECT * FROM core.persons')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH '/tmp/x.duckdb' AS x",
    ):
        refused = c.post("/sql", data={"sql": forbidden, "csrf_token": token})
        assert refused.status_code == 400 and 'id="sql-error"' in refused.text
    staff = as_user(app, "heping")
    assert staff.get("/sql").status_code == 403


@pytest.mark.slow
def test_language_switch(app: FastAPI) -> None:
    c = as_user(app, "city")
    english = c.get("/dashboard?lang=en")
    assert "Dashboard" in english.text and 'lang="en"' in english.text
    assert "Dashboard" in c.get("/dashboard").text  # the choice sticks (cookie)
    assert "统计看板" in c.get("/dashboard?lang=zh").text


def test_security_headers(client: TestClient) -> None:
    page = client.get("/login")
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_reset_password_must_be_changed(app: FastAPI) -> None:
    from portal.auth import new_password

    state = app.state.portal.state
    state.add_user("resetme", "resetme", "district", HEPING, hash_password(PASSWORD))
    temporary = new_password()
    state.set_password("resetme", hash_password(temporary), must_change=True)
    c = login(TestClient(app), "resetme", temporary)
    assert c.get("/", follow_redirects=False).headers["location"] == "/account/password"
    page = c.get("/account/password")
    changed = c.post(
        "/account/password",
        data={"current": temporary, "new": "a brand new secret", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert changed.headers["location"] == "/login"
    assert c.get("/", follow_redirects=False).headers["location"].startswith("/login")  # sessions ended
    again = login(TestClient(app), "resetme", "a brand new secret")
    assert again.get("/", follow_redirects=False).status_code == 200


def test_users_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from flows.cli import app as cli
    from portal.state import PortalState

    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "hp01", "--role", "district", "--division", HEPING], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    wrong_level = runner.invoke(cli, ["users", "add", "x1", "--role", "street", "--division", HEPING], input=PASSWORD)
    assert wrong_level.exit_code != 0
    short = runner.invoke(cli, ["users", "add", "x2", "--role", "city"], input="short\n")
    assert short.exit_code != 0
    state = PortalState(tmp_path / "portal.sqlite3")
    user = state.user("hp01")
    assert user is not None and user.role == "district" and user.password_hash.startswith("$argon2id$")
    reset = runner.invoke(cli, ["users", "reset", "hp01"])
    assert reset.exit_code == 0 and "Temporary password" in reset.output
    assert state.user("hp01").must_change_password  # type: ignore[union-attr]
    assert runner.invoke(cli, ["users", "disable", "hp01"]).exit_code == 0
    assert state.user("hp01").disabled  # type: ignore[union-attr]
    listed = runner.invoke(cli, ["users", "list"])
    assert "hp01" in listed.output and "disabled" in listed.output
