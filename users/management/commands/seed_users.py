from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from users.seeding import (
    DEFAULT_SEED_PASSWORD,
    SeedUserConflict,
    missing_seed_users,
    seed_users,
)


class Command(BaseCommand):
    help = (
        "Create the seed users (andrewbrown: staff and superuser; bayko, londo, altbrown) that "
        "are missing, found by handle in any capitalisation. Existing ones are left exactly as "
        "they are (names, password, active flag, sessions); --reset sets them back to the seed "
        "values. Safe to run again: `make run` runs it on every start. With DEBUG off it "
        "sets no password without --password: the default one is published in the README."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also set seed users that already exist back to their seed handle, name, "
            "email, active and staff flags and password (which logs them out everywhere).",
        )
        parser.add_argument(
            "--password",
            help="Password for the seed users this run creates "
            f'(default: "{DEFAULT_SEED_PASSWORD}", with DEBUG on only: it is published in the '
            "README, so with DEBUG off a run that creates or resets users needs this option); "
            "existing seed users keep theirs. With --reset, every seed user gets it.",
        )

    def handle(self, *args, reset, password, **options):
        if password is None:
            refuse_the_published_password(reset=reset)
            password = DEFAULT_SEED_PASSWORD
        if not password:
            raise CommandError("--password must not be empty.")
        try:
            results = seed_users(password=password, reset=reset)
        except SeedUserConflict as error:
            raise CommandError(str(error)) from error

        for user, created in results:
            state = "created" if created else ("reset" if reset else "exists")
            self.stdout.write(f"{state:8} @{user.handle:12} {user.display_name:16} {user.uuid}")

        created = [user for user, created in results if created]
        existing = [user for user, created in results if not created]
        if reset:
            summary = f"Created: {handles(created)}; reset to the seed values: {handles(existing)}."
        else:
            summary = (
                f"Created: {handles(created)}; already there, left as they are: "
                f"{handles(existing)}."
            )
        self.stdout.write(self.style.SUCCESS(summary))
        if existing and not reset:
            self.stdout.write("`seed_users --reset` sets them back to the seed values.")


def refuse_the_published_password(*, reset: bool) -> None:
    """With DEBUG off this may be production: anyone who read the README could log in as the
    superuser the run creates or resets. A run that sets no password needs none."""
    if settings.DEBUG or not (reset or missing_seed_users()):
        return
    raise CommandError(
        "DEBUG is off, and the default seed password is published in the README: "
        "give the seed users a password of your own with --password <password>."
    )


def handles(users) -> str:
    return ", ".join(f"@{user.handle}" for user in users) or "none"
