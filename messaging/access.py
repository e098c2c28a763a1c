"""Who may see a conversation: its two participants, no one else.

Every view reaches a conversation through these accessors, so none can forget the check.
A missing conversation, a non-member and a malformed uuid are the same ConversationNotFound
(the views answer 404 to all), so a non-member cannot learn that a conversation exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from cruddur.uuids import parse_uuid
from users.models import User

from .domain import InboxEntry
from .store import get_store


class ConversationNotFound(Exception):
    """No such conversation for this user: missing, not a member, or a malformed uuid."""


def canonical_uuid(value: str) -> str:
    """The conversation uuid in its one spelling, or ConversationNotFound."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise ConversationNotFound
    return str(parsed)


def get_entry_for_member(
    *, user: User, conversation_uuid: str, known_entries: Iterable[InboxEntry] = ()
) -> InboxEntry:
    """The caller's own inbox entry for this conversation, or ConversationNotFound.

    `known_entries` were already read from the caller's own inbox: only a member has one, so
    a match proves membership without another request.
    """
    conversation_uuid = canonical_uuid(conversation_uuid)
    me = str(user.uuid)
    for entry in known_entries:
        if entry.conversation_uuid == conversation_uuid and entry.owner_uuid == me:
            return entry
    return get_participants_for_member(user=user, conversation_uuid=conversation_uuid)[0]


def get_participants_for_member(*, user: User, conversation_uuid: str) -> tuple[InboxEntry, ...]:
    """Both inbox entries of the caller's conversation, the caller's own first (one request).

    ConversationNotFound as get_entry_for_member.
    """
    conversation_uuid = canonical_uuid(conversation_uuid)
    me = str(user.uuid)
    participants = get_store().get_participants(conversation_uuid=conversation_uuid)
    own = [entry for entry in participants if entry.owner_uuid == me]
    if not own:
        raise ConversationNotFound
    return (own[0], *(entry for entry in participants if entry.owner_uuid != me))
