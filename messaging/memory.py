"""The in-memory message store: one process's dictionaries behind the `MessageStore` interface.

For the unit tests and the benchmark's baseline (`get_memory_store`, as `MESSAGE_STORE`), never for
production: nothing is shared between processes or kept across restarts. It keeps the same
contract as the DynamoDB store (tests/integration/test_store_contract.py runs both):
newest-first lists, opaque cursors that raise InvalidCursor when bad or foreign, both inbox
entries moved on every send, unread +1 for the recipient, one conversation per pair.

For tests: `calls` records every method called (to assert request budgets), and `fail_with`
set to an exception (e.g. `Unavailable("...")`) makes every call raise it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from . import rosters
from .domain import (
    CHANGE_SLACK,
    DEFAULT_PAGE_SIZE,
    Group,
    InboxEntry,
    InboxPage,
    Message,
    NewMessage,
    Page,
    Roster,
    UserRef,
    check_page_size,
    edit_refusal,
    format_sort_key,
    group_title,
    parse_sort_key,
    preview,
)
from .errors import Conflict, InvalidCursor, NotEditable, NotFound

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryStore:
    def __init__(self, *, clock=_utcnow):
        self.clock = clock
        self.entries: dict[str, dict[str, InboxEntry]] = {}  # owner -> conversation -> entry
        self.messages: dict[str, list[Message]] = {}  # conversation -> messages, any order
        self.pairs: dict[tuple[str, str], str] = {}  # sorted user uuids -> conversation
        self.sent: dict[tuple[str, str], Message] = {}  # (sender, idempotency key) -> message
        self.rosters: dict[str, Roster] = {}  # group conversation -> its roster
        self.calls: list[str] = []
        self.participants_passed: list[tuple[InboxEntry, ...]] = []  # create_message's
        self.fail_with: Exception | None = None
        self._last_time: datetime | None = None
        self._lock = threading.RLock()  # a benchmark serves it from several threads

    # --- bookkeeping ---

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_with is not None:
            raise self.fail_with

    def _now(self) -> datetime:
        # Strictly increasing, like distinct sort keys: two sends never share a time.
        now = self.clock()
        if self._last_time is not None and now <= self._last_time:
            now = self._last_time + timedelta(microseconds=1)
        self._last_time = now
        return now

    @staticmethod
    def _pair(a: str, b: str) -> tuple[str, str]:
        return (a, b) if a < b else (b, a)

    # --- cursors: opaque, tied to one list ---

    @staticmethod
    def _encode(list_id: str, sort_key: str, tiebreak: str) -> str:
        raw = json.dumps({"list": list_id, "sk": sort_key, "id": tiebreak}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode(cursor: str, list_id: str) -> tuple[str, str]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if data["list"] != list_id:
                raise InvalidCursor("That page link belongs to another list.")
            return data["sk"], data["id"]
        except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as error:
            raise InvalidCursor("That page link is damaged.") from error

    def _page(self, found, *, list_id, cursor, limit, key):
        """Newest first, after the cursor if any, `limit` items, next cursor if more remain."""
        check_page_size(limit)
        ordered = sorted(found, key=key, reverse=True)
        if cursor:
            after = self._decode(cursor, list_id)
            ordered = [item for item in ordered if key(item) < after]
        chunk = ordered[:limit]
        next_cursor = None
        if len(ordered) > limit:
            next_cursor = self._encode(list_id, *key(chunk[-1]))
        return tuple(chunk), next_cursor

    # --- access patterns ---

    def list_conversations(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        self._call("list_conversations")
        mine = [entry for entry in self.entries.get(user_uuid, {}).values() if not entry.hidden]
        found, next_cursor = self._page(
            mine,
            list_id=f"inbox:{user_uuid}",
            cursor=cursor,
            limit=limit,
            key=lambda entry: (entry.sort_key, entry.conversation_uuid),
        )
        # Like DynamoDB, only the first page holds the counter: later pages start below it.
        unread = 0 if cursor else sum(1 for entry in mine if entry.unread > 0)
        return InboxPage(items=found, next_cursor=next_cursor, unread_conversations=unread)

    def list_messages(
        self,
        *,
        conversation_uuid: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        since: str | None = None,
    ) -> Page[Message]:
        self._call("list_messages")
        found, next_cursor = self._page(
            [m for m in self.messages.get(conversation_uuid, []) if m.sort_key >= (since or "")],
            list_id=f"messages:{conversation_uuid}",
            cursor=cursor,
            limit=limit,
            key=lambda message: (message.sort_key, message.message_uuid),
        )
        return Page(items=found, next_cursor=next_cursor)

    def list_messages_after(
        self,
        *,
        conversation_uuid: str,
        after_sort_key: str,
        limit: int = 50,
        since: str | None = None,
    ) -> tuple[Message, ...]:
        self._call("list_messages_after")
        check_page_size(limit)
        try:
            parse_sort_key(after_sort_key)
        except ValueError:
            raise InvalidCursor(
                f"{after_sort_key!r} is not a message time; reload the conversation."
            ) from None
        newer = [
            m
            for m in self.messages.get(conversation_uuid, [])
            if m.sort_key > after_sort_key and m.sort_key >= (since or "")
        ]
        return tuple(sorted(newer, key=lambda m: (m.sort_key, m.message_uuid))[:limit])

    def get_participants(self, *, conversation_uuid: str) -> tuple[InboxEntry, ...]:
        self._call("get_participants")
        return self._participants(conversation_uuid)

    def _participants(self, conversation_uuid: str) -> tuple[InboxEntry, ...]:
        return tuple(
            owned[conversation_uuid]
            for owned in self.entries.values()
            if conversation_uuid in owned
        )

    def find_conversation(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        self._call("find_conversation")
        return self.pairs.get(self._pair(user_uuid, other_user_uuid))

    def create_message(
        self,
        *,
        conversation_uuid: str,
        sender: UserRef,
        text: str,
        participants: Sequence[InboxEntry] | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        # `participants` only spares DynamoDB a read; this state is always current.
        self._call("create_message")
        if participants is not None:
            self.participants_passed.append(tuple(participants))
        with self._lock:
            return self._send(conversation_uuid, sender, text, idempotency_key)

    def _send(
        self,
        conversation_uuid: str,
        sender: UserRef,
        text: str,
        idempotency_key: str | None,
        *,
        event: str = "",
        moment: datetime | None = None,
    ) -> Message:
        sent = self.sent.get((sender.uuid, idempotency_key)) if idempotency_key else None
        if sent is not None:
            return replace(sent, replayed=True)
        participants = self._participants(conversation_uuid)
        if sender.uuid not in {entry.owner_uuid for entry in participants}:
            raise NotFound("That conversation does not exist.")
        moment = moment or self._now()
        message = Message(
            message_uuid=str(uuid.uuid4()),
            conversation_uuid=conversation_uuid,
            sender=sender,
            text=text,
            created_at=moment,
            sort_key=format_sort_key(moment),
            event=event,
        )
        self.messages.setdefault(conversation_uuid, []).append(message)
        for entry in participants:
            group = entry.group
            if group is not None:
                group = replace(group, last_sender_uuid=sender.uuid)
            self.entries[entry.owner_uuid][conversation_uuid] = replace(
                entry,
                last_message=preview(text),
                last_message_at=moment,
                sort_key=message.sort_key,
                # Sending means reading: the sender's count clears, the recipient's goes up.
                unread=0 if entry.owner_uuid == sender.uuid else entry.unread + 1,
                hidden=False,  # the next message brings a hidden conversation back
                last_message_unsent=False,
                group=group,
            )
        if idempotency_key:
            self.sent[(sender.uuid, idempotency_key)] = message
        return message

    # --- groups ---

    def get_roster(self, *, conversation_uuid: str) -> Roster | None:
        self._call("get_roster")
        return self.rosters.get(conversation_uuid)

    def create_group(
        self,
        *,
        sender: UserRef,
        members: Sequence[UserRef],
        name: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        self._call("create_group")
        with self._lock:
            sent = self.sent.get((sender.uuid, idempotency_key)) if idempotency_key else None
            if sent is not None:
                return sent.conversation_uuid, replace(sent, replayed=True)
            conversation_uuid = str(uuid.uuid4())
            roster = Roster(conversation_uuid, name, (sender, *members), {}, version=1)
            self._set_roster(roster, roster.members)
            return conversation_uuid, self._send(conversation_uuid, sender, text, idempotency_key)

    def _set_roster(self, roster: Roster, new_members: Sequence[UserRef]) -> None:
        """Keep every member's entry on `roster` (name, members, title); `new_members` get an
        entry; an entry whose owner is no longer in it goes."""
        self.rosters[roster.conversation_uuid] = roster
        conversation_uuid = roster.conversation_uuid
        for entry in self._participants(conversation_uuid):
            if not roster.has(entry.owner_uuid):
                del self.entries[entry.owner_uuid][conversation_uuid]
        for member in roster.members:
            owned = self.entries.setdefault(member.uuid, {})
            current = owned.get(conversation_uuid)
            if current is None and member not in new_members:
                continue
            group = Group(
                name=roster.name,
                members=roster.members,
                joined_at=roster.joined_at.get(member.uuid),
                last_sender_uuid=current.group.last_sender_uuid
                if current and current.group
                else "",
            )
            others = [other for other in roster.members if other.uuid != member.uuid]
            title = UserRef(
                conversation_uuid,
                ",".join(other.handle for other in others),
                group_title(roster.name, roster.members, member.uuid),
            )
            if current is None:
                current = InboxEntry(
                    conversation_uuid=conversation_uuid,
                    owner_uuid=member.uuid,
                    other_user=title,
                    last_message="",
                    last_message_at=_EPOCH,
                    sort_key=format_sort_key(_EPOCH),
                )
            owned[conversation_uuid] = replace(current, other_user=title, group=group)

    def _change_roster(
        self, conversation_uuid: str, actor: UserRef, change: rosters.Decide
    ) -> Message | None:
        with self._lock:
            roster = self.rosters.get(conversation_uuid)
            if roster is None or not roster.has(actor.uuid):
                raise NotFound("That conversation does not exist.")
            moment = self._now()
            decided = change(roster, format_sort_key(moment))
            if decided is None:
                return None
            new = [m for m in decided.roster.members if not roster.has(m.uuid)]
            text, event = decided.text, decided.event
            if decided.roster.has(actor.uuid):  # new members' entries move to the line too
                self._set_roster(decided.roster, new)
                message = self._send(
                    conversation_uuid, actor, text, None, event=event, moment=moment
                )
            else:  # a leave: the line goes to the others, the leaver's entry goes
                message = self._send(
                    conversation_uuid, actor, text, None, event=event, moment=moment
                )
                self._set_roster(decided.roster, ())
            return message

    def add_members(
        self,
        *,
        actor: UserRef,
        conversation_uuid: str,
        people: Sequence[UserRef],
        max_members: int,
    ) -> Message | None:
        self._call("add_members")
        return self._change_roster(
            conversation_uuid,
            actor,
            lambda roster, at: rosters.added(roster, actor, people, at, max_members=max_members),
        )

    def leave_group(self, *, user: UserRef, conversation_uuid: str) -> Message | None:
        self._call("leave_group")
        return self._change_roster(
            conversation_uuid, user, lambda roster, at: rosters.left(roster, user)
        )

    def rename_group(self, *, actor: UserRef, conversation_uuid: str, name: str) -> Message | None:
        self._call("rename_group")
        return self._change_roster(
            conversation_uuid, actor, lambda roster, at: rosters.renamed(roster, actor, name)
        )

    def create_conversation(
        self,
        *,
        sender: UserRef,
        recipient: UserRef,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        self._call("create_conversation")
        with self._lock:
            sent = self.sent.get((sender.uuid, idempotency_key)) if idempotency_key else None
            if sent is not None:
                return sent.conversation_uuid, replace(sent, replayed=True)
            pair = self._pair(sender.uuid, recipient.uuid)
            conversation_uuid = self.pairs.get(pair)
            if conversation_uuid is None:
                conversation_uuid = str(uuid.uuid4())
                self.pairs[pair] = conversation_uuid
                self._put_entries(conversation_uuid, (sender, recipient))
            return conversation_uuid, self._send(conversation_uuid, sender, text, idempotency_key)

    def sent_message(self, *, sender_uuid: str, idempotency_key: str) -> Message | None:
        self._call("sent_message")
        sent = self.sent.get((sender_uuid, idempotency_key))
        return replace(sent, replayed=True) if sent is not None else None

    def _put_entries(self, conversation_uuid: str, participants: tuple[UserRef, UserRef]) -> None:
        for owner, other in (participants, participants[::-1]):
            self.entries.setdefault(owner.uuid, {})[conversation_uuid] = InboxEntry(
                conversation_uuid=conversation_uuid,
                owner_uuid=owner.uuid,
                other_user=other,
                last_message="",
                last_message_at=_EPOCH,
                sort_key=format_sort_key(_EPOCH),
            )

    def mark_read(
        self, *, owner_uuid: str, conversation_uuid: str, sort_key: str, unread: int
    ) -> None:
        self._call("mark_read")
        with self._lock:
            owned = self.entries.get(owner_uuid, {})
            current = owned.get(conversation_uuid)
            if current is not None and current.unread:
                owned[conversation_uuid] = replace(current, unread=0)

    def hide_conversation(self, *, user_uuid: str, conversation_uuid: str) -> None:
        self._call("hide_conversation")
        with self._lock:
            owned = self.entries.get(user_uuid, {})
            current = owned.get(conversation_uuid)
            if current is None:
                raise NotFound("That conversation does not exist.")
            if not current.hidden:
                owned[conversation_uuid] = replace(current, hidden=True, unread=0)

    def _own_message(
        self, user_uuid: str, conversation_uuid: str, message_uuid: str, sort_key: str | None
    ) -> tuple[list[Message], int]:
        stored = self.messages.get(conversation_uuid, [])
        for index, message in enumerate(stored):
            if (
                message.message_uuid == message_uuid
                and message.sender.uuid == user_uuid
                and not message.event
                and sort_key in (None, message.sort_key)
            ):
                return stored, index
        raise NotFound("That message does not exist.")

    def _previews_follow(self, message: Message) -> None:
        for owned in self.entries.values():
            entry = owned.get(message.conversation_uuid)
            if entry is not None and entry.sort_key == message.sort_key:
                owned[message.conversation_uuid] = replace(
                    entry,
                    last_message=preview(message.text),
                    last_message_unsent=message.unsent,
                )

    def unsend_message(
        self,
        *,
        user_uuid: str,
        conversation_uuid: str,
        message_uuid: str,
        sort_key: str | None = None,
    ) -> Message:
        self._call("unsend_message")
        with self._lock:
            stored, index = self._own_message(user_uuid, conversation_uuid, message_uuid, sort_key)
            if stored[index].unsent:
                return stored[index]
            stored[index] = replace(stored[index], text="", unsent_at=self.clock())
            self._previews_follow(stored[index])
            return stored[index]

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
        self._call("edit_message")
        with self._lock:
            stored, index = self._own_message(user_uuid, conversation_uuid, message_uuid, sort_key)
            message = stored[index]
            refusal = edit_refusal(message, now)
            if refusal:
                raise NotEditable(refusal)
            if message.text == text:
                return message
            stored[index] = replace(message, text=text, edited_at=now)
            self._previews_follow(stored[index])
            return stored[index]

    def list_changed_messages(
        self,
        *,
        conversation_uuid: str,
        since: datetime,
        limit: int = 50,
        visible_from: str | None = None,
    ) -> tuple[Message, ...]:
        self._call("list_changed_messages")
        check_page_size(limit)
        changed = [
            message
            for message in self.messages.get(conversation_uuid, [])
            if message.changed_at is not None
            and message.changed_at >= since - CHANGE_SLACK
            and message.sort_key >= (visible_from or "")
        ]
        return tuple(sorted(changed, key=lambda m: m.changed_at)[:limit])

    def import_conversation(
        self,
        *,
        conversation_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: Sequence[NewMessage],
    ) -> None:
        self._call("import_conversation")
        if participants[0].uuid == participants[1].uuid or not messages:
            raise ValueError("An import needs two different people and at least one message.")
        if any(new.sender.uuid not in {p.uuid for p in participants} for new in messages):
            raise ValueError("Every message must come from one of the participants.")
        pair = self._pair(participants[0].uuid, participants[1].uuid)
        if self.pairs.get(pair, conversation_uuid) != conversation_uuid:
            raise Conflict(
                f"These two people already have conversation {self.pairs[pair]}; "
                f"import into that one instead of {conversation_uuid}."
            )
        stored = self.messages.setdefault(conversation_uuid, [])
        known = {message.message_uuid for message in stored}
        for new in messages:
            if new.message_uuid not in known:
                stored.append(
                    Message(
                        message_uuid=new.message_uuid,
                        conversation_uuid=conversation_uuid,
                        sender=new.sender,
                        text=new.text,
                        created_at=new.created_at,
                        sort_key=format_sort_key(new.created_at),
                    )
                )
        self.pairs[pair] = conversation_uuid
        newest = max(stored, key=lambda m: (m.sort_key, m.message_uuid))
        for owner, other in (participants, participants[::-1]):
            current = self.entries.get(owner.uuid, {}).get(conversation_uuid)
            if current is not None and current.sort_key >= newest.sort_key:
                continue  # never move an entry back
            self.entries.setdefault(owner.uuid, {})[conversation_uuid] = InboxEntry(
                conversation_uuid=conversation_uuid,
                owner_uuid=owner.uuid,
                other_user=other,
                last_message=preview(newest.text),
                last_message_at=newest.created_at,
                sort_key=newest.sort_key,
                unread=current.unread if current is not None else 0,
            )

    def ping(self) -> None:
        self._call("ping")


_memory_store: InMemoryStore | None = None
_memory_store_lock = threading.Lock()


def get_memory_store(*, prod: bool = False) -> InMemoryStore:
    """This process's one in-memory store (`MESSAGE_STORE`'s factory for it); `prod` means
    nothing here."""
    global _memory_store
    with _memory_store_lock:
        if _memory_store is None:
            _memory_store = InMemoryStore()
        return _memory_store


def reset_memory_stores() -> None:
    """Forget the in-memory store (tests: each starts from an empty one)."""
    global _memory_store
    with _memory_store_lock:
        _memory_store = None
