"""The message store: the one interface services and selectors use, and which one is in use.

Two implementations keep this contract (`tests/integration/test_store_contract.py` runs the
same behaviour tests against both): `messaging.dynamo.DynamoStore`, the DynamoDB table, and
`messaging.memory.InMemoryStore`, a dictionary for unit tests and the benchmark's baseline.
`get_store()` returns the one the `MESSAGE_STORE` setting names (a factory's dotted path);
nothing else picks one.

The store keeps the data consistent (atomic sends, one conversation per pair, paging); the
product's rules (who may write to whom, what a message may hold) are the services'. What it
raises is in `messaging/errors.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from django.utils.module_loading import import_string

from .domain import (
    DEFAULT_PAGE_SIZE,
    InboxEntry,
    InboxPage,
    Message,
    NewMessage,
    Page,
    Roster,
    UserRef,
)

# --- the interface ---


class MessageStore(Protocol):
    """The access patterns by name; keyword-only, returning `messaging.domain` dataclasses."""

    def list_conversations(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        """B: a person's inbox entries, newest first, with their count of unread conversations."""

    def list_messages(
        self,
        *,
        conversation_uuid: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        since: str | None = None,
    ) -> Page[Message]:
        """A: a conversation's messages, NEWEST first (pages show them reversed); `since`:
        only those from that sort key on (what a member added to a group may read)."""

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

    def get_participants(self, *, conversation_uuid: str) -> tuple[InboxEntry, ...]:
        """Every member's inbox entry of a conversation (two for a pair); none if it does not
        exist."""

    def get_roster(self, *, conversation_uuid: str) -> Roster | None:
        """A group's members and version as they are now; None for a pair or no conversation."""

    def find_conversation(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        """The uuid of the conversation between these two people, if they have one."""

    def create_message(
        self,
        *,
        conversation_uuid: str,
        sender: UserRef,
        text: str,
        participants: Sequence[InboxEntry] | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """C + D: store the message and move both inbox entries to it, atomically.

        `participants`: both entries as the caller has just read them (its membership check),
        so the store need not read them again. NotFound if the sender is not a participant.
        `idempotency_key`: of all sends by one sender with one key (concurrent, or retried
        after a lost answer), one stores a message and every one returns that message; the
        others return it `replayed` (they stored nothing).
        """

    def create_conversation(
        self,
        *,
        sender: UserRef,
        recipient: UserRef,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        """A new conversation with its first message; one per pair, also when both people
        start it at the same moment (then the message goes into the one that exists).
        `idempotency_key` as for `create_message`."""

    def create_group(
        self,
        *,
        sender: UserRef,
        members: Sequence[UserRef],
        name: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, Message]:
        """A new group of `sender` and `members` (the others) with its first message; every
        member's inbox entry shows it, unread for all but the sender. Groups are not keyed by
        their members: the same people again make a new group. `idempotency_key` as for
        `create_message`. Returns (conversation uuid, message)."""

    def add_members(
        self,
        *,
        actor: UserRef,
        conversation_uuid: str,
        people: Sequence[UserRef],
        max_members: int,
    ) -> Message | None:
        """Add people to a group `actor` is in, atomically with the line that says so (an
        event message), which is where the new members' history starts; those already in
        are skipped (None when nobody is new). GroupFull past `max_members`; NotFound unless
        `actor` is a member of a group (a pair has no roster)."""

    def leave_group(self, *, user: UserRef, conversation_uuid: str) -> Message | None:
        """Take `user` out of a group (their entry goes; nothing more reaches them), with a
        line for the others. NotFound unless a member of a group."""

    def rename_group(self, *, actor: UserRef, conversation_uuid: str, name: str) -> Message | None:
        """Set a group's name ("" for none), with a line; None when unchanged."""

    def sent_message(self, *, sender_uuid: str, idempotency_key: str) -> Message | None:
        """The message a send by this sender with this key stored, `replayed` as a send with
        the key would return it now; None if no send with it was stored (or it expired)."""

    def mark_read(
        self, *, owner_uuid: str, conversation_uuid: str, sort_key: str, unread: int
    ) -> None:
        """Clear the owner's unread count for a conversation (idempotent).

        The caller says where it believes the owner's entry is (`sort_key`, holding `unread`);
        if a newer send moved it meanwhile, it is cleared where it is now.
        """

    def hide_conversation(self, *, user_uuid: str, conversation_uuid: str) -> None:
        """Take the conversation out of this person's inbox listing and mark it read
        (idempotent); the next message from anyone brings it back. The other participant's
        entry is unchanged, and `get_participants` still returns it (`hidden`). NotFound if
        the person is not a participant."""

    def unsend_message(
        self,
        *,
        user_uuid: str,
        conversation_uuid: str,
        message_uuid: str,
        sort_key: str | None = None,
    ) -> Message:
        """Remove the text of one's own message from storage, leaving the message in its place
        (`unsent_at` set, `text` empty); if it was the last message, every participant's inbox
        entry stops showing it (`last_message_unsent`). Idempotent. NotFound if there is no
        such message in the conversation or it is not `user_uuid`'s.

        `sort_key`: the message's, if the caller has it (one read instead of a search); the
        write checks the uuid and the sender, so a wrong one changes nothing.
        """

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
        """Replace the text of one's own message (the old text is not kept), `edited_at` = now;
        the inbox previews follow if it is the last message. Idempotent for the same text.
        NotFound as for `unsend_message`; NotEditable once it is unsent or `now` is past its
        edit window (`edit_window()`): the write's condition, not a read, decides.
        `sort_key` as for `unsend_message`."""

    def list_changed_messages(
        self,
        *,
        conversation_uuid: str,
        since: datetime,
        limit: int = 50,
        visible_from: str | None = None,
    ) -> tuple[Message, ...]:
        """Messages edited or unsent from `since` (less `CHANGE_SLACK`) on, as they are now,
        oldest change first: how a page that asks only for newer messages learns that an older
        one changed. May repeat a change already seen; applying one again is harmless."""

    def import_conversation(
        self,
        *,
        conversation_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: Sequence[NewMessage],
    ) -> None:
        """Idempotent bulk import (seed data, benchmarks)."""

    def ping(self) -> None:
        """Raise Unavailable or TableNotFound unless the store can serve requests."""


# --- which store ---


def get_store(*, prod: bool = False) -> MessageStore:
    """The store `settings.MESSAGE_STORE` names: the dotted path of a factory taking `prod`,
    loaded like Django's own backends, so this interface names no backend.

    `prod=True` (the commands' --prod) asks the factory for real AWS whatever
    AWS_ENDPOINT_URL says; the in-memory store has no such thing and ignores it.
    """
    from django.conf import settings

    return _factory(settings.MESSAGE_STORE)(prod=prod)


@functools.cache
def _factory(path: str):
    return import_string(path)
