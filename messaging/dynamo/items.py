"""What the table holds: key formats, cursors, and the item codec (items <-> dataclasses).

The only module that knows an item's attribute names; see the package docstring for the key
schema. Items come in two forms: *typed* as the low-level client speaks (`{"pk": {"S": ...}}`)
and *plain* Python (`{"pk": "GRP#..."}`, integral numbers as int).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..domain import (
    Group,
    InboxEntry,
    Message,
    Roster,
    UserRef,
    format_sort_key,
    group_title,
    parse_sort_key,
    preview,
)
from ..errors import InvalidCursor

GSI_NAME = "message-group-sk-index"
UNREAD_SORT_KEY = "UNREAD"
PAIR_SORT_KEY = "PAIR"
# The table's shape: 1 is the original's (no PAIR items, no unread fields); a table this app
# created, or `ddb_migrate` finished, says 2 in this item. It is in no partition a reader
# queries, and not in the GSI.
SCHEMA_KEY = ("SCHEMA", "VERSION")
CURRENT_SCHEMA = 2
# Items that may expire (the idempotency keys of sends) carry their end in this attribute,
# epoch seconds, DynamoDB's TTL attribute for the table.
EXPIRES_AT = "expires_at"
# A message's changes: the time of its last edit, or of its unsend (its `message` then "").
EDITED_AT = "edited_at"
UNSENT_AT = "unsent_at"
# On an inbox entry: its last message was unsent (`message` is then empty).
LAST_MESSAGE_UNSENT = "last_message_unsent"
ONE_MICROSECOND = timedelta(microseconds=1)

# Inbox entry sort keys. Every time a sort key holds starts with a digit (the year). A hidden
# entry moves to `#HIDDEN#<time>#<conversation>`: "#" sorts before every digit, so hidden
# entries sit below every visible one, outside the key range the inbox listing queries
# (`TIMES_FROM` and up), and the counter's "UNREAD" above them all.
TIMES_FROM = "0"
_HIDDEN_PREFIX = "#HIDDEN#"
# Changes to older messages (edits, unsends) for polling pages: `CHG#<conversation>` /
# `<changed at>#<message uuid>`, holding no text, expiring like the idempotency keys.
_CHANGES_PREFIX = "CHG#"
CHANGE_LIFETIME = timedelta(days=1)
_INBOX_PREFIX = "GRP#"
_MESSAGES_PREFIX = "MSG#"
_PAIR_PREFIX = "PAIR#"
_SENT_PREFIX = "SENT#"
# A group's roster: `ROSTER#<conversation>` / `ROSTER` (see `roster_item`).
_ROSTER_PREFIX = "ROSTER#"
ROSTER_SORT_KEY = "ROSTER"
# A group's inbox entries say so (`kind`), and carry its name, members and the owner's join.
GROUP_KIND = "group"
# On a message: the roster change it records (domain.ADDED, LEFT, RENAMED).
EVENT = "event"
SENT_SORT_KEY = "SENT"
# How long a form's idempotency key is remembered: far longer than any retry.
SENT_KEY_LIFETIME = timedelta(days=1)
_MAX_CURSOR_LENGTH = 2048

# --- keys ---


def inbox_pk(owner_uuid: str) -> str:
    return f"{_INBOX_PREFIX}{owner_uuid}"


def owner_of(inbox_partition: str) -> str:
    return inbox_partition.removeprefix(_INBOX_PREFIX)


def messages_pk(conversation_uuid: str) -> str:
    return f"{_MESSAGES_PREFIX}{conversation_uuid}"


def is_message_pk(pk: Any) -> bool:
    return str(pk).startswith(_MESSAGES_PREFIX)


def pair_pk(user_uuid: str, other_user_uuid: str) -> str:
    first, second = sorted((str(user_uuid), str(other_user_uuid)))
    return f"{_PAIR_PREFIX}{first}#{second}"


def roster_pk(conversation_uuid: str) -> str:
    return f"{_ROSTER_PREFIX}{conversation_uuid}"


def is_group_entry(item: dict[str, Any]) -> bool:
    return item.get("kind") == GROUP_KIND


def sent_pk(sender_uuid: str, idempotency_key: str) -> str:
    # Scoped to the sender: nobody can claim, or learn about, another person's key.
    return f"{_SENT_PREFIX}{sender_uuid}#{idempotency_key}"


def hidden_sort_key(sort_key: str, conversation_uuid: str) -> str:
    """Where a hidden entry goes: unique per owner (the conversation is in it)."""
    return f"{_HIDDEN_PREFIX}{sort_key}#{conversation_uuid}"


def is_hidden(sort_key: Any) -> bool:
    return str(sort_key).startswith(_HIDDEN_PREFIX)


def entry_time_key(sort_key: str) -> str:
    """The time sort key of an inbox entry, hidden or not (its last message's)."""
    if is_hidden(sort_key):
        return sort_key.removeprefix(_HIDDEN_PREFIX).rsplit("#", 1)[0]
    return sort_key


def changes_pk(conversation_uuid: str) -> str:
    return f"{_CHANGES_PREFIX}{conversation_uuid}"


def typed_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def time_of(sort_key: Any) -> datetime | None:
    """The time in a sort key, or None when it is not one (a damaged or foreign item)."""
    try:
        return parse_sort_key(sort_key)
    except ValueError:
        return None


# --- cursors: an ExclusiveStartKey, opaque to the pages and checked against its list ---


def encode_cursor(pk: str, sk: str) -> str:
    raw = json.dumps({"pk": pk, "sk": sk}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def next_cursor(response: dict[str, Any]) -> str | None:
    last_key = response.get("LastEvaluatedKey")
    if not last_key:
        return None
    return encode_cursor(last_key["pk"]["S"], last_key["sk"]["S"])


def decode_cursor(cursor: str, *, pk: str) -> dict[str, dict[str, str]]:
    """The ExclusiveStartKey in `cursor`, if it is well formed and belongs to partition `pk`."""
    invalid = InvalidCursor(
        "That page link is damaged or belongs to another list; start again from the first page."
    )
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR_LENGTH:
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):
        raise invalid from None
    if not (
        isinstance(key, dict)
        and set(key) == {"pk", "sk"}
        and all(isinstance(value, str) for value in key.values())
        and key["pk"] == pk
    ):
        raise invalid
    if time_of(key["sk"]) is None:
        raise invalid
    return typed_key(key["pk"], key["sk"])


# --- typed <-> plain ---

_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


def _plain_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain_number(element) for element in value]
    if isinstance(value, dict):
        return {key: _plain_number(element) for key, element in value.items()}
    if isinstance(value, set):
        return {_plain_number(element) for element in value}
    return value


