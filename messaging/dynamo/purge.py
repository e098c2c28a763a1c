"""Remove a deleted person's messages from the table (`ddb_purge_user`).

When someone deletes their account their items stay, so that the people they talked to keep
whole conversations. Purging removes them, one conversation at a time, the conversations
found by paging the person's own inbox partition (`GRP#<uuid>`, never a scan of the table):

1. every message they sent in it (`MSG#<conversation>` items whose `user_uuid` is theirs),
   found by paging the conversation's messages and deleted in batches (BatchWriteItem,
   unprocessed requests sent again); the other person's messages stay;
2. the other person's inbox entry, found through the sparse GSI, is updated in place (its
   sort key stays): when it no longer points at a remaining message (its last message was
   theirs) it gets the newest remaining message's text, or "" when none remain; the copies of
   the deleted person's handle and display name on it are blanked (`user_uuid` stays: pages
   name people by uuid and show "Deleted user"); its unread count goes to 0 (every message
   it counted was theirs), the other person's UNREAD counter following. One conditional
   write, on the entry still being there as read;
3. their own inbox entry for the conversation, last.

Then their UNREAD counter item. PAIR items stay (they hold uuids only, and keep the other
person's conversation the one for the pair).

In a group (an entry of `kind` "group") step 1 is the same (their event lines, "… added …",
are their messages too), and steps 2 and 3 are one transaction, because a group's entries
must match its roster (`groups.check_entries`): the roster is put without them, its
`version` raised and conditioned on the version read (a send planned against the old roster
is cancelled and reads again, so it never brings their entry back); every other member's
entry is updated in place, conditioned on being as read: the members, the names and the title
without them, the newest remaining message if its last one was theirs, the unread count
counted again by the repair's rule (`jobs.count_unread`), the owner's counter following; and
their own entry is deleted. No line says they left: a purge is not something they did.
Other people's lines that name them ("Bayko added Andrew Brown.") stay as written. A group
they had left before is no longer in their inbox, so their messages there are not found.

Resumable without a checkpoint: a conversation leaves the person's inbox only when its
messages and the other entry are done, so after an interruption a second run finds exactly
the conversations not finished, and the steps of a half-done one are safe to repeat (deleting
what is gone is no error; the other entry is written only where it still differs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import rosters
from ..domain import Roster, UserRef, preview
from ..errors import StoreError
from . import actions, groups, items, jobs
from .items import GSI_NAME, UNREAD_SORT_KEY
from .table import Attempt, Done, Stale, Table, Write

# Items per Query page, for the person's inbox and for each conversation's messages: the
# deletes of a page are sent before the next page is read.
PAGE_SIZE = 100

# What is blanked on the other person's entry: the deleted person's names, as stored.
_NAME_ATTRIBUTES = ("user_handle", "user_display_name")
# What a group's entry takes from its roster (`items.regroup`): the names, the members.
_ROSTER_ATTRIBUTES = ("user_handle", "user_display_name", "group_name", "members")


@dataclass(frozen=True)
class ConversationPurged:
    """One conversation done (in a dry run: looked at)."""

    number: int  # 1-based, in the order of the person's inbox (newest first)
    total: int
    conversation_uuid: str
    messages: int  # their messages removed (in a dry run: to remove)
    entries_updated: int  # the other people's entries updated (a pair: 0 or 1; to update)
    group: bool = False  # a group: they were (in a dry run: would be) taken out of its roster


@dataclass(frozen=True)
class PurgeReport:
    dry_run: bool  # if so, every "removed" and "updated" is "would be"
    user_uuid: str
    conversations: int  # their own inbox entries removed, one per conversation
    messages: int
    entries_updated: int  # the other people's entries
    counter_removed: bool  # their UNREAD item was there and is gone
    groups: int = 0  # of the conversations, groups whose roster they were taken out of


def purge_user(
    table: Table,
    *,
    user_uuid: str,
    dry_run: bool = False,
    progress: Callable[[ConversationPurged], None] | None = None,
) -> PurgeReport:
    """Remove what the table holds of `user_uuid` (see the module docstring). `dry_run` reads
    and counts, writes nothing. `progress` is called after each conversation."""
    entries = list(_own_entries(table, user_uuid))
    messages = entries_updated = 0
    for number, entry in enumerate(entries, start=1):
        removed, updated = purge_conversation(table, user_uuid, entry, dry_run=dry_run)
        messages += removed
        entries_updated += updated
        if progress is not None:
            progress(
                ConversationPurged(
                    number=number,
                    total=len(entries),
                    conversation_uuid=items.conversation_of(entry),
                    messages=removed,
                    entries_updated=updated,
                    group=items.is_group_entry(entry),
                )
            )
    return PurgeReport(
        dry_run=dry_run,
        user_uuid=user_uuid,
        conversations=len(entries),
        messages=messages,
        entries_updated=entries_updated,
        counter_removed=_remove_counter(table, user_uuid, dry_run=dry_run),
        groups=sum(1 for entry in entries if items.is_group_entry(entry)),
    )


def purge_conversation(
    table: Table, user_uuid: str, entry: dict[str, Any], *, dry_run: bool
) -> tuple[int, int]:
    """Steps 1-3 for the conversation of `entry` (the person's own inbox entry): (messages
    removed, other entries updated)."""
    conversation_uuid = items.conversation_of(entry)
    removed, newest_sk = _remove_messages(table, user_uuid, conversation_uuid, dry_run=dry_run)
    if items.is_group_entry(entry):
        return removed, _take_out_of_group(table, user_uuid, conversation_uuid, dry_run=dry_run)
    newest = table.get(items.messages_pk(conversation_uuid), newest_sk) if newest_sk else None
    last = _last_message(newest)
    updated = 0
    for other in _other_entries(table, user_uuid, conversation_uuid):
        updated += _update_other_entry(table, other, last, dry_run=dry_run)
    if not dry_run:
        table.call(
            "delete_item", TableName=table.name, Key=items.typed_key(entry["pk"], entry["sk"])
        )
    return removed, updated


# --- reads ---


def _own_entries(table: Table, user_uuid: str) -> Iterator[dict[str, Any]]:
    """The person's inbox entries, newest first (consistent reads of their partition, the
    counter item left out)."""
    for page in table.pages(
        "query",
        TableName=table.name,
        KeyConditionExpression="pk = :pk AND sk < :counter",
        ExpressionAttributeValues={
            ":pk": {"S": items.inbox_pk(user_uuid)},
            ":counter": {"S": UNREAD_SORT_KEY},
        },
        ProjectionExpression="pk, sk, message_group_uuid, #kind",
        ExpressionAttributeNames={"#kind": "kind"},
        ScanIndexForward=False,
        ConsistentRead=True,
        PaginationConfig={"PageSize": PAGE_SIZE},
    ):
        for raw in page["Items"]:
            yield items.to_plain(raw)


def _entries_of(table: Table, conversation_uuid: str) -> list[dict[str, Any]]:
    """Every entry of the conversation, as the store reads participants (the GSI holds
    entries only, and may lag)."""
    found = []
    for page in table.pages(
        "query",
        TableName=table.name,
        IndexName=GSI_NAME,
        KeyConditionExpression="message_group_uuid = :conversation",
        ExpressionAttributeValues={":conversation": {"S": conversation_uuid}},
    ):
        found += [items.to_plain(raw) for raw in page["Items"]]
    return found


def _other_entries(table: Table, user_uuid: str, conversation_uuid: str) -> list[dict[str, Any]]:
    """The other participants' entries of the conversation; none if they are gone (say,
    they were purged first)."""
    own_pk = items.inbox_pk(user_uuid)
    return [item for item in _entries_of(table, conversation_uuid) if item["pk"] != own_pk]


def _last_message_up_to(table: Table, conversation_uuid: str, sort_key: str) -> _LastMessage:
    """The newest message at or before `sort_key` (an entry's time): the entry's own last
    message if it stays. A group's keys are all this app's one format, so they compare as
    strings."""
    found = table.query(
        KeyConditionExpression="pk = :pk AND sk <= :at",
        ExpressionAttributeValues={
            ":pk": {"S": items.messages_pk(conversation_uuid)},
            ":at": {"S": sort_key},
        },
        ScanIndexForward=False,
        ConsistentRead=True,
        Limit=1,
    )["Items"]
    return _last_message(items.to_plain(found[0]) if found else None)


# --- writes ---


def _remove_messages(
    table: Table, user_uuid: str, conversation_uuid: str, *, dry_run: bool
) -> tuple[int, str | None]:
    """Delete the person's messages in the conversation, a page at a time: (how many, the
    sort key of the newest message that stays, None when none does)."""
    pk = items.messages_pk(conversation_uuid)
    removed = 0
    newest_sk: str | None = None
    for page in table.pages(
        "query",
        TableName=table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ProjectionExpression="sk, user_uuid",
        ScanIndexForward=False,
        ConsistentRead=True,
        PaginationConfig={"PageSize": PAGE_SIZE},
    ):
        theirs = []
        for raw in page["Items"]:
            message = items.to_plain(raw)
            if message.get("user_uuid") == user_uuid:
                theirs.append((pk, message["sk"]))
            elif newest_sk is None:
                newest_sk = message["sk"]
        if theirs and not dry_run:
            table.batch_delete(theirs)
        removed += len(theirs)
    return removed, newest_sk


@dataclass(frozen=True)
class _LastMessage:
    """The newest message that stays in a conversation (sort_key None: no message stays)."""

    sort_key: str | None
    text: str  # as an inbox entry holds it (a preview); "" when none stays or it was unsent
    unsent: bool = False  # it was unsent: the entry shows "Message unsent", not its text
    sender_uuid: str = ""  # who wrote it ("" when none stays)


def _last_message(message: dict[str, Any] | None) -> _LastMessage:
    if message is None:
        return _LastMessage(sort_key=None, text="")
    return _LastMessage(
        sort_key=message["sk"],
        text=preview(str(message.get("message", ""))),
        unsent=bool(message.get(items.UNSENT_AT)),
        sender_uuid=str(message.get("user_uuid", "")),
    )


def _last_message_changes(item: dict[str, Any], last: _LastMessage) -> dict[str, Any]:
    """An entry's sort key is the time of its last message. If no remaining message is there,
    that message was the deleted person's: the entry shows the newest one left instead. A
    hidden entry's key embeds that time; it stays hidden."""
    changes: dict[str, Any] = {}
    if items.entry_time_key(item["sk"]) == last.sort_key:
        return changes
    if str(item.get("message", "")) != last.text:
        changes["message"] = last.text
    if bool(item.get(items.LAST_MESSAGE_UNSENT)) != last.unsent:
        changes[items.LAST_MESSAGE_UNSENT] = last.unsent
    if items.is_group_entry(item) and item.get("last_user_uuid", "") != last.sender_uuid:
        changes["last_user_uuid"] = last.sender_uuid
    return changes


