"""Group conversations (issue 27) in Debian's Chromium: several people, each in a browser
context of their own. A group starts from the inbox's To box ("@bayko, @londo"), reaches the
others' open inboxes without a reload, and its replies reach every open page with their
authors; a member who leaves gets nothing more, a member added sees only what follows. Without
JavaScript the same forms post and the page comes back; at phone and desktop sizes the group's
page fits the screen with its controls in view.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging import services

from .conftest import SEED_PASSWORD, screenshot
from .test_live import mark_document, messages, nav_badge, rows, same_document

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"  # no sideways scrolling


def people(*handles):
    users = get_user_model().objects
    return [users.get(handle=handle) for handle in handles]


def start_group(name="", text="Welcome, both"):
    """andrewbrown's group with bayko and londo, started without a browser; its uuid."""
    andrew, bayko, londo = people("andrewbrown", "bayko", "londo")
    return services.start_group(sender=andrew, recipients=[bayko, londo], name=name, text=text)


def say(page, text):
    """Send a message from a group's page: a group's box is "Message to <the group>"."""
    page.get_by_label(re.compile("^Message to")).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(messages(page).last.locator(".msg-text")).to_have_text(text)


def message(page, text):
    return messages(page).filter(has=page.locator(".msg-text", has_text=text))


def events(page):
    return page.locator("ol.messages > li.msg-event")


def expect_shown_with_author(page, text, author):
    shown = message(page, text)
    expect(shown).to_have_count(1)
    expect(shown.locator(".msg-author")).to_have_text(author)


def log_in_without_script(new_context, stack, handle):
    page = new_context(java_script_enabled=False).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{stack}/accounts/login/")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Password").fill(SEED_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{stack}/messages/")
    return page


def test_a_group_started_from_the_to_box_reaches_the_open_inboxes_live(login, stack):
    bayko = login("bayko")
    londo = login("londo")
    for page in (bayko, londo):
        mark_document(page)
    andrew = login("andrewbrown")

    andrew.get_by_label("To", exact=True).fill("@bayko, @londo")
    andrew.get_by_role("button", name="Write").click()
    expect(andrew).to_have_url(f"{stack}/messages/group/?to=bayko&to=londo")
    expect(andrew.get_by_role("heading", name="New group")).to_be_visible()
    expect(andrew.locator(".group-members")).to_contain_text("Andrew Bayko")
    expect(andrew.locator(".group-members")).to_contain_text("Londo Mollari")
    andrew.get_by_label("Group name (optional)").fill("Narn relations")
    andrew.get_by_label("Your first message").fill("Welcome, both")
    andrew.get_by_role("button", name="Start the group").click()
    expect(andrew).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}/$"))
    group_url = andrew.url
    expect(andrew.get_by_role("heading", level=1)).to_have_text("Narn relations")
    expect_shown_with_author(andrew, "Welcome, both", "You")

    for page in (bayko, londo):
        top = rows(page).first
        expect(top).to_contain_text("Narn relations")
        expect(top).to_contain_text("Welcome, both")
        expect(top.locator(".badge")).to_have_text("1 unread")
        assert same_document(page)  # no reload
        top.click()
        expect(page).to_have_url(group_url)
        expect(page.get_by_role("heading", level=1)).to_have_text("Narn relations")
        expect_shown_with_author(page, "Welcome, both", "Andrew Brown")
        expect(nav_badge(page)).to_have_count(0)


