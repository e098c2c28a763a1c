from cruddur.commands import AwsCommand
from messaging.dynamo import get_table, schema


class Command(AwsCommand):
    help = (
        "Create the messages table and its message-group-sk-index GSI. "
        "Succeeds without change when the table already exists."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--billing-mode",
            choices=schema.BILLING_MODES,
            default="PAY_PER_REQUEST",
            help="On-demand (default) or provisioned at 5 read / 5 write units, like the original.",
        )
        parser.add_argument(
            "--stream",
            action="store_true",
            help="Enable a NEW_IMAGE DynamoDB stream (for the optional stream handler Lambda).",
        )

    def handle(self, *args, prod, billing_mode, stream, **options):
        table = get_table(prod=prod)
        if schema.create(table, billing_mode=billing_mode, stream=stream):
            self.stdout.write(self.style.SUCCESS(f"Created table {table.name}."))
        else:
            self.stdout.write(f"Table {table.name} already exists; nothing to do.")
