"""Push in Debian's Chromium: the site under uvicorn (as `make run` serves it), two people,
an event stream instead of polling, and polling again when the stream cannot be had."""

import time

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging import services
from messaging.seed import SEED_CONVERSATION_UUID

CONVERSATION = f"/messages/{SEED_CONVERSATION_UUID}/"


class Requests:
    """The live requests a page makes, by kind."""

    def __init__(self, page):
        self.polls: list[str] = []
        self.streams: list[int] = []  # the answers to the open conversation's stream
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request):
        if "/poll/" in request.url:
            self.polls.append(request.url)

    def _response(self, response):
        if response.url.endswith("/messages/events/") and response.frame.url.endswith(CONVERSATION):
            self.streams.append(response.status)


def bayko_sends(text):
    bayko = get_user_model().objects.get(handle="bayko")
    return services.send_message(sender=bayko, conversation_uuid=SEED_CONVERSATION_UUID, text=text)


def open_conversation(login, stack, *, streaming=True, clock=False):
    """andrewbrown's page on the seed conversation, once its stream is open (`streaming`);
    with `clock`, its timers on Playwright's clock (still moving with real time)."""
    page = login("andrewbrown")
    requests = Requests(page)
    if clock:
        page.clock.install()
    page.goto(f"{stack}{CONVERSATION}")
    if streaming:
        deadline = time.monotonic() + 10
        while requests.streams != [200]:
            assert time.monotonic() < deadline, f"no stream: {requests.streams}"
            page.wait_for_timeout(50)
    return page, requests


def shown(page, text):
    return page.locator("ol.messages > li .msg-text", has_text=text)


def texts(page):
    return page.locator("ol.messages > li .msg-text").all_text_contents()


def test_a_message_arrives_by_push_with_no_polling(login, stack):
    page, requests = open_conversation(login, stack, clock=True)

    # Idle: a minute of the page's timers at once (any poll would be due many times over).
    page.clock.run_for(60_000)
    assert requests.polls == []

    bayko_sends("pushed to you")
    expect(page.locator("ol.messages > li").last.locator(".msg-text")).to_have_text(
        "pushed to you", timeout=5000
    )
    # The event made the page ask what changed: the inbox, then the conversation.
    assert 1 <= len(requests.polls) <= 2, requests.polls
    row = page.locator(".convo-list a.convo").first
    expect(row.locator(".convo-last")).to_have_text("pushed to you")
    assert texts(page).count("pushed to you") == 1


def test_messages_sent_while_the_stream_was_cut_show_once(login, stack):
    page, requests = open_conversation(login, stack)

    page.context.set_offline(True)
    bayko_sends("while you were away 1")
    bayko_sends("while you were away 2")
    page.wait_for_timeout(500)
    page.context.set_offline(False)

    for text in ("while you were away 1", "while you were away 2"):
        expect(shown(page, text)).to_have_count(1, timeout=15000)
    # A late duplicate would come before what is sent next: wait for that, then count.
    bayko_sends("back again")
    expect(shown(page, "back again")).to_have_count(1)
    assert texts(page).count("while you were away 1") == 1
    assert texts(page).count("while you were away 2") == 1


def test_without_redis_the_page_polls_and_still_shows_new_messages(login, stack, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # the broker is down
    page, requests = open_conversation(login, stack, streaming=False)

    bayko_sends("by polling")

    expect(shown(page, "by polling")).to_have_count(1, timeout=10000)
    assert 503 in requests.streams
    assert requests.polls  # it fell back to polling
