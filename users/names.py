"""Current names by user uuid, for every page that shows people.

Read from the cache; whatever it lacks comes from the database in one query and is cached for
`NAME_TIMEOUT`. Saving or deleting a user drops their entry (the signal handlers below), so a
rename shows on the next page everywhere, whichever process served it. A uuid with no user is
cached too (as `None`), so a deleted user's conversations do not cost a query per page.

Every key carries the hash tag `{names}`: a cluster-mode Redis (ElastiCache Serverless) keeps
them in one slot, so the one MGET and MSET that a page sends are allowed (docs/CACHE.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import User

NAME_TIMEOUT = 60 * 60  # the longest a rename missed during a cache outage can show


@dataclass(frozen=True)
class Name:
    handle: str
    display_name: str


def _key(user_uuid: uuid.UUID) -> str:
    return f"name:{{names}}:{user_uuid}"


def current_names(user_uuids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Name | None]:
    """Each user's current handle and display name (None where there is no such user)."""
    keys = {_key(user_uuid): user_uuid for user_uuid in set(user_uuids)}
    if not keys:
        return {}
    cached = cache.get_many(list(keys))
    names: dict[uuid.UUID, Name | None] = {}
    for key, value in cached.items():
        names[keys[key]] = Name(*value) if value else None
    missing = [user_uuid for user_uuid in keys.values() if user_uuid not in names]
    if missing:
        # Tuples, not model instances: this runs on pages.
        rows = User.objects.filter(uuid__in=missing).values_list("uuid", "handle", "display_name")
        found = {row[0]: Name(row[1], row[2]) for row in rows}
        for user_uuid in missing:
            names[user_uuid] = found.get(user_uuid)
        cache.set_many(
            {
                _key(u): (found[u].handle, found[u].display_name) if u in found else ()
                for u in missing
            },
            NAME_TIMEOUT,
        )
    return names


@receiver(post_save, sender=User, dispatch_uid="users.names.saved")
@receiver(post_delete, sender=User, dispatch_uid="users.names.deleted")
def forget_name(sender, instance: User, **kwargs) -> None:
    cache.delete(_key(instance.uuid))