def _changes(item: dict[str, Any], last: _LastMessage) -> dict[str, Any]:
    """What the other person's entry needs: attribute -> new value (empty when nothing)."""
    changes = _last_message_changes(item, last)
    for name in _NAME_ATTRIBUTES:
        if item.get(name, "") != "":
            changes[name] = ""
    if items.unread_of(item) > 0:
        changes["unread"] = 0  # it counted the deleted person's messages, now gone
    return changes


def _update_other_entry(
    table: Table, found: dict[str, Any], last: _LastMessage, *, dry_run: bool
) -> int:
    """Update the other person's entry in place (its key stays); 1 if it was (in a dry run:
    would be) written, 0 if it needed nothing or is gone."""
    pk, sk = found["pk"], found["sk"]
    if dry_run:
        item = table.get(pk, sk)
        return int(item is not None and bool(_changes(item, last)))

    def plan(attempt: Attempt[int]) -> Write[int] | Done[int]:
        # A consistent read of the key the GSI gave; gone means moved or deleted since, and
        # then it no longer shows anything of the deleted person's.
        item = table.get(pk, sk)
        if item is None:
            return Done(0)
        changes = _changes(item, last)
        if not changes:
            return Done(0)
        return Write(_entry_update(table.name, item, changes), 1)

    return table.transact(plan, what="update the other person's inbox entry")


