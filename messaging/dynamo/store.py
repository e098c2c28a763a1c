"""The access patterns, by name: the `MessageStore` interface over one DynamoDB table.

Reads are one Query or GetItem each. Writes are one transaction each, planned by a small
function that reads what it must, and retried by `Table.transact` when they lose a race.

Two table clients, differing in their retry budget (cruddur/aws.py): `interactive` for every
read and for `mark_read`, what a page or a live poll waits on and can do without; `table`
for sends and the jobs, which may wait for a retry rather than fail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .. import rosters
from ..domain import (
    CHANGE_SLACK,
    DEFAULT_PAGE_SIZE,
    InboxEntry,
    InboxPage,
    Message,
    NewMessage,
    Page,
    Roster,
    UserRef,
    check_page_size,
    edit_refusal,
    edit_window,
    format_sort_key,
    parse_sort_key,
    preview,
)
from ..errors import InvalidCursor, NotEditable, NotFound
from . import actions, groups, items, jobs, schema
from .items import ONE_MICROSECOND, UNREAD_SORT_KEY
from .table import Attempt, Done, Stale, Table, Write

_LEGACY_RECHECK_SECONDS = 60


def utcnow() -> datetime:
    """The store's clock (tests patch it to freeze time)."""
    return datetime.now(UTC)


def _answered(sent: Message, message_uuid: str) -> Message:
    """The message found under a send's key, as that send answers it: `replayed` unless it is
    the send's own (its first attempt committed, and botocore's retry of it found the key)."""
    return sent if sent.message_uuid == message_uuid else replace(sent, replayed=True)


def check_pair_of_entries(entries: list[dict[str, Any]]) -> None:
    # A conversation has exactly one entry per participant. Anything else is a GSI that has
    # not caught up with a concurrent move (reads on a GSI are eventually consistent): writing
    # against it could leave an inbox entry behind, so read again.
    owners = {item["pk"] for item in entries}
    if len(entries) != 2 or len(owners) != 2:
        raise Stale(f"expected 2 inbox entries, read {len(entries)} for {len(owners)} owners")


