"""A conversation that feels like a chat, in Debian's Chromium at a phone's size (390×844) and
a desktop's (1280×800): it opens at the newest message with the reply box in view, the thread
scrolls between the header and the reply box, "Earlier messages" loads the previous page above
in place, lists the server draws join where they meet (day separators, a person's messages
grouped, with no script regrouping them), the
tab's title carries the unread count, and a line says when live updates are paused."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from messaging import services
from messaging.seed import SEED_CONVERSATION_UUID, SEED_LINES
from tests.servers import ServerProcess, server_env

from .conftest import screenshot, seed_stack, wait_until

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
SIZES = pytest.mark.parametrize("size", list(VIEWPORTS))
CONVERSATION = f"/messages/{SEED_CONVERSATION_UUID}/"
PAUSED = "Live updates paused — trying again…"

# The structure the server draws, checked across the whole list however it was put together:
# a day separator before the first message of each day and nowhere else, and msg-continued
# exactly on a message that follows one of the same person on the same day.
JOIN_PROBLEMS = """() => {
  const problems = [];
  let day = null, previous = null;
  for (const item of document.querySelectorAll("ol.messages > li")) {
    if (item.classList.contains("day-separator")) {
      if (item.dataset.day === day) problems.push(`separator repeats ${day}`);
      day = item.dataset.day;
      continue;
    }
    if (item.dataset.day !== day) problems.push(`no separator before ${item.dataset.messageUuid}`);
    const continued = !!previous && previous.dataset.sender === item.dataset.sender
      && previous.dataset.day === item.dataset.day;
    if (continued !== item.classList.contains("msg-continued")) {
      problems.push(`grouping of ${item.dataset.messageUuid}`);
    }
    previous = item;
  }
  return problems;
}"""

# The first message at least partly visible in the thread, and its offset from the thread's top.
TOP_MESSAGE = """() => {
  const thread = document.querySelector("[data-thread]").getBoundingClientRect();
  const first = [...document.querySelectorAll("ol.messages > li.msg")]
    .find((item) => item.getBoundingClientRect().bottom > thread.top + 1);
  return [first.dataset.messageUuid, first.getBoundingClientRect().top - thread.top];
}"""
OFFSET_OF = """uuid => {
  const thread = document.querySelector("[data-thread]").getBoundingClientRect();
  const item = document.querySelector(`[data-message-uuid="${uuid}"]`);
  return item.getBoundingClientRect().top - thread.top;
}"""


def message_items(page):
    return page.locator("ol.messages > li.msg")


def user(handle):
    return get_user_model().objects.get(handle=handle)


def open_at(login, stack, size, path=CONVERSATION, handle="andrewbrown"):
    page = login(handle)
    page.set_viewport_size(VIEWPORTS[size])
    page.goto(f"{stack}{path}")
    return page


def assert_in_view(page, locator, *, inside=None):
    """The element is wholly inside the viewport (and inside `inside`'s box, a scroller)."""
    box = locator.bounding_box()
    view = page.viewport_size
    assert box is not None
    assert box["y"] >= 0, (box, view)
    assert box["y"] + box["height"] <= view["height"] + 0.5, (box, view)
    assert box["x"] >= 0, (box, view)
    assert box["x"] + box["width"] <= view["width"] + 0.5, (box, view)
    if inside is not None:
        frame = inside.bounding_box()
        assert frame["y"] - 1 <= box["y"], (box, frame)
        assert box["y"] + box["height"] <= frame["y"] + frame["height"] + 1, (box, frame)


# --- the layout ---


@SIZES
def test_a_conversation_opens_at_the_newest_message_with_the_reply_box_in_view(login, stack, size):
    page = open_at(login, stack, size)
    thread = page.locator("[data-thread]")
    last = message_items(page).last
    expect(last.locator(".msg-text")).to_have_text(SEED_LINES[-1][1])

    assert_in_view(page, last, inside=thread)
    assert_in_view(page, page.get_by_label("Reply to Andrew Bayko"))
    assert_in_view(page, page.get_by_role("button", name="Send", exact=True))
    # The thread scrolls, not the page: the header stays on top, the reply box at the bottom.
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    assert thread.evaluate("box => box.scrollHeight > box.clientHeight && box.scrollTop > 0")
    assert_in_view(page, page.get_by_role("heading", name=re.compile("Andrew Bayko")))
    # Days are marked: the seed conversation crosses midnight.
    expect(page.locator("ol.messages > li.day-separator")).to_have_count(2)
    assert page.evaluate(JOIN_PROBLEMS) == []
    # The reply box grows (a long text, an error under it): the newest message stays in view.
    page.get_by_label("Reply to Andrew Bayko").evaluate("box => { box.style.height = '12rem'; }")
    wait_until(page, "document.querySelector('[data-thread]').scrollTop > 0")
    assert_in_view(page, last, inside=thread)

    back = page.locator(".back-link")
    sidebar = page.locator(".sidebar")
    if size == "desktop":
        expect(sidebar).to_be_visible()
        expect(sidebar.locator("a[aria-current=page]")).to_contain_text("Andrew Bayko")
        expect(back).to_be_hidden()
        assert_in_view(page, page.locator("section.conversation"))  # the whole card fits
        return
    # On a phone the inbox is a screen of its own, one keyboard step from the conversation.
    expect(sidebar).to_be_hidden()
    expect(back).to_be_visible()
    expect(back).to_have_accessible_name("Back to Messages")
    for _ in range(10):
        page.keyboard.press("Tab")
        if back.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("the back link is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{stack}/messages/")


@SIZES
def test_the_inbox_lists_conversations_before_the_new_message_box(login, stack, size):
    page = login("andrewbrown")
    page.set_viewport_size(VIEWPORTS[size])
    rows = page.locator(".convo-list").bounding_box()
    new_box = page.locator(".new-box").bounding_box()
    if size == "phone":
        assert rows["y"] + rows["height"] <= new_box["y"]  # one column: the list first
    else:
        assert new_box["x"] >= rows["x"] + rows["width"]  # side by side
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")


# --- "Earlier messages" ---


@SIZES
def test_earlier_messages_load_in_place(login, stack, size):
    page = open_at(login, stack, size)
    page.evaluate("window.__marker = 'the same document'")
    expect(message_items(page)).to_have_count(20)
    status = page.locator("#thread-status")
    earlier = page.get_by_role("link", name="Earlier messages")

    loads = 0
    while earlier.count():
        earlier.scroll_into_view_if_needed()  # as a reader scrolls up to it
        top, offset = page.evaluate(TOP_MESSAGE)
        shown = message_items(page).count()
        earlier.click()
        wait_until(page, f"document.querySelectorAll('ol.messages > li.msg').length > {shown}")
        loads += 1
        added = message_items(page).count() - shown
        # In place: what was at the top of the thread stayed where it was.
        assert abs(page.evaluate(OFFSET_OF, top) - offset) < 3
        # The keyboard is on the first message loaded; screen readers hear how many came.
        focused = page.evaluate("document.activeElement.dataset.messageUuid")
        assert focused == message_items(page).first.get_attribute("data-message-uuid")
        expect(status).to_have_text(f"{added} earlier messages loaded.")

    assert loads == 2  # 47 messages: 20 + 20 + 7
    assert page.evaluate("window.__marker") == "the same document"
    assert page.url == f"{stack}{CONVERSATION}"
    expect(message_items(page)).to_have_count(len(SEED_LINES))
    expect(message_items(page).first.locator(".msg-text")).to_have_text(SEED_LINES[0][1])
    uuids = [item.get_attribute("data-message-uuid") for item in message_items(page).all()]
    assert len(set(uuids)) == len(SEED_LINES)
    expect(page.locator(".thread-start")).to_contain_text("This is the start of your conversation")
    # Two days, each marked once, though the second page began on the first page's day.
    expect(page.locator("ol.messages > li.day-separator")).to_have_count(2)
    assert page.evaluate(JOIN_PROBLEMS) == []
    # Still the live page: new messages arrive below.
    services.send_message(
        sender=user("bayko"), conversation_uuid=SEED_CONVERSATION_UUID, text="Still here?"
    )
    expect(message_items(page).last.locator(".msg-text")).to_have_text("Still here?")
    assert page.evaluate(JOIN_PROBLEMS) == []


def test_lists_are_joined_where_they_meet(login, stack):
    """Twenty-five messages from one person, today: the page boundary falls inside a group,
    and live messages join the group below."""
    andrew, londo = user("andrewbrown"), user("londo")
    group = services.start_conversation(sender=londo, recipient=andrew, text="Londo 0")
    for number in range(1, 25):
        services.send_message(sender=londo, conversation_uuid=group, text=f"Londo {number}")
    page = open_at(login, stack, "desktop", path=f"/messages/{group}/")
    expect(message_items(page)).to_have_count(20)
    uuid = message_items(page).first.get_attribute("data-message-uuid")
    first = page.locator(f'[data-message-uuid="{uuid}"]')  # the first of the first page
    expect(first).not_to_have_class(re.compile(r"\bmsg-continued\b"))  # first of its page

    page.get_by_role("link", name="Earlier messages").click()
    expect(message_items(page)).to_have_count(25)
    # One "Today", one group: the page that was first now continues the one loaded above it.
    expect(page.locator("ol.messages > li.day-separator")).to_have_count(1)
    expect(first).to_have_class(re.compile(r"\bmsg-continued\b"))
    # The name is said once on screen (visually hidden: a 1px clipped box) ...
    assert first.locator(".msg-author").evaluate("name => name.getBoundingClientRect().width <= 1")
    expect(first.locator(".msg-author")).to_have_text("Londo Mollari")  # ... and to readers
    expect(first.locator("time")).to_be_visible()
    assert page.evaluate(JOIN_PROBLEMS) == []

    # A poll's answer starts with its own "Today": dropped, and its message joins the group.
    services.send_message(sender=londo, conversation_uuid=group, text="Londo 25")
    expect(message_items(page).last.locator(".msg-text")).to_have_text("Londo 25")
    expect(message_items(page).last).to_have_class(re.compile(r"\bmsg-continued\b"))
    expect(page.locator("ol.messages > li.day-separator")).to_have_count(1)
    assert page.evaluate(JOIN_PROBLEMS) == []


def test_a_message_sent_without_reload_is_not_added_again_by_the_poll(login, stack):
    """The message the person sent is shown once: the live poll brings it in its place and its
    bubble goes; a later poll's answer, from the position after it, does not add it again."""
    page = open_at(login, stack, "desktop")
    page.evaluate("window.__marker = 'the same document'")
    reply = page.get_by_label("Reply to Andrew Bayko")
    reply.fill("Sent without a reload")
    reply.press("Enter")
    expect(page.locator("li.msg[data-message-uuid]").last.locator(".msg-text")).to_have_text(
        "Sent without a reload"
    )

    # The next poll's answer holds both: his message and bayko's answer after it.
    services.send_message(
        sender=user("bayko"), conversation_uuid=SEED_CONVERSATION_UUID, text="Got it"
    )
    expect(message_items(page).last.locator(".msg-text")).to_have_text("Got it")
    expect(page.locator(".msg-text", has_text="Sent without a reload")).to_have_count(1)
    expect(page.locator("ol.messages > li.day-separator")).to_have_count(3)  # and "Today"
    assert page.evaluate(JOIN_PROBLEMS) == []
    assert page.evaluate("window.__marker") == "the same document"


# --- the tab's title ---


def test_the_tab_title_carries_the_unread_count_and_follows_it(login, stack):
    andrew = login("andrewbrown")
    expect(andrew).to_have_title("Messages · Cruddur")

    services.send_message(sender=user("bayko"), conversation_uuid=SEED_CONVERSATION_UUID, text="1")
    expect(andrew).to_have_title("(1) Messages · Cruddur", timeout=5000)
    services.start_conversation(sender=user("londo"), recipient=user("andrewbrown"), text="2")
    expect(andrew).to_have_title("(2) Messages · Cruddur", timeout=5000)

    andrew.goto(f"{stack}{CONVERSATION}")  # read: one left, drawn by the server
    expect(andrew).to_have_title("(1) Andrew Bayko (@bayko) · Cruddur")
    # The new-conversation page reads no inbox: its first poll brings the count.
    andrew.goto(f"{stack}/messages/new/altbrown/")
    expect(andrew).to_have_title("(1) New message to Alt Brown · Cruddur", timeout=5000)


# --- "Live updates paused", with a server that stops and starts again ---


@pytest.fixture
def own_server(transactional_db, moto_endpoint, tmp_path):
    seed_stack()
    env = server_env(moto_endpoint)
    server = ServerProcess(env, tmp_path / "uvicorn.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def signed_in_page(new_context, server, handle, size):
    # The session is in the shared database (and cache): the server process accepts it.
    client = Client()
    client.force_login(user(handle))
    context = new_context(viewport=VIEWPORTS[size])
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_a_line_says_when_live_updates_are_paused_and_goes_when_they_are_back(
    own_server, new_context
):
    page = signed_in_page(new_context, own_server, "andrewbrown", "phone")
    with page.expect_response(lambda response: response.url.endswith("/messages/events/")):
        page.goto(f"{own_server.url}{CONVERSATION}")  # ... and its event stream opens
    banner = page.locator(".live-banner")  # a live region from the start, empty and unseen
    expect(banner).to_be_empty()
    expect(banner).to_be_hidden()
    reply = page.get_by_label("Reply to Andrew Bayko")
    reply.focus()

    own_server.stop()
    expect(banner).to_have_text(PAUSED, timeout=15_000)
    expect(banner).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=PAUSED)).to_have_count(1)
    expect(reply).to_be_focused()  # it took nothing from the person typing
    assert_in_view(page, reply)
    assert_in_view(page, message_items(page).last, inside=page.locator("[data-thread]"))
    screenshot(page, "live-paused-phone.png")

    services.send_message(
        sender=user("bayko"), conversation_uuid=SEED_CONVERSATION_UUID, text="Meanwhile"
    )
    own_server.start()
    expect(banner).to_have_text("Live updates are back.", timeout=30_000)
    expect(message_items(page).last.locator(".msg-text")).to_have_text("Meanwhile")
    expect(banner).to_be_empty(timeout=5000)  # "Live updates are back." went too
    expect(banner).to_be_hidden()
    expect(reply).to_be_focused()


# --- screenshots for the README ---


def test_screenshots_of_the_inbox_and_a_conversation(login, stack):
    andrew, londo = user("andrewbrown"), user("londo")
    for text in ("Morning! Shipping it now.", "The tests are green, by the way."):
        services.send_message(sender=andrew, conversation_uuid=SEED_CONVERSATION_UUID, text=text)
    services.start_conversation(
        sender=londo, recipient=andrew, text="Mr. Brown, a word about the Centauri fleet?"
    )
    page = login("andrewbrown")
    for size in VIEWPORTS:
        page.set_viewport_size(VIEWPORTS[size])
        page.goto(f"{stack}/messages/")
        expect(page).to_have_title("(1) Messages · Cruddur")
        screenshot(page, f"inbox-{size}.png")
        page.goto(f"{stack}{CONVERSATION}")
        expect(message_items(page).last).to_have_class(re.compile(r"\bmsg-continued\b"))
        screenshot(page, f"conversation-{size}.png")
