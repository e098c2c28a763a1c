"""What the message store holds and returns: frozen dataclasses, and the one format of a time.

Words (used the same way in every module of `messaging`):
- a *conversation* is two people's exchange; DynamoDB and the original call it a *message
  group*, and its id keeps the item attribute's name, `message_group_uuid`, only in the
  DynamoDB item codec (`messaging/dynamo/items.py`); code calls it `conversation_uuid`;
- an *inbox entry* is one participant's line for a conversation in their inbox (DynamoDB's
  *group item*, `GRP#<owner>`): the other person, the last message, the unread count; an
  *inbox row* is how a page shows one (`view_models.InboxRow`);
- a *message* is a message (`MSG#<conversation>`);
- a *group* is a conversation of more than two people (`Group`), with a *roster*
  (`Roster`): who is in it now and since when; a *pair* is a conversation of two. Changes to a
  group's roster are stored as *event* messages, shown as short lines ("… added …").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
# The last message as an inbox entry keeps it. Bounded so that a page of 20 entries and the
# unread counter stay within one read unit (8 KB, eventually consistent) whatever people
# write: an entry is ~330 bytes besides the preview (with a 40-byte display name).
PREVIEW_BYTES = 64
_ELLIPSIS = "…"
# How long after it was sent a message may be edited, unless settings.EDIT_WINDOW_SECONDS says.
DEFAULT_EDIT_WINDOW_SECONDS = 900


def group_title(name: str, members: Sequence[UserRef], owner_uuid: str) -> str:
    """What a group is called for one of its members: its name, else the others' names."""
    if name:
        return name
    others = [
        member.display_name or member.handle for member in members if member.uuid != owner_uuid
    ]
    return ", ".join(others) or "Just you"


def edit_window() -> timedelta:
    """How long after it was sent a message may be edited: settings.EDIT_WINDOW_SECONDS, or the
    default without a configured Django project (the Streams Lambda, which never edits)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return timedelta(seconds=DEFAULT_EDIT_WINDOW_SECONDS)
    try:
        seconds = getattr(settings, "EDIT_WINDOW_SECONDS", DEFAULT_EDIT_WINDOW_SECONDS)
    except ImproperlyConfigured:
        seconds = DEFAULT_EDIT_WINDOW_SECONDS
    return timedelta(seconds=seconds)


def edit_refusal(message: Message, now: datetime) -> str | None:
    """Why `message` can no longer be edited at `now` (a sentence for its sender), or None:
    it was unsent, or its edit window is over. The stores refuse an edit with it; their
    write's condition holds the same rule against a change made meanwhile."""
    if message.event:
        return "A line about the group's members cannot be edited."
    if message.unsent:
        return "This message can no longer be edited: it was unsent."
    if now - message.created_at > edit_window():
        return "This message can no longer be edited: its time for edits is over."
    return None


# A change is stamped with its time before it commits, so a change can become visible a moment
# after a later-stamped one: `list_changed_messages` looks back this much before `since`.
CHANGE_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class UserRef:
    """A person as stored on items: their names at the time of writing."""

    uuid: str
    handle: str
    display_name: str


# What a group's event messages record (`Message.event`).
ADDED, LEFT, RENAMED = "added", "left", "renamed"


@dataclass(frozen=True)
class Group:
    """What a group's inbox entry knows besides a pair's: its name and who is in it."""

    name: str  # "" when it has none: pages show the members' names
    members: tuple[UserRef, ...]  # everyone in it now, the entry's owner too, as stored
    # The sort key of the event that added the entry's owner: they see messages from it on.
    # None for the people who started the group (they see everything).
    joined_at: str | None = None
    last_sender_uuid: str = ""  # who wrote the last message (the pages hide a blocked one's)

    def others(self, owner_uuid: str) -> tuple[UserRef, ...]:
        return tuple(member for member in self.members if member.uuid != owner_uuid)


@dataclass(frozen=True)
class Roster:
    """A group's members as its one roster item holds them, with the version every send and
    roster change checks (a change raises it): an add, a leave or a rename that commits
    meanwhile cancels a send, which reads the roster again."""

    conversation_uuid: str
    name: str
    members: tuple[UserRef, ...]
    joined_at: dict[str, str]  # member uuid -> the sort key they joined at (founders: absent)
    version: int

    def has(self, user_uuid: str) -> bool:
        return any(member.uuid == user_uuid for member in self.members)


