"""Transaction actions that more than one write builds: pattern D, the unread counter, the
condition that an inbox entry is still as read, and the Put that must not overwrite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain import Roster, preview
from .items import (
    EDITED_AT,
    EXPIRES_AT,
    LAST_MESSAGE_UNSENT,
    ROSTER_SORT_KEY,
    UNREAD_SORT_KEY,
    UNSENT_AT,
    inbox_pk,
    is_group_entry,
    regroup,
    roster_pk,
    to_typed,
    typed_key,
    unread_of,
)


def put_new(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A Put that must not overwrite anything."""
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_typed(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def claim(table_name: str, item: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """A Put of an expiring item (a send's idempotency key) that fails while an unexpired one
    is there: two sends with one key cannot both commit."""
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_typed(item),
            "ConditionExpression": "attribute_not_exists(pk) OR #expires <= :now",
            "ExpressionAttributeNames": {"#expires": EXPIRES_AT},
            "ExpressionAttributeValues": {":now": {"N": str(int(now.timestamp()))}},
        }
    }


def counter_update(table_name: str, owner_pk: str, delta: int) -> dict[str, Any]:
    """Add `delta` to an owner's count of conversations with unread messages."""
    return {
        "Update": {
            "TableName": table_name,
            "Key": typed_key(owner_pk, UNREAD_SORT_KEY),
            "UpdateExpression": "ADD conversations :delta",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
    }


def counter_follows(table_name: str, owner_pk: str, old: int, new: int) -> list[dict[str, Any]]:
    """The counter update an entry's unread change from `old` to `new` needs, if any."""
    if old == 0 and new > 0:
        return [counter_update(table_name, owner_pk, 1)]
    if old > 0 and new == 0:
        return [counter_update(table_name, owner_pk, -1)]
    return []


def unchanged_entry(item: dict[str, Any]) -> dict[str, Any]:
    """Condition arguments: the entry item is still there with the unread count we read."""
    unread = unread_of(item)
    condition = "attribute_exists(pk) AND #unread = :unread"
    if unread == 0:
        condition = "attribute_exists(pk) AND (attribute_not_exists(#unread) OR #unread = :unread)"
    return {
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#unread": "unread"},
        "ExpressionAttributeValues": {":unread": {"N": str(unread)}},
    }


def set_unread(
    table_name: str, item: dict[str, Any], new: int, *, read_up_to: str | None = None
) -> list[dict[str, Any]]:
    """Set an entry's unread count (while it is as read), with the counter following.

    `read_up_to`: also record that its owner has read everything up to this sort key.
    """
    condition = unchanged_entry(item)
    condition["ExpressionAttributeValues"][":new"] = {"N": str(new)}
    update = "SET #unread = :new"
    if read_up_to is not None:
        # The read marker: everything up to the entry's message is read (see the repair job).
        condition["ExpressionAttributeNames"]["#read"] = "last_read_sk"
        condition["ExpressionAttributeValues"][":read"] = {"S": read_up_to}
        update += ", #read = :read"
    return [
        {
            "Update": {
                "TableName": table_name,
                "Key": typed_key(item["pk"], item["sk"]),
                "UpdateExpression": update,
                **condition,
            }
        },
        *counter_follows(table_name, item["pk"], unread_of(item), new),
    ]


def moved_entries(
    table_name: str,
    items: list[dict[str, Any]],
    *,
    sort_key: str,
    text: str,
    sender_uuid: str,
    count_unread: bool = True,
    unsent: bool = False,
    roster: Roster | None = None,
) -> list[dict[str, Any]]:
    """Pattern D: each entry item moves to `sort_key` with `text` (`unsent`: the message was
    unsent before the move reached it, as the Streams handler can find it; `roster`: a group's
    roster changed, and the entries carry its new name and members).

    `sk` is a key, so a move is a delete + put. The delete holds only while the item is as
    read (a concurrent move or read cancels the transaction and the caller reads again); the
    put must not land on another entry of the same owner in the same microsecond. The
    recipient's unread count goes up by one and the sender's to 0 (sending means reading),
    the owners' counters following their 0 <-> non-zero transitions.
    """
    actions = []
    for item in items:
        old_unread = unread_of(item)
        if not count_unread:
            new_unread = old_unread
        elif item["pk"] == inbox_pk(sender_uuid):
            new_unread = 0
        else:
            new_unread = old_unread + 1
        actions.append(
            {
                "Delete": {
                    "TableName": table_name,
                    "Key": typed_key(item["pk"], item["sk"]),
                    **unchanged_entry(item),
                }
            }
        )
        # Copying the old item keeps the other person's names and anything unknown.
        moved = {**item, "sk": sort_key, "message": preview(text), "unread": new_unread}
        if roster is not None:
            moved = regroup(moved, roster)
        if is_group_entry(item):
            moved["last_user_uuid"] = sender_uuid
        if unsent:
            moved[LAST_MESSAGE_UNSENT] = True
        else:
            moved.pop(LAST_MESSAGE_UNSENT, None)
        actions.append(put_new(table_name, moved))
        actions += counter_follows(table_name, item["pk"], old_unread, new_unread)
    return actions


def roster_as_read(table_name: str, version: int) -> dict[str, Any]:
    """Condition arguments: a group's roster is at the version read (no add, leave or rename
    committed since)."""
    return {
        "ConditionExpression": "#version = :version",
        "ExpressionAttributeNames": {"#version": "version"},
        "ExpressionAttributeValues": {":version": {"N": str(version)}},
    }


def roster_unchanged(table_name: str, conversation_uuid: str, version: int) -> dict[str, Any]:
    """A send's check that the group's roster is as read: a concurrent roster change cancels
    the send, which reads the roster again (so no member's entry is left behind)."""
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": typed_key(roster_pk(conversation_uuid), ROSTER_SORT_KEY),
            **roster_as_read(table_name, version),
        }
    }


def unchanged_message(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A check that a message item is still there, not edited or unsent since it was read."""
    names, values, conditions = {}, {}, ["attribute_exists(pk)"]
    for number, name in enumerate((EDITED_AT, UNSENT_AT)):
        names[f"#change{number}"] = name
        if item.get(name) is None:
            conditions.append(f"attribute_not_exists(#change{number})")
        else:
            conditions.append(f"#change{number} = :change{number}")
            values[f":change{number}"] = {"S": str(item[name])}
    check = {
        "TableName": table_name,
        "Key": typed_key(item["pk"], item["sk"]),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
    }
    if values:
        check["ExpressionAttributeValues"] = values
    return {"ConditionCheck": check}
