"""Writes on users: the seed users."""

import uuid
from dataclasses import dataclass

from django.db import transaction

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


@transaction.atomic
def seed_users(*, password: str = DEFAULT_SEED_PASSWORD) -> list[tuple[User, bool]]:
    """Create or update the seed users; returns (user, created) pairs. Idempotent."""
    results = []
    for seed in SEED_USERS:
        user = User.objects.filter(handle__iexact=seed.handle).first()
        created = user is None
        if created:
            user = User(uuid=seed.uuid, handle=seed.handle)
        user.display_name = seed.display_name
        user.email = seed.email
        user.is_active = True
        if seed.is_admin:
            user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        results.append((user, created))
    return results