def to_plain(item: dict[str, Any]) -> dict[str, Any]:
    """A typed item as plain Python, integral numbers as int."""
    return {name: _plain_number(_deserializer.deserialize(value)) for name, value in item.items()}


def to_typed(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


# --- plain items <-> dataclasses ---


def unread_of(item: dict[str, Any]) -> int:
    # Items written by the original have no `unread`: treat as 0.
    return int(item.get("unread", 0) or 0)


def _user_ref(item: dict[str, Any]) -> UserRef:
    return UserRef(
        uuid=str(item.get("user_uuid", "")),
        handle=str(item.get("user_handle", "")),
        display_name=str(item.get("user_display_name", "")),
    )


def _refs(stored: Any) -> tuple[UserRef, ...]:
    return tuple(
        UserRef(
            str(member["uuid"]), str(member.get("handle", "")), str(member.get("display_name", ""))
        )
        for member in stored or ()
    )


def _stored_refs(members: Any) -> list[dict[str, str]]:
    return [
        {"uuid": member.uuid, "handle": member.handle, "display_name": member.display_name}
        for member in members
    ]


def _group_of(item: dict[str, Any]) -> Group | None:
    if not is_group_entry(item):
        return None
    return Group(
        name=str(item.get("group_name", "")),
        members=_refs(item.get("members")),
        joined_at=item.get("joined_sk"),
        last_sender_uuid=str(item.get("last_user_uuid", "")),
    )


def entry_from_item(item: dict[str, Any]) -> InboxEntry:
    return InboxEntry(
        conversation_uuid=item["message_group_uuid"],
        owner_uuid=owner_of(item["pk"]),
        other_user=_user_ref(item),
        last_message=str(item.get("message", "")),
        last_message_at=parse_sort_key(entry_time_key(item["sk"])),
        sort_key=item["sk"],
        unread=unread_of(item),
        read_up_to=item.get("last_read_sk"),
        hidden=is_hidden(item["sk"]),
        last_message_unsent=bool(item.get(LAST_MESSAGE_UNSENT)),
        group=_group_of(item),
    )


def group_entry_item(
    *,
    owner_uuid: str,
    roster: Roster,
    sort_key: str,
    text: str,
    unread: int,
    last_sender_uuid: str,
) -> dict[str, Any]:
    """A member's inbox entry for a group, in the original's shape (its readers list it as a
    conversation with "someone" called by the group's title): `user_uuid` is the group's own
    uuid, never a person's, `user_handle` the other members' handles."""
    others = [member for member in roster.members if member.uuid != owner_uuid]
    item = entry_item(
        owner_uuid=owner_uuid,
        other=UserRef(
            roster.conversation_uuid,
            ",".join(member.handle for member in others),
            group_title(roster.name, roster.members, owner_uuid),
        ),
        conversation_uuid=roster.conversation_uuid,
        sort_key=sort_key,
        text=text,
        unread=unread,
    )
    item.update(
        kind=GROUP_KIND,
        group_name=roster.name,
        members=_stored_refs(roster.members),
        last_user_uuid=last_sender_uuid,
    )
    if owner_uuid in roster.joined_at:
        item["joined_sk"] = roster.joined_at[owner_uuid]
    return item


def roster_item(roster: Roster) -> dict[str, Any]:
    """A group's roster. `group_uuid`, not `message_group_uuid`: never in the sparse GSI."""
    members = _stored_refs(roster.members)
    for member in members:
        if member["uuid"] in roster.joined_at:
            member["joined_sk"] = roster.joined_at[member["uuid"]]
    return {
        "pk": roster_pk(roster.conversation_uuid),
        "sk": ROSTER_SORT_KEY,
        "group_uuid": roster.conversation_uuid,
        "group_name": roster.name,
        "members": members,
        "version": roster.version,
    }


def roster_from_item(item: dict[str, Any]) -> Roster:
    return Roster(
        conversation_uuid=str(item["group_uuid"]),
        name=str(item.get("group_name", "")),
        members=_refs(item.get("members")),
        joined_at={
            str(member["uuid"]): str(member["joined_sk"])
            for member in item.get("members") or ()
            if member.get("joined_sk")
        },
        version=int(item.get("version", 0)),
    )


def entry_item(
    *,
    owner_uuid: str,
    other: UserRef,
    conversation_uuid: str,
    sort_key: str,
    text: str,
    unread: int,
) -> dict[str, Any]:
    return {
        "pk": inbox_pk(owner_uuid),
        "sk": sort_key,
        "message_group_uuid": conversation_uuid,
        "message": preview(text),
        "user_uuid": other.uuid,
        "user_display_name": other.display_name,
        "user_handle": other.handle,
        "unread": unread,
    }


def item_of_entry(entry: InboxEntry) -> dict[str, Any]:
    """An inbox entry back as its item: what `entry_item` writes, and the read marker."""
    item = entry_item(
        owner_uuid=entry.owner_uuid,
        other=entry.other_user,
        conversation_uuid=entry.conversation_uuid,
        sort_key=entry.sort_key,
        text=entry.last_message,
        unread=entry.unread,
    )
    if entry.read_up_to is not None:
        item["last_read_sk"] = entry.read_up_to
    if entry.last_message_unsent:
        item[LAST_MESSAGE_UNSENT] = True
    if entry.group is not None:
        item.update(
            kind=GROUP_KIND,
            group_name=entry.group.name,
            members=_stored_refs(entry.group.members),
            last_user_uuid=entry.group.last_sender_uuid,
        )
        if entry.group.joined_at:
            item["joined_sk"] = entry.group.joined_at
    return item


def regroup(item: dict[str, Any], roster: Roster) -> dict[str, Any]:
    """A group entry item with the roster's name and members (and its owner's titles)."""
    owner_uuid = owner_of(item["pk"])
    fresh = group_entry_item(
        owner_uuid=owner_uuid,
        roster=roster,
        sort_key=item["sk"],
        text="",
        unread=0,
        last_sender_uuid="",
    )
    keep = {
        name: fresh[name]
        for name in ("user_uuid", "user_handle", "user_display_name", "group_name", "members")
    }
    updated = {**item, **keep}
    if owner_uuid in roster.joined_at:
        updated["joined_sk"] = roster.joined_at[owner_uuid]
    return updated


def conversation_of(item: dict[str, Any]) -> str:
    return item["message_group_uuid"]


def message_from_item(item: dict[str, Any]) -> Message:
    edited_at, unsent_at = item.get(EDITED_AT), item.get(UNSENT_AT)
    return Message(
        message_uuid=str(item.get("message_uuid", "")),
        conversation_uuid=item["pk"].removeprefix(_MESSAGES_PREFIX),
        sender=_user_ref(item),
        text="" if unsent_at else str(item.get("message", "")),
        created_at=parse_sort_key(item["sk"]),
        sort_key=item["sk"],
        edited_at=time_of(edited_at) if edited_at else None,
        unsent_at=time_of(unsent_at) if unsent_at else None,
        event=str(item.get(EVENT, "")),
    )


def change_item(message: Message, *, changed_at: datetime) -> dict[str, Any]:
    """The record that a message changed, for `list_changed_messages`: where it is, no text."""
    return {
        "pk": changes_pk(message.conversation_uuid),
        "sk": f"{format_sort_key(changed_at)}#{message.message_uuid}",
        "message_sk": message.sort_key,
        EXPIRES_AT: int((changed_at + CHANGE_LIFETIME).timestamp()),
    }


def message_item(message: Message) -> dict[str, Any]:
    item = {
        "pk": messages_pk(message.conversation_uuid),
        "sk": message.sort_key,
        "message_uuid": message.message_uuid,
        "message": message.text,
        "user_uuid": message.sender.uuid,
        "user_display_name": message.sender.display_name,
        "user_handle": message.sender.handle,
    }
    if message.event:
        item[EVENT] = message.event
    return item


def pair_item(user_uuid: str, other_user_uuid: str, conversation_uuid: str) -> dict[str, Any]:
    # `group_uuid`, not `message_group_uuid`: the sparse GSI must never hold a pair item.
    return {
        "pk": pair_pk(user_uuid, other_user_uuid),
        "sk": PAIR_SORT_KEY,
        "group_uuid": conversation_uuid,
    }


def conversation_of_pair(item: dict[str, Any]) -> str:
    return item["group_uuid"]


def message_at(
    moment: datetime,
    *,
    message_uuid: str,
    conversation_uuid: str,
    sender: UserRef,
    text: str,
    event: str = "",
) -> Message:
    """The message written at `moment` (its sort key is the one format of a time)."""
    sort_key = format_sort_key(moment)
    return Message(
        message_uuid=message_uuid,
        conversation_uuid=conversation_uuid,
        sender=sender,
        text=text,
        created_at=parse_sort_key(sort_key),
        sort_key=sort_key,
        event=event,
    )


def message_from_image(image: dict[str, Any]) -> Message | None:
    """The message in a typed item image (a stream record's NewImage), or None if the item is
    not a message (inbox entries, pair and counter items)."""
    item = to_plain(image)
    if not is_message_pk(item.get("pk", "")) or "sk" not in item:
        return None
    return message_from_item(item)


def sent_item(
    sender_uuid: str, idempotency_key: str, message: Message, *, now: datetime
) -> dict[str, Any]:
    """The record that a send with this key happened: where its message is, until it expires.
    `group_uuid`, not `message_group_uuid`: the sparse GSI must never hold it."""
    return {
        "pk": sent_pk(sender_uuid, idempotency_key),
        "sk": SENT_SORT_KEY,
        "group_uuid": message.conversation_uuid,
        "message_sk": message.sort_key,
        EXPIRES_AT: int((now + SENT_KEY_LIFETIME).timestamp()),
    }


def is_expired(item: dict[str, Any], *, now: datetime) -> bool:
    # DynamoDB deletes expired items lazily (up to days later): readers must check.
    expires_at = item.get(EXPIRES_AT)
    return expires_at is not None and int(expires_at) <= int(now.timestamp())
