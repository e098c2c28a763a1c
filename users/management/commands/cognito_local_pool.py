from django.conf import settings
from django.core.management.base import CommandError

from cruddur.commands import AwsCommand
from users.cognito import LOCAL_USER_POOL_NAME
from users.seeding import SEED_USERS, create_local_user_pool


class Command(AwsCommand):
    help = (
        f'Local stack only: create (or reuse) the user pool "{LOCAL_USER_POOL_NAME}" in the '
        "emulator holding the seed users, and print only its id, "
        "e.g. POOL=$(python manage.py cognito_local_pool). Idempotent."
    )

    def handle(self, *args, prod, **options):
        if prod:
            raise CommandError("cognito_local_pool only sets up the local emulator: drop --prod.")
        if not settings.AWS_ENDPOINT_URL:
            raise CommandError(
                "AWS_ENDPOINT_URL is not set, so this would create a user pool in real AWS: "
                "point AWS_ENDPOINT_URL at the local emulator (see .env.example)."
            )
        pool_id = create_local_user_pool()
        # Progress on stderr (uncoloured: it is not an error); stdout carries only the id.
        self.stderr.style_func = None
        handles = ", ".join(seed.handle for seed in SEED_USERS)
        self.stderr.write(
            f'User pool "{LOCAL_USER_POOL_NAME}" at {settings.AWS_ENDPOINT_URL} holds the '
            f"seed users: {handles}."
        )
        self.stdout.write(pool_id)
