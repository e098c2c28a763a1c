from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from cruddur.commands import AwsCommand
from cruddur.request_cost import track_usage
from messaging.domain import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Message, Roster
from messaging.seed import SEED_CONVERSATION_UUID
from messaging.store import get_store


class Command(AwsCommand):
    help = (
        "Print a conversation's messages, oldest first: sender, time (UTC) and text ("
        "'Message unsent' for an unsent one, '(edited HH:MM:SS)' after an edited one), then "
        "the read capacity the queries cost (access pattern A). A group's name and members "
        "come first, and its lines about members start with '—'."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "conversation_uuid",
            nargs="?",
            default=SEED_CONVERSATION_UUID,
            help=f"The conversation (default: the seed conversation {SEED_CONVERSATION_UUID}).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=DEFAULT_PAGE_SIZE,
            help="Messages per query page (default: %(default)s).",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="all_pages",
            help="Follow every page back to the first message.",
        )

    def handle(self, *args, prod, conversation_uuid, limit, all_pages, **options):
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise CommandError(f"--limit must be between 1 and {MAX_PAGE_SIZE}.")
        store = get_store(prod=prod)
        messages, cursor, pages = [], None, 0
        with track_usage() as usage:
            while True:
                page = store.list_messages(
                    conversation_uuid=conversation_uuid, cursor=cursor, limit=limit
                )
                messages.extend(page.items)
                pages += 1
                cursor = page.next_cursor
                if not (all_pages and cursor):
                    break
        if not messages:
            raise CommandError(f"No messages in conversation {conversation_uuid}.")
        # Not part of pattern A's cost above: one GetItem, none for a pair's messages.
        roster = store.get_roster(conversation_uuid=conversation_uuid)
        if roster is not None:
            self.stdout.write(heading(roster))
        for message in reversed(messages):
            when = message.created_at.strftime("%Y-%m-%d %H:%M:%S")
            # A line about members names its actor in its sentence.
            sender = "" if message.event else message.sender.handle
            self.stdout.write(f"{sender:<14}{when:<21}{shown(message)}")
        more = " (older messages: use --all)" if cursor and not all_pages else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(messages)} messages in {pages} quer{pluralize(pages, 'y,ies')}{more}; "
                "read capacity: "
                f"{usage.read_units:g} RCU ({usage.bytes_read} bytes, {usage.capacity_source})."
            )
        )


def heading(roster: Roster) -> str:
    """A group's name (if it has one) and its members' handles."""
    name = f"“{roster.name}”" if roster.name else "(no name)"
    handles = ", ".join(f"@{member.handle}" for member in roster.members)
    return f"Group {name}: {handles}"


def shown(message: Message) -> str:
    """A message's line as the pages show it: unsent ones keep no text, edits are marked, a
    group's lines about members ("Andrew added Londo.") are set apart."""
    if message.event:
        return f"— {message.text}"
    if message.unsent:
        return "Message unsent"
    if message.edited_at is not None:
        return f"{message.text} (edited {message.edited_at:%H:%M:%S})"
    return message.text
