from django.conf import settings

from cruddur.commands import AwsCommand
from users.cognito_sync import sync_cognito_users


class Command(AwsCommand):
    help = (
        "Store each user's Cognito sub in cognito_user_id: a pool user is linked to the "
        "active account whose handle is its preferred_username and whose email address is its "
        "email (any capitalisation); deleted and deactivated accounts are never linked. First "
        "disables and deletes the Cognito users of deleted accounts whose deletion did not "
        "reach Cognito. Reads every page of users."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--user-pool-id",
            help="The user pool to read (default: the AWS_COGNITO_USER_POOL_ID setting).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change without writing anything (here or in Cognito).",
        )

    def handle(self, *args, user_pool_id, dry_run, prod, **options):
        report = sync_cognito_users(
            user_pool_id=user_pool_id or settings.AWS_COGNITO_USER_POOL_ID,
            dry_run=dry_run,
            prod=prod,
        )
        self.section(
            "Cognito users of deleted accounts to delete"
            if dry_run
            else "Cognito users of deleted accounts deleted",
            [
                f"{d.user_uuid}{' (was already gone)' if d.found is False else ''}"
                for d in report.deletions_finished
            ],
        )
        self.section(
            "Would update" if dry_run else "Updated",
            [f"@{u.handle}: {u.old or '(none)'} -> {u.new}" for u in report.updated],
        )
        self.section("Unchanged", [f"@{handle}" for handle in report.unchanged])
        self.section("No local user for preferred_username", report.no_local_user)
        self.section("Missing preferred_username (Cognito usernames)", report.missing_attribute)
        self.section(
            "Deleted or deactivated accounts, left alone",
            [f"@{c.handle}: {c.reason}" for c in report.not_linked],
        )
        self.section(
            "Conflicts, left alone", [f"@{c.handle}: {c.reason}" for c in report.conflicts]
        )

        verb = "would update" if dry_run else "updated"
        summary = f"{verb} {len(report.updated)}, unchanged {len(report.unchanged)}"
        if report.deletions_finished:
            deleted = "would delete" if dry_run else "deleted"
            summary += (
                f", {deleted} the Cognito users of {len(report.deletions_finished)} "
                "deleted account(s)"
            )
        summary += "."
        if dry_run:
            self.stdout.write(self.style.WARNING(f"Dry run, nothing written: {summary}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"Cognito sync done: {summary}"))

    def section(self, title: str, lines: list[str]) -> None:
        self.stdout.write(f"{title}: {len(lines)}")
        for line in lines:
            self.stdout.write(f"  {line}")
