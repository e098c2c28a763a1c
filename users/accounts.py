"""Leaving: deleting one's account.

The row stays, scrubbed: its handle stays taken (retired), so no one can later pass for the
person under it; it keeps the uuid that their messages in DynamoDB carry, so the people they
talked to keep their conversations, shown with "Deleted user". docs/ACCOUNTS.md says what
stays in DynamoDB and how an operator removes it (`manage.py ddb_purge_user`).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import User


@transaction.atomic
def delete_account(user: User) -> None:
    """Deactivate `user` and scrub their profile; every session of theirs ends.

    The unusable password changes the hash that each session is checked against, so every
    other browser is logged out at its next request (the caller logs out the current one).
    """
    user.display_name = ""
    user.email = ""
    user.bio = ""
    user.cognito_user_id = None
    user.time_zone = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
