"""Your account in Debian's Chromium, from the header's Settings link: sign-up takes the
browser's time zone, settings change what others see, deleting the account leaves the other
person a conversation with "Deleted user"."""

import re

from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID

from .conftest import SEED_PASSWORD, screenshot


def test_sign_up_in_tokyo_then_rename_from_settings(stack, new_context):
    page = new_context(timezone_id="Asia/Tokyo", viewport={"width": 390, "height": 844}).new_page()
    page.goto(f"{stack}/accounts/signup/")
    page.get_by_label("Handle").fill("newcomer")
    page.get_by_label("Display name").fill("New Comer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-pass-phrase-42")
    page.get_by_label("Password confirmation").fill("a-long-pass-phrase-42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{stack}/messages/")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")  # saved at sign-up
    page.get_by_label("Display name").fill("Newly Named")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status").filter(has_text="Your profile is saved.")).to_have_count(1)
    expect(page.locator(".account .who")).to_contain_text("Newly Named")
    screenshot(page, "settings-phone.png")


def test_deleting_an_account_from_settings(login, stack):
    bayko = login("bayko")
    bayko.get_by_role("link", name="Settings").click()
    bayko.get_by_role("link", name="Delete my account").click()
    bayko.get_by_label("Your password").fill("not it")
    bayko.get_by_role("button", name="Delete my account").click()
    expect(bayko.locator(".error")).to_have_text("That is not your password.")
    bayko.get_by_label("Your password").fill(SEED_PASSWORD)
    bayko.get_by_role("button", name="Delete my account").click()
    expect(bayko).to_have_url(re.compile(r"/accounts/login/"))
    expect(bayko.get_by_role("status").filter(has_text="Your account is deleted.")).to_have_count(1)

    andrew = login("andrewbrown")
    expect(andrew.locator(".convo-list a.convo").first).to_contain_text("Deleted user")
    andrew.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    expect(andrew.get_by_role("heading", level=1)).to_have_text("Deleted user")
    expect(andrew.locator(".closed-note")).to_contain_text("This account was deleted.")
    expect(andrew.locator("textarea")).to_have_count(0)
