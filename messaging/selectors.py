"""Reads for the messaging pages: permission-checked group access and the pages' view models.

Every read of a conversation goes through `get_group_for_member`, so no view can forget the
membership check. Names shown are the users' current ones from SQL, looked up in one batched
query per page; the copies stored on DynamoDB items are only a fallback for deleted users.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from messaging import gateway
from messaging.gateway import Message, MessageGroup, UserRef
from users.models import User


class ConversationNotFound(Exception):
    """No such conversation for this user: missing, not a member, or a malformed uuid.

    The three cases are deliberately indistinguishable (the views answer 404 to all), so a
    non-member cannot learn that a group exists.
    """


# --- view models ---


@dataclass(frozen=True)
class Person:
    uuid: str
    handle: str
    display_name: str

    @property
    def initial(self) -> str:
        return (self.display_name or self.handle or "?")[:1].upper()


@dataclass(frozen=True)
class InboxRow:
    message_group_uuid: str
    other: Person
    last_message: str
    last_message_at: datetime
    unread: int

    @property
    def when(self) -> str:
        return relative_time(self.last_message_at)


@dataclass(frozen=True)
class Inbox:
    rows: tuple[InboxRow, ...]
    next_cursor: str | None
    unread_conversations: int


@dataclass(frozen=True)
class MessageRow:
    message_uuid: str
    sender: Person
    text: str
    created_at: datetime
    is_mine: bool

    @property
    def when(self) -> str:
        return relative_time(self.created_at)


@dataclass(frozen=True)
class Conversation:
    group: MessageGroup  # the viewer's own group item
    other: Person
    messages: tuple[MessageRow, ...]  # oldest first, as read
    earlier_cursor: str | None


@dataclass(frozen=True)
class ConversationPage:
    inbox: Inbox  # the sidebar: the viewer's first inbox page
    conversation: Conversation


def relative_time(moment: datetime, *, now: datetime | None = None) -> str:
    """Short label for a list: "now", "5m", "3h", then "Mar 3", with the year if not this year."""
    now = now or timezone.now()
    age = now - moment
    if age < timedelta(minutes=1):
        return "now"  # also for a clock slightly ahead of ours
    if age < timedelta(hours=1):
        return f"{int(age.total_seconds() // 60)}m"
    if age < timedelta(days=1):
        return f"{int(age.total_seconds() // 3600)}h"
    local, local_now = timezone.localtime(moment), timezone.localtime(now)
    label = f"{local:%b} {local.day}"
    return label if local.year == local_now.year else f"{label}, {local.year}"


# --- people ---


def find_user(*, handle: str) -> User | None:
    """The active user with this handle, any capitalisation, with or without a leading "@"."""
    handle = handle.strip().removeprefix("@")
    if not handle:
        return None
    return User.objects.filter(handle__iexact=handle, is_active=True).first()


def _people(refs: Iterable[UserRef]) -> dict[str, Person]:
    """Current names for these users (keyed by the uuid as stored), in ONE query.

    A user who no longer exists keeps the name stored on the item.
    """
    stored = {ref.uuid: ref for ref in refs}
    canonical = {key: _canonical_uuid(key) for key in stored}
    wanted = {value for value in canonical.values() if value}
    current = {}
    if wanted:
        users = User.objects.filter(uuid__in=wanted).only("uuid", "handle", "display_name")
        current = {str(user.uuid): user for user in users}
    people = {}
    for key, ref in stored.items():
        user = current.get(canonical[key])
        if user is None:
            people[key] = Person(ref.uuid, ref.handle, ref.display_name)
        else:
            people[key] = Person(str(user.uuid), user.handle, user.display_name)
    return people


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        return None


# --- membership ---


def get_group_for_member(
    *, user: User, message_group_uuid: str, known_groups: Iterable[MessageGroup] = ()
) -> MessageGroup:
    """The caller's own group item for this conversation, or ConversationNotFound.

    `known_groups` are items already read from the caller's own inbox (pk GRP#<caller>): only
    a member can have one, so a match proves membership without another request.
    """
    group_uuid = _canonical_uuid(message_group_uuid)
    if group_uuid is None:
        raise ConversationNotFound
    me = str(user.uuid)
    for group in known_groups:
        if group.message_group_uuid == group_uuid and group.owner_uuid == me:
            return group
    participants = gateway.get_gateway().get_participants(message_group_uuid=group_uuid)
    for group in participants:
        if group.owner_uuid == me:
            return group
    raise ConversationNotFound


def find_conversation(*, user: User, other: User) -> str | None:
    """The uuid of the conversation between these two users, if they have one."""
    return gateway.get_gateway().find_message_group(
        user_uuid=str(user.uuid), other_user_uuid=str(other.uuid)
    )


# --- pages ---


def inbox(*, user: User, cursor: str | None = None) -> Inbox:
    """One page of the user's conversations, newest first (InvalidCursor for a bad cursor)."""
    page = gateway.get_gateway().list_message_groups(user_uuid=str(user.uuid), cursor=cursor)
    people = _people(group.other_user for group in page.items)
    return _inbox(page, people)


