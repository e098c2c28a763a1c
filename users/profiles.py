"""What the messaging pages and rules need to know about a person, by user uuid.

A `Profile` is a user's current handle and display name, whether the account is active, whom
they blocked and who may start a conversation with them. Read from the cache; whatever it
lacks comes from the database in one query and is cached for `PROFILE_TIMEOUT`. Saving or
deleting a user, and a block made or lifted, drops their entry (the signal handlers below),
again once the transaction commits, so a change shows on the next page whichever process
serves it. The cache serves display only: whether one person may write to another is decided
on `current_profiles`, read from the database at each send.
A uuid with no user is cached too (as None: a deleted user), so their old conversations do not
cost a query per page.

Every key carries the hash tag `{names}`: a cluster-mode Redis (ElastiCache Serverless) keeps
them in one slot, so the one MGET and MSET that a page sends are allowed (docs/CACHE.md).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Block, User, WhoMayStart, gets_unread_emails

PROFILE_TIMEOUT = 60 * 60  # the longest a change missed during a cache outage can show


@dataclass(frozen=True)
class Profile:
    handle: str
    display_name: str
    is_active: bool
    blocked: frozenset[str]  # the uuids of the people this user blocked
    who_may_start: str  # a WhoMayStart value
    is_deleted: bool = False  # they deleted their account (the row stays, scrubbed)
    # Seconds a message to them may stay unread before an email about it; None: no email
    # (turned off, no verified address, inactive or deleted). notifications/ reads it on sends.
    email_unread_after: int | None = None

    @property
    def only_known(self) -> bool:
        """New conversations only from people they already have one with."""
        return self.who_may_start == WhoMayStart.KNOWN

    def has_blocked(self, user_uuid: str | uuid.UUID) -> bool:
        return str(user_uuid) in self.blocked


# The cached tuple's shape is in the key: a deploy that changes `_cached` starts new keys,
# never reading a tuple of the old shape that tasks of the previous release still write.
_SHAPE = 2  # 2: with email_unread_after


def _key(user_uuid: uuid.UUID) -> str:
    return f"profile{_SHAPE}:{{names}}:{user_uuid}"


def _cached(profile: Profile | None) -> tuple:
    if profile is None:
        return ()
    return (
        profile.handle,
        profile.display_name,
        profile.is_active,
        tuple(sorted(profile.blocked)),
        profile.who_may_start,
        profile.is_deleted,
        profile.email_unread_after,
    )


def _from_cache(value: tuple) -> Profile | None:
    if not value:
        return None
    handle, display_name, is_active, blocked, who_may_start, is_deleted, email_after = value
    return Profile(
        handle, display_name, is_active, frozenset(blocked), who_may_start, is_deleted, email_after
    )


def profiles(user_uuids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Profile | None]:
    """Each user's profile (None where there is no such user)."""
    keys = {_key(user_uuid): user_uuid for user_uuid in set(user_uuids)}
    if not keys:
        return {}
    found: dict[uuid.UUID, Profile | None] = {
        keys[key]: _from_cache(value) for key, value in cache.get_many(list(keys)).items()
    }
    missing = [user_uuid for user_uuid in keys.values() if user_uuid not in found]
    if missing:
        loaded = _load(missing)
        found.update(loaded)
        cache.set_many({_key(u): _cached(p) for u, p in loaded.items()}, PROFILE_TIMEOUT)
    return found


def _load(user_uuids: list[uuid.UUID]) -> dict[uuid.UUID, Profile | None]:
    # One query: a row per user and block made (the join is outer, so a user who blocked no
    # one is one row with None). Tuples, not model instances: this runs on pages.
    rows = User.objects.filter(uuid__in=user_uuids).values_list(
        *_PROFILE_FIELDS, "blocks_made__blocked"
    )
    users, blocked = {}, defaultdict(set)
    for user_uuid, *fields, blocked_uuid in rows:
        users[user_uuid] = fields
        if blocked_uuid is not None:
            blocked[user_uuid].add(str(blocked_uuid))
    loaded: dict[uuid.UUID, Profile | None] = dict.fromkeys(user_uuids)
    for user_uuid, fields in users.items():
        loaded[user_uuid] = _profile(fields, blocked[user_uuid])
    return loaded


def current_profiles(
    sender_uuid: uuid.UUID, *recipient_uuids: uuid.UUID
) -> dict[uuid.UUID, Profile | None]:
    """The people's profiles as the database holds them now, for deciding whether the sender
    may write to each recipient: never the cache, which a reader racing a write can fill with
    a profile from before it (a block, a deactivation) for up to PROFILE_TIMEOUT. One query
    over the primary key, each row with the blocks between that person and the sender (the
    index of the (blocker, blocked) pair); `blocked` holds only those: a recipient's holds the
    sender if they blocked them, the sender's each recipient they blocked."""
    everyone = [sender_uuid, *recipient_uuids]
    rows = (
        User.objects.filter(uuid__in=everyone)
        .annotate(
            blocks_sender=Exists(Block.objects.filter(blocker=OuterRef("pk"), blocked=sender_uuid)),
            blocked_by_sender=Exists(
                Block.objects.filter(blocker=sender_uuid, blocked=OuterRef("pk"))
            ),
        )
        .values_list(*_PROFILE_FIELDS, "blocks_sender", "blocked_by_sender")
    )
    found: dict[uuid.UUID, Profile | None] = dict.fromkeys(everyone)
    sender_fields, sender_blocked = None, set()
    for user_uuid, *fields, blocks_sender, blocked_by_sender in rows:
        if user_uuid == sender_uuid:
            sender_fields = fields
            continue
        if blocked_by_sender:
            sender_blocked.add(str(user_uuid))
        found[user_uuid] = _profile(fields, {str(sender_uuid)} if blocks_sender else ())
    if sender_fields is not None:
        found[sender_uuid] = _profile(sender_fields, sender_blocked)
    return found


_PROFILE_FIELDS = (
    *("uuid", "handle", "display_name", "is_active", "who_may_start", "deleted_at"),
    *("email", "email_verified", "email_unread", "email_unread_delay"),
)


def _profile(fields, blocked: Iterable[str]) -> Profile:
    handle, display_name, is_active, who_may_start, deleted_at, *email = fields
    address, verified, wanted, delay = email
    may_email = gets_unread_emails(
        is_active=is_active,
        deleted_at=deleted_at,
        email=address,
        email_verified=verified,
        email_unread=wanted,
    )
    return Profile(
        handle,
        display_name,
        is_active,
        frozenset(blocked),
        who_may_start,
        is_deleted=deleted_at is not None,
        email_unread_after=(delay or settings.NOTIFY_DELAY_SECONDS) if may_email else None,
    )


def forget(user_uuid: uuid.UUID) -> None:
    """Drop the cached profile now and again when the writing transaction commits: a page
    read between the write and the commit would otherwise cache the old profile again."""
    cache.delete(_key(user_uuid))
    transaction.on_commit(lambda: cache.delete(_key(user_uuid)))


@receiver(post_save, sender=User, dispatch_uid="users.profiles.saved")
@receiver(post_delete, sender=User, dispatch_uid="users.profiles.deleted")
def forget_user(sender, instance: User, **kwargs) -> None:
    forget(instance.uuid)


@receiver(post_save, sender=Block, dispatch_uid="users.profiles.block_saved")
@receiver(post_delete, sender=Block, dispatch_uid="users.profiles.block_deleted")
def forget_blocker(sender, instance: Block, **kwargs) -> None:
    forget(instance.blocker_id)
