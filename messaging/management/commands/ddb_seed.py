from django.conf import settings
from django.core.management.base import CommandError

from cruddur.commands import AwsCommand
from messaging.seed import SEED_CONVERSATION_UUID, SeedUsersMissing, seed_conversation


class Command(AwsCommand):
    help = (
        "Write the seed conversation between andrewbrown and bayko "
        f"(group {SEED_CONVERSATION_UUID}). Idempotent: running it twice leaves the same items. "
        "With DEBUG off (perhaps the production table) it asks for --force."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Write the seed conversation even with DEBUG off, into whatever table "
            "DDB_MESSAGE_TABLE names (production's, on a production host).",
        )

    def handle(self, *args, prod, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this may be the production table: ddb_seed writes the seed "
                f"conversation into {settings.DDB_MESSAGE_TABLE} only when given --force."
            )
        try:
            count = seed_conversation(prod=prod)
        except SeedUsersMissing as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {count} messages in conversation {SEED_CONVERSATION_UUID}.")
        )
