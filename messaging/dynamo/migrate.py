"""Bring a table written by the original (or by older versions of this app) up to date.

The original wrote inbox entries and messages only: no PAIR items, no unread fields, no
counters, no schema item, no TTL. `migrate` adds, in this order:

1. DynamoDB TTL on `expires_at` (the idempotency keys of sends expire by it);
2. per person, in sorted order of their uuid: a PAIR item for each pair of people who have a
   conversation, then the unread counts of their entries and their UNREAD counter
   (`jobs.repair_unread`, which holds the rule, groups' too);
3. the schema item (`schema.mark_current`), only when every person went through.

It never rewrites a key (sort keys keep whatever form the original gave them: local offsets,
with or without microseconds) and never deletes anything.

Groups (this app's, never the original's) have no PAIR item: a group entry's `user_uuid` is
the group's own uuid, not a person's, so its entries take no part in step 2's pairs. Their
entries, rosters and event lines are only read (the unread repair counts event lines and
knows when a member joined), so a table holding groups migrates as one without.

Resumable and idempotent by re-checking, not by a checkpoint: every step reads first and
writes only what is missing or wrong, so a second run writes nothing, and an interrupted run
is simply run again (what the first run wrote reads as done; the table is marked current only
by a run that got through every person). A checkpoint item would save the re-reads of a
resumed run but is one more item to trust and clean up; the re-reads cost what the repair
costs anyway.

Safe while people send: a PAIR item is written only if it is absent or already says the same
conversation, and `repair_unread` conditions its writes on the entry and counter it read. A
pair with two conversations (the original could create two) keeps the PAIR item it has, or
gets one for its most recently active conversation; the pair is reported as a conflict and
both conversations stay as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..domain import UnreadFix
from ..errors import Conflict, StoreError
from . import items, jobs, schema
from .table import Rejected, Table

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_PAIR_ATTEMPTS = 3


@dataclass(frozen=True)
class PairConflict:
    """Two people with more than one conversation: one PAIR item, the others left as they are."""

    user_uuids: tuple[str, str]  # sorted
    kept: str  # the conversation the PAIR item points at
    others: tuple[str, ...]  # the pair's other conversations, untouched


@dataclass(frozen=True)
class OwnerProgress:
    """One person done (or, in a dry run, checked)."""

    number: int  # 1-based, in sorted order of owner uuid
    total: int
    owner_uuid: str
    entries: int  # their inbox entries found in the index
    pairs_written: int  # PAIR items written for pairs first seen in this inbox
    conflicts: int
    unread_fixes: int  # entries and counter corrected


@dataclass(frozen=True)
class MigrationReport:
    dry_run: bool  # if so, every "written", "fixed", "enabled", "marked" is "would be"
    owners: int  # people with inbox entries
    entries: int  # inbox entries found in the index
    pairs_written: int
    pairs_present: int  # PAIR items that were already there (whatever they point at)
    pair_conflicts: tuple[PairConflict, ...]
    unread_fixes: tuple[UnreadFix, ...]
    expiry_enabled: bool  # this run turned TTL on
    marked_current: bool  # this run recorded the current schema version
    schema_version: int  # the table's version when the run ended

    @property
    def changes(self) -> int:
        """Writes made (or, in a dry run, to make); 0 when the table was up to date."""
        return (
            self.pairs_written
            + len(self.unread_fixes)
            + int(self.expiry_enabled)
            + int(self.marked_current)
        )


@dataclass(frozen=True)
class _Entry:
    owner_uuid: str
    other_uuid: str | None  # None in a group's entry: its members are no pair
    conversation_uuid: str
    last_message_at: datetime  # the earliest possible when the key is not a time


def migrate(
    table: Table,
    *,
    dry_run: bool = False,
    progress: Callable[[OwnerProgress], None] | None = None,
) -> MigrationReport:
    """Bring the table up to date (see the module docstring); `dry_run` reads and reports
    what it would write, writes nothing and leaves the table unmarked. `progress` is called
    after each person."""
    _check_index(table)
    version_before = schema.version(table)
    expiry_enabled = _expiry_is_off(table)
    if expiry_enabled and not dry_run:
        schema.enable_expiry(table)

    entries = _entries(table)
    by_owner: dict[str, list[_Entry]] = defaultdict(list)
    for entry in entries:
        by_owner[entry.owner_uuid].append(entry)
    conversations_of_pair = _conversations_of_pairs(entries)

    owners = sorted(by_owner)
    pairs_done: set[tuple[str, str]] = set()
    pairs_written = pairs_present = 0
    conflicts: list[PairConflict] = []
    fixes: list[UnreadFix] = []
    for number, owner_uuid in enumerate(owners, start=1):
        # Each pair once, with the first of its people in sorted order.
        mine = sorted(
            {pair for entry in by_owner[owner_uuid] if (pair := _pair_of(entry)) is not None}
            - pairs_done
        )
        written_here = conflicts_here = 0
        for pair in mine:
            written, conflict = _ensure_pair(
                table, pair, conversations_of_pair[pair], dry_run=dry_run
            )
            pairs_written += written
            pairs_present += not written
            written_here += written
            if conflict is not None:
                conflicts.append(conflict)
                conflicts_here += 1
        pairs_done.update(mine)
        repair = jobs.repair_unread(table, owner_uuids=[owner_uuid], dry_run=dry_run)
        fixes += repair.fixes
        if progress is not None:
            progress(
                OwnerProgress(
                    number=number,
                    total=len(owners),
                    owner_uuid=owner_uuid,
                    entries=len(by_owner[owner_uuid]),
                    pairs_written=written_here,
                    conflicts=conflicts_here,
                    unread_fixes=len(repair.fixes),
                )
            )

    # Reached only when every person went through: any error above leaves the table unmarked.
    marked_current = version_before < items.CURRENT_SCHEMA
    if marked_current and not dry_run:
        schema.mark_current(table)
    return MigrationReport(
        dry_run=dry_run,
        owners=len(owners),
        entries=len(entries),
        pairs_written=pairs_written,
        pairs_present=pairs_present,
        pair_conflicts=tuple(conflicts),
        unread_fixes=tuple(fixes),
        expiry_enabled=expiry_enabled,
        marked_current=marked_current,
        schema_version=version_before if dry_run else max(version_before, items.CURRENT_SCHEMA),
    )


# --- the table's shape ---


def _check_index(table: Table) -> None:
    """The app needs the sparse GSI: tables from the original's first schema-load have none."""
    indexes = {
        index["IndexName"]: index
        for index in schema.describe(table).get("GlobalSecondaryIndexes") or []
    }
    index = indexes.get(items.GSI_NAME)
    if index is None:
        raise StoreError(
            f"Table '{table.name}' has no index '{items.GSI_NAME}', which the app needs: add it "
            "(message_group_uuid HASH, sk RANGE, projection ALL) with `aws dynamodb "
            "update-table`, wait until it is ACTIVE, then run ddb_migrate again."
        )
    status = index.get("IndexStatus", "ACTIVE")
    if status != "ACTIVE":
        raise StoreError(
            f"The index '{items.GSI_NAME}' of table '{table.name}' is {status}; "
            "run ddb_migrate again when it is ACTIVE."
        )


