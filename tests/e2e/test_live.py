"""Live updates in Debian's Chromium: two people, two browser contexts, no reloads.

Headless Chromium reports every tab as visible and focused. The first test turns focus
emulation off for andrewbrown's tabs, so that bringing one to the front takes the focus from
the other, as with two windows side by side: his conversation stays open (and updating) while
he looks at his inbox. The tests of the polling fallback (marked `polling`: served where
no event stream can be had) drive the page's timers with Playwright's clock.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging import services
from messaging.seed import SEED_CONVERSATION_UUID

from .conftest import screenshot, wait_until

POLL = "**/messages/poll/**"


def rows(page):
    return page.locator(".convo-list a.convo")


def nav_badge(page):
    return page.locator("[data-live-unread] .badge")


def messages(page):
    return page.locator("ol.messages > li.msg")  # not the day separators


def without_focus_emulation(page):
    page.context.new_cdp_session(page).send(
        "Emulation.setFocusEmulationEnabled", {"enabled": False}
    )


def mark_document(page):
    """A flag that survives only as long as the document: gone after any reload."""
    page.evaluate("window.sameDocument = true")


def same_document(page):
    return page.evaluate("window.sameDocument === true")


def send(page, text):
    page.get_by_label(re.compile("^Reply to")).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(messages(page).last.locator(".msg-text")).to_have_text(text)


def test_bayko_sends_andrew_sees_it_live_and_his_inbox_marks_it(login, stack):
    users = get_user_model().objects
    andrew_user = users.get(handle="andrewbrown")
    # A newer conversation, so that bayko's is not already at the top of andrew's inbox.
    services.start_conversation(
        sender=andrew_user, recipient=users.get(handle="londo"), text="Ambassador?"
    )
    conversation_url = f"{stack}/messages/{SEED_CONVERSATION_UUID}/"

    conversation = login("andrewbrown")
    conversation.goto(conversation_url)
    inbox = conversation.context.new_page()
    inbox.goto(f"{stack}/messages/")
    expect(rows(inbox).first).to_contain_text("Londo Mollari")
    expect(rows(inbox).nth(1)).to_contain_text("Andrew Bayko")
    expect(nav_badge(inbox)).to_have_count(0)
    for page in (conversation, inbox):
        without_focus_emulation(page)
        mark_document(page)
    inbox.bring_to_front()  # he looks at his inbox; the conversation stays open beside it
    assert conversation.evaluate("document.hasFocus()") is False
    rows(inbox).first.focus()  # the keyboard is on Londo's row
    shown_before = messages(conversation).count()

    bayko = login("bayko")
    bayko.goto(conversation_url)
    first, second = "Are you there? <b>Ship</b> it & see", "Second, right after"
    send(bayko, first)

    # The open conversation shows it without a reload (how soon: `make bench`, bench/push.py).
    expect(messages(conversation).last.locator(".msg-text")).to_have_text(first)
    expect(messages(conversation).last.locator(".msg-author")).to_have_text("Andrew Bayko")
    expect(messages(conversation).last).not_to_have_class(re.compile("msg-mine"))
    assert conversation.locator(".msg-text b").count() == 0  # shown as text, never as markup

    send(bayko, second)
    expect(messages(conversation).last.locator(".msg-text")).to_have_text(second)
    # In order, each once.
    texts = conversation.locator("ol.messages .msg-text").all_text_contents()
    assert texts[-2:] == [first, second]
    assert texts.count(first) == texts.count(second) == 1
    assert messages(conversation).count() == shown_before + 2
    assert same_document(conversation)

    # The inbox in the other tab: the conversation moved to the top, marked unread.
    top = rows(inbox).first
    expect(top).to_contain_text("Andrew Bayko", timeout=3000)
    expect(top).to_contain_text(second)
    expect(top).to_have_class(re.compile(r"\bis-unread\b"))
    expect(top.locator(".badge")).to_have_text("2 unread")
    expect(rows(inbox).nth(1)).to_contain_text("Londo Mollari")
    expect(rows(inbox).nth(1)).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(nav_badge(inbox)).to_have_text("1 unread")
    expect(rows(inbox).nth(1)).to_be_focused()  # the redraw kept the keyboard on Londo's row
    assert same_document(inbox)
    # The conversation's own sidebar was redrawn too, its row still the current page.
    sidebar_top = rows(conversation).first
    expect(sidebar_top).to_contain_text(second)
    expect(sidebar_top).to_have_attribute("aria-current", "page")
    expect(conversation.locator(".convo-list a[aria-current]")).to_have_count(1)
    # The conversation's tab was not in front: it did not mark them read either.
    expect(nav_badge(conversation)).to_have_text("1 unread")
    screenshot(inbox, "live-inbox.png")

    # Opening it clears the mark and the count in the navigation.
    top.click()
    expect(inbox).to_have_url(conversation_url)
    expect(nav_badge(inbox)).to_have_count(0)
    current = inbox.locator(".convo-list a[aria-current=page]")
    expect(current).to_contain_text("Andrew Bayko")
    expect(current).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(current.locator(".badge")).to_have_count(0)
    # ... and the first tab follows within a poll.
    expect(nav_badge(conversation)).to_have_count(0, timeout=3000)
    inbox.goto(f"{stack}/messages/")
    expect(rows(inbox).first).not_to_have_class(re.compile(r"\bis-unread\b"))


def test_a_conversation_in_front_marks_new_messages_read(login, stack):
    conversation_url = f"{stack}/messages/{SEED_CONVERSATION_UUID}/"
    andrew = login("andrewbrown")
    andrew.goto(conversation_url)
    without_focus_emulation(andrew)
    bayko = login("bayko")
    bayko.goto(conversation_url)

    andrew.bring_to_front()
    assert andrew.evaluate("document.hasFocus()") is True
    send(bayko, "You are looking at this one")

    expect(messages(andrew).last.locator(".msg-text")).to_have_text(
        "You are looking at this one", timeout=3000
    )
    # Read where it was shown: his inbox has nothing unread.
    andrew.goto(f"{stack}/messages/")
    expect(rows(andrew).first).to_contain_text("Andrew Bayko")
    expect(rows(andrew).first).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(nav_badge(andrew)).to_have_count(0)


# --- the script's timing, on Playwright's clock ---

# The live form's requests, as htmx sends them (counted from before the page's scripts run).
COUNT_POLLS = """
window.polls = [];
window.answered = 0;
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.id === "live") window.polls.push(Date.now());
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.elt.id === "live") window.answered += 1;
});
"""


START = 1_800_000_000_000  # ms since the epoch, for the page's clock


class Polls:
    """Counts the live polls of a page whose timers run on Playwright's clock."""

    def __init__(self, page, url):
        self.page = page
        page.add_init_script(COUNT_POLLS)
        # Paused: only advance() moves time, however slow the machine is.
        page.clock.install(time=START)
        page.clock.pause_at(START + 1000)
        page.goto(url)

    def count(self):
        return self.page.evaluate("window.polls.length")

    def advance(self, ms):
        """Move the clock on, then wait (real time) until every poll it started is answered."""
        self.page.clock.run_for(ms)
        wait_until(self.page, "window.answered === window.polls.length")
        return self.count()

    def set_visibility(self, state):
        self.page.evaluate(
            """state => {
                Object.defineProperty(document, "visibilityState",
                                      {configurable: true, get: () => state});
                document.dispatchEvent(new Event("visibilitychange"));
            }""",
            state,
        )
        wait_until(self.page, "window.answered === window.polls.length")