@dataclass(frozen=True)
class InboxEntry:
    """One participant's entry for a conversation in their inbox."""

    conversation_uuid: str
    owner_uuid: str  # whose inbox this entry is in
    # The other person, as stored (may be stale after a rename). In a group's entry: the group
    # as the original's readers list it (its uuid, its members' handles, its title).
    other_user: UserRef
    last_message: str
    last_message_at: datetime
    sort_key: str  # the time of the last message as stored, needed for conditional writes
    unread: int = 0
    read_up_to: str | None = None  # the sort key its owner last read up to, if recorded
    # Hidden by its owner: out of their inbox listing until the next message brings it back.
    hidden: bool = False
    # The last message was unsent: `last_message` is empty, pages show a placeholder.
    last_message_unsent: bool = False
    group: Group | None = None  # a group's entry; None for a pair's

    @property
    def visible_from(self) -> str | None:
        """The sort key from which the owner may read the conversation (None: all of it)."""
        return self.group.joined_at if self.group else None


@dataclass(frozen=True)
class Message:
    message_uuid: str
    conversation_uuid: str
    sender: UserRef  # as stored
    text: str
    created_at: datetime
    sort_key: str
    # A send answers with this set when its idempotency key was already claimed: the message
    # was stored by an earlier send of the same form, not by this one. Not part of the
    # message (equality ignores it); messages read from the store never have it.
    replayed: bool = field(default=False, compare=False)
    edited_at: datetime | None = None  # the last edit, if any (the old text is not kept)
    unsent_at: datetime | None = None  # unsent by its sender: `text` is empty, gone from storage
    # A group's roster change (ADDED, LEFT, RENAMED), by `sender`; `text` says it in a sentence.
    event: str = ""

    @property
    def unsent(self) -> bool:
        return self.unsent_at is not None

    @property
    def changed_at(self) -> datetime | None:
        """When the message last changed after it was sent (an edit or the unsend), if it did."""
        changes = [moment for moment in (self.edited_at, self.unsent_at) if moment is not None]
        return max(changes) if changes else None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None  # opaque; None when there is no further page


@dataclass(frozen=True)
class InboxPage(Page[InboxEntry]):
    unread_conversations: int = 0  # conversations with unread messages, read with the page


@dataclass(frozen=True)
class NewMessage:
    """A message to import (seeding); a fixed uuid and time make imports idempotent."""

    message_uuid: str
    sender: UserRef
    text: str
    created_at: datetime


@dataclass(frozen=True)
class UnreadFix:
    """A stored unread figure that the repair found different from the messages."""

    owner_uuid: str
    conversation_uuid: str | None  # None: the owner's count of unread conversations
    stored: int
    computed: int


@dataclass(frozen=True)
class UnreadRepair:
    owners: int  # people whose inbox was checked
    entries: int  # inbox entries checked
    fixes: tuple[UnreadFix, ...]  # what differed (and, unless a dry run, was corrected)


def format_sort_key(moment: datetime) -> str:
    """The one way a time becomes a sort key: UTC, microseconds always present."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"A sort key needs a timezone-aware datetime, got naive {moment!r}.")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_sort_key(sort_key: str) -> datetime:
    """An aware UTC datetime from a sort key; also reads the original's `isoformat()` forms."""
    # fromisoformat (3.11) reads ours and the original's forms: no microseconds, local
    # offsets, a trailing `Z`.
    try:
        moment = datetime.fromisoformat(sort_key)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Not a sort key: {sort_key!r}.") from error
    if moment.tzinfo is None:
        raise ValueError(f"Not a sort key (no UTC offset): {sort_key!r}.")
    return moment.astimezone(UTC)


def preview(text: str) -> str:
    """The last message as an inbox entry stores it: at most PREVIEW_BYTES of UTF-8, cut on a
    character boundary and ended with an ellipsis when cut."""
    encoded = text.encode()
    if len(encoded) <= PREVIEW_BYTES:
        return text
    room = PREVIEW_BYTES - len(_ELLIPSIS.encode())
    # A cut inside a character leaves a partial sequence at the end: drop it.
    return encoded[:room].decode(errors="ignore").rstrip() + _ELLIPSIS


def check_page_size(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"A page holds 1 to {MAX_PAGE_SIZE} items, not {limit}.")
