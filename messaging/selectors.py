"""Reads for the messaging pages: the view models the templates print.

Every read of a conversation passes the membership check of `messaging.access` first. Names
shown are the users' current ones (`users.profiles`: the cache, else one batched query per
page), never the copies stored on DynamoDB items: a user who no longer exists is shown as
"Deleted user", so a new person who takes their handle never appears in their conversations.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from users.models import User
from users.names import held_for
from users.profiles import Profile, profiles

from . import policy
from .access import get_entry_for_member
from .domain import InboxEntry, InboxPage, Message, Page, UserRef
from .live_tokens import live_token
from .store import get_store
from .timestamps import Clock, Stamp

# --- view models ---


ACTIVE, DEACTIVATED, DELETED = "active", "deactivated", "deleted"


@dataclass(frozen=True)
class Person:
    uuid: str
    handle: str  # "" for a deleted user
    display_name: str
    state: str = ACTIVE  # ACTIVE, DEACTIVATED or DELETED
    blocked: bool = False  # the viewer blocked them

    @property
    def initial(self) -> str:
        return (self.display_name or self.handle or "?")[:1].upper()

    @property
    def is_gone(self) -> bool:
        return self.state != ACTIVE

    def name_html(self) -> SafeString:
        """The name as every page prints it: display name, @handle (none for a deleted
        user), and a tag for a deactivated or blocked person. Built here rather than by an
        include, which cost more than the rest of an inbox row."""
        html = f'<span class="convo-name">{escape(self.display_name)}</span>'
        if self.handle:
            html += f' <span class="handle">@{escape(self.handle)}</span>'
        if self.state == DEACTIVATED:
            html += ' <span class="tag">Deactivated</span>'
        if self.blocked:
            html += ' <span class="tag">Blocked</span>'
        return mark_safe(html)  # noqa: S308  (the names escaped)


@dataclass(frozen=True)
class InboxRow:
    conversation_uuid: str
    other: Person
    last_message: str
    last_message_at: datetime
    unread: int
    sort_key: str
    url: str  # the conversation page
    time: Stamp  # of last_message_at


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
class InboxUpdate:
    """The inbox poll's answer: did the first inbox page change, and if asked, that page."""

    state: str
    changed: bool
    unread_conversations: int
    inbox: Inbox | None = None  # the redrawn first page: only when it changed and was asked for


@dataclass(frozen=True)
class MessageRow:
    message_uuid: str
    sender: Person
    text: str
    created_at: datetime
    is_mine: bool
    sort_key: str
    time: Stamp  # of created_at
    day_label: str  # "Today", "Yesterday", "Monday", "Tuesday 3 March"
    new_day: bool  # the first of its day in the list: a day separator goes before it
    continued: bool  # follows a message of the same sender on the same day: grouped with it


@dataclass(frozen=True)
class Conversation:
    entry: InboxEntry  # the viewer's own inbox entry
    other: Person
    messages: tuple[MessageRow, ...]  # oldest first, as read
    earlier_cursor: str | None
    url: str  # this conversation's page
    closed: str = ""  # why the viewer cannot reply, shown instead of the reply box

    @property
    def newest_sort_key(self) -> str:
        """Where the live poll starts: the newest message shown (of the newest page)."""
        return self.messages[-1].sort_key if self.messages else self.entry.sort_key


@dataclass(frozen=True)
class ConversationPage:
    inbox: Inbox  # the sidebar: the viewer's first inbox page
    conversation: Conversation
    live_token: str  # the live poll's proof of membership (live_tokens)


# --- people ---


def find_user(*, handle: str) -> User | None:
    """The active user with this handle, any capitalisation, with or without a leading "@"."""
    return User.objects.find_by_handle(handle)


def renamed_to(*, handle: str) -> User | None:
    """The active user who renamed away from `handle` lately (the handle is held for them),
    so a link with the old handle can say where they went."""
    hold = held_for(handle.strip().removeprefix("@"))
    if hold is None or not hold.user.is_active:
        return None
    return hold.user


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class People:
    """The people a page shows, keyed by the uuid as stored on the items, and the viewer."""

    by_uuid: dict[str, Person]
    profiles: dict[str, Profile | None]  # what the rules read (policy)
    viewer: Profile | None

    def __getitem__(self, stored_uuid: str) -> Person:
        return self.by_uuid[stored_uuid]