@pytest.mark.polling
def test_polling_pauses_while_the_tab_is_hidden(login, stack):
    polls = Polls(login("andrewbrown"), f"{stack}/messages/")
    assert polls.count() == 0

    assert polls.advance(1600) == 1
    assert polls.advance(1500) == 2

    polls.set_visibility("hidden")
    assert polls.advance(60_000) == 2  # a minute in the background: no requests

    polls.set_visibility("visible")  # back in front: catch up at once
    assert polls.count() == 3
    assert polls.advance(1500) == 4


@pytest.mark.polling
def test_polling_backs_off_on_503_and_recovers(login, stack):
    page = login("andrewbrown")
    failing = []

    def unavailable(route):
        failing.append(route.request.url)
        route.fulfill(
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "5"},
            body="Messaging is unavailable; trying again shortly.",
        )

    page.route(POLL, unavailable)
    polls = Polls(page, f"{stack}/messages/")

    assert polls.advance(1600) == 1  # fails
    # Then 3 s (up to 20% sooner: jitter) ...
    assert polls.advance(2300) == 1
    assert polls.advance(1400) == 2  # fails again
    # ... then 6 s (up to 20% sooner) ...
    assert polls.advance(4700) == 2
    assert polls.advance(2600) == 3
    assert len(failing) == 3
    page.unroute(POLL)
    # ... then 12 s (up to 20% sooner): this one succeeds, and the normal interval is back.
    assert polls.advance(9500) == 3
    assert polls.advance(5000) == 4
    assert polls.advance(1500) == 5
    assert polls.advance(1500) == 6
    assert len(failing) == 3


@pytest.mark.polling
def test_signed_out_tabs_go_to_the_login_page(login, stack):
    page = login("andrewbrown")
    polls = Polls(page, f"{stack}/messages/")
    assert polls.advance(1600) == 1

    page.context.clear_cookies()  # signed out (elsewhere): the poll answers 403

    page.clock.run_for(1500)  # the next poll: the page reloads, and the server asks to log in
    expect(page).to_have_url(f"{stack}/accounts/login/?next=/messages/")
