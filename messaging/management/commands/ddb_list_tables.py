from cruddur.commands import AwsCommand
from messaging.dynamo import get_table, schema


class Command(AwsCommand):
    help = "List the DynamoDB tables of the account and region (every page)."

    def handle(self, *args, prod, **options):
        tables = schema.list_tables(get_table(prod=prod))
        for name in tables:
            self.stdout.write(name)
        if not tables:
            self.stdout.write(
                "No tables. Create the messages table with: manage.py ddb_schema_load"
            )
