"""The message box as a chat in Debian's Chromium (static/js/compose.js): Enter sends without a
reload, once; Shift+Enter starts a line; drafts survive reloads, an out-of-date page and an
ended session; the counter counts characters as the server does.

A sent message takes its bubble's place when the live poll brings it, drawn by the server.
Where a test counts a message on the page, the event stream is kept away from it
(`without_live_updates`): those tests are about what compose.js shows of its own sends, and
the polls it asks for.
"""

import re

import pytest
from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID
from messaging.store import get_store

from .conftest import SEED_PASSWORD, screenshot

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
EMOJI = "\N{GRINNING FACE}"  # one character, two UTF-16 units


def conversation_url(stack):
    return f"{stack}/messages/{SEED_CONVERSATION_UUID}/"


def stored(text):
    """The messages with this text in the seed conversation, as DynamoDB holds them."""
    page = get_store().list_messages(conversation_uuid=SEED_CONVERSATION_UUID)
    return [message for message in page.items if message.text == text]


def without_live_updates(page, *, polls=False):
    """No event stream (the page polls for its own sends); with `polls`, no polls either."""
    page.route("**/events/**", lambda route: route.abort())
    if polls:
        page.route("**/poll/**", lambda route: route.abort())


def watch_document(page):
    """Main-frame navigations from now on, and a flag only this document has."""
    navigations = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    page.evaluate(
        """() => {
          window.__marker = "same document";
        }"""
    )
    return navigations


def box_of(page):
    return page.get_by_label("Reply to Andrew Bayko")


def messages(page):
    return page.locator("ol.messages > li.msg")


def last_text(page):
    return messages(page).last.locator(".msg-text")


def expect_sent(page, text):
    """The server's message has taken the place of the bubble showing `text`."""
    expect(page.locator("#outbox > li")).to_have_count(0)
    expect(messages(page).last).to_have_attribute("data-message-uuid", re.compile("."))
    expect(last_text(page)).to_have_text(text)


def open_conversation(login, stack, *, size="desktop", live=True):
    andrew = login("andrewbrown")
    andrew.set_viewport_size(SIZES[size])
    if not live:
        without_live_updates(andrew)
    andrew.goto(conversation_url(stack))
    return andrew


@pytest.mark.parametrize("size", SIZES)
def test_enter_sends_without_a_reload_and_exactly_once(login, stack, size):
    andrew = open_conversation(login, stack, size=size, live=False)
    box = box_of(andrew)
    hint = andrew.get_by_text("Enter to send · Shift+Enter for a new line")
    expect(hint).to_be_visible()
    assert hint.get_attribute("id") in box.get_attribute("aria-describedby").split()
    navigations = watch_document(andrew)

    box.fill("Hello from the keyboard")
    box.press("Enter")

    expect_sent(andrew, "Hello from the keyboard")
    expect(andrew.locator(".msg.is-sending")).to_have_count(
        0
    )  # the server's message took its place
    expect(box).to_have_value("")
    expect(box).to_be_focused()
    [first] = stored("Hello from the keyboard")
    expect(messages(andrew).last).to_have_attribute("data-message-uuid", first.message_uuid)
    expect(messages(andrew).last).to_have_class(re.compile(r"\bmsg-mine\b"))
    today = messages(andrew).last.get_attribute("data-day")
    expect(andrew.locator(f'li.day-separator[data-day="{today}"]')).to_have_text("Today")

    # A double Enter: the second finds the box empty and sends nothing.
    box.fill("Twice?")
    box.press("Enter")
    box.press("Enter")

    expect_sent(andrew, "Twice?")
    expect(andrew.locator(".msg.is-sending")).to_have_count(0)
    expect(box).to_be_focused()
    # A second send, were there one, left with the first: it is in before a later message.
    box.fill("After the double Enter")
    box.press("Enter")
    expect_sent(andrew, "After the double Enter")
    [second] = stored("Twice?")
    [after] = stored("After the double Enter")
    expect(andrew.locator("ol.messages .msg-text", has_text="Twice?")).to_have_count(1)
    expect(
        andrew.locator("ol.messages .msg-text", has_text="Hello from the keyboard")
    ).to_have_count(1)
    # Joined to the list as the page prints it: grouped, and one separator for the day.
    expect(messages(andrew).last).to_have_class(re.compile(r"\bmsg-continued\b"))
    expect(andrew.locator(f'li.day-separator[data-day="{today}"]')).to_have_count(1)
    screenshot(andrew, f"compose-sent-{size}.png")

    sent = [first.message_uuid, second.message_uuid, after.message_uuid]
    shown = [item.get_attribute("data-message-uuid") for item in messages(andrew).all()]
    assert shown[-3:] == sent
    assert andrew.evaluate("window.__marker") == "same document"
    assert navigations == []
    assert len(stored("Hello from the keyboard")) == 1


