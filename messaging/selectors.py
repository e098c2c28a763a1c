"""Reads for messaging: what the store and the people's profiles hold, as domain data.

Every read of a conversation passes the membership check of `messaging.access` first. The
people on a page are read as they are now (`people`: `users.profiles`, the cache, else one
batched query per page), never from the copies of their names stored on DynamoDB items.
How a page shows all this is `messaging.view_models`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cruddur.uuids import parse_uuid
from users.models import User
from users.profiles import Profile, profiles

from .access import get_entry_for_member
from .domain import InboxEntry, InboxPage, Message, Page, UserRef
from .store import get_store

# --- people ---


@dataclass(frozen=True)
class People:
    """Who the people on a page are now, keyed by their uuid as stored on the items."""

    profiles: dict[str, Profile | None]  # None: no such user (any more)
    uuids: dict[str, str]  # the uuid in its one spelling (as stored when it is none)
    viewer: Profile | None  # the person reading, when asked for

    def __getitem__(self, stored_uuid: str) -> Profile | None:
        return self.profiles[stored_uuid]


def people(refs: Iterable[UserRef], *, viewer: User | None = None) -> People:
    """The current profiles of these users (one cache read for all, the viewer's included)."""
    stored = {ref.uuid for ref in refs}
    parsed = {key: parse_uuid(key) for key in stored}
    wanted = [value for value in parsed.values() if value]
    if viewer is not None:
        wanted.append(viewer.uuid)
    found = profiles(wanted)
    return People(
        profiles={key: found.get(value) for key, value in parsed.items()},
        uuids={key: str(value) if value else key for key, value in parsed.items()},
        viewer=found.get(viewer.uuid) if viewer is not None else None,
    )


def named_on(entry: InboxEntry) -> tuple[UserRef, ...]:
    """The people an inbox entry names: the other person, or a group's other members."""
    if entry.group is not None:
        return entry.group.others(entry.owner_uuid)
    return (entry.other_user,)


def find_conversation(*, user: User, other: User) -> str | None:
    """The uuid of the conversation between these two users, if they have one."""
    return get_store().find_conversation(user_uuid=str(user.uuid), other_user_uuid=str(other.uuid))


def own_entry(*, user: User, conversation_uuid: str) -> InboxEntry:
    """The user's own inbox entry for a conversation they are in (else ConversationNotFound)."""
    return get_entry_for_member(user=user, conversation_uuid=conversation_uuid)


# --- the inbox ---


def inbox_page(*, user: User, cursor: str | None = None) -> InboxPage:
    """One page of the user's inbox entries, newest first (InvalidCursor for a bad cursor)."""
    return get_store().list_conversations(user_uuid=str(user.uuid), cursor=cursor)


@dataclass(frozen=True)
class InboxState:
    """What the live poll reads: enough to tell that the first inbox page changed."""

    state: str
    unread_conversations: int


def inbox_state(*, user: User) -> InboxState:
    """The live poll's one small read: the unread counter and the newest conversation.

    Every new message in any of the user's conversations moves that row to the top with a
    new sort key, and every read changes the counter, so comparing this with the state the
    page was rendered with tells whether the first inbox page changed. One Query, two items.
    """
    page = get_store().list_conversations(user_uuid=str(user.uuid), limit=1)
    top = page.items[0] if page.items else None
    return InboxState(
        state=live_state(top, top.unread if top else 0, page.unread_conversations),
        unread_conversations=page.unread_conversations,
    )


def live_state(top: InboxEntry | None, top_unread: int, unread_conversations: int) -> str:
    """The state of a first inbox page whose newest entry is `top`: a short digest."""
    # The newest entry's preview too: an edit or unsend of its last message changes it in place.
    preview = (top.last_message, "unsent" if top.last_message_unsent else "") if top else ("", "")
    raw = (
        "|".join([top.conversation_uuid, top.sort_key, *preview] if top else ["", "", "", ""])
        + f"|{top_unread}|{unread_conversations}"
    )
    return hashlib.blake2s(raw.encode(), digest_size=8).hexdigest()


# --- a conversation ---


def changed_messages(
    *, conversation_uuid: str, since: datetime, visible_from: str | None = None
) -> tuple[Message, ...]:
    """Messages edited or unsent since `since` (less the store's slack), as they are now,
    oldest change first; none from before `visible_from` (a group member's join).
    Membership must already be proven (check_live_token). One Query."""
    return get_store().list_changed_messages(
        conversation_uuid=conversation_uuid, since=since, visible_from=visible_from
    )


def new_messages(
    *, conversation_uuid: str, after: str, limit: int = 50, visible_from: str | None = None
) -> tuple[Message, ...]:
    """Messages newer than sort key `after` (and from `visible_from` on), oldest first
    (InvalidCursor for a bad key).

    Membership must already be proven (check_live_token). When nothing is new this is one
    Query that returns nothing.
    """
    return get_store().list_messages_after(
        conversation_uuid=conversation_uuid, after_sort_key=after, limit=limit, since=visible_from
    )


@dataclass(frozen=True)
class ConversationWithInbox:
    """What the conversation page shows, as read."""

    inbox: InboxPage  # the viewer's first inbox page (the sidebar)
    entry: InboxEntry  # the viewer's own entry for the conversation
    messages: Page[Message]  # newest first, as the store reads them
    people: People  # everyone in the sidebar and the messages, and the viewer


def conversation_with_inbox(
    *, user: User, conversation_uuid: str, before: str | None = None
) -> ConversationWithInbox:
    """The viewer's first inbox page plus one page of a conversation they are a member of
    (else access.ConversationNotFound); `before`: the cursor of an older page.

    Budget: two DynamoDB requests, the inbox query and the messages query. The viewer's
    inbox entry for this conversation proves membership and gives the header, so the
    participants query is needed only when it is not on the first inbox page (an old
    conversation): three requests in that case.
    """
    store = get_store()
    inbox = store.list_conversations(user_uuid=str(user.uuid))
    entry = get_entry_for_member(
        user=user, conversation_uuid=conversation_uuid, known_entries=inbox.items
    )
    messages = store.list_messages(
        conversation_uuid=entry.conversation_uuid, cursor=before, since=entry.visible_from
    )
    shown = people(
        [
            *(ref for listed in inbox.items for ref in named_on(listed)),
            *named_on(entry),
            *(message.sender for message in messages.items),
        ],
        viewer=user,
    )
    return ConversationWithInbox(inbox, entry, messages, shown)


@dataclass(frozen=True)
class EarlierMessages:
    """An older page of a conversation, and the message just after it."""

    entry: InboxEntry  # the viewer's own entry for the conversation
    messages: Page[Message]  # newest first, as the store reads them
    below: Message | None  # the oldest message of the newer pages, shown already
    people: People  # the other person, the senders, and the viewer


def earlier_messages(*, user: User, conversation_uuid: str, before: str) -> EarlierMessages:
    """The page of a conversation before cursor `before` (InvalidCursor for a bad one), for a
    member (else access.ConversationNotFound), and the message after that page: three small
    requests (the membership check, the page, that one message)."""
    store = get_store()
    entry = get_entry_for_member(user=user, conversation_uuid=conversation_uuid)
    messages = store.list_messages(
        conversation_uuid=entry.conversation_uuid, cursor=before, since=entry.visible_from
    )
    below = None
    if messages.items:
        newest = messages.items[0].sort_key
        after = store.list_messages_after(
            conversation_uuid=entry.conversation_uuid, after_sort_key=newest, limit=1
        )
        below = after[0] if after else None
    senders = [message.sender for message in (*messages.items, *filter(None, [below]))]
    shown = people([*named_on(entry), *senders], viewer=user)
    return EarlierMessages(entry, messages, below, shown)
