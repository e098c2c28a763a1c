"""The email about unread messages (in a pair or a group): its text and HTML parts, and the
one-click unsubscribe link and headers (RFC 8058) that every such email carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from messaging.domain import Message
from users.models import User

_SALT = "notifications.unsubscribe"


def unsubscribe_token(user: User) -> str:
    """A signed token naming the person by their uuid (never their address); no expiry: an
    old email's link must still work."""
    return signing.dumps(str(user.uuid), salt=_SALT, compress=True)


def user_for_unsubscribe(token: str) -> User | None:
    try:
        user_uuid = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return User.objects.filter(uuid=user_uuid).first()


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def unread_messages(
    *,
    recipient: User,
    sender_name: str,
    sender_handle: str,
    conversation_uuid: str,
    messages: Sequence[Message],
    unread: int,
) -> EmailMultiAlternatives:
    """The email telling `recipient` that `sender_name` wrote `unread` messages they have not
    read, showing the newest of them (`messages`, oldest first; their text unless
    NOTIFY_EMAIL_TEXT is off) and linking to the conversation."""
    return _email(
        recipient,
        conversation_uuid,
        sender_name=sender_name,
        sender_handle=sender_handle,
        messages=messages,
        unread=unread,
    )


@dataclass(frozen=True)
class Said:
    """A message as a group's email shows it: with who wrote it, by their names as they are
    now (the message keeps the names it was sent under)."""

    message: Message
    name: str
    handle: str


def unread_in_group(
    *,
    recipient: User,
    title: str,
    conversation_uuid: str,
    messages: Sequence[Said],
    unread: int,
) -> EmailMultiAlternatives:
    """The email telling `recipient` that the group called `title` (for them) has `unread`
    messages they have not read, showing the newest of them (`messages`, oldest first, each
    with its author; their text unless NOTIFY_EMAIL_TEXT is off) and linking to it."""
    return _email(recipient, conversation_uuid, title=title, messages=messages, unread=unread)


def _email(recipient: User, conversation_uuid: str, **about) -> EmailMultiAlternatives:
    """The email with both parts and the unsubscribe headers; `about`: what the templates say
    about the messages (a group's has a `title`, a pair's the sender's names)."""
    unsubscribe = _absolute(
        reverse("notifications:unsubscribe", args=[unsubscribe_token(recipient)])
    )
    context = {
        **about,
        "recipient": recipient,
        "more": max(0, about["unread"] - len(about["messages"])),
        "with_text": settings.NOTIFY_EMAIL_TEXT,
        "conversation_url": _absolute(reverse("messaging:conversation", args=[conversation_uuid])),
        "settings_url": _absolute(reverse("settings")),
        "unsubscribe_url": unsubscribe,
    }
    subject = render_to_string("notifications/email/unread_subject.txt", context).strip()
    email = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("notifications/email/unread.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",  # RFC 3834: no auto-replies to it
        },
    )
    email.attach_alternative(
        render_to_string("notifications/email/unread.html", context), "text/html"
    )
    return email
