"""Jobs over many items: recomputing unread counts, and importing a whole conversation.

Both are safe while people send and read: every write is conditioned on what was read, and
running either twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..domain import (
    NewMessage,
    UnreadFix,
    UnreadRepair,
    UserRef,
    format_sort_key,
    parse_sort_key,
)
from ..errors import Conflict, StoreError
from . import actions, items
from .items import GSI_NAME, UNREAD_SORT_KEY
from .table import Attempt, Done, Rejected, Table, Write

_TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems

# --- unread repair, for tables written by older code ---


def repair_unread(
    table: Table, *, owner_uuids: Iterable[str] | None = None, dry_run: bool = False
) -> UnreadRepair:
    """Recompute unread counts, and each owner's counter, from the messages themselves.

    The rule: an entry's unread count is the number of messages from the other people (in a
    group, its event lines too: "… added …") that are newer than what the owner has read.
    What the owner has read ends at the later of (a) the entry's `last_read_sk`, which
    mark_read sets to the entry's sort key when it clears the count, and (b) the owner's own
    newest message, since sending means reading. Entries written by older code have no
    `last_read_sk`: only (b) applies, so a conversation the owner read but never answered
    counts as unread. A group member added later never counts what came before the line that
    added them (their entry's `joined_sk`): they cannot read it. Messages newer than the
    entry itself are left out: the move that is still coming (the Streams handler) will count
    them.

    `owner_uuids` limits it to those inboxes; by default every owner found in the sparse GSI
    (entries only). `dry_run` reports without writing.
    """
    owners = sorted(set(owner_uuids)) if owner_uuids is not None else _entry_owners(table)
    fixes: list[UnreadFix] = []
    checked = 0
    for owner_uuid in owners:
        unread_entries = 0
        counter_delta = 0  # what the entry fixes add to the counter (as their writes do)
        for item in _owner_entries(table, owner_uuid):
            checked += 1
            stored, unread = items.unread_of(item), count_unread(table, item)
            unread_entries += unread > 0
            if unread == stored:
                continue
            counter_delta += (unread > 0) - (stored > 0)
            fixes.append(UnreadFix(owner_uuid, items.conversation_of(item), stored, unread))
            if not dry_run:
                _repair_entry(table, item)
        dry_run_counts = (unread_entries, counter_delta) if dry_run else None
        fix = _repair_counter(table, owner_uuid, dry_run_counts=dry_run_counts)
        if fix is not None:
            fixes.append(fix)
    return UnreadRepair(owners=len(owners), entries=checked, fixes=tuple(fixes))


def _entry_owners(table: Table) -> list[str]:
    # The GSI holds entries only, so this scan never reads a message.
    owners = set()
    for page in table.pages(
        "scan", TableName=table.name, IndexName=GSI_NAME, ProjectionExpression="pk"
    ):
        owners |= {items.owner_of(items.to_plain(item)["pk"]) for item in page["Items"]}
    return sorted(owners)


def _owner_entries(
    table: Table, owner_uuid: str, *, conversation_uuid: str | None = None
) -> list[dict[str, Any]]:
    """Every entry item of one owner, or of one conversation (consistent reads of the owner's
    partition, never the GSI, which may lag; the counter item left out)."""
    params: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND sk < :counter",
        "ExpressionAttributeValues": {
            ":pk": {"S": items.inbox_pk(owner_uuid)},
            ":counter": {"S": UNREAD_SORT_KEY},
        },
    }
    if conversation_uuid is not None:
        params["FilterExpression"] = "message_group_uuid = :conversation"
        params["ExpressionAttributeValues"][":conversation"] = {"S": conversation_uuid}
    found: list[dict[str, Any]] = []
    for page in table.pages("query", TableName=table.name, ConsistentRead=True, **params):
        found += [items.to_plain(item) for item in page["Items"]]
    return found


def _owner_entry(table: Table, owner_uuid: str, conversation_uuid: str) -> dict[str, Any] | None:
    found = _owner_entries(table, owner_uuid, conversation_uuid=conversation_uuid)
    if len(found) > 1:
        raise StoreError(
            f"User {owner_uuid} has {len(found)} inbox entries for conversation "
            f"{conversation_uuid}; delete the older ones."
        )
    return found[0] if found else None


def count_unread(table: Table, entry: dict[str, Any]) -> int:
    """The unread count of one entry (a pair's or a group's) by the rule in `repair_unread`."""
    owner_uuid = items.owner_of(entry["pk"])
    entry_at = items.time_of(items.entry_time_key(entry["sk"]))
    if entry_at is None:
        raise StoreError(
            f"The item {entry['pk']} / {entry['sk']!r} has a sort key that is not a time; "
            "fix or delete it, then run the repair again."
        )
    read_until = items.time_of(entry.get("last_read_sk"))  # a damaged marker counts as none
    # A group member added later sees the group from the line that added them on.
    visible_from = items.time_of(entry.get("joined_sk"))
    unread = 0
    # Newest first, stopping at the first message the owner has read. Times are compared
    # parsed, not as strings: older code wrote keys with local offsets.
    for page in table.pages(
        "query",
        TableName=table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": items.messages_pk(items.conversation_of(entry))}},
        ProjectionExpression="sk, user_uuid",
        ScanIndexForward=False,
        ConsistentRead=True,
    ):
        for raw in page["Items"]:
            message = items.to_plain(raw)
            sent_at = items.time_of(message["sk"])
            if sent_at is None or sent_at > entry_at:
                continue
            if (
                message.get("user_uuid") == owner_uuid
                or (read_until is not None and sent_at <= read_until)
                or (visible_from is not None and sent_at < visible_from)
            ):
                return unread
            unread += 1
    return unread


def _repair_entry(table: Table, item: dict[str, Any]) -> None:
    owner_uuid = items.owner_of(item["pk"])

    def plan(attempt: Attempt[None]) -> Write[None] | Done[None]:
        # The entry as read first; after a lost race (a send moved it, a read cleared it), as
        # it is now.
        entry = (
            item
            if attempt.number == 0
            else _owner_entry(table, owner_uuid, items.conversation_of(item))
        )
        if entry is None:
            return Done(None)
        old, new = items.unread_of(entry), count_unread(table, entry)
        if old == new:
            return Done(None)
        return Write(actions.set_unread(table.name, entry, new), None)

    table.transact(plan, what="repair the unread count")


def _repair_counter(
    table: Table, owner_uuid: str, *, dry_run_counts: tuple[int, int] | None
) -> UnreadFix | None:
    """Set the owner's counter to the number of unread entries, if it differs.

    The write holds only while the counter is still the value read: a concurrent send or
    read that changes it also changed the entries, so both are read again. A dry run passes
    (entries that would be unread, what the entry fixes would add to the counter) instead.
    """
    key = items.typed_key(items.inbox_pk(owner_uuid), UNREAD_SORT_KEY)

    def plan(
        attempt: Attempt[UnreadFix | None],
    ) -> Write[UnreadFix | None] | Done[UnreadFix | None]:
        counter = table.get(items.inbox_pk(owner_uuid), UNREAD_SORT_KEY) or {}
        stored = counter.get("conversations")
        if dry_run_counts is not None:
            want, delta = dry_run_counts
            if int(stored or 0) + delta == want:
                return Done(None)
            return Done(UnreadFix(owner_uuid, None, int(stored or 0) + delta, want))
        entries = _owner_entries(table, owner_uuid)
        want = sum(1 for entry in entries if items.unread_of(entry) > 0)
        if int(stored or 0) == want:
            return Done(None)
        values = {":want": {"N": str(want)}}
        condition = "attribute_not_exists(#n)"
        if stored is not None:
            condition = "#n = :stored"
            values[":stored"] = {"N": str(stored)}
        update = {
            "Update": {
                "TableName": table.name,
                "Key": key,
                "UpdateExpression": "SET #n = :want",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#n": "conversations"},
                "ExpressionAttributeValues": values,
            }
        }
        # The entries counted must also be as read: a send and then a read move the counter up
        # and back, so the counter's value alone can hold while the entries have changed since
        # they were counted (threads sending during ddb_migrate did this). A transaction holds
        # 100 actions; larger inboxes keep the check on the value only.
        checks = [_entry_unchanged(table.name, entry) for entry in entries]
        if len(checks) >= _TRANSACTION_ACTIONS:
            checks = []
        return Write([update, *checks], UnreadFix(owner_uuid, None, int(stored or 0), want))

    return table.transact(plan, what="repair the unread counter")


def _entry_unchanged(table_name: str, entry: dict[str, Any]) -> dict[str, Any]:
    key = items.typed_key(entry["pk"], entry["sk"])
    return {
        "ConditionCheck": {"TableName": table_name, "Key": key, **actions.unchanged_entry(entry)}
    }


# --- bulk import (seed data, benchmarks) ---


def import_conversation(
    table: Table,
    *,
    conversation_uuid: str,
    participants: tuple[UserRef, UserRef],
    messages: Sequence[NewMessage],
) -> None:
    """Idempotent: the messages, the PAIR item, and both entries pointed at the newest message
    (never moved back if newer messages already exist). New entries start read."""
    first, second = participants
    if first.uuid == second.uuid:
        raise ValueError("A conversation to import needs two different people.")
    if not messages:
        raise ValueError("A conversation to import needs at least one message.")
    by_key: dict[str, dict[str, Any]] = {}
    for new in messages:
        if new.sender.uuid not in (first.uuid, second.uuid):
            raise ValueError(f"{new.sender.handle} is not in this conversation.")
        message = items.message_at(
            new.created_at,
            message_uuid=new.message_uuid,
            conversation_uuid=conversation_uuid,
            sender=new.sender,
            text=new.text,
        )
        if message.sort_key in by_key:
            raise ValueError(f"Two messages share the time {message.sort_key}; one would be lost.")
        by_key[message.sort_key] = items.message_item(message)
    table.batch_put(list(by_key.values()))
    _put_pair(table, first.uuid, second.uuid, conversation_uuid)

    newest = by_key[max(by_key)]
    newest_at = parse_sort_key(newest["sk"])

    def plan(attempt: Attempt[None]) -> Write[None] | Done[None]:
        moment = attempt.not_before(newest_at)
        sort_key = format_sort_key(moment)
        writes = []
        for owner, other in ((first, second), (second, first)):
            item = _owner_entry(table, owner.uuid, conversation_uuid)
            if item is None:
                new_item = items.entry_item(
                    owner_uuid=owner.uuid,
                    other=other,
                    conversation_uuid=conversation_uuid,
                    sort_key=sort_key,
                    text=newest["message"],
                    unread=0,
                )
                # Imported as read, so the unread repair agrees with the 0 above.
                new_item["last_read_sk"] = sort_key
                writes.append(actions.put_new(table.name, new_item))
            # A hidden entry's key embeds its time; moving it to a newer message unhides it,
            # as any new message does.
            elif parse_sort_key(items.entry_time_key(item["sk"])) < newest_at:
                writes += actions.moved_entries(
                    table.name,
                    [item],
                    sort_key=sort_key,
                    text=newest["message"],
                    sender_uuid=newest["user_uuid"],
                    count_unread=False,
                )
        return Write(writes, None, at=moment) if writes else Done(None)

    table.transact(plan, what="import the conversation")


def claim_pair(table: Table, user_uuid: str, other_user_uuid: str, conversation_uuid: str) -> str:
    """Point the pair's PAIR item at `conversation_uuid` unless it points at another one
    already; returns the conversation it points at (one per pair, whoever wrote first)."""
    try:
        table.call(
            "put_item",
            TableName=table.name,
            Item=items.to_typed(items.pair_item(user_uuid, other_user_uuid, conversation_uuid)),
            ConditionExpression="attribute_not_exists(pk) OR group_uuid = :conversation",
            ExpressionAttributeValues={":conversation": {"S": conversation_uuid}},
        )
    except Rejected:
        pair = table.get(items.pair_pk(user_uuid, other_user_uuid), items.PAIR_SORT_KEY)
        if pair is None:  # deleted since: a retry would write ours
            raise
        return items.conversation_of_pair(pair)
    return conversation_uuid


def _put_pair(table: Table, user_uuid: str, other_user_uuid: str, conversation_uuid: str) -> None:
    other = claim_pair(table, user_uuid, other_user_uuid, conversation_uuid)
    if other != conversation_uuid:
        raise Conflict(
            f"These two people already have conversation {other}; "
            f"import into that one instead of {conversation_uuid}."
        )