def test_shift_enter_starts_a_line_and_ctrl_enter_sends(login, stack):
    andrew = open_conversation(login, stack)
    box = box_of(andrew)

    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")

    expect(box).to_have_value("first line\nsecond line")
    expect(andrew.locator(".msg.is-sending")).to_have_count(0)

    box.press("Control+Enter")

    expect_sent(andrew, "first line\nsecond line")
    # Had Shift+Enter sent "first line", it would be stored before this send.
    assert [
        m.text
        for m in get_store().list_messages(conversation_uuid=SEED_CONVERSATION_UUID).items
        if m.text.startswith("first line")
    ] == ["first line\nsecond line"]


def test_the_draft_survives_a_reload_until_it_is_sent(login, stack):
    andrew = open_conversation(login, stack)
    box = box_of(andrew)

    box.press_sequentially("Half a thought")
    andrew.reload()

    expect(box).to_have_value("Half a thought")
    expect(andrew.locator("[data-compose-counter]")).to_have_text("14 / 1024")
    # Another conversation has its own box.
    andrew.goto(f"{stack}/messages/new/londo/")
    expect(andrew.get_by_label("Your message")).to_have_value("")
    andrew.go_back()
    expect(box).to_have_value("Half a thought")

    box.press("Enter")
    expect_sent(andrew, "Half a thought")
    andrew.reload()
    expect(box).to_have_value("")


def test_a_token_changed_by_a_login_in_another_tab_does_not_stop_a_send(login, stack):
    andrew = open_conversation(login, stack, size="phone")
    box = box_of(andrew)
    # A login elsewhere gives the browser a new CSRF secret: the form's hidden token no longer
    # matches it, but the script sends the cookie's.
    andrew.context.add_cookies([{"name": "csrftoken", "value": "N" * 32, "url": stack}])

    box.fill("Still here after the other tab logged in")
    box.press("Enter")

    expect_sent(andrew, "Still here after the other tab logged in")
    assert len(stored("Still here after the other tab logged in")) == 1


def test_an_out_of_date_page_keeps_the_text_and_sends_after_a_reload(login, stack):
    # No live updates: their next request would replace the broken cookie below.
    andrew = login("andrewbrown")
    andrew.set_viewport_size(SIZES["phone"])
    without_live_updates(andrew, polls=True)
    andrew.goto(conversation_url(stack))
    box = box_of(andrew)
    text = "Written before the other tab logged in"
    # A token the CSRF check cannot use, so it refuses the send with its 403 page.
    andrew.context.add_cookies([{"name": "csrftoken", "value": "out-of-date", "url": stack}])

    box.fill(text)
    box.press("Enter")

    unsent = andrew.locator("#outbox > li.is-failed")
    expect(unsent).to_contain_text("Not sent")
    expect(unsent.get_by_role("button", name="Retry")).to_be_visible()
    expect(unsent.locator(".msg-text")).to_have_text(text)
    expect(andrew.locator("[data-compose-alert]")).to_contain_text("out of date")
    expect(box).to_have_value(text)
    screenshot(andrew, "compose-not-sent-phone.png")
    assert stored(text) == []

    andrew.unroute("**/poll/**")  # the reloaded page's polls bring the message it sends
    andrew.reload()
    expect(box).to_have_value(text)
    box.press("Enter")

    expect_sent(andrew, text)
    expect(andrew.locator("#outbox > li.is-failed")).to_have_count(0)
    assert len(stored(text)) == 1