def _expiry_is_off(table: Table) -> bool:
    """True when TTL on `expires_at` still has to be turned on."""
    description = table.call("describe_time_to_live", TableName=table.name).get(
        "TimeToLiveDescription", {}
    )
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute == items.EXPIRES_AT:
            return False
        # A table has one TTL attribute: turning ours on would fail.
        raise StoreError(
            f"Table '{table.name}' expires items by '{attribute}', but the app's items expire "
            f"by '{items.EXPIRES_AT}': turn that TTL off, then run ddb_migrate again."
        )
    if status == "DISABLING":
        raise StoreError(
            f"TTL on table '{table.name}' is being turned off; run ddb_migrate again when "
            "that is done."
        )
    return True


# --- inbox entries and pairs ---


def _entries(table: Table) -> list[_Entry]:
    """Every inbox entry, from a scan of the sparse GSI (it holds entries only)."""
    found = []
    for page in table.pages(
        "scan",
        TableName=table.name,
        IndexName=items.GSI_NAME,
        ProjectionExpression="pk, sk, message_group_uuid, user_uuid, #kind",
        ExpressionAttributeNames={"#kind": "kind"},
    ):
        for raw in page["Items"]:
            item = items.to_plain(raw)
            owner_uuid = items.owner_of(item["pk"])
            if owner_uuid == item["pk"]:
                continue  # not in an inbox partition: not an entry, whatever it carries
            group = items.is_group_entry(item)
            if not group and not item.get("user_uuid"):
                raise StoreError(
                    f"The inbox entry {item['pk']} / {item['sk']!r} names no other person "
                    "(user_uuid); fix or delete it, then run ddb_migrate again."
                )
            found.append(
                _Entry(
                    owner_uuid=owner_uuid,
                    # A group's entry names the group there, never a person.
                    other_uuid=None if group else str(item["user_uuid"]),
                    conversation_uuid=items.conversation_of(item),
                    last_message_at=items.time_of(items.entry_time_key(item["sk"])) or _EARLIEST,
                )
            )
    return found


