import json
from collections import Counter

from django.conf import settings

from cruddur.commands import AwsCommand
from users import cognito


class Command(AwsCommand):
    help = (
        "Print the Cognito user pool's handle -> sub map as JSON (every page of users). "
        "Handles are the users' preferred_username."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--user-pool-id",
            help="The user pool to read (default: the AWS_COGNITO_USER_POOL_ID setting).",
        )

    def handle(self, *args, user_pool_id, prod, **options):
        users = cognito.list_users(
            user_pool_id=user_pool_id or settings.AWS_COGNITO_USER_POOL_ID, prod=prod
        )
        subs = {u.preferred_username: u.sub for u in users if u.preferred_username}
        self.stdout.write(json.dumps(subs, sort_keys=True, indent=2))

        # Notes go to stderr so stdout stays valid JSON for scripts.
        without = sorted(u.username for u in users if not u.preferred_username)
        if without:
            self.stderr.write(
                f"{len(without)} Cognito user(s) without preferred_username, not in the map: "
                + ", ".join(without),
                style_func=self.style.WARNING,
            )
        counts = Counter(u.preferred_username for u in users if u.preferred_username)
        shared = sorted(name for name, count in counts.items() if count > 1)
        if shared:
            self.stderr.write(
                "preferred_username shared by several Cognito users (the map shows one sub "
                "each): " + ", ".join(shared),
                style_func=self.style.WARNING,
            )
