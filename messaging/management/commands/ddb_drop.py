from django.conf import settings
from django.core.management.base import CommandError

from cruddur.commands import AwsCommand
from messaging.dynamo import get_table, schema


class Command(AwsCommand):
    destructive = True
    help = "Delete a DynamoDB table (default: the messages table) and everything in it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "table_name", nargs="?", help="Table to delete (default: DDB_MESSAGE_TABLE)."
        )

    def handle(self, *args, prod, table_name, interactive, **options):
        table = get_table(prod=prod)
        table_name = table_name or table.name
        where = "real AWS" if prod or not settings.AWS_ENDPOINT_URL else settings.AWS_ENDPOINT_URL
        question = f"This deletes table {table_name} and every item in it ({where})."
        if not self.confirm(question, no_input=not interactive):
            raise CommandError("Cancelled; nothing was deleted.")
        schema.drop(table, table_name=table_name)
        self.stdout.write(self.style.SUCCESS(f"Deleted table {table_name}."))