def test_a_retry_after_a_lost_answer_sends_once(login, stack):
    andrew = open_conversation(login, stack, live=False)
    box = box_of(andrew)
    text = "Did this arrive?"

    def lose_the_answer(route):
        route.fetch()  # the server stores the message ...
        route.abort()  # ... and its answer never arrives

    andrew.route(f"**/messages/{SEED_CONVERSATION_UUID}/", lose_the_answer, times=1)
    box.fill(text)
    box.press("Enter")

    unsent = andrew.locator("#outbox > li.is-failed")
    expect(unsent).to_contain_text("Not sent")
    expect(andrew.locator("[data-compose-alert]")).to_contain_text("could not be reached")
    expect(box).to_have_value(text)
    assert len(stored(text)) == 1

    unsent.get_by_role("button", name="Retry").click()  # the same token

    expect(andrew.locator("#outbox > li")).to_have_count(0)
    expect_sent(andrew, text)
    expect(box).to_have_value("")  # the retry took it
    expect(box).to_be_focused()
    [message] = stored(text)
    expect(messages(andrew).last).to_have_attribute("data-message-uuid", message.message_uuid)
    expect(andrew.locator("ol.messages .msg-text", has_text=text)).to_have_count(1)


def test_an_ended_session_logs_in_and_comes_back_to_the_draft(login, stack):
    andrew = open_conversation(login, stack)
    box = box_of(andrew)
    text = "Typed while the session ran out"
    andrew.context.clear_cookies(name="sessionid")

    box.fill(text)
    box.press("Enter")

    andrew.wait_for_url(re.compile(r"/accounts/login/\?next="))
    andrew.get_by_label("Handle").fill("andrewbrown")
    andrew.get_by_label("Password").fill(SEED_PASSWORD)
    andrew.get_by_role("button", name="Log in").click()
    andrew.wait_for_url(conversation_url(stack))
    expect(box).to_have_value(text)
    assert stored(text) == []

    box.press("Enter")
    expect_sent(andrew, text)
    assert len(stored(text)) == 1


def test_characters_are_counted_as_the_server_counts_them(login, stack):
    andrew = open_conversation(login, stack, size="phone")
    box = box_of(andrew)
    counter = andrew.locator("[data-compose-counter]")
    alert = andrew.locator("[data-compose-alert]")

    box.fill(EMOJI * 1025)
    expect(counter).to_have_text("1025 / 1024 · 1 character too many")
    expect(andrew.locator("[data-compose-announce]")).to_have_text("1 character too many")
    box.press("Enter")
    expect(alert).to_have_text(
        "A message can be at most 1024 characters: this one has 1 character too many."
    )
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(andrew.locator(".msg.is-sending")).to_have_count(0)

    box.fill(EMOJI * 512)  # 1024 UTF-16 units: the old maxlength's whole box
    expect(counter).to_have_text("512 / 1024")
    expect(alert).to_have_text("")
    box.press("Enter")

    expect_sent(andrew, EMOJI * 512)
    assert len(stored(EMOJI * 512)) == 1
    assert stored(EMOJI * 1025) == []


def test_a_first_message_sent_with_enter_lands_in_the_new_conversation(login, stack):
    andrew = login("andrewbrown")
    andrew.goto(f"{stack}/messages/new/londo/")
    box = andrew.get_by_label("Your message")

    box.fill("Ambassador?")
    box.press("Enter")

    expect(andrew).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}/$"))
    expect_sent(andrew, "Ambassador?")
    drafts = andrew.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('cruddur:draft:'))"
    )
    assert drafts == []


@pytest.mark.parametrize("handle", ["andrewbrown", "bayko"])
def test_a_link_in_a_message_is_a_link_that_can_be_read(login, stack, handle):
    # Sent by andrew: his own bubble for him, the other person's for bayko.
    andrew = open_conversation(login, stack, live=False)
    box_of(andrew).fill("Read https://docs.djangoproject.com/ first")
    box_of(andrew).press("Enter")
    expect_sent(andrew, "Read https://docs.djangoproject.com/ first")
    page = andrew if handle == "andrewbrown" else login(handle)
    page.goto(conversation_url(stack))

    link = page.locator("li.msg").last.get_by_role("link", name="https://docs.djangoproject.com/")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    colours = link.evaluate(
        "a => [getComputedStyle(a).color, getComputedStyle(a.closest('.bubble')).backgroundColor]"
    )
    assert colours[0] != colours[1], colours  # not the bubble's own colour
