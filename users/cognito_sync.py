"""Linking users to their Cognito user (the original's update_cognito_user_ids script).

`sync_cognito_users` stores each pool user's `sub` on the account it belongs to, and first
finishes the Cognito deletions of deleted accounts that `services.delete_account` could not.
The pool is read through the Cognito client (users/cognito.py); this module holds only the
rules of the link.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from . import cognito, selectors, services
from .models import User


class SubUpdate(NamedTuple):
    handle: str
    old: str | None
    new: str


class SubConflict(NamedTuple):
    handle: str
    reason: str


class CognitoDeletion(NamedTuple):
    user_uuid: str  # the deleted account (its retired handle is not repeated)
    found: bool | None  # the pool had its user (False: gone already; None: dry run)


@dataclass(frozen=True)
class SyncReport:
    updated: list[SubUpdate]
    unchanged: list[str]  # local handles whose sub was already right
    no_local_user: list[str]  # preferred_usernames that match no handle
    missing_attribute: list[str]  # Cognito usernames without a preferred_username
    # left alone: the email addresses differ, or storing the sub would break a unique constraint
    conflicts: list[SubConflict]
    # deleted accounts whose Cognito user this run deleted (a dry run: would delete)
    deletions_finished: list[CognitoDeletion] = field(default_factory=list)
    # deleted or deactivated accounts a pool user names: never linked
    not_linked: list[SubConflict] = field(default_factory=list)
    dry_run: bool = False


def sync_cognito_users(
    *, user_pool_id: str, dry_run: bool = False, prod: bool = False
) -> SyncReport:
    """Set `cognito_user_id` from the pool: a pool user is linked to the active account whose
    handle is its preferred_username and whose email address is its email (both in any case).

    A preferred_username alone proves nothing (anyone may pick one in Cognito), so a match
    with another or no email address is a conflict, not a link; deleted and deactivated
    accounts are never linked. First it finishes the Cognito deletions of deleted accounts
    that `delete_account` could not (they keep their sub until then), so their pool users
    are gone before the pool is read. Then it reads the whole pool (every page), loads the
    candidate users in one query and writes in one transaction. With dry_run nothing is
    written, in Cognito or here; the report is the same.
    """
    deletions_finished = _finish_cognito_deletions(
        user_pool_id=user_pool_id, dry_run=dry_run, prod=prod
    )
    pool_users = cognito.list_users(user_pool_id=user_pool_id, prod=prod)
    missing_attribute = sorted(u.username for u in pool_users if not u.preferred_username)
    pool_users_by_handle: dict[str, list[cognito.CognitoUser]] = defaultdict(list)
    for pool_user in pool_users:
        if pool_user.preferred_username:
            pool_users_by_handle[pool_user.preferred_username.lower()].append(pool_user)

    updated, unchanged, no_local_user, conflicts, not_linked = [], [], [], [], []
    with transaction.atomic():
        # The users to link, and whoever already holds one of the pool's subs.
        candidates = User.objects.annotate(handle_lower=Lower("handle")).filter(
            Q(handle_lower__in=list(pool_users_by_handle))
            | Q(cognito_user_id__in=[u.sub for u in pool_users])
        )
        if not dry_run:
            candidates = candidates.select_for_update()
        local_by_handle, holder_of_sub = {}, {}
        for user in candidates:
            local_by_handle[user.handle_lower] = user
            if user.cognito_user_id:
                holder_of_sub[user.cognito_user_id] = user

        wanted: dict[uuid.UUID, tuple[User, str]] = {}
        for handle_lower, matches in sorted(pool_users_by_handle.items()):
            user = local_by_handle.get(handle_lower)
            if user is None:
                no_local_user.extend(sorted(m.preferred_username for m in matches))
            elif user.deleted_at is not None or not user.is_active:
                reason = "deleted" if user.deleted_at is not None else "deactivated"
                not_linked.append(SubConflict(user.handle, f"the account is {reason}"))
            elif len(matches) > 1:
                usernames = ", ".join(sorted(m.username for m in matches))
                reason = f"several Cognito users have this preferred_username: {usernames}"
                conflicts.append(SubConflict(user.handle, reason))
            elif not _same_email(matches[0].email, user.email):
                reason = (
                    f"Cognito user {matches[0].username} has this preferred_username but "
                    f"{'no email address' if not matches[0].email else 'another email address'}"
                    ", so it may be someone else"
                )
                conflicts.append(SubConflict(user.handle, reason))
            elif user.cognito_user_id == matches[0].sub:
                unchanged.append(user.handle)
            else:
                wanted[user.pk] = (user, matches[0].sub)

        # A sub may move to a user only if its holder gives it up in this same run; giving up
        # can itself be blocked, so repeat until nothing more is blocked.
        while blocked := [
            pk
            for pk, (_, sub) in wanted.items()
            if sub in holder_of_sub and holder_of_sub[sub].pk not in wanted
        ]:
            for pk in blocked:
                user, sub = wanted.pop(pk)
                reason = f"its sub {sub} is already stored on @{holder_of_sub[sub].handle}"
                conflicts.append(SubConflict(user.handle, reason))

        for user, sub in wanted.values():
            updated.append(SubUpdate(user.handle, user.cognito_user_id, sub))
        if wanted and not dry_run:
            _store_subs(wanted.values())

    return SyncReport(
        updated=sorted(updated),
        unchanged=unchanged,
        no_local_user=no_local_user,
        missing_attribute=missing_attribute,
        conflicts=sorted(conflicts),
        deletions_finished=deletions_finished,
        not_linked=sorted(not_linked),
        dry_run=dry_run,
    )


def _finish_cognito_deletions(
    *, user_pool_id: str, dry_run: bool, prod: bool
) -> list[CognitoDeletion]:
    """Disable and delete the pool users of deleted accounts that still hold a sub (Cognito
    failed when they were deleted). A CognitoError stops here; those done stay done."""
    finished = []
    for user in selectors.pending_cognito_deletions().order_by("deleted_at", "pk"):
        found = None
        if not dry_run:
            found = services.finish_cognito_deletion(user, user_pool_id=user_pool_id, prod=prod)
        finished.append(CognitoDeletion(str(user.uuid), found))
    return finished


def _same_email(cognito_email: str | None, email: str) -> bool:
    """The same address in any case (as `User.objects.with_email` compares them)."""
    return bool(cognito_email and email) and cognito_email.strip().lower() == email.strip().lower()


def _store_subs(changes: Iterable[tuple[User, str]]) -> None:
    users = []
    for user, sub in changes:
        user.cognito_user_id = sub
        users.append(user)
    # Clear first: the unique index is checked row by row, so users swapping subs would collide.
    User.objects.filter(pk__in=[user.pk for user in users]).update(cognito_user_id=None)
    User.objects.bulk_update(users, ["cognito_user_id"])
