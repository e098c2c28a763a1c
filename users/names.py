"""The names people choose, and the ones they may not: handles and display names that would
pass for the site speaking, and handles held for someone who renamed away from them.

Reserved names are compared by their *skeleton*: case folded, compatibility forms unified
(full-width letters), every separator and symbol dropped, trailing digits dropped and
look-alike digits read as letters, so `admin_`, `Adm1n`, `a_d_m_i_n` and `admin2` all read as
`admin`, while `mali` is not `mail`. The reserved lists are written as skeletons.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import HandleHold, User

# Handles no one may take: they would pass for the site speaking, or for no one.
RESERVED_HANDLES = frozenset(
    [
        "abuse",
        "admin",
        "administrator",
        "anonymous",
        "api",
        "cruddur",
        "deactivated",
        "deleted",
        "deleteduser",
        "everyone",
        "help",
        "info",
        "mail",
        "me",
        "messages",
        "mod",
        "moderator",
        "noreply",
        "null",
        "official",
        "postmaster",
        "root",
        "security",
        "staff",
        "support",
        "system",
        "undefined",
        "webmaster",
        "www",
    ]
)

# Display names that would pass for the site or for what the pages show of a gone account.
# Narrower than the handles: a display name is free text ("Mali" must not be "mail").
RESERVED_DISPLAY_NAMES = frozenset(
    [
        "admin",
        "administrator",
        "cruddur",
        "cruddursupport",
        "cruddurteam",
        "deactivated",
        "deactivateduser",
        "deleted",
        "deleteduser",
        "moderator",
        "official",
        "root",
        "security",
        "staff",
        "support",
        "system",
    ]
)

_LOOK_ALIKES = str.maketrans({"0": "o", "3": "e", "4": "a", "5": "s", "7": "t"})


def skeleton(name: str) -> str:
    """What `name` reads as, for comparing with a reserved name (see the module's docstring);
    a "1" stays, since it reads as "i" or "l" (`_reads_as`)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = "".join(character for character in folded if character.isalnum())
    return kept.rstrip("0123456789").translate(_LOOK_ALIKES)


def _reads_as(name: str, reserved: frozenset[str]) -> bool:
    shape = skeleton(name)
    return any(
        len(shape) == len(word)
        and all(a == b or (a == "1" and b in "il") for a, b in zip(shape, word, strict=True))
        for word in reserved
    )


def validate_handle_not_reserved(handle: str) -> None:
    if _reads_as(handle, RESERVED_HANDLES):
        raise ValidationError("That handle is reserved. Please choose another.", code="reserved")


def validate_display_name_not_reserved(display_name: str) -> None:
    if _reads_as(display_name, RESERVED_DISPLAY_NAMES):
        raise ValidationError(
            "That name is reserved: it would look like the site or a deleted account. "
            "Please choose another.",
            code="reserved",
        )


def held_for(handle: str) -> HandleHold | None:
    """The hold on `handle` (any case) if someone renamed away from it recently."""
    return (
        HandleHold.objects.filter(handle__lower=handle.lower(), held_until__gt=timezone.now())
        .select_related("user")
        .first()
    )


@transaction.atomic
def renamed(*, user: User, old_handle: str) -> None:
    """`user` changed their handle from `old_handle`: hold the old one for them for
    HANDLE_HOLD_DAYS (links with it then say where they went), and release any hold of theirs
    on the handle they now have."""
    HandleHold.objects.filter(user=user, handle__lower=user.handle.lower()).delete()
    if old_handle.lower() == user.handle.lower():
        return  # only the capitalisation changed
    HandleHold.objects.update_or_create(
        handle__lower=old_handle.lower(),
        defaults={
            "handle": old_handle,
            "user": user,
            "held_until": timezone.now() + timedelta(days=settings.HANDLE_HOLD_DAYS),
        },
    )
