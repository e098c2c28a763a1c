"""The seed users: the original's four seed accounts (andrewbrown, bayko, londo, altbrown),
created where they are missing by `manage.py seed_users`, and put in the local emulator's
Cognito pool by `manage.py cognito_local_pool`. The seed conversation between two of them is
messaging's (messaging/seed.py).
"""

import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.db import transaction

from . import cognito
from .models import User

DEFAULT_SEED_PASSWORD = "cruddur-local"

# Seed users get the same uuid on every machine, so DynamoDB items seeded for them stay
# valid when the SQL database is recreated.
SEED_NAMESPACE = uuid.UUID("0f9f2a4e-3c1b-4c55-9d7e-5b8f6f2f0c11")


@dataclass(frozen=True)
class SeedUser:
    handle: str
    display_name: str
    email: str
    is_admin: bool = False

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.uuid5(SEED_NAMESPACE, self.handle)


SEED_USERS = (
    SeedUser("andrewbrown", "Andrew Brown", "andrew@example.com", is_admin=True),
    SeedUser("bayko", "Andrew Bayko", "bayko@example.com"),
    SeedUser("londo", "Londo Mollari", "londo@example.com"),
    SeedUser("altbrown", "Alt Brown", "altbrown@example.com"),
)


class SeedUserConflict(Exception):
    """A seed user cannot be created or reset: another account holds its email address."""


class SeedResult(NamedTuple):
    user: User
    created: bool


def find_seed_user(seed: SeedUser) -> User | None:
    # By handle in any capitalisation, else by the seed uuid: an admin may have renamed the
    # handle, and that account is still the seed user its DynamoDB items belong to.
    return (
        User.objects.find_by_handle(seed.handle, active_only=False)
        or User.objects.filter(uuid=seed.uuid).first()
    )


def missing_seed_users() -> list[SeedUser]:
    """The seed users `seed_users` would create now."""
    return [seed for seed in SEED_USERS if find_seed_user(seed) is None]


@transaction.atomic
def seed_users(*, password: str = DEFAULT_SEED_PASSWORD, reset: bool = False) -> list[SeedResult]:
    """Create the seed users that are missing, with `password`. Existing ones are not saved
    at all, so admin edits stay and their sessions (tied to the password hash) stay valid;
    with `reset`, each is set back to its seed handle, name, email, flags and `password`."""
    results = []
    for seed in SEED_USERS:
        user = find_seed_user(seed)
        created = user is None
        if created:
            user = User(uuid=seed.uuid)
        if created or reset:
            # A seed user's address is verified (example.com: nobody's inbox), so it must be
            # free: say who uses it, rather than take it from them or hit the constraint.
            taken = User.objects.with_email(seed.email).exclude(pk=user.pk).first()
            if taken is not None:
                raise SeedUserConflict(
                    f"Cannot {'create' if created else 'reset'} @{seed.handle}: {taken} "
                    f"already uses {seed.email}. Change that account's email address first."
                )
            user.handle = seed.handle
            user.display_name = seed.display_name
            user.email = seed.email
            user.email_verified = True
            user.is_active = True
            user.is_staff = user.is_superuser = seed.is_admin
            user.set_password(password)
            user.save()
        results.append(SeedResult(user, created))
    return results


def create_local_user_pool() -> str:
    """Create (or reuse) the local emulator's pool holding the seed users; returns its id."""
    return cognito.create_local_user_pool(
        name=cognito.LOCAL_USER_POOL_NAME,
        users=[
            cognito.NewCognitoUser(
                username=seed.handle,
                preferred_username=seed.handle,
                email=seed.email,
                name=seed.display_name,
            )
            for seed in SEED_USERS
        ],
    )
