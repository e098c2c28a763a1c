"""Blocking, and the settings that undo it, in Debian's Chromium at phone and desktop sizes."""

import pytest
from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID

from .conftest import screenshot

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.mark.parametrize("size", SIZES)
def test_block_refuse_then_unblock_from_settings(login, stack, size):
    conversation = f"{stack}/messages/{SEED_CONVERSATION_UUID}/"
    andrew, bayko = login("andrewbrown"), login("bayko")
    for page in (andrew, bayko):
        page.set_viewport_size(SIZES[size])

    andrew.goto(conversation)
    andrew.get_by_role("button", name="Block Andrew Bayko").click()
    expect(andrew.locator(".flash")).to_contain_text("You blocked @bayko.")
    expect(andrew.locator(".closed-note")).to_contain_text(
        "You blocked @bayko. Unblock them to send a message."
    )
    expect(andrew.get_by_label("Reply to Andrew Bayko")).to_have_count(0)
    screenshot(andrew, f"blocked-{size}.png")

    bayko.goto(conversation)
    bayko.get_by_label("Reply to Andrew Brown").fill("Please hear me out.")
    bayko.get_by_role("button", name="Send", exact=True).click()
    expect(bayko.get_by_role("alert")).to_have_text(
        "@andrewbrown is not accepting messages from you."
    )
    expect(bayko.get_by_label("Reply to Andrew Brown")).to_have_value("Please hear me out.")
    expect(bayko.locator("ol.messages > li").last).not_to_contain_text("Please hear me out.")

    andrew.get_by_role("link", name="Settings").click()
    expect(andrew.get_by_role("heading", name="People you blocked")).to_be_visible()
    andrew.get_by_role("button", name="Unblock @bayko").click()
    expect(andrew.get_by_text("You haven't blocked anyone.")).to_be_visible()

    bayko.get_by_role("button", name="Send", exact=True).click()  # the same form, the same text
    expect(bayko.locator("ol.messages > li").last).to_contain_text("Please hear me out.")
