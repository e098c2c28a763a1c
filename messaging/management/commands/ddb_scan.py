import json

from cruddur.commands import AwsCommand
from messaging.dynamo import get_table, schema


class Command(AwsCommand):
    help = "Print every item of the messages table, one per line (follows every page)."

    def handle(self, *args, prod, **options):
        count = 0
        for item in schema.scan(get_table(prod=prod)):
            count += 1
            pk, sk = item.pop("pk"), item.pop("sk")
            rest = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
            self.stdout.write(f"{pk}  {sk}  {rest}")
        self.stdout.write(self.style.SUCCESS(f"{count} items."))
