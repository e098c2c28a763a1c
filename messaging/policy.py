"""Who may write to whom: the one place that decides it.

The send services ask before anything is stored, with the two profiles as the database holds
them at that moment (`users.profiles.current_profiles`); the pages ask with the cached ones
to say ahead of time why a conversation is closed. It never reads DynamoDB; whether two people
already talk is asked only when a recipient accepts new conversations from those people alone.
The one rule that needs no profile, that nobody writes to themselves (`addressing_refusal`),
is also asked alone, when someone is named as a recipient (the New message box, the page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from users.profiles import Profile

from .domain import Message, edit_refusal

SELF = "self"
DELETED = "deleted"
DEACTIVATED = "deactivated"
YOU_BLOCKED = "you_blocked"
BLOCKED_YOU = "blocked_you"
ONLY_KNOWN = "only_known"
CODES = (SELF, DELETED, DEACTIVATED, YOU_BLOCKED, BLOCKED_YOU, ONLY_KNOWN)

# What the page shows instead of the reply box; the other refusals are told only on sending.
CLOSING = frozenset({DELETED, DEACTIVATED, YOU_BLOCKED})


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str

    @property
    def closes_conversation(self) -> bool:
        return self.code in CLOSING


def addressing_refusal(*, sender_uuid: str, recipient_uuid: str) -> Refusal | None:
    """Why `sender` may not name `recipient` at all, or None: it is themselves."""
    if sender_uuid == recipient_uuid:
        return Refusal(SELF, "You can't message yourself.")
    return None


def refusal(
    *,
    sender_uuid: str,
    sender: Profile | None,
    recipient_uuid: str,
    recipient: Profile | None,
    starting: bool,
    already_talking: Callable[[], bool] = lambda: True,
) -> Refusal | None:
    """Why `sender` may not send to `recipient` now, or None if they may.

    `starting`: the message would start a conversation; `already_talking` tells whether the two
    have one anyway (asked only when the recipient's setting makes it matter).
    """
    refused = addressing_refusal(sender_uuid=sender_uuid, recipient_uuid=recipient_uuid)
    if refused:
        return refused
    if recipient is None or recipient.is_deleted:
        return Refusal(
            DELETED,
            "This account was deleted. You can read the conversation, but not reply.",
        )
    handle = f"@{recipient.handle}"
    if not recipient.is_active:
        return Refusal(
            DEACTIVATED,
            f"{handle}'s account is deactivated. You can read the conversation, but not reply.",
        )
    if sender is not None and sender.has_blocked(recipient_uuid):
        return Refusal(YOU_BLOCKED, f"You blocked {handle}. Unblock them to send a message.")
    if recipient.has_blocked(sender_uuid):
        return Refusal(BLOCKED_YOU, f"{handle} is not accepting messages from you.")
    if starting and recipient.only_known and not already_talking():
        return Refusal(
            ONLY_KNOWN,
            f"{handle} accepts new conversations only from people they already talk with.",
        )
    return None


def may_edit(*, viewer_uuid: str, message: Message, now: datetime | None = None) -> bool:
    """Whether the viewer may edit this message now: their own, not unsent, and within the edit
    window (`EDIT_WINDOW_SECONDS` after it was sent). The pages ask it to show the Edit control;
    a late form is refused by the store's conditional write, which decides."""
    return message.sender.uuid == viewer_uuid and not edit_refusal(message, now or timezone.now())


def may_unsend(*, viewer_uuid: str, message: Message) -> bool:
    """Whether the viewer may unsend this message: their own, not unsent already (the store
    refuses anyone else's, whatever a form says)."""
    return message.sender.uuid == viewer_uuid and not message.unsent
