"""The messaging pages in Debian's Chromium against the live server and moto's HTTP server."""

import re

from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID, SEED_LINES

from .conftest import screenshot


def inbox_rows(page):
    return page.locator(".convo-list a.convo")


def test_read_page_back_and_reply_then_bayko_sees_it(login, stack):
    andrew = login("andrewbrown")
    first_row = inbox_rows(andrew).first
    expect(first_row).to_contain_text("Andrew Bayko")
    expect(first_row).to_contain_text("@bayko")
    expect(first_row).to_contain_text(SEED_LINES[-1][1])
    screenshot(andrew, "inbox.png")

    first_row.click()
    expect(andrew).to_have_url(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    messages = andrew.locator("ol.messages > li.msg")
    expect(messages).to_have_count(20)
    expect(messages.last).to_contain_text(SEED_LINES[-1][1])
    expect(andrew.locator(".convo-list a[aria-current=page]")).to_contain_text("Andrew Bayko")
    screenshot(andrew, "conversation.png")

    # "Earlier messages" pages back to the very first message: the pages its link opens
    # without JavaScript (with it, the link loads them in place: test_chat_layout.py).
    pages = 1
    while andrew.get_by_role("link", name="Earlier messages").count():
        earlier = andrew.get_by_role("link", name="Earlier messages").get_attribute("href")
        andrew.goto(f"{stack}{earlier}")
        pages += 1
    assert pages == 3  # 47 messages: 20 + 20 + 7
    expect(messages.first).to_contain_text(SEED_LINES[0][1])
    expect(andrew.get_by_text("This is the start of your conversation")).to_be_visible()

    andrew.get_by_role("link", name="Newest messages").click()
    andrew.get_by_label("Reply to Andrew Bayko").fill("Morning! Shipping it now.")
    expect(andrew.get_by_text("25 / 1024")).to_be_visible()  # the live counter
    andrew.get_by_role("button", name="Send", exact=True).click()
    expect(messages.last).to_contain_text("Morning! Shipping it now.")
    expect(messages.last).to_have_class(re.compile(r"msg-mine"))
    expect(inbox_rows(andrew).first).to_contain_text("Morning! Shipping it now.")

    bayko = login("bayko")
    first_row = inbox_rows(bayko).first
    expect(first_row).to_contain_text("Andrew Brown")
    expect(first_row).to_contain_text("Morning! Shipping it now.")


def test_start_a_conversation_with_londo_who_sees_it(login, stack):
    andrew = login("andrewbrown")
    andrew.get_by_label("To").fill("@londo")
    andrew.get_by_role("button", name="Write").click()
    expect(andrew).to_have_url(f"{stack}/messages/new/londo/")
    expect(andrew.get_by_role("heading", name=re.compile("Londo Mollari"))).to_be_visible()

    andrew.get_by_label("Your message").fill("Ambassador, a word about the <b>Centauri</b> fleet?")
    andrew.get_by_role("button", name="Send", exact=True).click()
    expect(andrew).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}/$"))
    conversation_url = andrew.url
    expect(andrew.locator("ol.messages > li.msg")).to_have_count(1)

    londo = login("londo")
    first_row = inbox_rows(londo).first
    expect(first_row).to_contain_text("Andrew Brown")
    first_row.click()
    expect(londo).to_have_url(conversation_url)
    expect(londo.locator("ol.messages > li").last).to_contain_text(
        "Ambassador, a word about the <b>Centauri</b> fleet?"
    )

    # Writing to londo again resumes the same conversation.
    andrew.goto(f"{stack}/messages/new/londo/")
    expect(andrew).to_have_url(conversation_url)


def test_script_message_renders_as_text(login, stack):
    andrew = login("andrewbrown")
    andrew.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    dialogs = []
    andrew.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    payload = "<script>alert('owned')</script>"
    andrew.get_by_label("Reply to Andrew Bayko").fill(payload)
    andrew.get_by_role("button", name="Send", exact=True).click()
    expect(andrew.locator("ol.messages > li").last.locator(".msg-text")).to_have_text(payload)
    assert dialogs == []


def test_londo_cannot_open_someone_elses_conversation(login, stack):
    londo = login("londo")
    response = londo.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    assert response.status == 404
    expect(londo.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Good night" not in londo.content()


def test_empty_reply_keeps_page_and_errors(login, stack):
    andrew = login("andrewbrown")
    andrew.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    box = andrew.get_by_label("Reply to Andrew Bayko")
    box.fill("   ")
    # Bypass the browser's own `required` check to reach the server's.
    andrew.evaluate("document.querySelector('form[data-compose]')?.setAttribute('novalidate', '')")
    andrew.evaluate(
        "document.querySelectorAll('textarea').forEach(t => t.removeAttribute('required'))"
    )
    andrew.get_by_role("button", name="Send", exact=True).click()
    expect(andrew.locator(".error")).to_be_visible()
    expect(andrew.locator("ol.messages > li").last).to_contain_text(SEED_LINES[-1][1])
