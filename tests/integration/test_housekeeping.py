"""`manage.py housekeeping` through call_command: what each chore removes and keeps, a second
run finding nothing, a failing chore not stopping the others; DynamoDB over in-process moto."""

import io
import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.utils import timezone

from cruddur.errors import ServiceError
from messaging.dynamo import purge
from notifications.models import UnreadNotice
from tests.helpers import ref
from tests.integration.cognito_pools import make_pool, person, usernames
from users import cognito
from users.models import HandleHold

pytestmark = pytest.mark.django_db

KEEP_DAYS = 30


@pytest.fixture(autouse=True)
def _keep_days(settings):
    settings.LOGIN_ATTEMPTS_KEEP_DAYS = KEEP_DAYS


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("housekeeping", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines()


def session(*, expires_in: timedelta) -> str:
    store = SessionStore()
    store.create()
    Session.objects.filter(pk=store.session_key).update(expire_date=timezone.now() + expires_in)
    return store.session_key


def login_records(*, days_ago: int, handle: str) -> None:
    """A failed-login record and a login record of `days_ago` days ago."""
    when = timezone.now() - timedelta(days=days_ago)
    made = {"username": handle, "ip_address": "198.51.100.7", "user_agent": "test"}
    attempt = AccessAttempt.objects.create(failures_since_start=1, **made)
    log = AccessLog.objects.create(**made)
    # attempt_time is auto_now_add: set after creating.
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=when)
    AccessLog.objects.filter(pk=log.pk).update(attempt_time=when)


def delete_account(user):
    user.deleted_at = timezone.now()
    user.is_active = False
    user.save()


@pytest.fixture
def accumulated(make_user):
    """One of each, expired and fresh: sessions, axes' records, handle holds."""
    expired = session(expires_in=-timedelta(minutes=1))
    fresh = session(expires_in=timedelta(days=1))
    login_records(days_ago=KEEP_DAYS + 1, handle="old")
    login_records(days_ago=KEEP_DAYS - 1, handle="recent")
    owner = make_user("sheridan")
    now = timezone.now()
    HandleHold.objects.create(handle="john", user=owner, held_until=now - timedelta(seconds=1))
    HandleHold.objects.create(handle="captain", user=owner, held_until=now + timedelta(days=1))
    gone = make_user("londo")
    for recipient in (owner, gone):
        UnreadNotice.objects.create(
            recipient=recipient, conversation_uuid=uuid.uuid4(), due_at=now, sent_at=now
        )
    gone.is_active = False  # deactivated: no emails, and no read to come
    gone.save()
    return expired, fresh


def test_removes_what_expired_keeps_the_rest_and_a_second_run_removes_nothing(store, accumulated):
    expired, fresh = accumulated

    lines = run()

    assert lines == [
        "expired sessions: 1 deleted",
        f"failed-login records: 1 deleted (older than {KEEP_DAYS} days)",
        f"login logs: 1 deleted (older than {KEEP_DAYS} days)",
        "ended handle holds: 1 deleted",
        "unread-message emails of gone accounts: 1 deleted",
        "deleted accounts' messages in DynamoDB: 0 accounts purged (0 messages)",
        "Cognito users of deleted accounts: 0 deleted (no user pool: AWS_COGNITO_USER_POOL_ID "
        "is unset; 0 waiting)",
    ]
    assert list(Session.objects.values_list("pk", flat=True)) == [fresh]
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["recent"]
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["recent"]
    assert list(HandleHold.objects.values_list("handle", flat=True)) == ["captain"]
    assert list(UnreadNotice.objects.values_list("recipient__handle", flat=True)) == ["sheridan"]

    again = run()

    assert [line.partition(":")[2].split()[0] for line in again] == ["0"] * len(lines)
    assert Session.objects.count() == AccessAttempt.objects.count() == 1
    assert AccessLog.objects.count() == HandleHold.objects.count() == 1


def test_a_dry_run_counts_and_removes_nothing(store, accumulated):
    lines = run("--dry-run")

    assert lines[0] == "Dry run: counting only, nothing is removed."
    assert lines[1] == "expired sessions: 1 to delete"
    assert lines[4] == "ended handle holds: 1 to delete"
    assert Session.objects.count() == AccessAttempt.objects.count() == 2
    assert AccessLog.objects.count() == HandleHold.objects.count() == 2


@pytest.fixture
def deleted_writer(store, make_user):
    """garibaldi wrote to ivanova and was answered, then deleted their account."""
    garibaldi, ivanova = make_user("garibaldi"), make_user("ivanova")
    conversation, _ = store.create_conversation(
        sender=ref(garibaldi), recipient=ref(ivanova), text="hello from garibaldi"
    )
    store.create_message(conversation_uuid=conversation, sender=ref(ivanova), text="hi")
    store.create_message(conversation_uuid=conversation, sender=ref(garibaldi), text="bye")
    delete_account(garibaldi)
    return garibaldi, conversation


def test_purges_the_messages_of_deleted_accounts_once(store, deleted_writer):
    garibaldi, conversation = deleted_writer

    lines = run()

    assert "deleted accounts' messages in DynamoDB: 1 account purged (2 messages)" in lines
    texts = [m.text for m in store.list_messages(conversation_uuid=conversation).items]
    assert texts == ["hi"]
    garibaldi.refresh_from_db()
    assert garibaldi.messages_purged_at is not None

    assert "deleted accounts' messages in DynamoDB: 0 accounts purged (0 messages)" in run()


def test_a_failing_chore_is_reported_and_the_others_still_run(
    store, accumulated, deleted_writer, monkeypatch
):
    def unavailable(*args, **kwargs):
        raise ServiceError("DynamoDB is unavailable.")

    monkeypatch.setattr(purge, "purge_user", unavailable)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"^1 of 7 chores failed \(deleted accounts' messages"):
        call_command("housekeeping", stdout=out, stderr=err)

    assert err.getvalue() == (
        "deleted accounts' messages in DynamoDB: FAILED: 0 of 1 purged and recorded, then "
        f"account {deleted_writer[0].uuid}: DynamoDB is unavailable.\n"
    )
    assert "ended handle holds: 1 deleted" in out.getvalue()  # before it
    assert "Cognito users of deleted accounts: 0 deleted" in out.getvalue()  # after it
    assert Session.objects.count() == 1


def test_finishes_the_cognito_deletions_cognito_missed(store, make_user, settings):
    settings.AWS_COGNITO_USER_POOL_ID = pool_id = make_pool([person("bayko"), person("londo")])
    client = cognito.get_client()
    (user,) = client.list_users(UserPoolId=pool_id, Filter='username = "bayko"')["Users"]
    sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    # Deleted while Cognito was unreachable: the account keeps its sub.
    bayko = make_user("bayko", cognito_user_id=sub)
    delete_account(bayko)

    assert "Cognito users of deleted accounts: 1 to delete" in run("--dry-run")
    assert usernames(pool_id) == {"bayko": True, "londo": True}

    assert "Cognito users of deleted accounts: 1 deleted" in run()
    assert usernames(pool_id) == {"londo": True}
    bayko.refresh_from_db()
    assert bayko.cognito_user_id is None

    assert "Cognito users of deleted accounts: 0 deleted" in run()
