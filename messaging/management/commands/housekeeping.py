"""housekeeping: the periodic chores, one line each of what they did (docs/OPERATIONS.md).

What accumulates and is removed here:
- expired sessions (the database keeps them after their cookie stops working);
- django-axes' records of failed logins, logins and (if enabled) login failures older than
  LOGIN_ATTEMPTS_KEEP_DAYS;
- holds on handles people renamed away from, once they have ended;
- the unread-message email notices of deleted and deactivated accounts;
- deleted accounts' messages in DynamoDB (what `ddb_purge_user --all-deleted` does);
- the Cognito users of deleted accounts whose deletion did not reach Cognito (what
  `cognito_sync` finishes first), where a user pool is configured.

Safe to run again, and from two places at once: every chore removes only what is expired or
deleted as of when it runs. Removing a row twice removes it once (the second DELETE finds
nothing); the purge writes only where an item still differs, under a condition on what it read,
and a deleted item is no error; a Cognito user already gone counts as done. A chore
interrupted halfway leaves the rest for the next run.

A project-wide chore, here because the project package imports no app (tests/unit/test_layers.py)
and messaging is the app that may use both: its own store and users' records.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cruddur.commands import AwsCommand
from cruddur.errors import ServiceError
from messaging.dynamo import get_table, purge
from notifications.models import UnreadNotice
from users.models import HandleHold
from users.selectors import deleted_accounts_not_purged, pending_cognito_deletions
from users.services import finish_cognito_deletion, record_messages_purged

logger = logging.getLogger(__name__)


class Command(AwsCommand):
    help = (
        "The periodic chores, each printed as one line with its count: expired sessions, "
        "login records older than LOGIN_ATTEMPTS_KEEP_DAYS, ended handle holds, the email "
        "notices of gone accounts, deleted "
        "accounts' messages in DynamoDB, unfinished Cognito deletions. A chore that fails "
        "is reported and the others still run; the exit status is then 1. Idempotent, and "
        "safe to run from two places at once; meant to run every 15 minutes."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what each chore would remove, and remove nothing.",
        )

    def handle(self, *args, prod, dry_run, **options):
        if dry_run:
            self.stdout.write("Dry run: counting only, nothing is removed.")
        failed = []
        for name, chore in CHORES:
            try:
                done = chore(prod=prod, dry_run=dry_run)
            except Exception as error:  # any cause: reported, and the other chores still run
                logger.exception("housekeeping: %s failed", name)
                self.stderr.write(f"{name}: FAILED: {error}")
                failed.append(name)
            else:
                self.stdout.write(f"{name}: {done}")
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(CHORES)} chores failed ({', '.join(failed)}): the lines "
                "above say why. Each chore resumes where it stopped, so once the cause is fixed "
                "run housekeeping again (the schedule does, every 15 minutes)."
            )


@contextmanager
def _deleting(dry_run: bool) -> Iterator[None]:
    """One transaction for a chore's deletes. A dry run makes the same deletes and rolls them
    back, so its counts are exactly what a real run would remove."""
    with transaction.atomic():
        yield
        if dry_run:
            transaction.set_rollback(True)


def _removed(count: int, dry_run: bool) -> str:
    return f"{count} {'to delete' if dry_run else 'deleted'}"


def expired_sessions(*, dry_run: bool, **_) -> str:
    """Django's `clearsessions`: the session engine's own clear_expired(), counted first."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    with _deleting(dry_run):
        expired = store.get_model_class().objects.filter(expire_date__lt=timezone.now())
        count = expired.count()
        store.clear_expired()
    return _removed(count, dry_run)


def old_login_failures(*, dry_run: bool, **_) -> str:
    """Axes' failed-login records (AccessAttempt) older than LOGIN_ATTEMPTS_KEEP_DAYS. Only
    those within the cool-off count towards a pause; axes drops older ones itself, but only
    when someone logs in, so after a quiet spell they stay. Axes has no call for these by age;
    the comparison is axes' own for its logs (reset_logs)."""
    with _deleting(dry_run):
        days = settings.LOGIN_ATTEMPTS_KEEP_DAYS
        older = timezone.now() - timedelta(days=days)
        count, _ = AccessAttempt.objects.filter(attempt_time__lte=older).delete()
    return f"{_removed(count, dry_run)} (older than {days} days)"


