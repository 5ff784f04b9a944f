"""Browser tests: Debian's Chromium driven by Playwright (sync API) against pytest-django's live server.

Every test in this folder is marked `browser`. The browser is Debian's /usr/bin/chromium (Playwright's
own downloads are never used); when it is missing the tests fail with a clear message rather than skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the main thread; Django would otherwise refuse ORM calls
# from the test body (demo_load, assertions on the database) with SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
BROWSER_DIR = Path(__file__).resolve().parent

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _live_server_http_settings() -> Iterator[None]:
    """The live server speaks plain HTTP on localhost. With DEBUG off (as under pytest) the settings
    redirect to HTTPS, mark cookies Secure and need a collectstatic manifest; relax exactly those for
    the live server. Must be active before the server thread builds its middleware chain."""
    from django.test import override_settings

    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        yield


@pytest.fixture(scope="session")
def live_server(_live_server_http_settings: None, live_server: Any) -> Any:
    """pytest-django's live server, started under the HTTP settings above."""
    return live_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get update && apt-get install -y chromium). They are never skipped.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture
def demo(live_server: Any) -> dict[str, Any]:
    """The demo data set (the live server's database is flushed after every test) and a clean cache
    (the per-address login throttle lives there)."""
    from django.core.cache import cache

    from civicgrid.demo.services import demo_load

    cache.clear()
    return {account.username: account for account in demo_load(grid_layer=False)}


@pytest.fixture
def demo_with_grids(live_server: Any) -> dict[str, Any]:
    """The demo data set with the synthetic grid layer published (slower: ~3 s)."""
    from django.core.cache import cache

    from civicgrid.demo.services import demo_load

    cache.clear()
    return {account.username: account for account in demo_load(grid_layer=True, samples=False)}


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context (own cookies), Chinese first like the users' browsers."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None, locale: str = "zh-CN") -> Any:
        context = browser.new_context(
            viewport=viewport or DESKTOP, locale=locale, base_url=live_server.url, timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def login() -> Callable[..., None]:
    """Log in through the login page (demo password by default) and wait for the page that follows."""
    from civicgrid.demo.services import DEMO_PASSWORD

    def do(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login/")
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("form button[type=submit].primary").click()

    return do


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[..., Path]:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        path = screenshot_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
