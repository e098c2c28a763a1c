"""An in-memory MessagesGateway for view and service tests (cosmicpython's fake adapter).

Same method names, signatures, dataclasses and semantics as messaging.gateway for what the
pages use: newest-first lists, opaque cursors that raise InvalidCursor when bad or foreign,
both group items moved on every send, unread +1 for the recipient, one conversation per pair.
`calls` records every method called (to assert request budgets); set `fail_with` to an
exception (e.g. gateway.Unavailable("...")) to make every call raise it.

Test modules make it their gateway with a fixture calling `install(monkeypatch)`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from messaging import gateway
from messaging.gateway import (
    DEFAULT_PAGE_SIZE,
    InboxPage,
    InvalidCursor,
    Message,
    MessageGroup,
    NewMessage,
    NotFound,
    Page,
    UserRef,
)


def sort_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class FakeGateway:
    def __init__(self, *, clock=timezone.now):
        self.clock = clock
        self.groups: dict[str, dict[str, MessageGroup]] = {}  # owner uuid -> group uuid -> item
        self.messages: dict[str, list[Message]] = {}  # group uuid -> messages, any order
        self.pairs: dict[tuple[str, str], str] = {}  # sorted user uuids -> group uuid
        self.calls: list[str] = []
        self.participants_passed: list[tuple[MessageGroup, ...]] = []  # create_message's
        self.fail_with: Exception | None = None
        self._last_time: datetime | None = None

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
    def _encode(pk: str, item_sort_key: str, tiebreak: str) -> str:
        raw = json.dumps({"pk": pk, "sk": item_sort_key, "id": tiebreak}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode(cursor: str, pk: str) -> tuple[str, str]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if data["pk"] != pk:
                raise InvalidCursor("That cursor belongs to another list.")
            return data["sk"], data["id"]
        except (binascii.Error, ValueError, KeyError, TypeError) as error:
            raise InvalidCursor("That cursor is not valid.") from error

    def _page(self, items, *, pk, cursor, limit, key):
        """Newest first, after the cursor if any, `limit` items, next cursor if more remain."""
        ordered = sorted(items, key=key, reverse=True)
        if cursor:
            after = self._decode(cursor, pk)
            ordered = [item for item in ordered if key(item) < after]
        chunk = ordered[:limit]
        next_cursor = None
        if len(ordered) > limit:
            next_cursor = self._encode(pk, *key(chunk[-1]))
        return tuple(chunk), next_cursor

    # --- access patterns ---

    def list_message_groups(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        self._call("list_message_groups")
        mine = self.groups.get(user_uuid, {}).values()
        items, next_cursor = self._page(
            mine,
            pk=f"GRP#{user_uuid}",
            cursor=cursor,
            limit=limit,
            key=lambda group: (group.sort_key, group.message_group_uuid),
        )
        unread = sum(1 for group in mine if group.unread > 0)
        return InboxPage(items=items, next_cursor=next_cursor, unread_conversations=unread)

    def list_messages(
        self, *, message_group_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Message]:
        self._call("list_messages")
        items, next_cursor = self._page(
            self.messages.get(message_group_uuid, []),
            pk=f"MSG#{message_group_uuid}",
            cursor=cursor,
            limit=limit,
            key=lambda message: (message.sort_key, message.message_uuid),
        )
        return Page(items=items, next_cursor=next_cursor)

    def list_messages_after(
        self, *, message_group_uuid: str, after_sort_key: str, limit: int = 50
    ) -> tuple[Message, ...]:
        self._call("list_messages_after")
        try:
            gateway.parse_sort_key(after_sort_key)
        except ValueError:
            raise InvalidCursor(f"{after_sort_key!r} is not a message time.") from None
        newer = [
            m for m in self.messages.get(message_group_uuid, []) if m.sort_key > after_sort_key
        ]
        return tuple(sorted(newer, key=lambda m: (m.sort_key, m.message_uuid))[:limit])

    def get_participants(self, *, message_group_uuid: str) -> tuple[MessageGroup, ...]:
        self._call("get_participants")
        return tuple(
            owned[message_group_uuid]
            for owned in self.groups.values()
            if message_group_uuid in owned
        )

    def create_message(
        self,
        *,
        message_group_uuid: str,
        sender: UserRef,
        text: str,
        participants: Sequence[MessageGroup] | None = None,
    ) -> Message:
        # `participants` only spares the real gateway a read; this state is always current.
        self._call("create_message")
        _require_text(text)
        if participants is not None:
            self.participants_passed.append(tuple(participants))
        return self._send(message_group_uuid, sender, text)

    def _send(self, message_group_uuid: str, sender: UserRef, text: str) -> Message:
        participants = [
            owned[message_group_uuid]
            for owned in self.groups.values()
            if message_group_uuid in owned
        ]
        if sender.uuid not in {group.owner_uuid for group in participants}:
            raise NotFound("That conversation does not exist.")
        moment = self._now()
        message = Message(
            message_uuid=str(uuid.uuid4()),
            message_group_uuid=message_group_uuid,
            sender=sender,
            text=text,
            created_at=moment,
            sort_key=sort_key(moment),
        )
        self.messages.setdefault(message_group_uuid, []).append(message)
        for group in participants:
            self.groups[group.owner_uuid][message_group_uuid] = replace(
                group,
                last_message=text,
                last_message_at=moment,
                sort_key=message.sort_key,
                # Sending means reading: the sender's count clears, the recipient's goes up.
                unread=0 if group.owner_uuid == sender.uuid else group.unread + 1,
            )
        return message

    def create_message_group(
        self, *, sender: UserRef, recipient: UserRef, text: str
    ) -> tuple[str, Message]:
        self._call("create_message_group")
        _require_text(text)
        if sender.uuid == recipient.uuid:
            raise ValueError("A conversation needs two different people.")
        pair = self._pair(sender.uuid, recipient.uuid)
        group_uuid = self.pairs.get(pair)
        if group_uuid is None:
            group_uuid = str(uuid.uuid4())
            self.pairs[pair] = group_uuid
            self._put_groups(group_uuid, (sender, recipient), text="", moment=None)
        return group_uuid, self._send(group_uuid, sender, text)

    def _put_groups(self, group_uuid, participants, *, text, moment) -> None:
        moment = moment or datetime(1970, 1, 1, tzinfo=UTC)
        for owner, other in (participants, participants[::-1]):
            self.groups.setdefault(owner.uuid, {})[group_uuid] = MessageGroup(
                message_group_uuid=group_uuid,
                owner_uuid=owner.uuid,
                other_user=other,
                last_message=text,
                last_message_at=moment,
                sort_key=sort_key(moment),
            )

    def find_message_group(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        self._call("find_message_group")
        return self.pairs.get(self._pair(user_uuid, other_user_uuid))

    def mark_read(self, *, group: MessageGroup) -> None:
        self._call("mark_read")
        owned = self.groups.get(group.owner_uuid, {})
        current = owned.get(group.message_group_uuid)
        if current is not None and current.unread:
            owned[group.message_group_uuid] = replace(current, unread=0)

    def import_conversation(
        self,
        *,
        message_group_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: list[NewMessage],
    ) -> None:
        self._call("import_conversation")
        if participants[0].uuid == participants[1].uuid or not messages:
            raise ValueError("An import needs two different people and at least one message.")
        if any(new.sender.uuid not in {p.uuid for p in participants} for new in messages):
            raise ValueError("Every message must come from one of the participants.")
        stored = self.messages.setdefault(message_group_uuid, [])
        known = {message.message_uuid for message in stored}
        for new in messages:
            if new.message_uuid not in known:
                stored.append(
                    Message(
                        message_uuid=new.message_uuid,
                        message_group_uuid=message_group_uuid,
                        sender=new.sender,
                        text=new.text,
                        created_at=new.created_at,
                        sort_key=sort_key(new.created_at),
                    )
                )
        self.pairs[self._pair(participants[0].uuid, participants[1].uuid)] = message_group_uuid
        newest = max(stored, key=lambda m: (m.sort_key, m.message_uuid))
        for owner, other in (participants, participants[::-1]):
            current = self.groups.get(owner.uuid, {}).get(message_group_uuid)
            if current is not None and current.sort_key >= newest.sort_key:
                continue  # never move a group back
            self.groups.setdefault(owner.uuid, {})[message_group_uuid] = MessageGroup(
                message_group_uuid=message_group_uuid,
                owner_uuid=owner.uuid,
                other_user=other,
                last_message=newest.text,
                last_message_at=newest.created_at,
                sort_key=newest.sort_key,
                unread=current.unread if current is not None else 0,
            )

    def ping(self) -> None:
        self._call("ping")


def _require_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("A message needs some text.")


def ref(user) -> UserRef:
    """A Django user as a UserRef (its current names)."""
    return UserRef(uuid=str(user.uuid), handle=user.handle, display_name=user.display_name)


def install(monkeypatch) -> FakeGateway:
    """Make messaging.gateway.get_gateway() return a fresh fake; returns it."""
    fake = FakeGateway()
    monkeypatch.setattr(gateway, "get_gateway", lambda **_kwargs: fake)
    return fake
