"""The portal end to end in real headless Chromium (Debian's /usr/bin/chromium via Playwright):
log in, find a person, drill down, export; a district user cannot reach another district; a
person served in two districts seen whole by a city user and in part by a district user.

The screenshots of the clerk's guide (/guide) are taken here on every run; with
``TIERHUB_GUIDE_SCREENSHOTS=1`` they are written into ``portal/static/guide/`` (commit them), so the
guide shows the portal as it is — a plain test run leaves the checkout as it found it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from portal.app import create_app
from portal.auth import hash_password
from portal.routes.guide import SCREENSHOTS, SHOTS
from tests.system import CHROMIUM_ARGS, require_program
from tests.test_portal_http import HEPING, NINGHE, PASSWORD, people_only_in
from tierhub.settings import TierhubSettings
from warehouse.queries import widely_served

pytestmark = pytest.mark.slow  # drives a real headless Chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(synced: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving the portal over the synced demo warehouse, in a thread."""
    settings = TierhubSettings(home=tmp_path_factory.mktemp("portal-browser"), warehouse_path=synced)
    app = create_app(settings)
    state = app.state.portal.state
    password_hash = hash_password(PASSWORD)
    state.add_user("city", "市局 张", "city", "120000000000", password_hash)
    state.add_user("heping", "和平区 李", "district", HEPING, password_hash)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_program("chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def subjects(synced: Path) -> dict[str, str]:
    with duckdb.connect(str(synced), read_only=True) as con:
        [mobile] = widely_served(con, "120000000000", min_points=3, min_districts=2, limit=1)
        return {
            "heping": people_only_in(con, HEPING)[0],
            "ninghe": people_only_in(con, NINGHE)[0],
            "mobile": mobile.id_number,
        }


def shoot(page: Page, name: str) -> None:
    """A screenshot for the clerk's guide (1280 px wide, the visible page); kept with TIERHUB_GUIDE_SCREENSHOTS=1."""
    assert name in SCREENSHOTS
    image = page.screenshot(full_page=False)
    assert image.startswith(b"\x89PNG")
    if os.environ.get("TIERHUB_GUIDE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(image)


def log_in(page: Page, base: str, username: str, *, shot: str | None = None) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    if shot:
        shoot(page, shot)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def search(page: Page, text: str, shows: str = "#records") -> None:
    """Search the portal for ``text`` from the page shown and wait for ``shows``."""
    page.fill("input[name=q]", text)
    page.click("form.search button[type=submit]")
    page.wait_for_selector(shows)


def test_login_find_drill_down_export(browser: Browser, server: str, subjects: dict[str, str], tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, server, "city", shot="login")
    assert "数据截至" in page.inner_text("#data-as-of")

    # Find a person by ID number: every record from every item and service point.
    page.fill("input[name=q]", subjects["heping"])
    shoot(page, "search")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#records")
    assert subjects["heping"] not in page.url
    items = {el.get_attribute("data-item") for el in page.query_selector_all("tr.record")}
    assert len(items) >= 2
    assert page.inner_text("#person-id") == subjects["heping"]  # city staff see full IDs

    # Drill down city → district → street.
    page.click("text=统计看板")
    page.wait_for_selector("#children")
    assert "和平区" in page.inner_text("#children") and "宁河区" in page.inner_text("#children")
    assert page.query_selector("svg.chart") is not None
    page.click("#children a.drill >> text=和平区")
    page.wait_for_selector("#trail >> text=和平区")
    shoot(page, "dashboard")
    # Sort by workload (a header link) and filter (a GET form): no script involved.
    page.click("#children thead a.sort >> text=办件量")
    page.wait_for_url("**sort_children=workload**")
    street = page.query_selector("#children a.drill")
    assert street is not None
    street_name = street.inner_text()
    street.click()
    page.wait_for_selector(f"#trail >> text={street_name}")
    trail = page.inner_text("#trail")
    assert "天津市" in trail and "和平区" in trail and street_name in trail
    assert page.query_selector_all("#children tbody tr")  # the street's service points
    community = page.query_selector("#children a.drill")
    assert community is not None  # down to a community workstation
    community_name = community.inner_text()
    community.click()
    page.wait_for_selector(f"#trail >> text={community_name}")

    # Export CSV and Excel.
    for button, suffix in (("#export-children-csv", ".csv"), ("#export-xlsx", ".xlsx")):
        with page.expect_download() as info:
            page.click(button)
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        assert target.suffix == suffix and target.stat().st_size > 100
    assert (tmp_path / next(p.name for p in tmp_path.glob("*.csv"))).read_bytes().startswith(b"\xef\xbb\xbf")

    # English switch.
    page.click("a.lang")
    page.wait_for_selector("text=Dashboard")
    assert errors == []
    context.close()


def test_district_user_cannot_reach_another_district(browser: Browser, server: str, subjects: dict[str, str]) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[ConsoleMessage] = []
    page.on("console", lambda m: errors.append(m) if m.type == "error" else None)
    log_in(page, server, "heping")
    # By ID number in the search box.
    search(page, subjects["ninghe"], "#no-person")
    assert page.query_selector("#records") is None
    # By URL.
    response = page.goto(f"{server}/person/{subjects['ninghe']}")
    assert response is not None and response.status == 404
    assert page.query_selector("#records") is None and page.query_selector("#error-message") is not None
    # By the dashboard's node parameter.
    response = page.goto(f"{server}/dashboard?node={NINGHE}")
    assert response is not None and response.status == 404
    # Their own people open fine.
    page.goto(f"{server}/")
    search(page, subjects["heping"])
    # The only console errors are the two 404 documents themselves.
    assert all("404" in m.text for m in errors), [m.text for m in errors]
    context.close()


def test_a_person_served_in_two_districts(
    browser: Browser, server: str, subjects: dict[str, str], tmp_path: Path
) -> None:
    """一点登陆、多点查询: the city sees every service point; 和平区 sees only its own records."""
    mobile = subjects["mobile"]
    context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, server, "city")
    search(page, mobile)
    points = {el.get_attribute("data-code") or "" for el in page.query_selector_all("#points tr.point")}
    assert len(points) >= 3 and len({p[:6] for p in points}) >= 2
    sources = {el.get_attribute("data-source") or "" for el in page.query_selector_all("tr.record")}
    assert sources == points
    # Codes read as labels; the code is in the title.
    for span in page.query_selector_all("span.coded"):
        assert span.inner_text() != span.get_attribute("data-code")
        assert (span.get_attribute("data-code") or "") in (span.get_attribute("title") or "")
    shoot(page, "person")
    with page.expect_download() as info:
        page.click("#export-person-xlsx")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    assert target.suffix == ".xlsx" and mobile not in target.name
    page.locator("p.actions").scroll_into_view_if_needed()
    shoot(page, "export")
    context.close()

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    log_in(page, server, "heping")
    search(page, mobile)
    seen = {el.get_attribute("data-source") or "" for el in page.query_selector_all("tr.record")}
    assert seen and all(s.startswith(HEPING[:6]) for s in seen)
    assert seen == {p for p in points if p.startswith(HEPING[:6])}
    assert "宁河" not in page.inner_text("main")
    context.close()


def test_the_guide_shows_the_screenshots(browser: Browser, server: str) -> None:
    """Every screenshot the guide names is on the page (the committed ones, or this run's)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server}/guide")
    assert "使用说明" in page.inner_text("h1")
    for name in SCREENSHOTS:
        image = page.query_selector(f"#shot-{name}")
        assert image is not None, name
        source = image.get_attribute("src") or ""
        assert page.request.get(f"{server}{source}").status == 200, name
    context.close()
