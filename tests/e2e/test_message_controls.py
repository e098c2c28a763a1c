"""Unsend and Edit in Debian's Chromium (issue 25): bayko changes his messages in place (htmx
posts the forms, the answer is the bubble as it is now), andrew's conversation, open in another
browser, redraws them without a reload (the live poll's out-of-band swap of each message's
bubble); the Edit control goes when its window closes; without JavaScript the same forms post
and the page comes back."""

import re

import pytest
from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID

from .conftest import SEED_PASSWORD, screenshot
from .test_live import mark_document, messages, rows, same_document, send

EDIT = re.compile("^Edit your message sent at")
UNSEND = re.compile("^Unsend your message sent at")

# Polling, a page asks for edits and unsends at most every live_views.CHANGES_EVERY (5 s).
LIVE = 12_000


def bubble(page, text):
    return messages(page).filter(has_text=text)


@pytest.mark.parametrize("served", ["stream", pytest.param("polling", marks=pytest.mark.polling)])
def test_an_unsend_and_an_edit_reach_an_open_page(login, stack, served):
    url = f"{stack}/messages/{SEED_CONVERSATION_UUID}/"
    andrew = login("andrewbrown")
    andrew.goto(url)
    bayko = login("bayko")
    bayko.goto(url)
    send(bayko, "meant for someone else")
    send(bayko, "teh typo")
    expect(bubble(andrew, "teh typo")).to_have_count(1)
    mark_document(andrew)
    mark_document(bayko)

    # Edit: the form opens in place (no script), the saved text replaces the old one.
    mine = bubble(bayko, "teh typo")
    mine.locator("summary", has_text=EDIT).click()
    mine.get_by_label(re.compile("^New text of your message sent at")).fill("the typo")
    screenshot(bayko, f"edit-open-{served}.png")
    mine.get_by_role("button", name="Save").click()
    expect(bubble(bayko, "the typo").locator(".msg-edited")).to_have_text(re.compile("^edited"))

    edited = bubble(andrew, "the typo")
    expect(edited).to_have_count(1, timeout=LIVE)
    expect(edited.locator(".msg-edited")).to_have_attribute("title", re.compile("^Edited "))
    expect(bubble(andrew, "teh typo")).to_have_count(0)
    expect(rows(andrew).first).to_contain_text(
        "the typo", timeout=LIVE
    )  # the sidebar's preview follows

    # Unsend: a placeholder in its place, for both.
    wrong = bubble(bayko, "meant for someone else")
    wrong.get_by_role("button", name=UNSEND).click()
    expect(bubble(bayko, "meant for someone else")).to_have_count(0)
    # In place, and the keyboard is on the message it changed.
    expect(bayko.locator("li.msg", has=bayko.locator(".is-unsent"))).to_be_focused()
    assert same_document(bayko)

    expect(bubble(andrew, "meant for someone else")).to_have_count(0, timeout=LIVE)
    placeholder = andrew.locator(".msg-unsent")
    expect(placeholder).to_have_count(1)
    expect(placeholder).to_have_text("Message unsent")
    # In its place: just before the edited message.
    texts = andrew.locator("ol.messages .msg-text").all_text_contents()
    assert [t.strip() for t in texts[-2:]] == ["Message unsent", "the typo"]
    assert same_document(andrew)
    screenshot(andrew, f"unsent-and-edited-{served}.png")


def test_edit_goes_when_its_window_closes_and_a_late_edit_keeps_the_text(login, stack, settings):
    settings.EDIT_WINDOW_SECONDS = 4
    bayko = login("bayko")
    bayko.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    send(bayko, "edit me quickly")
    mine = bubble(bayko, "edit me quickly")
    mine.locator("summary", has_text=EDIT).click()  # open: it stays while a text is typed
    expect(mine.locator("summary", has_text=EDIT)).to_have_count(1)
    send(bayko, "and this one")
    expect(bubble(bayko, "and this one").locator("summary", has_text=EDIT)).to_have_count(
        0, timeout=8_000
    )
    # The open one was kept; saved now, the server refuses it with a sentence, text kept.
    mine.get_by_label(re.compile("^New text of your message sent at")).fill("too late")
    mine.get_by_role("button", name="Save").click()
    expect(bayko.locator(".form-errors")).to_contain_text("can no longer be edited")
    expect(bayko.get_by_label("Your text, to send as a new message")).to_have_value("too late")


def test_without_javascript_the_forms_post_and_the_page_comes_back(stack, new_context):
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{stack}/accounts/login/")
    page.get_by_label("Handle").fill("bayko")
    page.get_by_label("Password").fill(SEED_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    url = f"{stack}/messages/{SEED_CONVERSATION_UUID}/"
    page.goto(url)
    page.get_by_label(re.compile("^Reply to")).fill("teh typo")
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_label(re.compile("^Reply to")).fill("wrong person")
    page.get_by_role("button", name="Send", exact=True).click()

    typo = bubble(page, "teh typo")
    typo.locator("summary", has_text=EDIT).click()
    typo.get_by_label(re.compile("^New text of your message sent at")).fill("the typo")
    typo.get_by_role("button", name="Save").click()
    assert page.url == url
    expect(bubble(page, "the typo").locator(".msg-edited")).to_have_count(1)

    bubble(page, "wrong person").get_by_role("button", name=UNSEND).click()
    assert page.url == url
    expect(bubble(page, "wrong person")).to_have_count(0)
    expect(page.locator(".msg-unsent")).to_have_text("Message unsent")