def conversation(*, user: User, group: MessageGroup, cursor: str | None = None) -> Conversation:
    """One page of a conversation the caller is a member of (`group` from get_group_for_member)."""
    page = gateway.get_gateway().list_messages(
        message_group_uuid=group.message_group_uuid, cursor=cursor
    )
    people = _people([group.other_user, *(message.sender for message in page.items)])
    return _conversation(user, group, page, people)


def conversation_page(
    *, user: User, message_group_uuid: str, before: str | None = None
) -> ConversationPage:
    """The conversation page: the inbox sidebar plus one page of messages.

    Budget: two DynamoDB requests, the inbox query and the messages query. The inbox row for
    this group proves membership and gives the header, so the participants query is needed
    only when the group is not on the first inbox page (an old conversation): three requests
    in that case.
    """
    gw = gateway.get_gateway()
    inbox_page = gw.list_message_groups(user_uuid=str(user.uuid))
    group = get_group_for_member(
        user=user, message_group_uuid=message_group_uuid, known_groups=inbox_page.items
    )
    message_page = gw.list_messages(message_group_uuid=group.message_group_uuid, cursor=before)
    people = _people(
        [
            *(row.other_user for row in inbox_page.items),
            group.other_user,
            *(message.sender for message in message_page.items),
        ]
    )
    return ConversationPage(
        inbox=_inbox(inbox_page, people, reading=group),
        conversation=_conversation(user, group, message_page, people),
    )


def _inbox(
    page: gateway.InboxPage, people: dict[str, Person], *, reading: MessageGroup | None = None
) -> Inbox:
    unread_conversations = page.unread_conversations
    if reading is not None and reading.unread:
        # The page being rendered marks this group read; show the counts as they will be.
        unread_conversations = max(0, unread_conversations - 1)
    rows = tuple(
        InboxRow(
            message_group_uuid=group.message_group_uuid,
            other=people[group.other_user.uuid],
            last_message=group.last_message,
            last_message_at=group.last_message_at,
            unread=0
            if reading and group.message_group_uuid == reading.message_group_uuid
            else group.unread,
        )
        for group in page.items
    )
    return Inbox(rows, page.next_cursor, unread_conversations)


def _conversation(
    user: User,
    group: MessageGroup,
    page: gateway.Page[Message],
    people: dict[str, Person],
) -> Conversation:
    me = str(user.uuid)
    messages = tuple(
        MessageRow(
            message_uuid=message.message_uuid,
            sender=people[message.sender.uuid],
            text=message.text,
            created_at=message.created_at,
            is_mine=message.sender.uuid == me,
        )
        for message in reversed(page.items)  # the gateway reads newest first
    )
    return Conversation(
        group=group,
        other=people[group.other_user.uuid],
        messages=messages,
        earlier_cursor=page.next_cursor,
    )
