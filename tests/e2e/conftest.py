"""Browser tests: Playwright's sync API driving Debian's Chromium against live_server.

No browser is ever downloaded. Without Chromium the tests skip, except in CI where they fail.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.test import Client

from tests.live import requests_finished
from tests.needs import unavailable

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def browser_page(chromium_browser, live_server, transactional_db):
    """A fresh page; call `login_as(page, user)` to sign in through a session cookie. It asks for the
    database first so that it is closed before the database is flushed: an open page keeps polling
    and beating, and a request in flight would hold a table the flush needs."""
    context = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    # Leaving the page sends its last beat (sendBeacon on pagehide); let the server answer it while
    # the test's database is still there.
    page.goto("about:blank")
    page.wait_for_timeout(300)
    context.close()
    requests_finished()


@pytest.fixture
def login_as(live_server):
    def _login(page, user):
        # A client of its own for each sign-in: signing in on a shared client would end the previous
        # person's session, and a beat or poll still in flight from their page would then come back
        # with an answer that deletes the new session cookie.
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"]
        page.context.add_cookies(
            [{"name": "sessionid", "value": cookie.value, "url": live_server.url, "httpOnly": True}]
        )
        return page

    return _login


@pytest.fixture
def screenshot():
    """`screenshot(page, name)` saves test-artifacts/name.png; with `docs=True` and DOC_SCREENSHOTS=1
    in the environment, also docs/screenshots/name.png, the pictures the docs show (1280 wide)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def _shot(page, name: str, *, docs: bool = False):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("DOC_SCREENSHOTS"):
            DOC_SHOTS.mkdir(exist_ok=True)
            shutil.copyfile(path, DOC_SHOTS / path.name)
        return path

    return _shot


# Other conftests (tests/datasets/e2e) import these fixtures, which registers a second session-scoped
# `chromium_browser`; Playwright's sync API allows one running instance per process, so every
# registration shares the first browser started, and only that one closes it.
_shared_browser: dict = {}


@pytest.fixture(scope="session")
def chromium_browser():
    if "browser" in _shared_browser:
        yield _shared_browser["browser"]
        return
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        _shared_browser["browser"] = browser
        try:
            yield browser
        finally:
            _shared_browser.clear()
            browser.close()
