from messaging.gateway import get_gateway

from ...base import AwsCommand


class Command(AwsCommand):
    help = (
        "Create the messages table and its message-group-sk-index GSI. "
        "Succeeds without change when the table already exists."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--billing-mode",
            choices=["PAY_PER_REQUEST", "PROVISIONED"],
            default="PAY_PER_REQUEST",
            help="On-demand (default) or provisioned at 5 read / 5 write units, like the original.",
        )
        parser.add_argument(
            "--stream",
            action="store_true",
            help="Enable a NEW_IMAGE DynamoDB stream (for the optional stream handler Lambda).",
        )

    def handle(self, *args, prod, billing_mode, stream, **options):
        gateway = get_gateway(prod=prod)
        if gateway.create_schema(billing_mode=billing_mode, stream=stream):
            self.stdout.write(self.style.SUCCESS(f"Created table {gateway.table_name}."))
        else:
            self.stdout.write(f"Table {gateway.table_name} already exists; nothing to do.")
