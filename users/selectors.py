"""Reads on users: finding people by handle, whom someone blocked, and the deleted accounts
whose clean-up (in Cognito, in DynamoDB) is not finished.

What the messaging pages and rules need to know about many people at once, cached, is
users/profiles.py; the writes are users/services.py.
"""

from __future__ import annotations

from django.db.models import QuerySet

from . import names
from .models import User


def find_user(*, handle: str) -> User | None:
    """The active user with this handle, any capitalisation, with or without a leading "@"."""
    return User.objects.find_by_handle(handle)


def renamed_to(*, handle: str) -> User | None:
    """The active user who renamed away from `handle` lately (the handle is held for them),
    so a link with the old handle can say where they went."""
    hold = names.held_for(handle.strip().removeprefix("@"))
    if hold is None or not hold.user.is_active:
        return None
    return hold.user


def blocked_by(*, user: User) -> list[User]:
    """The people `user` blocked, the latest block first."""
    blocks = user.blocks_made.select_related("blocked").order_by("-created_at")
    return [block.blocked for block in blocks]


def pending_cognito_deletions() -> QuerySet[User]:
    """Deleted accounts whose Cognito user is not yet confirmed gone (they keep its sub)."""
    return User.objects.filter(deleted_at__isnull=False, cognito_user_id__isnull=False)


def deleted_accounts_not_purged() -> QuerySet[User]:
    """Deleted accounts whose messages `ddb_purge_user` has not yet removed, oldest first."""
    return User.objects.filter(deleted_at__isnull=False, messages_purged_at__isnull=True).order_by(
        "deleted_at", "pk"
    )
