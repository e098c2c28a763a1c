"""The live poll's proof of membership, signed so that a poll needs no membership read.

The conversation page signs (user, conversation) after its own check (`messaging.access`).
Membership never ends (nobody leaves a conversation), so a token does not expire; signing
out ends the session instead.
"""

from __future__ import annotations

from django.core import signing

from users.models import User

from .access import ConversationNotFound, canonical_uuid
from .domain import InboxEntry

_SALT = "messaging.live"
_MAX_LENGTH = 500


def live_token(*, user: User, entry: InboxEntry) -> str:
    """A token for `user`'s live poll of `entry`'s conversation (their own entry)."""
    if entry.owner_uuid != str(user.uuid):
        raise ValueError("live_token needs the user's own inbox entry.")
    return signing.dumps([entry.owner_uuid, entry.conversation_uuid], salt=_SALT)


def check_live_token(*, user: User, conversation_uuid: str, token: str) -> str:
    """The conversation's uuid if `token` was issued to `user` for it, else ConversationNotFound."""
    conversation_uuid = canonical_uuid(conversation_uuid)
    if not token or len(token) > _MAX_LENGTH:
        raise ConversationNotFound
    try:
        owner_uuid, signed_uuid = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, TypeError, ValueError):
        raise ConversationNotFound from None
    if (owner_uuid, signed_uuid) != (str(user.uuid), conversation_uuid):
        raise ConversationNotFound
    return conversation_uuid