def _people(refs: Iterable[UserRef], *, viewer: User | None = None) -> People:
    """Who these users are now (one cache read for all, the viewer's profile included)."""
    stored = {ref.uuid for ref in refs}
    parsed = {key: parse_uuid(key) for key in stored}
    wanted = [value for value in parsed.values() if value]
    if viewer is not None:
        wanted.append(viewer.uuid)
    found = profiles(wanted)
    me = found.get(viewer.uuid) if viewer is not None else None
    people, profiles_by_key = {}, {}
    for key in stored:
        profile = profiles_by_key[key] = found.get(parsed[key])
        if profile is None or profile.is_deleted:
            people[key] = Person(key, "", "Deleted user", DELETED)
        else:
            people[key] = Person(
                str(parsed[key]),
                profile.handle,
                profile.display_name,
                ACTIVE if profile.is_active else DEACTIVATED,
                blocked=me is not None and me.has_blocked(key),
            )
    return People(people, profiles_by_key, me)


def person(*, viewer: User, user: User) -> Person:
    """`user` as `viewer` sees them (the cached profiles: no SQL when warm)."""
    return _people([UserRef(str(user.uuid), user.handle, user.display_name)], viewer=viewer)[
        str(user.uuid)
    ]


def find_conversation(*, user: User, other: User) -> str | None:
    """The uuid of the conversation between these two users, if they have one."""
    return get_store().find_conversation(user_uuid=str(user.uuid), other_user_uuid=str(other.uuid))


# --- pages ---


def inbox(*, user: User, cursor: str | None = None, reading: str | None = None) -> Inbox:
    """One page of the user's conversations, newest first (InvalidCursor for a bad cursor).

    `reading` is a conversation the caller is about to mark read (an open conversation in a
    focused tab): it is shown as read, as on the conversation page.
    """
    page = get_store().list_conversations(user_uuid=str(user.uuid), cursor=cursor)
    people = _people((entry.other_user for entry in page.items), viewer=user)
    read_now = next((g for g in page.items if g.conversation_uuid == reading), None)
    return _inbox(page, people, reading=read_now, live=cursor is None)


def inbox_state(*, user: User) -> InboxState:
    """The live poll's one small read: the unread counter and the newest conversation.

    Every new message in any of the user's conversations moves that row to the top with a
    new sort key, and every read changes the counter, so comparing this with the state the
    page was rendered with tells whether the first inbox page changed. One Query, two items.
    """
    page = get_store().list_conversations(user_uuid=str(user.uuid), limit=1)
    top = page.items[0] if page.items else None
    return InboxState(
        state=_live_state(top, top.unread if top else 0, page.unread_conversations),
        unread_conversations=page.unread_conversations,
    )


def inbox_update(
    *, user: User, since: str, with_rows: bool, reading: str | None = None
) -> InboxUpdate:
    """Has the first inbox page changed since state `since` (the one a page was drawn with)?

    Idle: `inbox_state`'s one small Query. When it changed and the caller shows the list
    (`with_rows`), also the first page, as `inbox(reading=...)` draws it.
    """
    current = inbox_state(user=user)
    changed = current.state != since
    if not (changed and with_rows):
        return InboxUpdate(current.state, changed, current.unread_conversations)
    page = inbox(user=user, reading=reading)
    return InboxUpdate(page.live_state, True, page.unread_conversations, page)


def _live_state(top: InboxEntry | None, top_unread: int, unread_conversations: int) -> str:
    raw = (
        "|".join([top.conversation_uuid, top.sort_key] if top else ["", ""])
        + f"|{top_unread}|{unread_conversations}"
    )
    return hashlib.blake2s(raw.encode(), digest_size=8).hexdigest()


def new_messages(
    *, user: User, conversation_uuid: str, after: str, limit: int = 50
) -> tuple[MessageRow, ...]:
    """Messages newer than sort key `after`, oldest first (InvalidCursor for a bad key).

    Membership must already be proven (check_live_token). When nothing is new this is one
    Query that returns nothing, and no SQL.
    """
    messages = get_store().list_messages_after(
        conversation_uuid=conversation_uuid, after_sort_key=after, limit=limit
    )
    people = _people(message.sender for message in messages)
    return _message_rows(messages, people, str(user.uuid))


def sent_message(*, user: User, message: Message) -> MessageRow:
    """The row of a message `user` just sent, as the pages print it."""
    return _message_rows([message], _people([message.sender]), str(user.uuid))[0]


def conversation(*, user: User, entry: InboxEntry, cursor: str | None = None) -> Conversation:
    """One page of a conversation the caller is a member of (`entry` from access)."""
    page = get_store().list_messages(conversation_uuid=entry.conversation_uuid, cursor=cursor)
    people = _people([entry.other_user, *(message.sender for message in page.items)], viewer=user)
    return _conversation(user, entry, page, people)


