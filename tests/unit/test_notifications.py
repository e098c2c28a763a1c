"""Email when away (issue 26), over the in-memory store: a message left unread brings one email
after the delay, batched, cancelled by a read, never to people who should not get it; the
one-click unsubscribe link; the settings; what a send costs. In a group (issue 27): one email
to each other member, naming each message's author, without the messages of people the
member blocked."""

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
from notifications.services import note_unread, send_due
from tests.helpers import ref, seed, signed_in
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


# --- groups ---


@pytest.fixture
def everyone(verified, londo):
    londo.email_verified = True
    londo.save()
    return (*verified, londo)


def start_group(store, sender, members, *, text, name="Trip"):
    """A group `sender` started with `text`, and its members' notices as a send notes them."""
    conversation, _ = store.create_group(
        sender=ref(sender), members=[ref(member) for member in members], name=name, text=text
    )
    note_unread(
        conversation_uuid=conversation,
        recipients={str(member.uuid): DELAY for member in members},
    )
    return conversation


def own_entry(store, user, conversation):
    entries = store.get_participants(conversation_uuid=conversation)
    return next(entry for entry in entries if entry.owner_uuid == str(user.uuid))


def test_a_group_message_brings_each_other_member_one_email_naming_its_author(
    memory_store, everyone
):
    andrew, bayko, londo = everyone
    group = start_group(memory_store, bayko, [andrew, londo], text="who is in?")
    services.send_message(sender=londo, conversation_uuid=group, text="count me in")

    done = send_due(now=later())

    assert (done.sent, done.dropped) == (2, 1)  # londo's: writing, he read what was there
    emails = {email.to[0]: email for email in mail.outbox}
    assert set(emails) == {andrew.email, bayko.email}
    to_andrew, to_bayko = emails[andrew.email], emails[bayko.email]
    assert to_andrew.subject == "2 new messages in Trip on Cruddur"
    assert "Andrew Bayko (@bayko):\n> who is in?" in to_andrew.body
    assert "Londo Mollari (@londo):\n> count me in" in to_andrew.body
    assert f"https://cruddur.example/messages/{group}/" in to_andrew.body
    html = to_andrew.alternatives[0][0]
    assert "<strong>Andrew Bayko</strong>" in html and "@londo" in html
    assert to_bayko.subject == "A new message in Trip on Cruddur"
    assert "count me in" in to_bayko.body and "who is in?" not in to_bayko.body


def test_a_group_member_who_read_in_time_gets_no_email_then_one_about_what_came_after(
    memory_store, everyone
):
    andrew, bayko, londo = everyone
    group = start_group(memory_store, bayko, [andrew, londo], text="who is in?")

    services.mark_read(entry=own_entry(memory_store, andrew, group))
    assert send_due(now=later()).sent == 1
    [email] = mail.outbox
    assert email.to == [londo.email]

    services.send_message(sender=bayko, conversation_uuid=group, text="leaving at noon")
    assert send_due(now=later(DELAY * 3)).sent == 1
    assert mail.outbox[1].to == [andrew.email]
    assert "leaving at noon" in mail.outbox[1].body and "who is in?" not in mail.outbox[1].body


def test_a_group_email_leaves_out_the_messages_of_someone_the_member_blocked(
    memory_store, everyone
):
    andrew, bayko, londo = everyone
    group = start_group(memory_store, londo, [andrew, bayko], text="secret from londo")
    services.send_message(sender=bayko, conversation_uuid=group, text="hello from bayko")
    user_services.block(user=andrew, other=londo)

    assert send_due(now=later()).sent == 2
    emails = {email.to[0]: email for email in mail.outbox}
    to_andrew = emails[andrew.email]
    assert to_andrew.subject == "A new message in Trip on Cruddur"
    assert "secret from londo" not in to_andrew.body
    assert "secret from londo" not in to_andrew.alternatives[0][0]
    assert "Londo" not in to_andrew.body
    assert "hello from bayko" in to_andrew.body


def test_no_group_email_when_every_unread_message_is_from_someone_blocked(memory_store, everyone):
    andrew, bayko, londo = everyone
    start_group(memory_store, londo, [andrew, bayko], text="secret from londo")
    user_services.block(user=andrew, other=londo)

    done = send_due(now=later())

    assert (done.sent, done.dropped) == (1, 1)
    [email] = mail.outbox
    assert email.to == [bayko.email]


def test_a_group_email_leaves_out_the_messages_of_someone_gone(memory_store, everyone):
    andrew, bayko, londo = everyone
    group = start_group(memory_store, londo, [andrew, bayko], text="from londo")
    services.send_message(sender=bayko, conversation_uuid=group, text="from bayko")
    user_services.delete_account(londo)

    send_due(now=later())

    [email] = mail.outbox  # andrew's: bayko read by writing, londo is gone
    assert email.to == [andrew.email]
    assert "from bayko" in email.body and "from londo" not in email.body


def test_a_group_email_names_the_group_or_else_its_other_members(memory_store, everyone):
    andrew, bayko, londo = everyone
    start_group(memory_store, bayko, [andrew, londo], text="hi", name="")
    start_group(memory_store, andrew, [bayko, londo], text="ho", name="Trip & Co")
    send_due(now=later())

    subjects = {(email.to[0], email.subject) for email in mail.outbox}
    assert (andrew.email, "A new message in Andrew Bayko, Londo Mollari on Cruddur") in subjects
    assert (londo.email, "A new message in Andrew Bayko, Andrew Brown on Cruddur") in subjects
    assert (londo.email, "A new message in Trip & Co on Cruddur") in subjects


def test_a_group_email_shows_no_roster_lines_and_only_the_newest_messages(memory_store, everyone):
    andrew, bayko, londo = everyone
    group = start_group(memory_store, bayko, [andrew, londo], text="first")
    memory_store.rename_group(actor=ref(londo), conversation_uuid=group, name="Trip")
    memory_store.rename_group(actor=ref(londo), conversation_uuid=group, name="Trip 2")
    for text in ("second", "third", "fourth"):
        services.send_message(sender=bayko, conversation_uuid=group, text=text)
    send_due(now=later())

    [email] = [email for email in mail.outbox if email.to == [andrew.email]]
    assert email.subject == "4 new messages in Trip 2 on Cruddur"
    assert "renamed" not in email.body
    assert "first" not in email.body and "fourth" in email.body
    assert "…and 1 more." in email.body
    assert email.body.count("Andrew Bayko (@bayko):") == 1  # named once above his messages


def test_one_sql_write_notes_every_member_and_none_when_no_one_gets_emails(db, everyone):
    andrew, bayko, londo = everyone
    with CaptureQueriesContext(connection) as noted:
        note_unread(
            conversation_uuid="0b8e6c1e-0000-4000-8000-000000000001",
            recipients={str(andrew.uuid): DELAY, str(bayko.uuid): 60, str(londo.uuid): None},
        )
    with CaptureQueriesContext(connection) as nobody:
        note_unread(
            conversation_uuid="0b8e6c1e-0000-4000-8000-000000000002",
            recipients={str(londo.uuid): None},
        )

    assert len(noted.captured_queries) == 1
    assert {notice.recipient_id for notice in UnreadNotice.objects.all()} == {
        andrew.uuid,
        bayko.uuid,
    }
    assert nobody.captured_queries == []
