"""Emails about unread messages: what a send, a read and the worker's pass do.

- `note_unread` (on a send, after the store has the message): the recipient's notice, due after
  their delay, unless one is there already. One SQL write; none for someone who gets no emails.
- `conversation_read` (on a read, a hide): the notice goes; the next message starts a new one.
- `send_due` (`manage.py notify_emails`): each due notice claimed in its own transaction with
  `SELECT … FOR UPDATE SKIP LOCKED`, checked against the store and the people as they are now,
  emailed, stamped sent, committed. Concurrent workers skip each other's rows, so no email is
  sent twice by two workers. A worker that dies after the email left but before the commit
  leaves the row as it was, and a later pass sends it again: at-least-once, with a window of
  one SMTP reply. We chose that over at-most-once (stamp first, then send), where the same
  crash loses the email for good: a missing notice is the failure this feature exists to stop,
  a rare second copy is harmless.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from messaging.store import get_store
from users.models import User
from users.profiles import current_profiles

from . import emails
from .models import UnreadNotice

logger = logging.getLogger(__name__)

# Messages an email shows at most (the newest; it says how many more there are).
MESSAGES_SHOWN = 3


def note_unread(*, recipient_uuid: str, conversation_uuid: str, after: int | None) -> None:
    """A message to `recipient_uuid` was stored: their email is due `after` seconds from now,
    unless a notice for this conversation is there already (an earlier message of the same
    unread stretch, or the email already sent). `after` None: they get no emails, no write."""
    if after is None:
        return
    UnreadNotice.objects.bulk_create(
        [
            UnreadNotice(
                recipient_id=recipient_uuid,
                conversation_uuid=conversation_uuid,
                due_at=timezone.now() + timedelta(seconds=after),
            )
        ],
        ignore_conflicts=True,
    )


def conversation_read(*, user_uuid: str, conversation_uuid: str) -> None:
    """The person read the conversation (or hid it): no email about it, and the next message
    starts a new unread stretch."""
    UnreadNotice.objects.filter(
        recipient_id=user_uuid, conversation_uuid=conversation_uuid
    ).delete()


@dataclass
class Pass:
    """What one pass of the worker did."""

    sent: int = 0
    dropped: int = 0  # read in time, or no longer to be sent (turned off, blocked, gone)
    failed: int = 0  # the mail server refused or did not answer: tried again next pass


def send_due(*, now: datetime | None = None, limit: int = 100) -> Pass:
    """Send the emails due at `now`, up to `limit`, oldest first (see the module's text)."""
    done = Pass()
    failed: list[int] = []  # left for the next pass, not tried again in this one
    for _ in range(limit):
        outcome = _send_one(now or timezone.now(), exclude=failed)
        if outcome is None:
            break
        kind, notice_id = outcome
        setattr(done, kind, getattr(done, kind) + 1)
        if kind == "failed":
            failed.append(notice_id)
    return done


def _send_one(now: datetime, *, exclude: list[int]) -> tuple[str, int] | None:
    with transaction.atomic():
        notice = (
            UnreadNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(sent_at__isnull=True, due_at__lte=now)
            .exclude(pk__in=exclude)
            .order_by("due_at")
            .first()
        )
        if notice is None:
            return None
        message = _email_for(notice)
        if message is None:
            notice.delete()
            return "dropped", notice.pk
        try:
            message.send()
        except OSError as error:  # SMTP refused, timed out, unreachable: the row stays due
            logger.warning("Could not send the email about %s: %s", notice, error)
            return "failed", notice.pk
        notice.sent_at = now
        notice.save(update_fields=["sent_at"])
        return "sent", notice.pk


def _email_for(notice: UnreadNotice):
    """The email for a due notice, or None when there is none to send now: the person read
    the conversation, turned emails off, has no verified address, is gone, or blocked (or lost)
    the person who wrote."""
    recipient: User = notice.recipient
    if not recipient.gets_unread_emails:
        return None
    store = get_store()
    conversation = str(notice.conversation_uuid)
    entries = {e.owner_uuid: e for e in store.get_participants(conversation_uuid=conversation)}
    own = entries.get(str(recipient.uuid))
    if own is None or not own.unread:
        return None  # read in time (or no such conversation any more)
    sender_uuid = uuid.UUID(own.other_user.uuid)
    profiles = current_profiles(recipient.uuid, sender_uuid)
    sender, mine = profiles.get(sender_uuid), profiles.get(recipient.uuid)
    if sender is None or sender.is_deleted or not sender.is_active:
        return None
    if mine is None or mine.has_blocked(sender_uuid):
        return None
    page = store.list_messages(conversation_uuid=conversation, limit=MESSAGES_SHOWN)
    unread = [
        message
        for message in reversed(page.items)
        if message.sender.uuid == own.other_user.uuid
        and (own.read_up_to is None or message.sort_key > own.read_up_to)
    ]
    return emails.unread_messages(
        recipient=recipient,
        sender_name=sender.display_name or sender.handle,
        sender_handle=sender.handle,
        conversation_uuid=conversation,
        messages=unread[-own.unread :],
        unread=own.unread,
    )
