"""Writes on users: a person's profile and settings, blocks, and leaving (deleting one's
account). Forms validate what people type; these functions write it, whoever calls them (a
settings page, a messaging page, the admin).

Deleting an account keeps the row, scrubbed: its handle stays taken (retired), so no one can
later pass for the person under it; it keeps the uuid that their messages in DynamoDB carry,
so the people they talked to keep their conversations, shown with "Deleted user".
docs/ACCOUNTS.md says what stays in DynamoDB and how an operator removes it
(`manage.py ddb_purge_user`). Their Cognito user (when the account is linked) is disabled and
deleted once the deletion has committed; until Cognito confirms, the row keeps its
`cognito_user_id`, which is how `manage.py cognito_sync` finds the deletions left to finish.

Blocks are read by the messaging rules (messaging/policy.py); what else a block does there
(the conversation marked read) is messaging's own service, which calls `block` here.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import cognito, names, selectors
from .models import Block, User

logger = logging.getLogger(__name__)


# --- profile and settings ---


@transaction.atomic
def update_profile(
    *, user: User, handle: str, display_name: str, bio: str, email: str, time_zone: str
) -> bool:
    """Save `user`'s profile as given (users.forms.ProfileForm validates it). A new handle
    holds the old one for them (users/names.py); a new email address (`User.has_email`) is
    unverified until its link is opened. True if the address changed: the caller sends that
    link.

    The stored handle and address are read from the locked row, not from `user`, which a
    bound ModelForm has already changed in memory.
    """
    stored = User.objects.select_for_update().only("handle", "email").get(pk=user.pk)
    email_changed = not stored.has_email(email)
    user.handle = handle
    user.display_name = display_name
    user.bio = bio
    user.email = email
    user.time_zone = time_zone
    fields = ["handle", "display_name", "bio", "email", "time_zone"]
    if email_changed:
        user.email_verified = False  # no one has opened the new address's link
        fields.append("email_verified")
    user.save(update_fields=fields)
    if handle != stored.handle:
        names.renamed(user=user, old_handle=stored.handle)
    return email_changed


def set_messaging_settings(
    *, user: User, who_may_start: str, email_unread: bool, email_unread_delay: int | None
) -> None:
    """Who may start a conversation with `user` (a WhoMayStart value); whether they get emails
    about unread messages, and after how long (None: the site's NOTIFY_DELAY_SECONDS)."""
    user.who_may_start = who_may_start
    user.email_unread = email_unread
    user.email_unread_delay = email_unread_delay
    user.save(update_fields=["who_may_start", "email_unread", "email_unread_delay"])


def set_email_unread(*, user: User, enabled: bool) -> None:
    """Emails about unread messages on or off (the one-click link in such an email)."""
    user.email_unread = enabled
    user.save(update_fields=["email_unread"])


# --- blocks ---


def block(*, user: User, other: User) -> None:
    """`user` blocks `other`: nothing `other` sends reaches them until they unblock. Blocking
    someone twice is one block."""
    if user.pk == other.pk:
        raise ValidationError("You can't block yourself.", code="self")
    Block.objects.get_or_create(blocker=user, blocked=other)


def unblock(*, user: User, other: User) -> None:
    """`user` lifts their block of `other` (nothing to do if there is none)."""
    for made in Block.objects.filter(blocker=user, blocked=other):
        made.delete()  # one by one: each deletion drops the blocker's cached profile


# --- leaving ---


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


def finish_cognito_deletion(user: User, *, user_pool_id: str, prod: bool = False) -> bool:
    """Disable and delete the Cognito user of deleted `user`, then forget its sub: True if
    the pool had it, False if it was gone already. A CognitoError leaves the sub for a retry."""
    sub = user.cognito_user_id
    found = cognito.delete_user(user_pool_id=user_pool_id, sub=sub, prod=prod)
    User.objects.filter(pk=user.pk, cognito_user_id=sub).update(cognito_user_id=None)
    user.cognito_user_id = None
    return found


def _delete_cognito_user_or_log(user_pk) -> None:
    user = selectors.pending_cognito_deletions().filter(pk=user_pk).first()
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


def record_messages_purged(user: User) -> None:
    """Note that `ddb_purge_user` removed `user`'s messages (now)."""
    user.messages_purged_at = timezone.now()
    User.objects.filter(pk=user.pk).update(messages_purged_at=user.messages_purged_at)
