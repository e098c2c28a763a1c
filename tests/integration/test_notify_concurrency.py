"""Two `notify_emails --once` at the same moment, on Postgres: every due email goes once (each
notice is claimed with SELECT … FOR UPDATE SKIP LOCKED), none twice."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from messaging import services
from notifications.models import UnreadNotice
from tests.helpers import at_once, seed

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_at_once_send_each_email_once(memory_store, make_user, settings):
    if connections["default"].vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL (the tests' DATABASE_URL)")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sender = make_user("sender")
    people = []
    for number in range(12):
        person = make_user(f"reader{number}", email_verified=True)
        group = seed(memory_store, person, sender)
        services.send_message(sender=sender, conversation_uuid=group, text=f"hi {number}")
        people.append(person)
    UnreadNotice.objects.update(due_at=timezone.now() - timedelta(seconds=1))

    def worker(_):
        try:
            call_command("notify_emails", "--once", "--batch", "100")
        finally:
            connections.close_all()

    at_once(2, worker)

    sent_to = Counter(address for email in mail.outbox for address in email.to)
    assert sent_to == Counter({person.email: 1 for person in people})
    assert UnreadNotice.objects.filter(sent_at__isnull=True).count() == 0
