"""Leaving: deleting one's account.

The row stays, scrubbed: its handle stays taken (retired), so no one can later pass for the
person under it; it keeps the uuid that their messages in DynamoDB carry, so the people they
talked to keep their conversations, shown with "Deleted user". docs/ACCOUNTS.md says what
stays in DynamoDB and how an operator removes it (`manage.py ddb_purge_user`).

Their Cognito user (when the account is linked) is disabled and deleted once the deletion
has committed; until Cognito confirms, the row keeps its `cognito_user_id`, which is how
`manage.py cognito_sync` finds the deletions left to finish.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import cognito
from .models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def delete_account(user: User) -> None:
    """Deactivate `user` and scrub their profile; every session of theirs ends.

    The unusable password changes the hash that each session is checked against, so every
    other browser is logged out at its next request (the caller logs out the current one).
    """
    user.display_name = ""
    user.email = ""
    user.email_verified = False
    user.bio = ""
    user.time_zone = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
    if user.cognito_user_id and settings.AWS_COGNITO_USER_POOL_ID:
        # After the commit, never inside it: a slow or failing Cognito neither holds the row
        # locked nor undoes the deletion, and a rolled-back deletion deletes nothing there.
        transaction.on_commit(functools.partial(_delete_cognito_user_or_log, user.pk), robust=True)


def pending_cognito_deletions():
    """Deleted accounts whose Cognito user is not yet confirmed gone (they keep its sub)."""
    return User.objects.filter(deleted_at__isnull=False, cognito_user_id__isnull=False)


def finish_cognito_deletion(user: User, *, user_pool_id: str, prod: bool = False) -> bool:
    """Disable and delete the Cognito user of deleted `user`, then forget its sub: True if
    the pool had it, False if it was gone already. A CognitoError leaves the sub for a retry."""
    sub = user.cognito_user_id
    found = cognito.delete_user(user_pool_id=user_pool_id, sub=sub, prod=prod)
    User.objects.filter(pk=user.pk, cognito_user_id=sub).update(cognito_user_id=None)
    user.cognito_user_id = None
    return found


def _delete_cognito_user_or_log(user_pk) -> None:
    user = pending_cognito_deletions().filter(pk=user_pk).first()
    if user is None:
        return  # finished meanwhile (cognito_sync)
    try:
        finish_cognito_deletion(user, user_pool_id=settings.AWS_COGNITO_USER_POOL_ID)
    except cognito.CognitoError as error:
        # The uuid, never the handle: logs outlive the account.
        logger.warning(
            "Cognito user of deleted account %s not deleted (`manage.py cognito_sync` "
            "finishes it): %s",
            user.uuid,
            error,
        )


def deleted_accounts_not_purged():
    """Deleted accounts whose messages `ddb_purge_user` has not yet removed, oldest first."""
    return User.objects.filter(deleted_at__isnull=False, messages_purged_at__isnull=True).order_by(
        "deleted_at", "pk"
    )


def record_messages_purged(user: User) -> None:
    """Note that `ddb_purge_user` removed `user`'s messages (now)."""
    user.messages_purged_at = timezone.now()
    User.objects.filter(pk=user.pk).update(messages_purged_at=user.messages_purged_at)
