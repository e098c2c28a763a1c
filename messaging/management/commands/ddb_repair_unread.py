"""ddb_repair_unread: recompute unread counts from the messages (the rule is in
`messaging/dynamo/jobs.py`, `repair_unread`).

A conversation's unread count is the number of the other people's messages newer than
the later of the owner's read marker (`last_read_sk`, written when they open the
conversation) and the owner's own newest message. Entries written by older code have no marker,
so only their own newest message counts as read. In a group, its lines about members count
as messages, and someone added later counts nothing before the line that added them.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from cruddur.commands import AwsCommand
from messaging.dynamo import get_table, jobs


class Command(AwsCommand):
    help = (
        "Recompute unread counts from the messages, for tables written by older code. A "
        "conversation's unread count is the number of the other people's messages newer than "
        "what its owner has read: the later of the read marker the app stores when the owner "
        "opens it (last_read_sk) and the owner's own newest message. Rows without a marker "
        "(older code) count from the owner's own newest message only. In a group, its lines "
        "about members (added, left, renamed) count as messages, and someone added later "
        "counts nothing before the line that added them (joined_sk). Each person's count of "
        "unread conversations (the UNREAD item) is set to match. Safe while the app runs; "
        "running it twice changes nothing."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "handles",
            nargs="*",
            metavar="handle",
            help="Only these people's inboxes (default: every inbox in the table).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what is wrong without writing anything.",
        )

    def handle(self, *args, prod, handles, dry_run, **options):
        owners = None
        if handles:
            owners = []
            for handle in handles:
                user = get_user_model().objects.find_by_handle(handle, active_only=False)
                if user is None:
                    raise CommandError(f"No user @{handle.lstrip('@')}.")
                owners.append(str(user.uuid))
        report = jobs.repair_unread(get_table(prod=prod), owner_uuids=owners, dry_run=dry_run)
        for fix in report.fixes:
            what = f"conversation {fix.conversation_uuid}" if fix.conversation_uuid else "counter"
            self.stdout.write(f"{fix.owner_uuid}  {what}: {fix.stored} -> {fix.computed}")
        verb = "would fix" if dry_run else "fixed"
        self.stdout.write(
            self.style.SUCCESS(
                f"Checked {_counted(report.entries, 'conversation row')} in "
                f"{_counted(report.owners, 'inbox', 'inboxes')}; "
                f"{verb} {_counted(len(report.fixes), 'count')}."
            )
        )


def _counted(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
