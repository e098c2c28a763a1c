"""Times in Debian's Chromium, in the viewer's time zone: the day separators and the time of day
of the seed conversation, which straddles midnight UTC on New Year's Eve."""

import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID


def separators(page):
    return page.locator("li.day-separator")


def test_days_and_times_follow_the_viewer_s_time_zone(login, stack):
    utc = login("andrewbrown")
    utc.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    # The newest page runs from about 23:52 on 31 December to 00:18 on 1 January, UTC.
    expect(separators(utc)).to_have_text(["Wednesday 31 December 2025", "Thursday 1 January"])
    expect(utc.locator("li.msg time").last).to_have_text("00:18")
    expect(utc.locator("li.msg time").last).to_have_attribute("title", re.compile(r" UTC$"))

    get_user_model().objects.filter(handle="bayko").update(time_zone="Asia/Tokyo")
    tokyo = login("bayko")
    tokyo.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    # Nine hours later in Tokyo: the same messages all fall on the morning of 1 January.
    expect(separators(tokyo)).to_have_text(["Thursday 1 January"])
    expect(tokyo.locator("li.msg time").last).to_have_text("09:18")
    expect(tokyo.locator("li.msg time").last).to_have_attribute(
        "title", "Thursday 1 January 2026, 09:18 JST"
    )
