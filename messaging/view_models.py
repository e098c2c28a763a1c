"""What the messaging pages print: the view models, and the functions that make them.

Each function reads through `messaging.selectors` and turns the data into what a template
shows: a person as the viewer sees them now, inbox rows, message rows grouped by day and
sender, a conversation and why it is closed (asked of `messaging.policy`). The markup is the
templates' (`templates/messaging/`); nothing here writes HTML. A user who no longer exists
is shown as "Deleted user", never with the names stored on the items, so a new person who
takes their handle never appears in their conversations.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from users.models import User

from . import policy, selectors
from .domain import InboxEntry, InboxPage, Message, Page, UserRef, edit_window
from .live_tokens import live_token
from .selectors import People
from .timestamps import Clock, Stamp

ACTIVE, DEACTIVATED, DELETED = "active", "deactivated", "deleted"


@dataclass(frozen=True)
class Person:
    """A person as the viewer sees them (templates/messaging/_person_name.html prints one)."""

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

    @property
    def is_deactivated(self) -> bool:
        return self.state == DEACTIVATED


@dataclass(frozen=True)
class InboxRow:
    conversation_uuid: str
    other: Person  # the other person; for a group, the group (its title, no handle)
    last_message: str
    last_message_at: datetime
    unread: int
    sort_key: str
    url: str  # the conversation page
    time: Stamp  # of last_message_at
    last_message_unsent: bool = False  # shown as "Message unsent"
    is_group: bool = False
    # A group's last message is by someone the viewer blocked: its preview is not shown.
    last_message_blocked: bool = False


@dataclass(frozen=True)
class Inbox:
    rows: tuple[InboxRow, ...]
    next_cursor: str | None
    unread_conversations: int
    live_state: str = ""  # what the live poll compares (`selectors.inbox_state`); "" on later pages
    reading_unread: int = 0  # the conversation being read: its unread count before this read


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
    unsent: bool = False  # unsent by its sender: "Message unsent" in its place, no text
    edited: Stamp | None = None  # when it was last edited, if it was
    editable: bool = False  # the viewer's own, and its edit window is open now
    edit_until: str = ""  # when editable: the ISO time its window closes (live.js takes Edit away)
    conversation_url: str = ""  # the conversation page (its Unsend and Edit forms are below)
    event: str = ""  # a group's roster change: a short line, not a bubble (`text` says it)
    blocked: bool = False  # by someone the viewer blocked (in a group): shown without its text

    @property
    def unsend_url(self) -> str:
        # Under the conversation's own address (messaging/urls.py): no reverse() per row.
        return f"{self.conversation_url}{self.message_uuid}/unsend/"

    @property
    def edit_url(self) -> str:
        return f"{self.conversation_url}{self.message_uuid}/edit/"

    @property
    def seam(self) -> Seam:
        """What a list drawn below this message starts from (a line about the group's
        members ends a run of one person's messages)."""
        return Seam("" if self.event else self.sender.uuid, self.time.day_iso)


@dataclass(frozen=True)
class Seam:
    """The message shown just above a list the server draws (its sender and day), so that
    the list's first row is drawn joined to it: no day separator when the day runs on, and
    grouped with it when the same person wrote both. Pages, polls and "Earlier messages"
    all draw by this one rule; no script regroups rows."""

    sender_uuid: str = ""
    day_iso: str = ""


@dataclass(frozen=True)
class EarlierMessages:
    """An older page of a conversation, for "Earlier messages" loaded in place."""

    conversation: Conversation  # the older page (its messages and the cursor before them)
    runs_on: str  # the day the page ends on, when the first message shown so far shares it
    redrawn: tuple[MessageRow, ...]  # that first message, when it now continues a group


@dataclass(frozen=True)
class Conversation:
    entry: InboxEntry  # the viewer's own inbox entry
    other: Person  # the other person; for a group, the group (its title)
    messages: tuple[MessageRow, ...]  # oldest first, as read
    earlier_cursor: str | None
    url: str  # this conversation's page
    closed: str = ""  # why the viewer cannot reply, shown instead of the reply box
    members: tuple[Person, ...] = ()  # a group's members, the viewer first

    @property
    def is_group(self) -> bool:
        return self.entry.group is not None

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


def person(*, viewer: User, user: User) -> Person:
    """`user` as `viewer` sees them (the cached profiles: no SQL when warm)."""
    ref = UserRef(str(user.uuid), user.handle, user.display_name)
    return _persons(selectors.people([ref], viewer=viewer))[ref.uuid]


def _persons(people: People) -> dict[str, Person]:
    """Each person of `people` as the viewer sees them, by the uuid as stored on the items."""
    viewer = people.viewer
    shown = {}
    for key, profile in people.profiles.items():
        if profile is None or profile.is_deleted:
            shown[key] = Person(key, "", "Deleted user", DELETED)
        else:
            shown[key] = Person(
                people.uuids[key],
                profile.handle,
                profile.display_name,
                ACTIVE if profile.is_active else DEACTIVATED,
                blocked=viewer is not None and viewer.has_blocked(key),
            )
    return shown


# --- the inbox ---


def inbox(*, user: User, cursor: str | None = None, reading: str | None = None) -> Inbox:
    """One page of the user's conversations, newest first (InvalidCursor for a bad cursor).

    `reading` is a conversation the caller is about to mark read (an open conversation in a
    focused tab): it is shown as read, as on the conversation page.
    """
    page = selectors.inbox_page(user=user, cursor=cursor)
    people = selectors.people(
        (ref for entry in page.items for ref in selectors.named_on(entry)), viewer=user
    )
    read_now = next((g for g in page.items if g.conversation_uuid == reading), None)
    return _inbox(page, _persons(people), reading=read_now, live=cursor is None)


def inbox_update(
    *, user: User, since: str, with_rows: bool, reading: str | None = None
) -> InboxUpdate:
    """Has the first inbox page changed since state `since` (the one a page was drawn with)?

    Idle: `selectors.inbox_state`'s one small Query. When it changed and the caller shows the
    list (`with_rows`), also the first page, as `inbox(reading=...)` draws it.
    """
    current = selectors.inbox_state(user=user)
    changed = current.state != since
    if not (changed and with_rows):
        return InboxUpdate(current.state, changed, current.unread_conversations)
    page = inbox(user=user, reading=reading)
    return InboxUpdate(page.live_state, True, page.unread_conversations, page)


def _inbox(
    page: InboxPage,
    persons: dict[str, Person],
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
    rows = tuple(
        _inbox_row(
            entry,
            persons,
            clock,
            reading=reading is not None and reading.conversation_uuid == entry.conversation_uuid,
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
        live_state = selectors.live_state(top, top_unread, unread_conversations)
    return Inbox(
        rows, page.next_cursor, unread_conversations, live_state, reading.unread if reading else 0
    )


def _inbox_row(
    entry: InboxEntry, persons: dict[str, Person], clock: Clock, *, reading: bool
) -> InboxRow:
    """One inbox row; `reading`: the page being drawn marks it read."""
    party = _party(entry, persons)
    blocked_last = entry.group is not None and _blocked(entry.group.last_sender_uuid, persons)
    return InboxRow(
        conversation_uuid=entry.conversation_uuid,
        other=party,
        last_message="" if blocked_last else entry.last_message,
        last_message_at=entry.last_message_at,
        last_message_unsent=entry.last_message_unsent,
        unread=0 if reading or party.blocked else entry.unread,
        sort_key=entry.sort_key,
        url=reverse("messaging:conversation", args=[entry.conversation_uuid]),
        time=clock.stamp(entry.last_message_at),
        is_group=entry.group is not None,
        last_message_blocked=blocked_last,
    )


def _blocked(user_uuid: str, persons: dict[str, Person]) -> bool:
    shown = persons.get(user_uuid)
    return shown is not None and shown.blocked


def _party(entry: InboxEntry, persons: dict[str, Person]) -> Person:
    """Whom an entry is with, as the viewer sees them: the other person; for a group, the
    group, called by its name or by its other members' names as they are now."""
    if entry.group is None:
        return persons[entry.other_user.uuid]
    others = [persons[member.uuid] for member in entry.group.others(entry.owner_uuid)]
    title = entry.group.name or ", ".join(person.display_name for person in others)
    return Person(entry.conversation_uuid, "", title or "Just you")


# --- a conversation ---


def conversation_page(
    *, user: User, conversation_uuid: str, before: str | None = None, reading: bool = True
) -> ConversationPage:
    """The conversation page: the inbox sidebar plus one page of messages (the reads and
    their budget: `selectors.conversation_with_inbox`). `reading`: the caller marks it read,
    so the sidebar shows it read already."""
    read = selectors.conversation_with_inbox(
        user=user, conversation_uuid=conversation_uuid, before=before
    )
    persons = _persons(read.people)
    return ConversationPage(
        inbox=_inbox(read.inbox, persons, reading=read.entry if reading else None, live=True),
        conversation=_conversation(user, read.entry, read.messages, read.people, persons),
        live_token=live_token(user=user, entry=read.entry),
    )


def changed_messages(
    *, user: User, conversation_uuid: str, since: datetime, visible_from: str | None = None
) -> tuple[MessageRow, ...]:
    """Rows of the messages edited or unsent since `since`, to replace their drawings on an
    open page (by id: only the bubble is redrawn, so the grouping around it stays). Membership
    must already be proven (check_live_token). One Query; names only when something changed."""
    messages = selectors.changed_messages(
        conversation_uuid=conversation_uuid, since=since, visible_from=visible_from
    )
    if not messages:
        return ()
    people = selectors.people((message.sender for message in messages), viewer=user)
    return _message_rows(messages, _persons(people), str(user.uuid))


def new_messages(
    *,
    user: User,
    conversation_uuid: str,
    after: str,
    above: Seam | None = None,
    limit: int = 50,
    visible_from: str | None = None,
) -> tuple[MessageRow, ...]:
    """Rows of the messages newer than sort key `after`, oldest first, joined to the message
    shown `above` them (InvalidCursor for a bad key). Membership must already be proven
    (check_live_token). When nothing is new this is one Query that returns nothing, and no
    SQL."""
    messages = selectors.new_messages(
        conversation_uuid=conversation_uuid, after=after, limit=limit, visible_from=visible_from
    )
    if not messages:
        return ()
    people = selectors.people((message.sender for message in messages), viewer=user)
    return _message_rows(messages, _persons(people), str(user.uuid), above=above)


def earlier_messages(*, user: User, conversation_uuid: str, before: str) -> EarlierMessages:
    """The page before cursor `before`, and the message below it (the first one shown so
    far) drawn again as it joins that page. Three small reads: the membership check, the
    page, and the one message after it."""
    read = selectors.earlier_messages(user=user, conversation_uuid=conversation_uuid, before=before)
    persons = _persons(read.people)
    older = _conversation(user, read.entry, read.messages, read.people, persons)
    if read.below is None or not older.messages:
        return EarlierMessages(older, "", ())
    [below] = _message_rows([read.below], persons, str(user.uuid), above=older.messages[-1].seam)
    return EarlierMessages(
        older, "" if below.new_day else below.time.day_iso, (below,) if below.continued else ()
    )


def message_row(*, user: User, message: Message) -> MessageRow:
    """The row of one message as `user`'s pages print it: one just sent, edited or unsent."""
    people = selectors.people([message.sender], viewer=user)
    return _message_rows([message], _persons(people), str(user.uuid))[0]


def _message_rows(
    messages: Iterable[Message],
    persons: dict[str, Person],
    me: str,
    *,
    above: Seam | None = None,
    can_edit: bool = True,
) -> tuple[MessageRow, ...]:
    """Rows for messages given oldest first, with the day separators and the grouping of a
    person's consecutive messages worked out, from the message shown `above` the first one
    (none: the list starts a page) to the last."""
    clock = Clock()
    now = timezone.now()
    # Each conversation's page, reversed once per call (rows of one conversation, as a rule).
    page_of = functools.cache(lambda uuid: reverse("messaging:conversation", args=[uuid]))
    rows: list[MessageRow] = []
    for message in messages:
        time = clock.stamp(message.created_at)
        before = rows[-1].seam if rows else above or Seam()
        new_day = before.day_iso != time.day_iso
        sender = persons[message.sender.uuid]
        is_mine = message.sender.uuid == me
        editable = can_edit and policy.may_edit(viewer_uuid=me, message=message, now=now)
        blocked = sender.blocked and not message.event
        rows.append(
            MessageRow(
                message_uuid=message.message_uuid,
                sender=sender,
                text="" if blocked else message.text,
                created_at=message.created_at,
                is_mine=is_mine,
                sort_key=message.sort_key,
                time=time,
                day_label=clock.day_label(time.day) if new_day else "",
                new_day=new_day,
                continued=not new_day
                and not message.event
                and before.sender_uuid == message.sender.uuid,
                conversation_url=page_of(message.conversation_uuid),
                unsent=message.unsent,
                edited=clock.stamp(message.edited_at) if message.edited_at else None,
                editable=editable,
                edit_until=(message.created_at + edit_window()).isoformat() if editable else "",
                event=message.event,
                blocked=blocked,
            )
        )
    return tuple(rows)


def _conversation(
    user: User,
    entry: InboxEntry,
    page: Page[Message],
    people: People,
    persons: dict[str, Person],
) -> Conversation:
    me = str(user.uuid)
    refused = None
    if entry.group is None:  # a group stays open to its members, whoever blocked whom
        other = entry.other_user.uuid
        refused = policy.refusal(
            sender_uuid=me,
            sender=people.viewer,
            recipient_uuid=other,
            recipient=people[other],
            starting=False,
        )
    closed = bool(refused and refused.closes_conversation)
    # The store reads newest first. A closed conversation offers no Edit (an edit writes to
    # the other person, as a reply does); Unsend stays.
    messages = _message_rows(reversed(page.items), persons, me, can_edit=not closed)
    return Conversation(
        entry=entry,
        other=_party(entry, persons),
        messages=messages,
        earlier_cursor=page.next_cursor,
        url=reverse("messaging:conversation", args=[entry.conversation_uuid]),
        closed=refused.message if refused and closed else "",
        members=_members(user, entry, persons),
    )


def _members(user: User, entry: InboxEntry, persons: dict[str, Person]) -> tuple[Person, ...]:
    """A group's members as its page lists them, the viewer first; none for a pair."""
    if entry.group is None:
        return ()
    me = str(user.uuid)
    viewer = Person(me, user.handle, user.display_name)
    return (viewer, *(persons[ref.uuid] for ref in entry.group.others(me)))


@dataclass(frozen=True)
class GroupHeading:
    """What an open group page shows above its messages: its title and members."""

    title: Person
    members: tuple[Person, ...]


def group_heading(*, user: User, conversation_uuid: str) -> GroupHeading | None:
    """A group's title and members as they are now, for an open page that has just been sent
    a line saying they changed (one read: the members' entries). None for a pair."""
    entry = selectors.own_entry(user=user, conversation_uuid=conversation_uuid)
    if entry.group is None:
        return None
    persons = _persons(selectors.people(selectors.named_on(entry), viewer=user))
    return GroupHeading(_party(entry, persons), _members(user, entry, persons))
