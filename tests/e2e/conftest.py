"""End-to-end tier: moto's HTTP server, the site served as in production (uvicorn, the event
stream on) and Debian's Chromium via Playwright.

Tests marked `polling` see the fallback instead: the site under Django's live server (WSGI),
which refuses event streams, so the pages poll for what changed.
"""

import io
import os
import time
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
# Runs in every document of a watched context before the page's own scripts (Playwright's
# init scripts are not subject to the page's Content-Security-Policy), and hands each
# violation to the test through a binding, which outlives navigations.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = {
    directive: event.effectiveDirective || event.violatedDirective,
    blockedURI: event.blockedURI,
    sample: event.sample,
    source: `${event.sourceFile || document.location.href}:${event.lineNumber}`,
  };
  window.__cspViolations.push(violation);
  window.__reportCspViolation(violation);
});
"""
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
    call_command("ddb_seed", force=True, **quiet)  # pytest-django turns DEBUG off


@pytest.fixture
def stack(request, transactional_db, moto_endpoint):
    """A seeded local stack; its URL. Served as in production by default: the ASGI
    application under uvicorn (tests/conftest.py's `asgi_server`), where pages hear of changes
    through the event stream. A test marked `polling` gets Django's live server (WSGI) instead:
    it refuses the stream, and pages poll."""
    if request.node.get_closest_marker("polling"):
        url = request.getfixturevalue("live_server").url
    else:
        url = request.getfixturevalue("asgi_server")
    seed_stack()
    return url


class CspWatch:
    """Content-Security-Policy violations in every page of a browser context, the ones opened
    later included: from the page's securitypolicyviolation events and from Chromium's
    console ("Refused to ... because it violates the following Content Security Policy")."""

    def __init__(self, context):
        self.events: list[dict] = []
        self.console: list[str] = []
        context.expose_binding(
            "__reportCspViolation", lambda source, violation: self.events.append(violation)
        )
        context.add_init_script(CSP_LISTENER)
        for page in context.pages:
            self._watch(page)
        context.on("page", self._watch)

    def _watch(self, page):
        page.on("console", self._console)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.console.append(f"{message.text} ({message.location.get('url')})")

    @property
    def violations(self) -> list:
        return [*self.events, *self.console]


@pytest.fixture
def new_context(browser):
    """new_context() -> a browser context whose pages may break no Content-Security-Policy:
    the test fails at teardown if any page of it reported a violation."""
    watched = []

    def make(**options):
        context = browser.new_context(**{"viewport": {"width": 1200, "height": 850}, **options})
        watched.append((context, CspWatch(context)))
        return context

    yield make
    violations = []
    for context, watch in watched:
        context.close()  # Playwright hands over the events still queued
        violations.extend(watch.violations)
    assert violations == [], f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def login(stack, new_context):  # in this order: pages close before the server stops
    """login("andrewbrown") -> a Playwright page signed in as that user, in its own context
    (watched for Content-Security-Policy violations)."""

    def login_as(handle):
        context = new_context()
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{stack}/accounts/login/")
        page.get_by_label("Handle").fill(handle)
        page.get_by_label("Password").fill(SEED_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{stack}/messages/")
        return page

    return login_as


def wait_until(page, expression, timeout=10):
    """Wait until `expression` is true in the page. Playwright's wait_for_function cannot:
    it evaluates its predicate with eval, which the pages' script-src 'self' refuses (and the
    watch would report); page.evaluate runs outside the page's policy."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout}s: {expression}"
        page.wait_for_timeout(20)


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)
