from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from messaging import gateway

from ...base import AwsCommand


class Command(AwsCommand):
    help = (
        "Print a user's conversations, newest first: group uuid, the other person, "
        "the last message and its time (access pattern B)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "handle", nargs="?", default="andrewbrown", help="Whose inbox (default: andrewbrown)."
        )

    def handle(self, *args, prod, handle, **options):
        user = get_user_model().objects.filter(handle__iexact=handle.lstrip("@")).first()
        if user is None:
            raise CommandError(f"No user @{handle}. Seed them with `python manage.py seed_users`.")
        messages_gateway = gateway.get_gateway(prod=prod)
        groups, cursor = [], None
        with gateway.track_usage() as usage:
            while True:
                page = messages_gateway.list_message_groups(user_uuid=str(user.uuid), cursor=cursor)
                groups.extend(page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
        self.stdout.write(f"@{user.handle} ({user.uuid})")
        for group in groups:
            when = group.last_message_at.strftime("%Y-%m-%d %H:%M:%S")
            unread = f"  [{group.unread} unread]" if group.unread else ""
            other = f"@{group.other_user.handle}"
            line = f"{group.message_group_uuid}  {other:<14}{when}  {group.last_message[:60]}"
            self.stdout.write(line + unread)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(groups)} conversation{pluralize(len(groups))}; "
                f"read capacity: {usage.read_units:g} RCU "
                f"({usage.capacity_source})."
            )
        )
