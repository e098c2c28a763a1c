"""Reads for the messaging pages: permission-checked group access and the pages' view models.

Every read of a conversation goes through `get_group_for_member`, so no view can forget the
membership check; the live poll instead presents a token signed after that check
(`check_live_token`), which saves it a DynamoDB read per poll. Names shown are the users'
current ones from SQL, looked up in one batched query per page; the copies stored on DynamoDB
items are only a fallback for deleted users.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.urls import reverse
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
class Stamp:
    """A moment as the pages show it, formatted once when the view model is built.

    The templates print these as they are: localised `|date` filters and a `{% url %}` per row
    were most of a page's rendering time.
    """

    label: str  # relative, for the list: "5m", "Mar 3" (relative_time)
    iso: str  # <time datetime="...">: ISO 8601 in the current time zone
    title: str  # the hover text: "Tuesday 3 March 2026, 14:05 UTC"


@dataclass(frozen=True)
class InboxRow:
    message_group_uuid: str
    other: Person
    last_message: str
    last_message_at: datetime
    unread: int
    sort_key: str
    url: str  # the conversation page
    time: Stamp  # of last_message_at

    @property
    def when(self) -> str:
        return self.time.label


@dataclass(frozen=True)
class Inbox:
    rows: tuple[InboxRow, ...]
    next_cursor: str | None
    unread_conversations: int
    live_state: str = ""  # what the live poll compares (`inbox_state`); "" on later pages
    reading_unread: int = 0  # the conversation being read: its unread count before this read


@dataclass(frozen=True)
class InboxState:
    """What the live poll reads: enough to tell that the first inbox page changed."""

    state: str
    unread_conversations: int


@dataclass(frozen=True)
class MessageRow:
    message_uuid: str
    sender: Person
    text: str
    created_at: datetime
    is_mine: bool
    sort_key: str
    time: Stamp  # of created_at

    @property
    def when(self) -> str:
        return self.time.label


@dataclass(frozen=True)
class Conversation:
    group: MessageGroup  # the viewer's own group item
    other: Person
    messages: tuple[MessageRow, ...]  # oldest first, as read
    earlier_cursor: str | None
    url: str  # this conversation's page

    @property
    def newest_sort_key(self) -> str:
        """Where the live poll starts: the newest message shown (of the newest page)."""
        return self.messages[-1].sort_key if self.messages else self.group.sort_key


@dataclass(frozen=True)
class ConversationPage:
    inbox: Inbox  # the sidebar: the viewer's first inbox page
    conversation: Conversation


# The page language's names (English), as Django's `|date` gave them; not the C locale's.
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def relative_time(moment: datetime, *, now: datetime | None = None) -> str:
    """Short label for a list: "now", "5m", "3h", then "Mar 3", with the year if not this year."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    return _relative(moment.astimezone(tz), now, now.astimezone(tz).year)


def _relative(local: datetime, now: datetime, this_year: int) -> str:
    age = now - local
    if age < timedelta(minutes=1):
        return "now"  # also for a clock slightly ahead of ours
    if age < timedelta(hours=1):
        return f"{int(age.total_seconds() // 60)}m"
    if age < timedelta(days=1):
        return f"{int(age.total_seconds() // 3600)}h"
    label = f"{_MONTHS[local.month - 1][:3]} {local.day}"
    return label if local.year == this_year else f"{label}, {local.year}"


