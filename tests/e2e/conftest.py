"""End-to-end tier: moto's HTTP server + Django's live server + Debian's Chromium via Playwright."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEED_PASSWORD = "e2e-password-1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make browser` (apt-get install chromium)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def seed_stack() -> None:
    """Seed users, and the table with the seed conversation, on the test's moto server."""
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("seed_users", password=SEED_PASSWORD, **quiet)
    call_command("ddb_schema_load", **quiet)
    call_command("ddb_seed", **quiet)


@pytest.fixture
def stack(transactional_db, moto_endpoint, live_server):
    """A seeded local stack served by Django's live server (WSGI: the pages poll)."""
    seed_stack()
    return live_server.url


@pytest.fixture
def login(browser, stack):
    """login("andrewbrown") -> a Playwright page signed in as that user, in its own context."""
    contexts = []

    def login_as(handle):
        context = browser.new_context(viewport={"width": 1200, "height": 850})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{stack}/accounts/login/")
        page.get_by_label("Handle").fill(handle)
        page.get_by_label("Password").fill(SEED_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{stack}/messages/")
        return page

    yield login_as
    for context in contexts:
        context.close()


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)
