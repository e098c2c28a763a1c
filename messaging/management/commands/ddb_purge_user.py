"""ddb_purge_user: remove a deleted person's messages and inbox entries from the table (the job
is `messaging/dynamo/purge.py`; why and when: docs/ACCOUNTS.md)."""

from django.conf import settings
from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from cruddur.commands import AwsCommand
from cruddur.errors import ServiceError
from cruddur.request_cost import track_usage
from cruddur.uuids import parse_uuid
from messaging.dynamo import get_table, purge
from users.models import User
from users.selectors import deleted_accounts_not_purged
from users.services import record_messages_purged


class Command(AwsCommand):
    destructive = True
    help = (
        "Remove a deleted person's messages from DynamoDB. For each of their conversations "
        "(their inbox entries): every message they sent, then the other person's inbox entry "
        "updated in place (the newest remaining message as its last message, or none; their "
        "handle and display name blanked; its unread count cleared), then their own inbox "
        "entry, last; at the end their unread counter. The other person's messages and PAIR "
        "items stay. In a group they are taken out of its roster and of the other members' "
        "entries (no line says they left); those entries get the newest remaining message if "
        "theirs was the last, and their unread counts counted again; the group goes on for "
        "the others. Only for an account that is deleted, or a uuid with no user row at all. "
        "Resumable: a conversation leaves their inbox only when it is done, so running it "
        "again after an interruption finishes exactly the conversations left, and on a "
        "person already purged changes nothing. Each purge is recorded on the account "
        "(messages_purged_at); --all-deleted purges every deleted account not yet purged."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "person",
            metavar="handle-or-uuid",
            nargs="?",
            help="Their handle (with or without @), or their uuid if their user row was removed.",
        )
        parser.add_argument(
            "--all-deleted",
            action="store_true",
            help="Instead of one person: every deleted account whose messages were never "
            "purged, oldest deletion first, each recorded as purged when it is done.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be removed and updated, without writing anything.",
        )

    def handle(self, *args, prod, person, all_deleted, dry_run, interactive, **options):
        if all_deleted == bool(person):
            raise CommandError(
                "Give either a handle or uuid, or --all-deleted for every deleted account not "
                "yet purged."
            )
        if all_deleted:
            self.purge_all_deleted(prod=prod, dry_run=dry_run, interactive=interactive)
            return
        user, user_uuid, who = _deleted_person(person)
        table = get_table(prod=prod)
        if dry_run:
            self.stdout.write("Dry run: reading only, nothing is removed.")
        else:
            question = (
                f"This permanently removes every message {who} sent, and their inbox entries, "
                f"from table {table.name} ({_where(prod)})."
            )
            if not self.confirm(question, no_input=not interactive):
                raise CommandError("Cancelled; nothing was removed.")
        self.purge_one(table, user_uuid, who, dry_run=dry_run)
        if user is not None and not dry_run:
            record_messages_purged(user)

    def purge_all_deleted(self, *, prod: bool, dry_run: bool, interactive: bool) -> None:
        users = list(deleted_accounts_not_purged())
        if not users:
            self.stdout.write(
                self.style.SUCCESS(
                    "Every deleted account's messages are purged already: nothing to do."
                )
            )
            return
        table = get_table(prod=prod)
        accounts = _counted(len(users), "deleted account")
        if dry_run:
            self.stdout.write(f"Dry run: reading only, nothing is removed ({accounts}).")
        else:
            question = (
                f"This permanently removes every message the {accounts} not yet purged sent, "
                f"and their inbox entries, from table {table.name} ({_where(prod)})."
            )
            if not self.confirm(question, no_input=not interactive):
                raise CommandError("Cancelled; nothing was removed.")
        for number, user in enumerate(users, start=1):
            who = _named(user)
            self.stdout.write(f"{number}/{len(users)}: {who}")
            try:
                self.purge_one(table, str(user.uuid), who, dry_run=dry_run)
            except ServiceError as error:
                raise CommandError(
                    f"Purging {who} failed ({number - 1} of {len(users)} purged and recorded "
                    f"before it): {error} Run the command again to finish the rest."
                ) from error
            if not dry_run:
                record_messages_purged(user)
        done = "to purge" if dry_run else "purged and recorded"
        self.stdout.write(self.style.SUCCESS(f"{accounts} {done}."))

    def purge_one(self, table, user_uuid: str, who: str, *, dry_run: bool) -> None:
        """Purge one person, printing a line per conversation and the totals."""

        def show(done: purge.ConversationPurged) -> None:
            line = (
                f"conversation {done.number}/{done.total} {done.conversation_uuid}: "
                f"{_counted(done.messages, 'message')} {'to remove' if dry_run else 'removed'}"
            )
            updated = "to update" if dry_run else "updated"
            if done.group:
                others = _counted(done.entries_updated, "inbox entry", "inbox entries")
                line += f", taken out of the group, {others} of the other members {updated}"
            elif done.entries_updated:
                line += f", the other person's inbox entry {updated}"
            self.stdout.write(line)

        with track_usage() as usage:
            report = purge.purge_user(table, user_uuid=user_uuid, dry_run=dry_run, progress=show)
        cost = (
            f"{usage.requests} request{pluralize(usage.requests)}, "
            f"{usage.read_units:g} RCU, {usage.write_units:g} WCU ({usage.capacity_source})"
        )
        if not report.conversations and not report.counter_removed:
            self.stdout.write(self.style.SUCCESS(f"Nothing of {who} in the table. Cost: {cost}."))
            return
        removed, updated = ("to remove", "to update") if dry_run else ("removed", "updated")
        own = _counted(report.conversations, "own inbox entry", "own inbox entries")
        if report.counter_removed:
            own += " and the unread counter"
        if report.groups:
            own += f" (taken out of {_counted(report.groups, 'group')})"
        totals = (
            f"{_counted(report.conversations, 'conversation')}: "
            f"{_counted(report.messages, 'message')} {removed}, "
            f"{_counted(report.entries_updated, 'inbox entry', 'inbox entries')} of the other "
            f"people {updated}, {own} {removed}"
        )
        if dry_run:
            summary = f"Dry run, nothing removed: {who}, {totals}. Cost: {cost}."
        else:
            summary = f"Purged {who}, {totals}. Cost: {cost}."
        self.stdout.write(self.style.SUCCESS(summary))


def _where(prod: bool) -> str:
    return "real AWS" if prod or not settings.AWS_ENDPOINT_URL else settings.AWS_ENDPOINT_URL


def _named(user: User) -> str:
    return f"@{user.handle} ({user.uuid})"


def _deleted_person(person: str) -> tuple[User | None, str, str]:
    """(their user row or None, their uuid, how to name them) for a person whose items may
    be purged; CommandError for anyone else."""
    users = User.objects
    as_uuid = parse_uuid(person)  # never a handle: those are at most 30 characters
    if as_uuid is None:
        user = users.find_by_handle(person, active_only=False)
        if user is None:
            raise CommandError(
                f"No user @{person.strip().lstrip('@')}: check the handle, or give their uuid "
                "if their user row was removed."
            )
    else:
        user = users.filter(uuid=as_uuid).first()
        if user is None:
            # The row was removed entirely: nothing says the account is in use, and the uuid
            # is the only name left for their items.
            return None, str(as_uuid), f"{as_uuid} (no user row)"
    if user.deleted_at is None:
        raise CommandError(
            f"@{user.handle} has not deleted their account; only a deleted account's messages "
            "can be purged."
        )
    return user, str(user.uuid), _named(user)


def _counted(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
