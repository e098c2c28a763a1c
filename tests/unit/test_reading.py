"""How a conversation reads: links, times of day, day separators, grouping, what marks read,
and the one way a message's length is counted."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from messaging import services, view_models
from messaging.timestamps import Clock
from tests.helpers import conversation_url, seed, signed_in, token

pytestmark = pytest.mark.django_db


def linkify(text: str) -> str:
    return Template("{% load message_text %}{{ text|linkify }}").render(Context({"text": text}))


LINK = '<a href="{0}" rel="noopener noreferrer nofollow" target="_blank">{0}</a>'


# --- links ---


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "see https://example.org/a?b=1&c=2 now",
            "see " + LINK.format("https://example.org/a?b=1&amp;c=2") + " now",
        ),
        ("http://x.io.", LINK.format("http://x.io") + "."),
        (
            "(https://en.wikipedia.org/wiki/Foo_(bar))",
            "(" + LINK.format("https://en.wikipedia.org/wiki/Foo_(bar)") + ")",
        ),
        ("HTTPS://EXAMPLE.ORG", LINK.format("HTTPS://EXAMPLE.ORG")),
        (
            "two https://a.org and https://b.org!",
            "two " + LINK.format("https://a.org") + " and " + LINK.format("https://b.org") + "!",
        ),
    ],
)
def test_web_addresses_become_safe_links(text, html):
    assert linkify(text) == html


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "mailto:someone@example.org",
        "www.example.org and example.org",
        "ftp://example.org/file",
        "https://",
    ],
)
def test_nothing_else_is_a_link(text):
    assert "<a" not in linkify(text)


def test_markup_is_text_around_and_inside_links():
    html = linkify('<b>hi</b> https://x.org/<script>alert(1)</script> "q"')

    assert "<b>" not in html and "<script>" not in html
    assert html.startswith("&lt;b&gt;hi&lt;/b&gt; ")
    # The address ends at the angle bracket; what follows is escaped text.
    assert LINK.format("https://x.org/") + "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.endswith(" &quot;q&quot;")


def test_an_address_cannot_break_out_of_its_attribute():
    html = linkify('https://x.org/"onmouseover="alert(1)')

    assert 'onmouseover="' not in html
    assert LINK.format("https://x.org/") in html


def test_links_are_shown_in_the_conversation(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["read https://docs.djangoproject.com/ please"])

    page = signed_in(andrew).get(conversation_url(group)).content.decode()

    assert LINK.format("https://docs.djangoproject.com/") in page


# --- times, days, groups ---


def test_day_labels():
    clock = Clock()
    today = clock.today

    assert clock.day_label(today) == "Today"
    assert clock.day_label(today - timedelta(days=1)) == "Yesterday"
    assert clock.day_label(today - timedelta(days=3)) == (today - timedelta(days=3)).strftime("%A")
    assert clock.day_label(datetime(2020, 3, 3).date()) == "Tuesday 3 March 2020"


def test_days_are_separated_and_a_person_s_messages_grouped(memory_store, andrew, bayko):
    # a, b, a, b... a minute apart, from 23:58 the day before yesterday: two days.
    start = (timezone.now() - timedelta(days=2)).replace(hour=23, minute=58, tzinfo=UTC)
    group = seed(memory_store, andrew, bayko, texts=["a1", "b1", "a2", "b2"], start=start)
    services.send_message(sender=andrew, conversation_uuid=group, text="a3")
    services.send_message(sender=andrew, conversation_uuid=group, text="a4")

    rows = view_models.conversation_page(user=andrew, conversation_uuid=group).conversation.messages

    assert [(row.text, row.new_day, row.day_label) for row in rows if row.new_day] == [
        ("a1", True, start.strftime("%A")),  # two days ago: the weekday
        ("a2", True, "Yesterday"),
        ("a3", True, "Today"),
    ]
    assert [row.text for row in rows if row.continued] == ["a4"]
    assert [row.time.time_of_day for row in rows[:2]] == ["23:58", "23:59"]


def test_a_page_prints_separators_times_of_day_and_groups(memory_store, andrew, bayko):
    start = datetime(2026, 3, 3, 9, 5, tzinfo=UTC)
    group = seed(memory_store, andrew, bayko, texts=["one", "two"], start=start)
    services.send_message(sender=bayko, conversation_uuid=group, text="three")
    services.send_message(sender=bayko, conversation_uuid=group, text="four")

    page = signed_in(andrew).get(conversation_url(group)).content.decode()

    assert (
        '<li class="day-separator" data-day="2026-03-03"><span>Tuesday 3 March 2026</span></li>'
        in page
        or (
            '<li class="day-separator" data-day="2026-03-03"><span>Tuesday 3 March</span></li>'
            in page
        )
    )
    assert ">09:05</time>" in page and 'title="Tuesday 3 March 2026, 09:05 UTC"' in page
    assert page.count("<span>Today</span>") == 1
    assert page.count("msg-continued") == 1  # "four" follows "three"


# --- what marks a conversation read ---


def unread_of(store, user, group) -> int:
    entries = store.list_conversations(user_uuid=str(user.uuid)).items
    return next(entry.unread for entry in entries if entry.conversation_uuid == group)


def test_a_head_request_marks_nothing_read(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    services.send_message(sender=bayko, conversation_uuid=group, text="unread")
    client = signed_in(andrew)

    assert client.head(conversation_url(group)).status_code == 200
    assert unread_of(memory_store, andrew, group) == 1
    client.get(conversation_url(group))
    assert unread_of(memory_store, andrew, group) == 0


def test_an_older_page_marks_nothing_read(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=45)
    services.send_message(sender=bayko, conversation_uuid=group, text="unread")
    client = signed_in(andrew)
    older = view_models.conversation_page(
        user=andrew, conversation_uuid=group, reading=False
    ).conversation.earlier_cursor

    page = client.get(conversation_url(group), {"before": older})

    assert page.status_code == 200 and "unread" not in [
        m.text for m in page.context["conversation"].messages
    ]
    assert unread_of(memory_store, andrew, group) == 1


# --- length ---


def test_the_length_is_counted_in_characters_as_the_box_counts_them(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    emoji = "\N{GRINNING FACE}"  # two UTF-16 units, one character

    fits = client.post(conversation_url(group), {"text": emoji * 1024, "token": token()})
    over = client.post(conversation_url(group), {"text": emoji * 1025, "token": token()})

    assert fits.status_code == 303
    assert over.status_code == 422
    assert "at most 1024 characters (this one has 1025)" in over.content.decode()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_stamps_print_what_django_s_date_filter_prints(zone):
    # Every half hour across the autumn daylight-saving change and New Year's Eve.
    starts = [datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 12, 31, 20, 0, tzinfo=UTC)]
    moments = [start + timedelta(minutes=30 * step) for start in starts for step in range(16)]
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        clock = Clock(now=datetime(2027, 1, 1, 12, 0, tzinfo=UTC))
        for moment in moments:
            local = timezone.localtime(moment)
            stamp = clock.stamp(moment)
            assert stamp.title == date_format(local, "l j F Y, H:i T").rstrip()
            assert stamp.time_of_day == date_format(local, "H:i")
            if clock.now - moment > timedelta(days=1):
                expected = "M j" if local.year == 2027 else "M j, Y"
                assert stamp.label == date_format(local, expected)