def conversation_page(
    *, user: User, conversation_uuid: str, before: str | None = None, reading: bool = True
) -> ConversationPage:
    """The conversation page: the inbox sidebar plus one page of messages.

    Budget: two DynamoDB requests, the inbox query and the messages query. The viewer's
    inbox entry for this conversation proves membership and gives the header, so the
    participants query is needed only when it is not on the first inbox page (an old
    conversation): three requests in that case.
    """
    store = get_store()
    inbox_page = store.list_conversations(user_uuid=str(user.uuid))
    entry = get_entry_for_member(
        user=user, conversation_uuid=conversation_uuid, known_entries=inbox_page.items
    )
    message_page = store.list_messages(conversation_uuid=entry.conversation_uuid, cursor=before)
    people = _people(
        [
            *(listed.other_user for listed in inbox_page.items),
            entry.other_user,
            *(message.sender for message in message_page.items),
        ],
        viewer=user,
    )
    return ConversationPage(
        # `reading`: the caller marks it read, so the sidebar shows it read already.
        inbox=_inbox(inbox_page, people, reading=entry if reading else None, live=True),
        conversation=_conversation(user, entry, message_page, people),
        live_token=live_token(user=user, entry=entry),
    )


_URL_SLOT = "__conversation_uuid__"


def _inbox(
    page: InboxPage,
    people: People,
    *,
    reading: InboxEntry | None = None,
    live: bool = False,
) -> Inbox:
    """The view model of an inbox page; `live` for a first page (it holds the counter)."""
    unread_conversations = page.unread_conversations
    if reading is not None and reading.unread:
        # The page being rendered marks this one read; show the counts as they will be.
        unread_conversations = max(0, unread_conversations - 1)
    clock = Clock()
    # One reverse() per page, not per row; uuids need no quoting.
    url = reverse("messaging:conversation", args=[_URL_SLOT])
    rows = tuple(
        InboxRow(
            conversation_uuid=entry.conversation_uuid,
            other=people[entry.other_user.uuid],
            last_message=entry.last_message,
            last_message_at=entry.last_message_at,
            unread=0
            if (reading and entry.conversation_uuid == reading.conversation_uuid)
            or people[entry.other_user.uuid].blocked
            else entry.unread,
            sort_key=entry.sort_key,
            url=url.replace(_URL_SLOT, entry.conversation_uuid),
            time=clock.stamp(entry.last_message_at),
        )
        for entry in page.items
    )
    live_state = ""
    if live:
        top = page.items[0] if page.items else None
        # As the poll's inbox_state sees it: the stored count (a blocked person's is only
        # hidden), except for a conversation this page reads.
        reads_top = (
            top is not None
            and reading is not None
            and reading.conversation_uuid == top.conversation_uuid
        )
        top_unread = 0 if top is None or reads_top else top.unread
        live_state = _live_state(top, top_unread, unread_conversations)
    return Inbox(
        rows, page.next_cursor, unread_conversations, live_state, reading.unread if reading else 0
    )


def _message_rows(messages: Iterable[Message], people: People, me: str) -> tuple[MessageRow, ...]:
    """Rows for messages given oldest first, with the day separators and the grouping of a
    person's consecutive messages worked out within the list (static/js/live.js joins lists
    the same way where they meet)."""
    clock = Clock()
    rows: list[MessageRow] = []
    for message in messages:
        time = clock.stamp(message.created_at)
        before = rows[-1] if rows else None
        new_day = before is None or before.time.day != time.day
        rows.append(
            MessageRow(
                message_uuid=message.message_uuid,
                sender=people[message.sender.uuid],
                text=message.text,
                created_at=message.created_at,
                is_mine=message.sender.uuid == me,
                sort_key=message.sort_key,
                time=time,
                day_label=clock.day_label(time.day) if new_day else "",
                new_day=new_day,
                continued=not new_day and before.sender.uuid == people[message.sender.uuid].uuid,
            )
        )
    return tuple(rows)


def _conversation(
    user: User,
    entry: InboxEntry,
    page: Page[Message],
    people: People,
) -> Conversation:
    me = str(user.uuid)
    messages = _message_rows(reversed(page.items), people, me)  # the store reads newest first
    refused = policy.refusal(
        sender_uuid=me,
        sender=people.viewer,
        recipient_uuid=entry.other_user.uuid,
        recipient=people.profiles[entry.other_user.uuid],
        starting=False,
    )
    return Conversation(
        entry=entry,
        other=people[entry.other_user.uuid],
        messages=messages,
        earlier_cursor=page.next_cursor,
        url=reverse("messaging:conversation", args=[entry.conversation_uuid]),
        closed=refused.message if refused and refused.closes_conversation else "",
    )
