"""ddb_migrate: bring a table written by the original (or older versions of this app) up to
date (the job is `messaging/dynamo/migrate.py`)."""

from django.template.defaultfilters import pluralize

from cruddur.commands import AwsCommand
from cruddur.request_cost import track_usage
from messaging.dynamo import get_table, items, migrate

# At the default verbosity, a line for each person with something to do, and one every this
# many people (--verbosity 2: every person; 0: none).
PROGRESS_EVERY = 100


class Command(AwsCommand):
    help = (
        "Bring a table written by the original (or by older versions of this app) up to date: "
        "a PAIR item for every pair of people with a conversation (groups have none and are "
        "left as they are), unread counts and each person's UNREAD counter (the rule of "
        "ddb_repair_unread), TTL on expires_at, then the "
        "schema version. Sort keys are left as they are and nothing is deleted; a pair with two "
        "conversations keeps one PAIR item and is reported. Safe while the app runs; running "
        "it again finishes an interrupted run and changes nothing on a migrated table."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what it would write, without writing anything (the table stays unmarked).",
        )

    def handle(self, *args, prod, dry_run, verbosity, **options):
        table = get_table(prod=prod)

        def show(done: migrate.OwnerProgress) -> None:
            # Conflicts are listed at the end, and are not changes.
            busy = done.pairs_written or done.unread_fixes or done.number % PROGRESS_EVERY == 0
            if verbosity >= 2 or (verbosity == 1 and busy):
                self.stdout.write(f"[{done.number}/{done.total}] {done.owner_uuid}: {_line(done)}")

        if dry_run:
            self.stdout.write("Dry run: reading only, nothing is written.")
        with track_usage() as usage:
            report = migrate.migrate(table, dry_run=dry_run, progress=show)
        for conflict in report.pair_conflicts:
            first, second = conflict.user_uuids
            self.stdout.write(
                self.style.WARNING(
                    f"Conflict: {first} and {second} have {1 + len(conflict.others)} "
                    f"conversations; the PAIR item points at {conflict.kept}, "
                    f"{', '.join(conflict.others)} left as it is."
                )
            )
        if report.expiry_enabled:
            self.stdout.write(f"TTL on expires_at: {'to turn on' if dry_run else 'turned on'}.")
        if report.marked_current:
            recorded = "to record" if dry_run else "recorded"
            self.stdout.write(f"Schema version {items.CURRENT_SCHEMA}: {recorded}.")
        written, fixed = ("to write", "to fix") if dry_run else ("written", "fixed")
        counts = "; ".join(
            [
                f"{_counted(report.owners, 'person', 'people')}, "
                f"{_counted(report.entries, 'inbox entry', 'inbox entries')}",
                f"PAIR items: {report.pairs_written} {written}, "
                f"{report.pairs_present} already there, "
                f"{_counted(len(report.pair_conflicts), 'conflict')}",
                f"unread counts: {len(report.unread_fixes)} {fixed}",
                f"schema version {report.schema_version}",
            ]
        )
        cost = (
            f"{usage.requests} request{pluralize(usage.requests)}, "
            f"{usage.read_units:g} RCU, {usage.write_units:g} WCU ({usage.capacity_source})"
        )
        changes = _counted(report.changes, "change")
        if dry_run:
            summary = f"Dry run, nothing written: {counts}. {changes} to make. Cost: {cost}."
        else:
            summary = f"Migrated table '{table.name}': {counts}. {changes}. Cost: {cost}."
        self.stdout.write(self.style.SUCCESS(summary))


def _line(done: migrate.OwnerProgress) -> str:
    parts = [_counted(done.entries, "entry", "entries")]
    if done.pairs_written:
        parts.append(_counted(done.pairs_written, "PAIR item"))
    if done.conflicts:
        parts.append(_counted(done.conflicts, "conflict"))
    if done.unread_fixes:
        parts.append(_counted(done.unread_fixes, "unread fix", "unread fixes"))
    return ", ".join(parts)


def _counted(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