def _take_out_of_group(
    table: Table, user_uuid: str, conversation_uuid: str, *, dry_run: bool
) -> int:
    """Steps 2 and 3 in a group, one transaction (see the module docstring): the roster
    without them, the other members' entries updated, their own deleted. Returns how many
    other entries were (in a dry run: would be) updated."""
    if dry_run:
        return len(_other_entries(table, user_uuid, conversation_uuid))
    own_pk = items.inbox_pk(user_uuid)

    def plan(attempt: Attempt[int]) -> Write[int]:
        found = table.get(items.roster_pk(conversation_uuid), items.ROSTER_SORT_KEY)
        if found is None:
            raise StoreError(
                f"Group {conversation_uuid} has inbox entries but no roster "
                f"({items.roster_pk(conversation_uuid)}); restore it, then run the purge again."
            )
        roster = items.roster_from_item(found)
        entries = []
        for listed in _entries_of(table, conversation_uuid):
            # A consistent read of the key the index gave: gone means moved since (a send).
            item = table.get(listed["pk"], listed["sk"])
            if item is None:
                raise Stale("an inbox entry moved since the index listed it")
            entries.append(item)
        groups.check_entries(entries, roster)
        # The roster as their leaving leaves it; the line a leave writes is not written.
        after = rosters.left(roster, UserRef(user_uuid, "", "")).roster
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": table.name,
                    "Item": items.to_typed(items.roster_item(after)),
                    **actions.roster_as_read(table.name, roster.version),
                }
            }
        ]
        lasts: dict[str, _LastMessage] = {}
        updated = 0
        for item in entries:
            key = items.typed_key(item["pk"], item["sk"])
            condition = actions.unchanged_entry(item)
            if item["pk"] == own_pk:
                writes.append({"Delete": {"TableName": table.name, "Key": key, **condition}})
                continue
            at = items.entry_time_key(item["sk"])
            if at not in lasts:
                lasts[at] = _last_message_up_to(table, conversation_uuid, at)
            changes = _member_changes(table, item, after, lasts[at])
            if changes:
                writes += _entry_update(table.name, item, changes)
                updated += 1
            else:  # still as read when the roster changes
                check = {"TableName": table.name, "Key": key, **condition}
                writes.append({"ConditionCheck": check})
        return Write(writes, updated)

    return table.transact(plan, what="take the person out of the group")