class _Clock:
    """Formats a page's moments against one `now` and the request's time zone, looked up once."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self.tz = timezone.get_current_timezone()
        self.this_year = self.now.astimezone(self.tz).year

    def stamp(self, moment: datetime) -> Stamp:
        local = moment.astimezone(self.tz)
        # The same text as `|date:"l j F Y, H:i T"`, which leaves the zone out when the local
        # time is ambiguous or does not exist (a daylight-saving change).
        offset = local.utcoffset()
        zone = local.tzname() if local.replace(fold=1 - local.fold).utcoffset() == offset else ""
        title = (
            f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local.hour:02d}:{local.minute:02d} {zone}"
        )
        return Stamp(_relative(local, self.now, self.this_year), local.isoformat(), title)


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
    parsed = {key: _parse_uuid(key) for key in stored}
    wanted = {value for value in parsed.values() if value}
    current = {}
    if wanted:
        # Tuples, not model instances: this runs on every page.
        rows = User.objects.filter(uuid__in=wanted).values_list("uuid", "handle", "display_name")
        current = {row[0]: row for row in rows}
    people = {}
    for key, ref in stored.items():
        row = current.get(parsed[key])
        if row is None:
            people[key] = Person(ref.uuid, ref.handle, ref.display_name)
        else:
            people[key] = Person(str(row[0]), row[1], row[2])
    return people


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return None


def _canonical_uuid(value: str) -> str | None:
    parsed = _parse_uuid(value)
    return None if parsed is None else str(parsed)


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
    return get_participants_for_member(user=user, message_group_uuid=group_uuid)[0]


def get_participants_for_member(*, user: User, message_group_uuid: str) -> tuple[MessageGroup, ...]:
    """Both group items of the caller's conversation, the caller's own first, in one request.

    ConversationNotFound as get_group_for_member. A send passes them on to the gateway, which
    then need not read them again.
    """
    group_uuid = _canonical_uuid(message_group_uuid)
    if group_uuid is None:
        raise ConversationNotFound
    me = str(user.uuid)
    participants = gateway.get_gateway().get_participants(message_group_uuid=group_uuid)
    own = [group for group in participants if group.owner_uuid == me]
    if not own:
        raise ConversationNotFound
    return (own[0], *(group for group in participants if group.owner_uuid != me))


# The live poll's proof of membership: the conversation page signs (user, conversation) after
# its own check, so each poll skips the participants read. Membership never ends (nobody
# leaves a conversation), so the token does not expire; signing out ends the session instead.
_LIVE_SALT = "messaging.live"
_MAX_LIVE_TOKEN = 500


def live_token(*, user: User, group: MessageGroup) -> str:
    """A token for `user`'s live poll of `group` (their own item, from get_group_for_member)."""
    if group.owner_uuid != str(user.uuid):
        raise ValueError("live_token needs the user's own group item.")
    return signing.dumps([group.owner_uuid, group.message_group_uuid], salt=_LIVE_SALT)


def check_live_token(*, user: User, message_group_uuid: str, token: str) -> str:
    """The conversation's uuid if `token` was issued to `user` for it, else ConversationNotFound."""
    group_uuid = _canonical_uuid(message_group_uuid)
    if group_uuid is None or not token or len(token) > _MAX_LIVE_TOKEN:
        raise ConversationNotFound
    try:
        owner_uuid, signed_group_uuid = signing.loads(token, salt=_LIVE_SALT)
    except (signing.BadSignature, TypeError, ValueError):
        raise ConversationNotFound from None
    if (owner_uuid, signed_group_uuid) != (str(user.uuid), group_uuid):
        raise ConversationNotFound
    return group_uuid


def find_conversation(*, user: User, other: User) -> str | None:
    """The uuid of the conversation between these two users, if they have one."""
    return gateway.get_gateway().find_message_group(
        user_uuid=str(user.uuid), other_user_uuid=str(other.uuid)
    )


# --- pages ---


def inbox(*, user: User, cursor: str | None = None, reading: str | None = None) -> Inbox:
    """One page of the user's conversations, newest first (InvalidCursor for a bad cursor).

    `reading` is a conversation the caller is about to mark read (an open conversation in a
    focused tab): it is shown as read, as on the conversation page.
    """
    page = gateway.get_gateway().list_message_groups(user_uuid=str(user.uuid), cursor=cursor)
    people = _people(group.other_user for group in page.items)
    read_now = next((g for g in page.items if g.message_group_uuid == reading), None)
    return _inbox(page, people, reading=read_now, live=cursor is None)