def old_login_logs(*, dry_run: bool, **_) -> str:
    """Axes' logs of logins (AccessLog) and of failures (AccessFailureLog, off unless
    AXES_ENABLE_ACCESS_FAILURE_LOG) older than LOGIN_ATTEMPTS_KEEP_DAYS, by axes' own calls
    (what `axes_reset_logs --age` does)."""
    days = settings.LOGIN_ATTEMPTS_KEEP_DAYS
    with _deleting(dry_run):
        count = AxesProxyHandler.reset_logs(age_days=days)
        count += AxesProxyHandler.reset_failure_logs(age_days=days)
    return f"{_removed(count, dry_run)} (older than {days} days)"


def ended_handle_holds(*, dry_run: bool, **_) -> str:
    """Holds past `held_until`: nothing reads them (users/names.py looks only at holds not
    yet ended), and renaming away from that handle again makes a new one."""
    with _deleting(dry_run):
        count, _ = HandleHold.objects.filter(held_until__lte=timezone.now()).delete()
    return _removed(count, dry_run)


def notices_of_gone_accounts(*, dry_run: bool, **_) -> str:
    """The emails about unread messages (notifications/) of deleted and deactivated accounts:
    the worker would send them none, and a notice stamped sent waits for a read that never
    comes."""
    with _deleting(dry_run):
        count, _ = UnreadNotice.objects.filter(
            Q(recipient__deleted_at__isnull=False) | Q(recipient__is_active=False)
        ).delete()
    return _removed(count, dry_run)


def deleted_accounts_messages(*, prod: bool, dry_run: bool) -> str:
    """`ddb_purge_user --all-deleted`: each deleted account not yet purged, oldest first, by
    the same purge, recorded as it finishes. No DynamoDB call when there is none."""
    accounts = list(deleted_accounts_not_purged())
    messages = 0
    if accounts:
        table = get_table(prod=prod)
        for done, user in enumerate(accounts):
            try:
                report = purge.purge_user(table, user_uuid=str(user.uuid), dry_run=dry_run)
            except ServiceError as error:
                # The uuid, never the handle: logs outlive the account.
                raise ServiceError(
                    f"{done} of {len(accounts)} purged and recorded, then account {user.uuid}: "
                    f"{error}"
                ) from error
            if not dry_run:
                record_messages_purged(user)
            messages += report.messages
    verb = "to purge" if dry_run else "purged"
    noun = "account" if len(accounts) == 1 else "accounts"
    return f"{len(accounts)} {noun} {verb} ({messages} messages)"


def cognito_deletions(*, prod: bool, dry_run: bool) -> str:
    """Deleted accounts whose Cognito user is not confirmed gone (Cognito failed when they
    were deleted): deleted now, as `cognito_sync` does first. Only with a user pool."""
    pending = list(pending_cognito_deletions().order_by("deleted_at", "pk"))
    pool = settings.AWS_COGNITO_USER_POOL_ID
    if not pool:
        # Nowhere to delete them from: they wait for a pool (or `cognito_sync --user-pool-id`).
        return (
            f"0 deleted (no user pool: AWS_COGNITO_USER_POOL_ID is unset; {len(pending)} waiting)"
        )
    if dry_run:
        return _removed(len(pending), dry_run)
    for done, user in enumerate(pending):
        try:
            finish_cognito_deletion(user, user_pool_id=pool, prod=prod)
        except ServiceError as error:
            raise ServiceError(
                f"{done} of {len(pending)} deleted, then account {user.uuid}: {error}"
            ) from error
    return _removed(len(pending), dry_run)


# (what the line says, the chore): the database's first, so that an AWS outage delays nothing
# else.
CHORES: list[tuple[str, Callable[..., str]]] = [
    ("expired sessions", expired_sessions),
    ("failed-login records", old_login_failures),
    ("login logs", old_login_logs),
    ("ended handle holds", ended_handle_holds),
    ("unread-message emails of gone accounts", notices_of_gone_accounts),
    ("deleted accounts' messages in DynamoDB", deleted_accounts_messages),
    ("Cognito users of deleted accounts", cognito_deletions),
]