def _pair(user_uuid: str, other_user_uuid: str) -> tuple[str, str] | None:
    if user_uuid == other_user_uuid:
        return None  # a conversation with oneself has no pair to keep unique
    first, second = sorted((user_uuid, other_user_uuid))
    return first, second


def _pair_of(entry: _Entry) -> tuple[str, str] | None:
    if entry.other_uuid is None:
        return None  # a group's entry: groups have no PAIR item
    return _pair(entry.owner_uuid, entry.other_uuid)


def _conversations_of_pairs(entries: list[_Entry]) -> dict[tuple[str, str], dict[str, datetime]]:
    """Each pair's conversations, with the time of each one's newest entry. Either entry of a
    conversation names the pair, so a conversation missing one entry still counts."""
    found: dict[tuple[str, str], dict[str, datetime]] = defaultdict(dict)
    for entry in entries:
        pair = _pair_of(entry)
        if pair is not None:
            known = found[pair].get(entry.conversation_uuid, _EARLIEST)
            found[pair][entry.conversation_uuid] = max(known, entry.last_message_at)
    return found


def _ensure_pair(
    table: Table,
    pair: tuple[str, str],
    conversations: dict[str, datetime],
    *,
    dry_run: bool,
) -> tuple[bool, PairConflict | None]:
    """The pair's PAIR item, written if missing: (written, conflict if any)."""
    pk = items.pair_pk(*pair)
    # The most recently active conversation, if the original made more than one.
    chosen = max(conversations, key=lambda uuid: (conversations[uuid], uuid))
    for _ in range(_PAIR_ATTEMPTS):
        existing = table.get(pk, items.PAIR_SORT_KEY)
        if existing is not None:
            return _outcome(pair, items.conversation_of_pair(existing), conversations, False)
        if dry_run:
            return _outcome(pair, chosen, conversations, True)
        try:
            # Conditioned: written only if absent or the same; if someone wrote it since our
            # read (the app starting or resuming a conversation of this pair), theirs stays.
            kept = jobs.claim_pair(table, *pair, chosen)
        except Rejected:
            continue  # deleted since it was read: read again
        return _outcome(pair, kept, conversations, kept == chosen)
    raise Conflict(f"The PAIR item {pk} kept changing; run ddb_migrate again.")


def _outcome(
    pair: tuple[str, str], kept: str, conversations: dict[str, datetime], written: bool
) -> tuple[bool, PairConflict | None]:
    others = tuple(sorted(set(conversations) - {kept}))
    return written, (PairConflict(pair, kept, others) if others else None)
