"""One event stream per browser, not per tab, in Debian's Chromium: the site under uvicorn (as
`make run` serves it, HTTP/1.1), where a browser opens at most 6 connections to a host, so
that a stream per tab would leave the 7th tab waiting for one. One tab holds the stream and
shares what it says with the others (static/js/live.js)."""

import time

from playwright.sync_api import expect

from messaging import event_views
from messaging.events import get_broker

from .test_push import CONVERSATION, bayko_sends, shown


def asks_for_stream(request):
    return request.url.endswith("/messages/events/") and request.frame.url.endswith(CONVERSATION)


class StreamRequests:
    """The requests for /messages/events/ that the conversation pages of a browser context
    make (not the inbox the login lands on)."""

    def __init__(self, context):
        self.pages: list = []  # the page of each request, in order
        self.answered: list = []  # the page of each answer that opened a stream
        context.on("request", self._request)
        context.on("response", self._response)

    def _request(self, request):
        if asks_for_stream(request):
            self.pages.append(request.frame.page)

    def _response(self, response):
        if asks_for_stream(response.request) and response.status == 200:
            self.answered.append(response.frame.page)

    def wait_for_streams(self, page, page_count, timeout=10):
        """Wait (on `page`, which hands Playwright's events over meanwhile) until streams were
        opened by `page_count` different pages."""
        deadline = time.monotonic() + timeout
        while len(set(self.answered)) < page_count:
            assert time.monotonic() < deadline, f"streams opened by: {self.answered}"
            page.wait_for_timeout(50)


def open_tabs(login, stack, count):
    """`count` tabs of andrewbrown's, in one browser context, on the seed conversation."""
    first = login("andrewbrown")
    first.context.set_default_timeout(10_000)
    streams = StreamRequests(first.context)
    tabs = [first] + [first.context.new_page() for _ in range(count - 1)]
    for tab in tabs:
        tab.goto(f"{stack}{CONVERSATION}")  # waits for the page's load event
        expect(tab.get_by_role("region", name="Messages with Andrew Bayko")).to_be_visible()
    streams.wait_for_streams(first, 1)
    return tabs, streams


def server_streams_settle_at(count, timeout=10):
    """Wait until the server holds `count` open streams (one it no longer needs may take a
    moment to notice its page is gone)."""
    deadline = time.monotonic() + timeout
    while len(get_broker().streams) != count:
        assert time.monotonic() < deadline, f"open streams: {len(get_broker().streams)}"
        time.sleep(0.05)


def test_ten_tabs_all_load_and_each_gets_a_message_live(login, stack):
    tabs, streams = open_tabs(login, stack, 10)

    bayko_sends("to every tab")

    for tab in tabs:
        expect(shown(tab, "to every tab")).to_have_count(1)
    # One tab asked for the stream (the first), and the server held one.
    assert set(streams.pages) == {tabs[0]}
    server_streams_settle_at(1)


def test_closing_the_tab_with_the_stream_hands_it_to_another(login, stack):
    tabs, streams = open_tabs(login, stack, 3)
    leader, others = tabs[0], tabs[1:]
    assert set(streams.pages) == {leader}
    asked_before = len(streams.pages)

    leader.close()
    streams.wait_for_streams(others[0], 2)

    # One of the others took it on; the server holds one stream again, and it carries news.
    successors = set(streams.pages[asked_before:])
    assert len(successors) == 1 and leader not in successors, streams.pages
    server_streams_settle_at(1)
    bayko_sends("after the handover")
    for tab in others:
        expect(shown(tab, "after the handover")).to_have_count(1)


def test_logging_out_in_one_tab_sends_the_others_to_the_login_page(login, stack):
    tabs, streams = open_tabs(login, stack, 3)

    tabs[0].get_by_role("button", name="Log out").click()  # the tab with the stream

    # The stream passes to another tab, which the server refuses: the tabs look, are told to
    # sign in, and reload onto the login page.
    for tab in tabs[1:]:
        expect(tab).to_have_url(f"{stack}/accounts/login/?next={CONVERSATION}")


def test_logging_out_in_another_tab_ends_the_stream_and_every_tab_goes_to_log_in(
    login, stack, monkeypatch
):
    monkeypatch.setattr(event_views, "HEARTBEAT_SECONDS", 0.5)  # when the session is checked
    tabs, streams = open_tabs(login, stack, 3)

    tabs[2].get_by_role("button", name="Log out").click()  # not the tab with the stream

    # The server ends the stream with `signed-out`; the tab holding it tells the other.
    for tab in tabs[:2]:
        expect(tab).to_have_url(f"{stack}/accounts/login/?next={CONVERSATION}")


def test_a_stream_that_says_signed_out_sends_every_tab_to_the_login_page(login, stack):
    tabs, streams = open_tabs(login, stack, 3)
    context = tabs[0].context
    # Polls cannot tell: only the stream can say the session is over.
    context.route(
        "**/messages/poll/**",
        lambda route: route.fulfill(status=503, body="Messaging is unavailable."),
    )

    context.clear_cookies()  # the session ended: logged out elsewhere, a password change, ...

    def session_ends(route):
        """What the server sends on a stream whose session ended: `signed-out`, and the end."""
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
            body="retry: 60000\n\nevent: signed-out\ndata: {}\n\n",
        )

    context.route("**/messages/events/", session_ends)
    tabs[0].close()  # the stream passes to another tab: this time the session has ended

    for tab in tabs[1:]:
        expect(tab).to_have_url(f"{stack}/accounts/login/?next={CONVERSATION}")
