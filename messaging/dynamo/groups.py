"""A group's writes as transaction actions: its start, and a roster change (add, leave,
rename) with the event line and every member's inbox entry following.

The roster item (`items.roster_item`) holds the members and a version. Every write that
moves a group's entries checks or raises that version in the same transaction, so an add or a
leave that commits first cancels it, and it reads again: the entries always match the roster.
"""

from __future__ import annotations

from typing import Any

from ..domain import Message, Roster
from . import actions, items
from .table import Stale


def check_entries(entries: list[dict[str, Any]], roster: Roster) -> None:
    """Stale unless `entries` (read from the GSI, which may lag) are one per member of
    `roster`, no more and no fewer: a write against them would leave an entry behind."""
    owners = sorted(item["pk"] for item in entries)
    members = sorted(items.inbox_pk(member.uuid) for member in roster.members)
    if owners != members:
        raise Stale(f"read {len(owners)} inbox entries for a group of {len(members)}")


def started(table_name: str, roster: Roster, message: Message) -> list[dict[str, Any]]:
    """A new group: its roster, its first message, every member's entry (unread for all
    but the sender) and their unread counters."""
    sender = message.sender.uuid
    new_items = [items.roster_item(roster), items.message_item(message)]
    counters = []
    for member in roster.members:
        unread = 0 if member.uuid == sender else 1
        new_items.append(
            items.group_entry_item(
                owner_uuid=member.uuid,
                roster=roster,
                sort_key=message.sort_key,
                text=message.text,
                unread=unread,
                last_sender_uuid=sender,
            )
        )
        if unread:
            counters.append(actions.counter_update(table_name, items.inbox_pk(member.uuid), 1))
    return [*(actions.put_new(table_name, item) for item in new_items), *counters]


def changed(
    table_name: str,
    before: Roster,
    after: Roster,
    entries: list[dict[str, Any]],
    event: Message,
) -> list[dict[str, Any]]:
    """A roster change: the roster replaced while at its version as read, the event line,
    the staying members' entries moved to it (with the new name and members), the leavers'
    entries deleted and the new members' entries put, the unread counters following."""
    staying = [item for item in entries if after.has(items.owner_of(item["pk"]))]
    leaving = [item for item in entries if not after.has(items.owner_of(item["pk"]))]
    new_members = [member for member in after.members if not before.has(member.uuid)]
    writes: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table_name,
                "Item": items.to_typed(items.roster_item(after)),
                **actions.roster_as_read(table_name, before.version),
            }
        },
        actions.put_new(table_name, items.message_item(event)),
        *actions.moved_entries(
            table_name,
            staying,
            sort_key=event.sort_key,
            text=event.text,
            sender_uuid=event.sender.uuid,
            roster=after,
        ),
    ]
    for item in leaving:
        writes.append(
            {
                "Delete": {
                    "TableName": table_name,
                    "Key": items.typed_key(item["pk"], item["sk"]),
                    **actions.unchanged_entry(item),
                }
            }
        )
        writes += actions.counter_follows(table_name, item["pk"], items.unread_of(item), 0)
    for member in new_members:
        entry = items.group_entry_item(
            owner_uuid=member.uuid,
            roster=after,
            sort_key=event.sort_key,
            text=event.text,
            unread=1,
            last_sender_uuid=event.sender.uuid,
        )
        writes.append(actions.put_new(table_name, entry))
        writes.append(actions.counter_update(table_name, items.inbox_pk(member.uuid), 1))
    return writes