class DynamoStore:
    """The message store over one table (see the package docstring for the key schema)."""

    def __init__(self, table: Table, *, interactive: Table | None = None):
        self.table = table  # sends, jobs, administration: AWS_MAX_ATTEMPTS
        self.interactive = interactive or table  # reads and mark_read: a small budget
        self._current = False
        self._current_checked_at: float | None = None

    # --- reads ---

    def _query(self, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        response = self.interactive.query(**params)
        return [items.to_plain(item) for item in response["Items"]], response

    def list_conversations(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        """B: a person's inbox entries, newest first, and their unread counter."""
        check_page_size(limit)
        pk = items.inbox_pk(user_uuid)
        values = {":pk": {"S": pk}}
        # Hidden entries sort below every time (items.TIMES_FROM): the key range leaves them
        # out, so they never take room on a page and a page is never short because of them.
        values[":times"] = {"S": items.TIMES_FROM}
        if cursor:
            # Later pages start below a timestamp, and the bound keeps the counter out anyway.
            values[":counter"] = {"S": UNREAD_SORT_KEY}
            found, response = self._query(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :times AND :counter",
                ExpressionAttributeValues=values,
                ExclusiveStartKey=items.decode_cursor(cursor, pk=pk),
                ScanIndexForward=False,
                Limit=limit,
            )
        else:
            # 'U' sorts after every digit: newest first, the counter item comes first, so one
            # more item than asked for reads it in the same request.
            found, response = self._query(
                KeyConditionExpression="pk = :pk AND sk >= :times",
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit + 1,
            )
        unread_conversations = 0
        entries = []
        for item in found:
            if item["sk"] == UNREAD_SORT_KEY:
                unread_conversations = max(0, int(item.get("conversations", 0)))
            else:
                entries.append(item)
        if len(entries) > limit:
            entries = entries[:limit]
            next_cursor = items.encode_cursor(entries[-1]["pk"], entries[-1]["sk"])
        else:
            next_cursor = items.next_cursor(response)
        return InboxPage(
            items=tuple(items.entry_from_item(item) for item in entries),
            next_cursor=next_cursor,
            unread_conversations=unread_conversations,
        )

    def list_messages(
        self,
        *,
        conversation_uuid: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        since: str | None = None,
    ) -> Page[Message]:
        """A: a conversation's messages, NEWEST first (pages show them reversed); `since`: only
        those from this sort key on (a group member's join), a key condition."""
        check_page_size(limit)
        pk = items.messages_pk(conversation_uuid)
        params: dict[str, Any] = {}
        if cursor:
            params["ExclusiveStartKey"] = items.decode_cursor(cursor, pk=pk)
        condition, values = "pk = :pk", {":pk": {"S": pk}}
        if since:
            condition += " AND sk >= :since"
            values[":since"] = {"S": since}
        found, response = self._query(
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit,
            **params,
        )
        return Page(
            items=tuple(items.message_from_item(item) for item in found),
            next_cursor=items.next_cursor(response),
        )

    def list_messages_after(
        self,
        *,
        conversation_uuid: str,
        after_sort_key: str,
        limit: int = 50,
        since: str | None = None,
    ) -> tuple[Message, ...]:
        """Messages strictly newer than `after_sort_key` (and from `since` on), OLDEST first
        (live updates)."""
        check_page_size(limit)
        if items.time_of(after_sort_key) is None:
            raise InvalidCursor(
                f"{after_sort_key!r} is not a message time; reload the conversation."
            )
        condition, bound = "pk = :pk AND sk > :after", after_sort_key
        if since and since > after_sort_key:
            condition, bound = "pk = :pk AND sk >= :after", since
        found, _ = self._query(
            KeyConditionExpression=condition,
            ExpressionAttributeValues={
                ":pk": {"S": items.messages_pk(conversation_uuid)},
                ":after": {"S": bound},
            },
            ScanIndexForward=True,
            Limit=limit,
        )
        return tuple(items.message_from_item(item) for item in found)

    def _entry_items(self, conversation_uuid: str) -> list[dict[str, Any]]:
        found, _ = self._query(
            IndexName=items.GSI_NAME,
            KeyConditionExpression="message_group_uuid = :conversation",
            ExpressionAttributeValues={":conversation": {"S": conversation_uuid}},
        )
        return found

    def get_participants(self, *, conversation_uuid: str) -> tuple[InboxEntry, ...]:
        """Both entries of a conversation (GSI query); none if it does not exist."""
        return tuple(items.entry_from_item(item) for item in self._entry_items(conversation_uuid))

    def find_conversation(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        """The pair's conversation (a consistent GetItem of the PAIR item), or None.

        A table written by the original has no PAIR items: there, a miss looks through the
        user's own inbox entries for the other person and writes the PAIR item it lacked, so
        the next lookup is one read. A table this app made or migrated skips that.
        """
        item = self.interactive.get(items.pair_pk(user_uuid, other_user_uuid), items.PAIR_SORT_KEY)
        if item is not None:
            return items.conversation_of_pair(item)
        if self._table_is_current():
            return None
        found = self._legacy_conversation(user_uuid, other_user_uuid)
        if found is None:
            return None
        return jobs.claim_pair(self.table, user_uuid, other_user_uuid, found)

    def _table_is_current(self) -> bool:
        # Read once per process while it is current (it stays so); a legacy table is asked
        # again after a while, so the fallback ends soon after `ddb_migrate`.
        now = time.monotonic()
        if self._current_checked_at is None or (
            not self._current and now - self._current_checked_at > _LEGACY_RECHECK_SECONDS
        ):
            self._current = schema.version(self.table) >= items.CURRENT_SCHEMA
            self._current_checked_at = now
        return self._current

    def _legacy_conversation(self, user_uuid: str, other_user_uuid: str) -> str | None:
        """The newest conversation among `user_uuid`'s inbox entries with the other person
        (pages of the user's own partition, filtered; bounded by the size of one inbox)."""
        for page in self.interactive.pages(
            "query",
            TableName=self.interactive.name,
            KeyConditionExpression="pk = :pk AND sk < :counter",
            FilterExpression="user_uuid = :other",
            ExpressionAttributeValues={
                ":pk": {"S": items.inbox_pk(user_uuid)},
                ":counter": {"S": UNREAD_SORT_KEY},
                ":other": {"S": other_user_uuid},
            },
            ProjectionExpression="message_group_uuid",
            ScanIndexForward=False,
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                return items.conversation_of(items.to_plain(item))
        return None

    # --- writes ---

    def create_message(
        self,
        *,
        conversation_uuid: str,
        sender: UserRef,
        text: str,
        participants: Sequence[InboxEntry] | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """C + D in one transaction: the message, both entries moved to it, the recipient's
        unread count raised. NotFound if the sender is not a participant.

        `participants`: both entries as the caller has just read them (its membership check,
        the same GSI query). The first attempt builds its conditions from them instead of
        reading again; stale ones only fail the conditions, and a retry reads afresh.
        `idempotency_key`: see `_send`.
        """
        known = None
        if participants is not None:
            known = [
                items.item_of_entry(entry)
                for entry in participants
                if entry.conversation_uuid == conversation_uuid
            ]
        return self._send(
            conversation_uuid,
            sender,
            text,
            idempotency_key=idempotency_key,
            entries_may_lag=False,
            known=known,
        )

    def _send(
        self,
        conversation_uuid: str,
        sender: UserRef,
        text: str,
        *,
        idempotency_key: str | None,
        entries_may_lag: bool,
        known: list[dict[str, Any]] | None = None,
    ) -> Message:
        """The send transaction. With an `idempotency_key` it also claims the key (a SENT
        item, conditioned on there being none): of several sends with one key, concurrent or
        retried after a lost answer, exactly one commits, and every other one finds the key
        claimed, reads where its message is, and returns that message, `replayed`."""
        message_uuid = str(uuid.uuid4())

        def plan(attempt: Attempt[Message]) -> Write[Message] | Done[Message]:
            if idempotency_key and attempt.number:
                sent = self._sent_message(sender.uuid, idempotency_key)
                if sent is not None:
                    return Done(_answered(sent, message_uuid))
            entries = known if known is not None and attempt.number == 0 else None
            if entries is None:
                entries = self._entry_items(conversation_uuid)
            if not entries and not entries_may_lag:
                raise NotFound("That conversation does not exist.")
            held = self._whole_conversation(conversation_uuid, entries)
            if items.inbox_pk(sender.uuid) not in {item["pk"] for item in entries}:
                raise NotFound("That conversation does not exist.")
            # Strictly the newest: after every entry's time, and after our own previous
            # attempt if its key was taken.
            newest = max(
                parse_sort_key(items.entry_time_key(item["sk"])) + ONE_MICROSECOND
                for item in entries
            )
            message = items.message_at(
                attempt.not_before(max(utcnow(), newest)),
                message_uuid=message_uuid,
                conversation_uuid=conversation_uuid,
                sender=sender,
                text=text,
            )
            return Write(
                [actions.put_new(self.table.name, items.message_item(message))]
                + actions.moved_entries(
                    self.table.name,
                    entries,
                    sort_key=message.sort_key,
                    text=text,
                    sender_uuid=sender.uuid,
                )
                + held
                + self._claims(sender.uuid, idempotency_key, message),
                result=message,
                at=message.created_at,
            )

        return self.table.transact(plan, what="send the message")

    def _whole_conversation(
        self, conversation_uuid: str, entries: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Stale unless `entries` are every member's entry, as a write against them needs;
        the transaction actions that hold that true until it commits.

        A pair: exactly two entries of two owners, nothing to hold (nobody joins or leaves).
        A group: one entry per member of its roster (a consistent read, where the GSI may
        show only part of a roster change: the moved entries of the old members but not yet
        a new member's), and a check that the roster's version is as read. A roster change
        also moves every staying member's entry, so one committing after these reads cancels
        the write through the entries' own conditions too; the version check holds the rule
        whatever those conditions become. Either way the write reads again, and no member's
        entry is left behind or brought back.
        """
        if not any(items.is_group_entry(item) for item in entries):
            check_pair_of_entries(entries)
            return []
        roster = self._roster(conversation_uuid)
        if roster is None:
            raise Stale("a group's inbox entries without its roster")
        groups.check_entries(entries, roster)
        return [actions.roster_unchanged(self.table.name, conversation_uuid, roster.version)]

    def _roster(self, conversation_uuid: str) -> Roster | None:
        item = self.table.get(items.roster_pk(conversation_uuid), items.ROSTER_SORT_KEY)
        return items.roster_from_item(item) if item is not None else None

    def get_roster(self, *, conversation_uuid: str) -> Roster | None:
        """A group's roster as it is now (a consistent GetItem); None for a pair."""
        return self._roster(conversation_uuid)

    def _claims(
        self, sender_uuid: str, idempotency_key: str | None, message: Message
    ) -> list[dict[str, Any]]:
        if not idempotency_key:
            return []
        now = utcnow()
        item = items.sent_item(sender_uuid, idempotency_key, message, now=now)
        return [actions.claim(self.table.name, item, now=now)]

    def sent_message(self, *, sender_uuid: str, idempotency_key: str) -> Message | None:
        """The message a send by `sender_uuid` with this key stored, `replayed`, as a send with
        the key would answer now; None if none did (two consistent GetItems, one on a miss)."""
        sent = self._sent_message(sender_uuid, idempotency_key)
        return replace(sent, replayed=True) if sent is not None else None

    def _sent_message(self, sender_uuid: str, idempotency_key: str) -> Message | None:
        """The message a send with this key stored, if one did (and the key has not expired)."""
        sent = self.interactive.get(
            items.sent_pk(sender_uuid, idempotency_key), items.SENT_SORT_KEY
        )
        if sent is None or items.is_expired(sent, now=utcnow()):
            return None
        stored = self.interactive.get(items.messages_pk(sent["group_uuid"]), sent["message_sk"])
        return items.message_from_item(stored) if stored else None

    def create_conversation(
        self,
        *,
        sender: UserRef,
        recipient: UserRef,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        """A new conversation with its first message, and the pair's PAIR item; if the pair
        already has a conversation (also when both start one at the same moment), the message
        goes into that one. Returns (conversation uuid, message). `idempotency_key`: as for
        `create_message`, across both ways."""
        conversation_uuid = str(uuid.uuid4())
        message_uuid = str(uuid.uuid4())
        name = self.table.name

        def plan(attempt: Attempt[tuple[str, Message | None]]):
            answered = self._start_answered(attempt, sender, idempotency_key, message_uuid)
            if answered is not None:
                return answered
            found = self.find_conversation(user_uuid=sender.uuid, other_user_uuid=recipient.uuid)
            if found:
                return Done((found, None))
            message = items.message_at(
                attempt.not_before(utcnow()),
                message_uuid=message_uuid,
                conversation_uuid=conversation_uuid,
                sender=sender,
                text=text,
            )
            shared = {
                "conversation_uuid": conversation_uuid,
                "sort_key": message.sort_key,
                "text": text,
            }
            new_items = [
                items.pair_item(sender.uuid, recipient.uuid, conversation_uuid),
                items.message_item(message),
                items.entry_item(owner_uuid=sender.uuid, other=recipient, unread=0, **shared),
                items.entry_item(owner_uuid=recipient.uuid, other=sender, unread=1, **shared),
            ]
            return Write(
                [
                    *(actions.put_new(name, item) for item in new_items),
                    actions.counter_update(name, items.inbox_pk(recipient.uuid), 1),
                    *self._claims(sender.uuid, idempotency_key, message),
                ],
                result=(conversation_uuid, message),
                at=message.created_at,
            )

        found, message = self.table.transact(plan, what="start the conversation")
        if message is not None:
            return found, message
        # Someone (maybe the recipient, at the same moment) started it first: join theirs. Its
        # entries were written with the PAIR item, but the GSI may not show them yet.
        return found, self._send(
            found, sender, text, idempotency_key=idempotency_key, entries_may_lag=True
        )

    def _start_answered(
        self,
        attempt: Attempt[Any],
        sender: UserRef,
        idempotency_key: str | None,
        message_uuid: str,
    ) -> Done[tuple[str, Message]] | None:
        """A start whose key is claimed already (a retry of a lost answer, or the same form
        arriving twice): the conversation and message it stored, as a send answers them."""
        if not (idempotency_key and attempt.number):
            return None
        sent = self._sent_message(sender.uuid, idempotency_key)
        if sent is None:
            return None
        return Done((sent.conversation_uuid, _answered(sent, message_uuid)))

    def mark_read(
        self, *, owner_uuid: str, conversation_uuid: str, sort_key: str, unread: int
    ) -> None:
        """Clear the owner's unread count (idempotent): at the entry where the caller believes
        it is, or, after a lost race (a send moved it), wherever it is now."""
        if unread <= 0:
            return
        owner_pk = items.inbox_pk(owner_uuid)
        as_read = {"pk": owner_pk, "sk": sort_key, "unread": unread}

        def plan(attempt: Attempt[None]) -> Write[None] | Done[None]:
            item: dict[str, Any] | None = as_read
            if attempt.number:
                mine = [
                    found
                    for found in self._entry_items(conversation_uuid)
                    if found["pk"] == owner_pk
                ]
                if len(mine) > 1:
                    raise Stale("two inbox entries for one owner")
                item = mine[0] if mine else None
            if item is None or items.unread_of(item) <= 0:
                return Done(None)
            return Write(actions.set_unread(self.table.name, item, 0, read_up_to=item["sk"]), None)

        # A page waits on it and can do without it (the next view marks it read): the small
        # budget, so a busy conversation's entry is planned again once, not until it wins.
        self.interactive.transact(plan, what="mark the conversation read")

    def hide_conversation(self, *, user_uuid: str, conversation_uuid: str) -> None:
        """Move the owner's entry to its hidden sort key (`items.hidden_sort_key`), marked
        read: one transaction (delete + put, the counter following), conditioned on the entry
        being as read. A send moves it back to a time (pattern D deletes whatever key it is at).
        """
        owner_pk = items.inbox_pk(user_uuid)

        def plan(attempt: Attempt[None]) -> Write[None] | Done[None]:
            mine = [i for i in self._entry_items(conversation_uuid) if i["pk"] == owner_pk]
            if not mine:
                raise NotFound("That conversation does not exist.")
            if len(mine) > 1:
                raise Stale("two inbox entries for one owner")
            item = mine[0]
            if items.is_hidden(item["sk"]):
                return Done(None)
            hidden = {
                **item,
                "sk": items.hidden_sort_key(item["sk"], conversation_uuid),
                "unread": 0,
                "last_read_sk": item["sk"],
            }
            return Write(
                [
                    {
                        "Delete": {
                            "TableName": self.table.name,
                            "Key": items.typed_key(item["pk"], item["sk"]),
                            **actions.unchanged_entry(item),
                        }
                    },
                    actions.put_new(self.table.name, hidden),
                    *actions.counter_follows(self.table.name, owner_pk, items.unread_of(item), 0),
                ],
                None,
            )

        self.table.transact(plan, what="hide the conversation")

    def _own_message(
        self,
        user_uuid: str,
        conversation_uuid: str,
        message_uuid: str,
        sort_key: str | None,
        *,
        not_before: datetime | None = None,
    ) -> dict[str, Any]:
        """The message item (a consistent read), if it is `user_uuid`'s; else NotFound."""
        pk = items.messages_pk(conversation_uuid)
        found = None
        if sort_key is not None:
            if items.time_of(sort_key) is not None:
                found = self.table.get(pk, sort_key)
        else:
            # No key: look for the uuid newest first (within the edit window when there is one).
            condition, values = "pk = :pk", {":pk": {"S": pk}, ":uuid": {"S": message_uuid}}
            if not_before is not None:
                condition += " AND sk >= :from"
                values[":from"] = {"S": format_sort_key(not_before)}
            for page in self.table.pages(
                "query",
                TableName=self.table.name,
                KeyConditionExpression=condition,
                FilterExpression="message_uuid = :uuid",
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                ConsistentRead=True,
            ):
                if page["Items"]:
                    found = items.to_plain(page["Items"][0])
                    break
        if (
            found is None
            or found.get("message_uuid") != message_uuid
            or found.get("user_uuid") != user_uuid
            or found.get(items.EVENT)
        ):
            raise NotFound("That message does not exist.")
        return found

    def _entries_showing(self, conversation_uuid: str, message_sk: str) -> list[dict[str, Any]]:
        """The inbox entries whose last message is this one, visible or hidden: consistent
        reads at the keys they would have (the GSI only says whose they are, and may lag)."""
        shown = []
        for owner_pk in {item["pk"] for item in self._entry_items(conversation_uuid)}:
            for sk in (message_sk, items.hidden_sort_key(message_sk, conversation_uuid)):
                item = self.table.get(owner_pk, sk)
                if item is not None and item.get("message_group_uuid") == conversation_uuid:
                    shown.append(item)
        return shown

    def _change_actions(
        self,
        message: Message,
        *,
        message_update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        entry_update: str,
        entry_values: dict[str, Any],
        changed_at: datetime,
    ) -> list[dict[str, Any]]:
        """The message's conditional update, the previews that show it, the change record."""
        name = self.table.name
        writes: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": name,
                    "Key": items.typed_key(
                        items.messages_pk(message.conversation_uuid), message.sort_key
                    ),
                    "UpdateExpression": message_update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for entry in self._entries_showing(message.conversation_uuid, message.sort_key):
            writes.append(
                {
                    "Update": {
                        "TableName": name,
                        "Key": items.typed_key(entry["pk"], entry["sk"]),
                        "UpdateExpression": entry_update,
                        # Still there: a send that moved it meanwhile cancels, and we read again.
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": {
                            "#message": "message",
                            "#unsent": items.LAST_MESSAGE_UNSENT,
                        },
                        "ExpressionAttributeValues": entry_values,
                    }
                }
            )
        change = items.to_typed(items.change_item(message, changed_at=changed_at))
        writes.append({"Put": {"TableName": name, "Item": change}})
        return writes

    def unsend_message(
        self,
        *,
        user_uuid: str,
        conversation_uuid: str,
        message_uuid: str,
        sort_key: str | None = None,
    ) -> Message:
        """SET the message's text to "" and `unsent_at` (conditioned on its uuid and sender),
        the previews that show it emptied, and a change record: one transaction."""

        def plan(attempt: Attempt[Message]) -> Write[Message] | Done[Message]:
            item = self._own_message(user_uuid, conversation_uuid, message_uuid, sort_key)
            if items.UNSENT_AT in item:
                return Done(items.message_from_item(item))
            now = utcnow()
            message = replace(
                items.message_from_item(item),
                text="",
                unsent_at=parse_sort_key(format_sort_key(now)),
            )
            return Write(
                self._change_actions(
                    message,
                    message_update="SET #message = :empty, #unsent = :now",
                    condition=(
                        "attribute_exists(pk) AND message_uuid = :uuid AND user_uuid = :me"
                        " AND attribute_not_exists(#unsent)"
                    ),
                    names={"#message": "message", "#unsent": items.UNSENT_AT},
                    values={
                        ":empty": {"S": ""},
                        ":now": {"S": format_sort_key(now)},
                        ":uuid": {"S": message_uuid},
                        ":me": {"S": user_uuid},
                    },
                    entry_update="SET #message = :empty, #unsent = :true",
                    entry_values={":empty": {"S": ""}, ":true": {"BOOL": True}},
                    changed_at=now,
                ),
                message,
            )

        return self.table.transact(plan, what="unsend the message")

    def edit_message(
        self,
        *,
        user_uuid: str,
        conversation_uuid: str,
        message_uuid: str,
        text: str,
        now: datetime,
        sort_key: str | None = None,
    ) -> Message:
        """SET the message's text and `edited_at`, conditioned on its uuid and sender, on it
        not being unsent, on its time being inside the window and on its text being as read
        (so the same edit at once is written once); the previews that show it
        follow; a change record: one transaction."""
        earliest = now - edit_window()

        def plan(attempt: Attempt[Message]) -> Write[Message] | Done[Message]:
            item = self._own_message(
                user_uuid, conversation_uuid, message_uuid, sort_key, not_before=earliest
            )
            current = items.message_from_item(item)
            refusal = edit_refusal(current, now)
            if refusal:
                raise NotEditable(refusal)
            if current.text == text:
                return Done(current)
            edited_at = parse_sort_key(format_sort_key(now))
            message = replace(current, text=text, edited_at=edited_at)
            return Write(
                self._change_actions(
                    message,
                    message_update="SET #message = :text, #edited = :now",
                    condition=(
                        "attribute_exists(pk) AND message_uuid = :uuid AND user_uuid = :me"
                        " AND attribute_not_exists(#unsent) AND sk >= :earliest"
                        # As read: the same edit at once is written once (the others find
                        # the text already there); a different one goes on top of it.
                        " AND #message = :old"
                    ),
                    names={
                        "#message": "message",
                        "#edited": items.EDITED_AT,
                        "#unsent": items.UNSENT_AT,
                    },
                    values={
                        ":text": {"S": text},
                        ":old": {"S": item["message"]},
                        ":now": {"S": format_sort_key(edited_at)},
                        ":uuid": {"S": message_uuid},
                        ":me": {"S": user_uuid},
                        ":earliest": {"S": format_sort_key(earliest)},
                    },
                    entry_update="SET #message = :preview REMOVE #unsent",
                    entry_values={":preview": {"S": preview(text)}},
                    changed_at=edited_at,
                ),
                message,
            )

        return self.table.transact(plan, what="edit the message")

    def list_changed_messages(
        self,
        *,
        conversation_uuid: str,
        since: datetime,
        limit: int = 50,
        visible_from: str | None = None,
    ) -> tuple[Message, ...]:
        """One Query of the conversation's change records (no text in them), then a read of
        each changed message as it is now."""
        check_page_size(limit)
        found, _ = self._query(
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={
                ":pk": {"S": items.changes_pk(conversation_uuid)},
                ":since": {"S": format_sort_key(since - CHANGE_SLACK)},
            },
            ScanIndexForward=True,
            Limit=limit,
        )
        # The last change of each message decides its place (oldest change first).
        order = list(dict.fromkeys(reversed([record["message_sk"] for record in found])))[::-1]
        changed = []
        for message_sk in order:
            if visible_from and message_sk < visible_from:
                continue  # before the reader joined the group
            item = self.interactive.get(items.messages_pk(conversation_uuid), message_sk)
            if item is not None:
                changed.append(items.message_from_item(item))
        return tuple(changed)

    def advance_inboxes(self, *, message: Message) -> int:
        """Pattern D for a message already stored (the DynamoDB Streams handler).

        Moves both entries to `message` if it is newer than what they point at, with the
        conditions of `create_message`. Idempotent: a replayed or older message, or one
        `create_message` already handled, moves nothing. Returns how many entries moved. The
        entries show the message as it is when they move (edited text, or unsent).
        """
        message_key = (items.messages_pk(message.conversation_uuid), message.sort_key)

        def plan(attempt: Attempt[int]) -> Write[int] | Done[int]:
            entries = self._entry_items(message.conversation_uuid)
            if not entries:
                return Done(0)
            held = self._whole_conversation(message.conversation_uuid, entries)
            behind = [
                item
                for item in entries
                if parse_sort_key(items.entry_time_key(item["sk"])) < message.created_at
            ]
            if not behind:
                return Done(0)
            # The message as it is now: a stream record's image may predate an edit or an
            # unsend, whose old text must not come back in a preview. The check on it makes
            # an edit or unsend landing meanwhile cancel this move, which is then re-planned.
            current = self.table.get(message_key[0], message_key[1])
            if current is None:
                return Done(0)  # deleted since (a purge)
            now = items.message_from_item(current)
            moment = attempt.not_before(message.created_at)
            return Write(
                [
                    *actions.moved_entries(
                        self.table.name,
                        behind,
                        sort_key=format_sort_key(moment),
                        text=now.text,
                        sender_uuid=now.sender.uuid,
                        unsent=now.unsent,
                    ),
                    actions.unchanged_message(self.table.name, current),
                    *held,
                ],
                result=len(behind),
                at=moment,
            )

        return self.table.transact(plan, what="move the conversation to its newest message")

    # --- groups (see groups.py) ---

    def create_group(
        self,
        *,
        sender: UserRef,
        members: Sequence[UserRef],
        name: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        """A new group of `sender` and `members` with its first message: its roster, the
        message and every member's entry in one transaction (never keyed by its members: the
        same people again make another group). `idempotency_key` as for `create_message`."""
        conversation_uuid = str(uuid.uuid4())
        message_uuid = str(uuid.uuid4())

        def plan(attempt: Attempt[tuple[str, Message]]):
            answered = self._start_answered(attempt, sender, idempotency_key, message_uuid)
            if answered is not None:
                return answered
            message = items.message_at(
                attempt.not_before(utcnow()),
                message_uuid=message_uuid,
                conversation_uuid=conversation_uuid,
                sender=sender,
                text=text,
            )
            roster = Roster(conversation_uuid, name, (sender, *members), {}, version=1)
            return Write(
                groups.started(self.table.name, roster, message)
                + self._claims(sender.uuid, idempotency_key, message),
                result=(conversation_uuid, message),
                at=message.created_at,
            )

        return self.table.transact(plan, what="start the group")

    def add_members(
        self,
        *,
        actor: UserRef,
        conversation_uuid: str,
        people: Sequence[UserRef],
        max_members: int,
    ) -> Message | None:
        """Add `people` to a group `actor` is in, with a line saying so; each new member's
        entry starts at that line, the only history they see. Those already in are skipped
        (None when nobody is new). GroupFull beyond `max_members`; NotFound unless `actor`
        is a member of a group."""

        def change(roster: Roster, at: str) -> rosters.Change | None:
            return rosters.added(roster, actor, people, at, max_members=max_members)

        return self._change_roster(conversation_uuid, actor, change, what="add people")

    def leave_group(self, *, user: UserRef, conversation_uuid: str) -> Message | None:
        """Take `user` out of a group: their entry goes (they no longer read it or receive
        its messages), the others get a line saying so. NotFound unless a member."""
        return self._change_roster(
            conversation_uuid,
            user,
            lambda roster, at: rosters.left(roster, user),
            what="leave the group",
        )

    def rename_group(self, *, actor: UserRef, conversation_uuid: str, name: str) -> Message | None:
        """Name (or, with "", unname) a group `actor` is in, with a line saying so; None when
        it already has that name. NotFound unless a member."""
        return self._change_roster(
            conversation_uuid,
            actor,
            lambda roster, at: rosters.renamed(roster, actor, name),
            what="rename the group",
        )

    def _change_roster(
        self,
        conversation_uuid: str,
        actor: UserRef,
        change: rosters.Decide,
        *,
        what: str,
    ) -> Message | None:
        """One roster change: the roster's Put conditioned on its version, the event line, and
        every member's entry moved to it, added or deleted, in one transaction."""
        message_uuid = str(uuid.uuid4())

        def plan(attempt: Attempt[Message | None]) -> Write[Message | None] | Done[Message | None]:
            roster = self._roster(conversation_uuid)
            if roster is None or not roster.has(actor.uuid):
                raise NotFound("That conversation does not exist.")
            entries = self._entry_items(conversation_uuid)
            groups.check_entries(entries, roster)
            newest = max(
                parse_sort_key(items.entry_time_key(item["sk"])) + ONE_MICROSECOND
                for item in entries
            )
            at = format_sort_key(attempt.not_before(max(utcnow(), newest)))
            decided = change(roster, at)
            if decided is None:
                return Done(None)
            message = items.message_at(
                parse_sort_key(at),
                message_uuid=message_uuid,
                conversation_uuid=conversation_uuid,
                sender=actor,
                text=decided.text,
                event=decided.event,
            )
            return Write(
                groups.changed(self.table.name, roster, decided.roster, entries, message),
                result=message,
                at=message.created_at,
            )

        return self.table.transact(plan, what=what)

    # --- jobs and administration (see jobs.py and schema.py) ---

    def import_conversation(
        self,
        *,
        conversation_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: Sequence[NewMessage],
    ) -> None:
        jobs.import_conversation(
            self.table,
            conversation_uuid=conversation_uuid,
            participants=participants,
            messages=messages,
        )

    def ping(self) -> None:
        # A read of one small item (the schema item) with a page's retry budget: the data plane
        # the pages use, not the control plane's DescribeTable, which AWS asks not to poll (its
        # requests are limited per account, shared with every other client of the account). A
        # missing table is TableNotFound all the same; a missing item (a table not yet
        # migrated) is still an answer.
        self.interactive.get(*items.SCHEMA_KEY)
