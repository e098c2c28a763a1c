"""Writes for messaging: sending, starting a conversation, marking one read.

These functions are the home of the message rules (forms repeat them for the UI). The
gateway is looked up at call time, so tests can swap in the in-memory fake.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def send_message(
    *,
    sender: User,
    group: MessageGroup,
    text: str,
    participants: Sequence[MessageGroup] | None = None,
) -> Message:
    """Post to a conversation. `group` is the sender's own item (get_group_for_member).

    `participants`: both group items, if the caller has just read them
    (selectors.get_participants_for_member); the gateway then does not read them again.
    """
    if group.owner_uuid != str(sender.uuid):
        raise ValueError("send_message needs the sender's own group item.")
    return gateway.get_gateway().create_message(
        message_group_uuid=group.message_group_uuid,
        sender=user_ref(sender),
        text=clean_message_text(text),
        participants=participants,
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


def mark_read_up_to(*, user: User, message_group_uuid: str, sort_key: str, unread: int) -> None:
    """Clear `user`'s unread count for a conversation open on screen (the live poll).

    The poll has not read the user's row (that would be a second read per poll), so it says
    where it believes the row is: at `sort_key`, the newest message it has shown, holding
    `unread`, the other person's messages it has shown since the last read. mark_read writes
    only if the row is exactly that; otherwise it reads the row again and clears it there
    (if a newer message moved it meanwhile, the next poll shows that message).
    Membership must already be proven (selectors.check_live_token).
    """
    if unread <= 0:
        return
    believed = MessageGroup(
        message_group_uuid=message_group_uuid,
        owner_uuid=str(user.uuid),
        other_user=UserRef(uuid="", handle="", display_name=""),  # mark_read does not need it
        last_message="",
        last_message_at=gateway.parse_sort_key(sort_key),
        sort_key=sort_key,
        unread=unread,
    )
    gateway.get_gateway().mark_read(group=believed)