def inbox_state(*, user: User) -> InboxState:
    """The live poll's one small read: the unread counter and the newest conversation.

    Every new message in any of the user's conversations moves that row to the top with a
    new sort key, and every read changes the counter, so comparing this with the state the
    page was rendered with tells whether the first inbox page changed. One Query, two items.
    """
    page = gateway.get_gateway().list_message_groups(user_uuid=str(user.uuid), limit=1)
    top = page.items[0] if page.items else None
    return InboxState(
        state=_live_state(top, top.unread if top else 0, page.unread_conversations),
        unread_conversations=page.unread_conversations,
    )


def _live_state(top: MessageGroup | None, top_unread: int, unread_conversations: int) -> str:
    raw = (
        "|".join([top.message_group_uuid, top.sort_key] if top else ["", ""])
        + f"|{top_unread}|{unread_conversations}"
    )
    return hashlib.blake2s(raw.encode(), digest_size=8).hexdigest()


def new_messages(
    *, user: User, message_group_uuid: str, after: str, limit: int = 50
) -> tuple[MessageRow, ...]:
    """Messages newer than sort key `after`, oldest first (InvalidCursor for a bad key).

    Membership must already be proven (check_live_token). When nothing is new this is one
    Query that returns nothing, and no SQL.
    """
    messages = gateway.get_gateway().list_messages_after(
        message_group_uuid=message_group_uuid, after_sort_key=after, limit=limit
    )
    people = _people(message.sender for message in messages)
    clock = _Clock()
    return tuple(_message_row(message, people, str(user.uuid), clock) for message in messages)


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
        inbox=_inbox(inbox_page, people, reading=group, live=True),
        conversation=_conversation(user, group, message_page, people),
    )


_URL_SLOT = "__message_group_uuid__"


def _inbox(
    page: gateway.InboxPage,
    people: dict[str, Person],
    *,
    reading: MessageGroup | None = None,
    live: bool = False,
) -> Inbox:
    """The view model of an inbox page; `live` for a first page (it holds the counter)."""
    unread_conversations = page.unread_conversations
    if reading is not None and reading.unread:
        # The page being rendered marks this group read; show the counts as they will be.
        unread_conversations = max(0, unread_conversations - 1)
    clock = _Clock()
    # One reverse() per page, not per row; uuids need no quoting.
    url = reverse("messaging:conversation", args=[_URL_SLOT])
    rows = tuple(
        InboxRow(
            message_group_uuid=group.message_group_uuid,
            other=people[group.other_user.uuid],
            last_message=group.last_message,
            last_message_at=group.last_message_at,
            unread=0
            if reading and group.message_group_uuid == reading.message_group_uuid
            else group.unread,
            sort_key=group.sort_key,
            url=url.replace(_URL_SLOT, group.message_group_uuid),
            time=clock.stamp(group.last_message_at),
        )
        for group in page.items
    )
    live_state = ""
    if live:
        top = page.items[0] if page.items else None
        live_state = _live_state(top, rows[0].unread if rows else 0, unread_conversations)
    return Inbox(
        rows, page.next_cursor, unread_conversations, live_state, reading.unread if reading else 0
    )


def _message_row(message: Message, people: dict[str, Person], me: str, clock: _Clock) -> MessageRow:
    return MessageRow(
        message_uuid=message.message_uuid,
        sender=people[message.sender.uuid],
        text=message.text,
        created_at=message.created_at,
        is_mine=message.sender.uuid == me,
        sort_key=message.sort_key,
        time=clock.stamp(message.created_at),
    )


def _conversation(
    user: User,
    group: MessageGroup,
    page: gateway.Page[Message],
    people: dict[str, Person],
) -> Conversation:
    me = str(user.uuid)
    # The gateway reads newest first.
    clock = _Clock()
    messages = tuple(_message_row(message, people, me, clock) for message in reversed(page.items))
    return Conversation(
        group=group,
        other=people[group.other_user.uuid],
        messages=messages,
        earlier_cursor=page.next_cursor,
        url=reverse("messaging:conversation", args=[group.message_group_uuid]),
    )
