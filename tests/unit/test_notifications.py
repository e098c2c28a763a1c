"""Email when away (issue 26), over the in-memory store: a message left unread brings one email
after the delay, batched, cancelled by a read, never to people who should not get it; the
one-click unsubscribe link; the settings; what a send costs."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import services
from notifications.emails import unsubscribe_token
from notifications.models import UnreadNotice
from notifications.services import send_due
from tests.helpers import seed, signed_in
from users import services as user_services

pytestmark = pytest.mark.django_db

DELAY = 600


@pytest.fixture(autouse=True)
def email_settings(settings):
    settings.NOTIFY_DELAY_SECONDS = DELAY
    settings.SITE_URL = "https://cruddur.example"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NOTIFY_EMAIL_TEXT = True


@pytest.fixture
def verified(andrew, bayko):
    for person in (andrew, bayko):
        person.email_verified = True
        person.save()
    return andrew, bayko


def later(seconds=DELAY + 1):
    return timezone.now() + timedelta(seconds=seconds)


def test_an_unread_message_brings_one_email_after_the_delay(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="are you there?")

    early = send_due(now=later(DELAY - 5))
    first = send_due(now=later())
    second = send_due(now=later(DELAY * 3))

    assert (early.sent, first.sent, second.sent) == (0, 1, 0)
    [email] = mail.outbox
    assert email.to == [andrew.email]
    assert email.subject == "Andrew Bayko sent you a message on Cruddur"
    assert "are you there?" in email.body
    assert f"https://cruddur.example/messages/{group}/" in email.body


def test_a_read_in_time_cancels_the_email(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hello")

    signed_in(andrew).get(reverse("messaging:conversation", args=[group]))

    assert not UnreadNotice.objects.exists()
    assert send_due(now=later()).sent == 0
    assert mail.outbox == []


def test_messages_inside_the_delay_are_one_email_naming_them_all(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="first thing")
    services.send_message(sender=bayko, conversation_uuid=group, text="second thing")

    assert send_due(now=later()).sent == 1

    [email] = mail.outbox
    assert email.subject == "Andrew Bayko sent you 2 messages on Cruddur"
    assert email.body.index("first thing") < email.body.index("second thing")
    html = email.alternatives[0][0]
    assert "first thing" in html and "second thing" in html


def test_after_an_email_nothing_more_until_a_read_then_again(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="one")
    send_due(now=later())
    services.send_message(sender=bayko, conversation_uuid=group, text="two")
    assert send_due(now=later(DELAY * 3)).sent == 0  # the same unread stretch

    signed_in(andrew).get(reverse("messaging:conversation", args=[group]))
    services.send_message(sender=bayko, conversation_uuid=group, text="three")
    assert send_due(now=later(DELAY * 3)).sent == 1
    assert len(mail.outbox) == 2 and "three" in mail.outbox[1].body


def test_the_email_carries_one_click_unsubscribe_and_both_parts(memory_store, verified, settings):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")
    send_due(now=later())

    [email] = mail.outbox
    message = email.message()
    link = re.fullmatch(
        r"<(https://cruddur\.example/notifications/unsubscribe/[^/]+/)>",
        message["List-Unsubscribe"],
    )
    assert link
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.from_email == settings.DEFAULT_FROM_EMAIL
    assert [kind for _, kind in email.alternatives] == ["text/html"]
    assert andrew.email not in link.group(1)  # names no address
    assert link.group(1) in email.body and link.group(1) in email.alternatives[0][0]


def test_one_click_post_without_cookies_stops_the_emails_and_get_does_not(andrew):
    url = reverse("notifications:unsubscribe", args=[unsubscribe_token(andrew)])
    client = Client(enforce_csrf_checks=True)  # no session, no CSRF token, as a mail program

    shown = client.get(url)
    andrew.refresh_from_db()
    assert shown.status_code == 200 and andrew.email_unread
    assert b"Stop these emails" in shown.content

    done = client.post(url, {"List-Unsubscribe": "One-Click"})
    andrew.refresh_from_db()
    assert done.status_code == 200 and not andrew.email_unread


def test_a_forged_unsubscribe_link_is_404(andrew):
    token = unsubscribe_token(andrew)
    forged = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    response = Client().post(reverse("notifications:unsubscribe", args=[forged]))
    andrew.refresh_from_db()
    assert response.status_code == 404 and andrew.email_unread


def test_with_the_setting_off_no_email(memory_store, verified):
    andrew, bayko = verified
    user_services.set_email_unread(user=andrew, enabled=False)
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")

    assert not UnreadNotice.objects.exists()  # not even a row
    assert send_due(now=later()).sent == 0


def test_turned_off_after_the_message_no_email(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")
    user_services.set_email_unread(user=andrew, enabled=False)

    assert send_due(now=later()).dropped == 1
    assert mail.outbox == []


def test_no_email_to_an_unverified_address(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")
    assert send_due(now=later()).sent == 0 and mail.outbox == []


def test_no_email_about_a_sender_blocked_or_gone(memory_store, verified, make_user):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")
    user_services.block(user=andrew, other=bayko)
    assert send_due(now=later()).sent == 0

    londo = make_user("londo")
    other = seed(memory_store, andrew, londo)
    services.send_message(sender=londo, conversation_uuid=other, text="hello")
    user_services.delete_account(londo)
    assert send_due(now=later()).sent == 0
    assert mail.outbox == []


def test_the_delay_chosen_in_settings(memory_store, verified):
    andrew, bayko = verified
    response = signed_in(andrew).post(
        reverse("settings"),
        {
            "section": "messaging",
            "who_may_start": "everyone",
            "email_unread": "on",
            "email_unread_delay": "1800",
        },
    )
    assert response.status_code == 302
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")

    assert send_due(now=later()).sent == 0  # 10 minutes: not yet
    assert send_due(now=later(1801)).sent == 1


def test_the_settings_page_offers_the_choice(andrew):
    page = signed_in(andrew).get(reverse("settings")).content.decode()
    assert "Email me about unread messages" in page
    assert '<option value="" selected>10 minutes (the default)</option>' in page
    assert '<option value="3600">1 hour</option>' in page


def test_a_send_costs_the_recipient_one_sql_write_and_a_resend_none(memory_store, verified):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    with CaptureQueriesContext(connection) as first:
        services.send_message(
            sender=bayko, conversation_uuid=group, text="hi", idempotency_key="k1"
        )
    with CaptureQueriesContext(connection) as again:
        services.send_message(
            sender=bayko, conversation_uuid=group, text="hi", idempotency_key="k1"
        )
    with CaptureQueriesContext(connection) as second:
        services.send_message(sender=bayko, conversation_uuid=group, text="more")

    writes = [q["sql"] for q in first.captured_queries if q["sql"].startswith("INSERT")]
    assert len(writes) == 1 and "notifications_unreadnotice" in writes[0]
    assert not [q for q in again.captured_queries if "notifications" in q["sql"]]
    assert len([q for q in second.captured_queries if "notifications" in q["sql"]]) == 1
    assert UnreadNotice.objects.count() == 1


def test_a_mail_server_that_fails_leaves_the_email_for_the_next_pass(
    memory_store, verified, monkeypatch
):
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="hi")

    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError("the mail server is down")

    with monkeypatch.context() as patched:
        patched.setattr(mail.EmailMultiAlternatives, "send", refuse)
        assert send_due(now=later()).failed == 1
    assert UnreadNotice.objects.get().sent_at is None
    assert send_due(now=later()).sent == 1
    assert len(mail.outbox) == 1


def test_without_the_text_setting_the_email_says_who_and_how_many(memory_store, verified, settings):
    settings.NOTIFY_EMAIL_TEXT = False
    andrew, bayko = verified
    group = seed(memory_store, andrew, bayko)
    services.send_message(sender=bayko, conversation_uuid=group, text="secret plans")
    send_due(now=later())
    [email] = mail.outbox
    assert "secret plans" not in email.body and "secret plans" not in email.alternatives[0][0]
    assert "Andrew Bayko" in email.body
