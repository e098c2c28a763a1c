"""Writes for messaging: sending, starting a conversation, marking one read.

These functions are the home of the message rules (forms repeat them for the UI). The
gateway is looked up at call time, so tests can swap in the in-memory fake.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from messaging import gateway
from messaging.gateway import Message, MessageGroup, UserRef
from users.models import User

MAX_MESSAGE_LENGTH = 1024


def clean_message_text(text: str) -> str:
    """The text as it will be stored, or ValidationError: empty, blank or too long."""
    # Browsers submit line breaks as CRLF; count a line break as one character, as they show it.
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationError("Write a message before sending.", code="required")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ValidationError(
            "A message can be at most %(limit)d characters (this one has %(length)d).",
            code="max_length",
            params={"limit": MAX_MESSAGE_LENGTH, "length": len(text)},
        )
    return text


def user_ref(user: User) -> UserRef:
    """The user as stored on items: their current handle and display name."""
    return UserRef(uuid=str(user.uuid), handle=user.handle, display_name=user.display_name)


def send_message(*, sender: User, group: MessageGroup, text: str) -> Message:
    """Post to a conversation. `group` is the sender's own item (get_group_for_member)."""
    if group.owner_uuid != str(sender.uuid):
        raise ValueError("send_message needs the sender's own group item.")
    return gateway.get_gateway().create_message(
        message_group_uuid=group.message_group_uuid,
        sender=user_ref(sender),
        text=clean_message_text(text),
    )


def start_conversation(*, sender: User, recipient: User, text: str) -> str:
    """Send a first message to `recipient`; returns the conversation's uuid.

    If the two already have a conversation, the message goes into it (the gateway keeps one
    conversation per pair, also when both start one at the same moment).
    """
    if sender.pk == recipient.pk:
        raise ValidationError("You can't message yourself.", code="self")
    group_uuid, _message = gateway.get_gateway().create_message_group(
        sender=user_ref(sender), recipient=user_ref(recipient), text=clean_message_text(text)
    )
    return group_uuid


def mark_read(*, group: MessageGroup) -> None:
    """Clear the owner's unread count for this conversation (nothing to do if already read)."""
    if group.unread:
        gateway.get_gateway().mark_read(group=group)
