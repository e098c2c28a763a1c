"""The live poll's proof of membership, signed so that a poll needs no membership read.

The conversation page signs (user, conversation) after its own check (`messaging.access`).
Membership of a pair never ends (nobody leaves a conversation of two), so a token does not
expire; signing out ends the session instead. Membership of a group does end (Leave), so a
group's token says it is one, and each poll with it checks membership again (one request):
someone who left gets a 404 and nothing more, and someone added again reads from their new
join, not from what an old page's token knew.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

from users.models import User

from .access import ConversationNotFound, canonical_uuid, get_entry_for_member
from .domain import InboxEntry

_SALT = "messaging.live"
_MAX_LENGTH = 500
_GROUP = "group"


def live_token(*, user: User, entry: InboxEntry) -> str:
    """A token for `user`'s live poll of `entry`'s conversation (their own entry)."""
    if entry.owner_uuid != str(user.uuid):
        raise ValueError("live_token needs the user's own inbox entry.")
    signed = [entry.owner_uuid, entry.conversation_uuid]
    if entry.group is not None:
        signed.append(_GROUP)
    return signing.dumps(signed, salt=_SALT)


@dataclass(frozen=True)
class LiveAccess:
    conversation_uuid: str
    visible_from: str | None = None  # a group member reads from here on (their join)


def check_live_token(*, user: User, conversation_uuid: str, token: str) -> LiveAccess:
    """What `user` may read of the conversation if `token` was issued to them for it (a
    group's: if they are still a member), else ConversationNotFound."""
    conversation_uuid = canonical_uuid(conversation_uuid)
    if not token or len(token) > _MAX_LENGTH:
        raise ConversationNotFound
    try:
        owner_uuid, signed_uuid, *kind = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, TypeError, ValueError):
        raise ConversationNotFound from None
    if (owner_uuid, signed_uuid) != (str(user.uuid), conversation_uuid):
        raise ConversationNotFound
    if kind != [_GROUP]:
        return LiveAccess(conversation_uuid)
    own = get_entry_for_member(user=user, conversation_uuid=conversation_uuid)
    return LiveAccess(conversation_uuid, own.visible_from)
