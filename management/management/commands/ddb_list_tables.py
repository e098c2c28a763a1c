from messaging.gateway import get_gateway

from ...base import AwsCommand


class Command(AwsCommand):
    help = "List the DynamoDB tables of the account and region (every page)."

    def handle(self, *args, prod, **options):
        tables = get_gateway(prod=prod).list_tables()
        for name in tables:
            self.stdout.write(name)
        if not tables:
            self.stdout.write(
                "No tables. Create the messages table with: manage.py ddb_schema_load"
            )
