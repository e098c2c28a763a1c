from django.core.management.base import BaseCommand, CommandError

from users.services import DEFAULT_SEED_PASSWORD, seed_users


class Command(BaseCommand):
    help = "Create or update the seed users (andrewbrown, bayko, londo, altbrown). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEFAULT_SEED_PASSWORD,
            help=f'Password for every seed user (default: "{DEFAULT_SEED_PASSWORD}").',
        )

    def handle(self, *args, password, **options):
        if not password:
            raise CommandError("--password must not be empty.")
        for user, created in seed_users(password=password):
            state = "created" if created else "updated"
            self.stdout.write(f"{state:8} @{user.handle:12} {user.display_name:16} {user.uuid}")
        self.stdout.write(self.style.SUCCESS("Seed users ready; log in with any of them."))