def test_replies_reach_every_open_page_with_their_authors(login, stack):
    group_url = f"{stack}/messages/{start_group()}/"
    andrew = login("andrewbrown")
    andrew.goto(group_url)
    bayko = login("bayko")
    bayko.goto(group_url)
    londo = login("londo")  # on his inbox, another page
    for page in (andrew, bayko, londo):
        mark_document(page)

    say(bayko, "Bayko here")
    expect_shown_with_author(andrew, "Bayko here", "Andrew Bayko")
    top = rows(londo).first
    expect(top).to_contain_text("Bayko here")
    expect(top).to_have_class(re.compile(r"\bis-unread\b"))
    expect(top.locator(".badge")).to_have_text("2 unread")
    expect(nav_badge(londo)).to_have_text("1 unread")

    top.click()
    expect(londo).to_have_url(group_url)
    expect_shown_with_author(londo, "Welcome, both", "Andrew Brown")
    expect_shown_with_author(londo, "Bayko here", "Andrew Bayko")
    say(londo, "And Londo")
    for page in (andrew, bayko):
        expect_shown_with_author(page, "And Londo", "Londo Mollari")
    say(andrew, "All three, then")
    for page in (bayko, londo):
        expect_shown_with_author(page, "All three, then", "Andrew Brown")
    assert same_document(andrew) and same_document(bayko)
    texts = bayko.locator("ol.messages .msg-text").all_text_contents()
    assert texts == ["Welcome, both", "Bayko here", "And Londo", "All three, then"]


def test_a_member_who_leaves_gets_nothing_more(login, stack):
    group = start_group(name="Narn relations")
    group_url = f"{stack}/messages/{group}/"
    bayko = login("bayko")
    bayko.goto(group_url)
    mark_document(bayko)
    londo = login("londo")
    londo.goto(group_url)

    londo.get_by_role("button", name=re.compile("^Leave")).click()
    expect(londo).to_have_url(f"{stack}/messages/")
    expect(londo.locator(".flash-success")).to_contain_text("You left the group.")
    expect(rows(londo).filter(has_text="Narn relations")).to_have_count(0)
    # bayko's open page, live: the line, and the members without him.
    expect(events(bayko).last).to_contain_text("Londo Mollari left.")
    expect(bayko.locator(".group-members")).not_to_contain_text("Londo Mollari")
    expect(bayko.locator(".group-members")).to_contain_text("2 people")
    assert same_document(bayko)
    mark_document(londo)

    say(bayko, "Now that he is gone")
    # Then a message londo does get: once his open inbox shows it, the one before had its
    # chance to arrive too.
    andrew, londo_user = people("andrewbrown", "londo")
    services.start_conversation(sender=andrew, recipient=londo_user, text="Just us two")
    expect(rows(londo).first).to_contain_text("Just us two")
    expect(rows(londo)).to_have_count(1)
    expect(londo.get_by_text("Now that he is gone")).to_have_count(0)
    assert same_document(londo)

    londo.reload()
    expect(rows(londo)).to_have_count(1)
    expect(rows(londo).first).to_contain_text("Andrew Brown")
    assert londo.goto(group_url).status == 404
    expect(londo.get_by_text("Now that he is gone")).to_have_count(0)


def test_someone_added_sees_what_follows_and_not_what_came_before(login, stack):
    group_url = f"{stack}/messages/{start_group(text='Before you came')}/"
    alt = login("altbrown")
    mark_document(alt)
    bayko = login("bayko")
    bayko.goto(group_url)

    bayko.get_by_label(re.compile("^Add people")).fill("@altbrown")
    bayko.get_by_role("button", name="Add people").click()
    expect(bayko).to_have_url(group_url)
    expect(events(bayko).last).to_contain_text("Andrew Bayko added Alt Brown.")
    expect(bayko.locator(".group-members")).to_contain_text("Alt Brown")

    top = rows(alt).first  # his open inbox, no reload
    expect(top).to_contain_text("added Alt Brown")
    expect(top.locator(".badge")).to_have_text("1 unread")
    assert same_document(alt)
    top.click()
    expect(alt).to_have_url(group_url)
    expect(events(alt)).to_have_count(1)
    expect(events(alt)).to_contain_text("Andrew Bayko added Alt Brown.")
    expect(alt.get_by_text("Before you came")).to_have_count(0)
    expect(alt.locator(".group-members")).to_contain_text("Andrew Brown")

    say(bayko, "Welcome, Alt")
    expect_shown_with_author(alt, "Welcome, Alt", "Andrew Bayko")
    say(alt, "Thanks")
    expect_shown_with_author(bayko, "Thanks", "Alt Brown")
    assert alt.locator("ol.messages .msg-text").all_text_contents() == ["Welcome, Alt", "Thanks"]

    # A rename reaches his open page too: the line and the heading.
    mark_document(alt)
    bayko.locator("summary", has_text="Rename").click()
    bayko.get_by_label("Group name", exact=True).fill("Four of us")
    bayko.get_by_role("button", name="Save name").click()
    expect(events(alt).last).to_contain_text("Andrew Bayko named the group “Four of us”.")
    expect(alt.get_by_role("heading", level=1)).to_have_text("Four of us")
    assert same_document(alt)


