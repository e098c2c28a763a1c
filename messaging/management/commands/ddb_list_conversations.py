from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from cruddur.commands import AwsCommand
from cruddur.request_cost import track_usage
from messaging.domain import InboxEntry, group_title
from messaging.store import get_store


class Command(AwsCommand):
    help = (
        "Print a user's conversations, newest first: conversation uuid, the other person "
        "(for a group: its title and the other members), the last message and its time "
        "(access pattern B)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "handle", nargs="?", default="andrewbrown", help="Whose inbox (default: andrewbrown)."
        )

    def handle(self, *args, prod, handle, **options):
        user = get_user_model().objects.find_by_handle(handle, active_only=False)
        if user is None:
            raise CommandError(f"No user @{handle}. Seed them with `python manage.py seed_users`.")
        store = get_store(prod=prod)
        entries, cursor = [], None
        with track_usage() as usage:
            while True:
                page = store.list_conversations(user_uuid=str(user.uuid), cursor=cursor)
                entries.extend(page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
        self.stdout.write(f"@{user.handle} ({user.uuid})")
        for entry in entries:
            when = entry.last_message_at.strftime("%Y-%m-%d %H:%M:%S")
            unread = f"  [{entry.unread} unread]" if entry.unread else ""
            other = talking_with(entry)
            last = "Message unsent" if entry.last_message_unsent else entry.last_message[:60]
            line = f"{entry.conversation_uuid}  {other:<14} {when}  {last}"
            self.stdout.write(line + unread)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(entries)} conversation{pluralize(len(entries))}; "
                f"read capacity: {usage.read_units:g} RCU "
                f"({usage.capacity_source})."
            )
        )


def talking_with(entry: InboxEntry) -> str:
    """Who the conversation is with: the other person, or a group's title and the other
    members (a group's entry holds the group, not a person, where a pair's holds them)."""
    if entry.group is None:
        return f"@{entry.other_user.handle}"
    handles = ", ".join(f"@{member.handle}" for member in entry.group.others(entry.owner_uuid))
    title = group_title(entry.group.name, entry.group.members, entry.owner_uuid)
    return f"{title} ({handles or 'nobody else'})"
