"""What the message store holds and returns: frozen dataclasses, and the one format of a time.

Words (used the same way in every module of `messaging`):
- a *conversation* is two people's exchange; DynamoDB and the original call it a *message
  group*, and its id keeps the item attribute's name, `message_group_uuid`, only in the
  DynamoDB item codec (`messaging/dynamo/items.py`); code calls it `conversation_uuid`;
- an *inbox entry* is one participant's line for a conversation in their inbox (DynamoDB's
  *group item*, `GRP#<owner>`): the other person, the last message, the unread count; an
  *inbox row* is how a page shows one (`view_models.InboxRow`);
- a *message* is a message (`MSG#<conversation>`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
# The last message as an inbox entry keeps it. Bounded so that a page of 20 entries and the
# unread counter stay within one read unit (8 KB, eventually consistent) whatever people
# write: an entry is ~330 bytes besides the preview (with a 40-byte display name).
PREVIEW_BYTES = 64
_ELLIPSIS = "…"


@dataclass(frozen=True)
class UserRef:
    """A person as stored on items: their names at the time of writing."""

    uuid: str
    handle: str
    display_name: str


@dataclass(frozen=True)
class InboxEntry:
    """One participant's entry for a conversation in their inbox."""

    conversation_uuid: str
    owner_uuid: str  # whose inbox this entry is in
    other_user: UserRef  # the other person, as stored (may be stale after a rename)
    last_message: str
    last_message_at: datetime
    sort_key: str  # the time of the last message as stored, needed for conditional writes
    unread: int = 0
    read_up_to: str | None = None  # the sort key its owner last read up to, if recorded


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