def test_without_javascript_the_group_forms_post_and_the_page_comes_back(stack, new_context):
    andrew = log_in_without_script(new_context, stack, "andrewbrown")
    andrew.get_by_label("To", exact=True).fill("@bayko, @londo")
    andrew.get_by_role("button", name="Write").click()
    expect(andrew).to_have_url(f"{stack}/messages/group/?to=bayko&to=londo")
    andrew.get_by_label("Group name (optional)").fill("Quiet group")
    andrew.get_by_label("Your first message").fill("No scripts here")
    andrew.get_by_role("button", name="Start the group").click()
    expect(andrew).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}/$"))
    group_url = andrew.url
    expect(andrew.get_by_role("heading", level=1)).to_have_text("Quiet group")
    expect_shown_with_author(andrew, "No scripts here", "You")

    londo = log_in_without_script(new_context, stack, "londo")
    expect(rows(londo).first).to_contain_text("Quiet group")
    rows(londo).first.click()
    expect(londo).to_have_url(group_url)
    expect_shown_with_author(londo, "No scripts here", "Andrew Brown")
    londo.get_by_label(re.compile("^Message to")).fill("Nor here")
    londo.get_by_role("button", name="Send", exact=True).click()
    expect(londo).to_have_url(group_url)
    expect_shown_with_author(londo, "Nor here", "You")

    andrew.get_by_label(re.compile("^Add people")).fill("altbrown")
    andrew.get_by_role("button", name="Add people").click()
    expect(andrew).to_have_url(group_url)
    expect(events(andrew).last).to_contain_text("added Alt Brown.")
    expect(andrew.locator(".group-members")).to_contain_text("Alt Brown")

    andrew.locator("summary", has_text="Rename").click()  # a disclosure: opens without a script
    andrew.get_by_label("Group name", exact=True).fill("Quieter group")
    andrew.get_by_role("button", name="Save name").click()
    expect(andrew).to_have_url(group_url)
    expect(andrew.get_by_role("heading", level=1)).to_have_text("Quieter group")
    expect(events(andrew).last).to_contain_text("Andrew Brown named the group “Quieter group”.")

    londo.get_by_role("button", name=re.compile("^Leave")).click()
    expect(londo).to_have_url(f"{stack}/messages/")
    expect(londo.locator(".flash-success")).to_contain_text("You left the group.")
    expect(rows(londo)).to_have_count(0)

    andrew.reload()
    expect_shown_with_author(andrew, "Nor here", "Londo Mollari")
    expect(events(andrew).last).to_contain_text("Londo Mollari left.")
    expect(andrew.locator(".group-members")).not_to_contain_text("Londo Mollari")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_group_pages_fit_the_screen_with_their_controls_in_view(login, stack, size):
    group_url = f"{stack}/messages/{start_group(text='A rather long first message ' * 8)}/"
    andrew = login("andrewbrown")
    andrew.set_viewport_size(size)
    andrew.goto(f"{stack}/messages/group/?to=bayko&to=londo&to=altbrown")
    expect(andrew.get_by_role("button", name="Start the group")).to_be_visible()
    assert andrew.evaluate(FITS)

    andrew.goto(group_url)
    expect(andrew.get_by_role("heading", level=1)).to_have_text("Andrew Bayko, Londo Mollari")
    for control in ("Add people", re.compile("^Leave")):
        expect(andrew.get_by_role("button", name=control)).to_be_visible()
        expect(andrew.get_by_role("button", name=control)).to_be_in_viewport()
    assert andrew.evaluate(FITS)
    screenshot(andrew, f"group-{size['width']}.png")
    andrew.locator("summary", has_text="Rename").click()
    expect(andrew.get_by_role("button", name="Save name")).to_be_visible()
    assert andrew.evaluate(FITS)
