from django.core.management.base import CommandError

from messaging.seed import SEED_CONVERSATION_UUID, SeedUsersMissing, seed_conversation

from ...base import AwsCommand


class Command(AwsCommand):
    help = (
        "Write the seed conversation between andrewbrown and bayko "
        f"(group {SEED_CONVERSATION_UUID}). Idempotent: running it twice leaves the same items."
    )

    def handle(self, *args, prod, **options):
        try:
            count = seed_conversation(prod=prod)
        except SeedUsersMissing as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {count} messages in conversation {SEED_CONVERSATION_UUID}.")
        )