def _member_changes(
    table: Table, item: dict[str, Any], after: Roster, last: _LastMessage
) -> dict[str, Any]:
    """What another member's entry needs: the roster's names and members without the deleted
    person, the newest remaining message if theirs was its last, its unread count counted
    again (their messages are gone)."""
    regrouped = items.regroup(item, after)
    changes = {
        name: regrouped[name] for name in _ROSTER_ATTRIBUTES if item.get(name) != regrouped[name]
    }
    changes.update(_last_message_changes(item, last))
    unread = jobs.count_unread(table, item)
    if unread != items.unread_of(item):
        changes["unread"] = unread
    return changes


def _entry_update(
    table_name: str, item: dict[str, Any], changes: dict[str, Any]
) -> list[dict[str, Any]]:
    """An Update of the entry (conditioned on it being there with the unread count read) and,
    if its unread count goes to or from 0, its owner's counter following."""
    condition = actions.unchanged_entry(item)
    names = condition["ExpressionAttributeNames"]
    values = condition["ExpressionAttributeValues"]
    assignments = []
    for number, (name, value) in enumerate(changes.items()):
        # The condition already names `unread` (#unread); one placeholder per attribute.
        alias = "#unread" if name == "unread" else f"#set{number}"
        names[alias] = name
        values[f":set{number}"] = items.to_typed({"value": value})["value"]
        assignments.append(f"{alias} = :set{number}")
    update = {
        "Update": {
            "TableName": table_name,
            "Key": items.typed_key(item["pk"], item["sk"]),
            "UpdateExpression": "SET " + ", ".join(assignments),
            **condition,
        }
    }
    unread = items.unread_of(item)
    return [
        update,
        *actions.counter_follows(table_name, item["pk"], unread, changes.get("unread", unread)),
    ]


def _remove_counter(table: Table, user_uuid: str, *, dry_run: bool) -> bool:
    pk = items.inbox_pk(user_uuid)
    if dry_run:
        return table.get(pk, UNREAD_SORT_KEY) is not None
    response = table.call(
        "delete_item",
        TableName=table.name,
        Key=items.typed_key(pk, UNREAD_SORT_KEY),
        ReturnValues="ALL_OLD",
    )
    return bool(response.get("Attributes"))
