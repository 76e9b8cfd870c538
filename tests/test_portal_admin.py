"""Accounts in the browser: create, disable/enable, reset, change role and scope — admin only,
CSRF-checked, every action audited; and a non-admin trying each action."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.test_portal_http import HEPING, app, as_user, csrf_of, login, people  # noqa: F401 (fixtures)

ACTIONS = {
    "create": {"username": "intruder1", "role": "admin", "division": "120000000000"},
    "disable": {"username": "city"},
    "enable": {"username": "city"},
    "reset": {"username": "city"},
    "rebind": {"username": "heping", "role": "city", "division": "120000000000"},
}


def _post(client: TestClient, action: str, data: dict[str, str], page: str = "/admin/users") -> object:
    token = csrf_of(client.get(page).text)
    return client.post(f"/admin/users/{action}", data={**data, "csrf_token": token})


def _password_on(html: str) -> str:
    found = re.search(r'id="new-password">[^<]*<b class="mono">([^<]+)</b>', html)
    assert found, "no temporary password shown"
    return found.group(1)


def test_admin_manages_an_account_end_to_end(app: FastAPI) -> None:  # noqa: F811
    admin = as_user(app, "admin")
    state = app.state.portal.state
    created = _post(
        admin,
        "create",
        {"username": "clerk7", "display_name": "社区 王", "role": "community", "division": "120101001001"},
    )
    assert created.status_code == 200  # type: ignore[attr-defined]
    password = _password_on(created.text)  # type: ignore[attr-defined]
    account = state.user("clerk7")
    assert account is not None and account.role == "community" and account.must_change_password

    # The new clerk signs in with the temporary password and must change it first.
    clerk = login(TestClient(app), "clerk7", password)
    assert clerk.get("/", follow_redirects=False).headers["location"] == "/account/password"

    # Change scope and role: the clerk's session ends.
    rebound = _post(admin, "rebind", {"username": "clerk7", "role": "street", "division": "120101001000"})
    assert rebound.status_code == 200  # type: ignore[attr-defined]
    account = state.user("clerk7")
    assert account is not None and (account.role, account.division_code) == ("street", "120101001000")
    assert clerk.get("/", follow_redirects=False).headers["location"].startswith("/login")

    # A role bound to the wrong level is refused with a message, and audited as refused.
    wrong = _post(admin, "rebind", {"username": "clerk7", "role": "district", "division": "120101001000"})
    assert wrong.status_code == 400 and "district" in wrong.text  # type: ignore[attr-defined]

    # Reset, disable, enable.
    reset = _post(admin, "reset", {"username": "clerk7"})
    new_password = _password_on(reset.text)  # type: ignore[attr-defined]
    assert new_password != password
    _post(admin, "disable", {"username": "clerk7"})
    assert state.user("clerk7").disabled  # type: ignore[union-attr]
    page = TestClient(app).get("/login")
    refused = TestClient(app).post(
        "/login", data={"username": "clerk7", "password": new_password, "csrf_token": csrf_of(page.text), "next": "/"}
    )
    assert 'id="new-password"' not in refused.text and state.user("clerk7").disabled  # type: ignore[union-attr]
    _post(admin, "enable", {"username": "clerk7"})
    assert not state.user("clerk7").disabled  # type: ignore[union-attr]

    actions = [e.action for e in state.audit_entries(username="admin", action="account.", limit=50)]
    for action in ("account.create", "account.rebind", "account.reset", "account.disable", "account.enable"):
        assert action in actions, action
    assert all(e.target == "clerk7" for e in state.audit_entries(username="admin", action="account.", limit=50))


def test_an_admin_cannot_lock_themselves_out(app: FastAPI) -> None:  # noqa: F811
    admin = as_user(app, "admin")
    assert _post(admin, "disable", {"username": "admin"}).status_code == 400  # type: ignore[attr-defined]
    demote = _post(admin, "rebind", {"username": "admin", "role": "city", "division": "120000000000"})
    assert demote.status_code == 400  # type: ignore[attr-defined]
    account = app.state.portal.state.user("admin")
    assert account is not None and account.role == "admin" and not account.disabled


@pytest.mark.parametrize("user", ["city", "heping", "analyst"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_non_admin_can_do_none_of_it(app: FastAPI, user: str, action: str) -> None:  # noqa: F811
    client = as_user(app, user)
    state = app.state.portal.state
    before = {u.username: u for u in state.users()}
    assert client.get("/admin/users").status_code == 403
    response = _post(client, action, ACTIONS[action], page="/")
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert {u.username: u for u in state.users()} == before
    assert not state.audit_entries(username=user, action="account.", limit=5)


def test_account_changes_need_the_csrf_token(app: FastAPI) -> None:  # noqa: F811
    admin = as_user(app, "admin")
    for action, data in ACTIONS.items():
        response = admin.post(f"/admin/users/{action}", data=data)
        assert response.status_code == 403, action
        forged = admin.post(f"/admin/users/{action}", data={**data, "csrf_token": "x" * 43})
        assert forged.status_code == 403, action
    assert app.state.portal.state.user("intruder1") is None
    assert not app.state.portal.state.user("city").disabled  # type: ignore[union-attr]


def test_the_guide_is_linked_from_every_page_and_open_without_sign_in(app: FastAPI) -> None:  # noqa: F811
    anonymous = TestClient(app)
    guide = anonymous.get("/guide")
    assert guide.status_code == 200 and "使用说明" in guide.text
    for section in ("sign-in", "find", "read", "dashboards", "exports", "masking"):
        assert f'id="{section}"' in guide.text
    assert "Guide for clerks" in anonymous.get("/guide?lang=en").text
    assert 'href="/guide"' in anonymous.get("/login").text
    for user, page in (("city", "/"), ("city", "/dashboard"), ("admin", "/admin/users"), ("admin", "/admin/audit")):
        assert 'href="/guide"' in as_user(app, user).get(page).text, page
