"""Emails about unread messages: what a send, a read and the worker's pass do.

- `note_unread` (on a send, after the store has the message): each recipient's notice, due
  after their delay, unless one is there already. One SQL write for all of a group's members;
  none when no one gets emails.
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from cruddur.uuids import parse_uuid
from messaging.domain import InboxEntry, group_title
from messaging.store import get_store
from users.models import User
from users.profiles import current_profiles

from . import emails
from .models import UnreadNotice

logger = logging.getLogger(__name__)

# Messages an email shows at most (the newest; it says how many more there are).
MESSAGES_SHOWN = 3
# The newest messages a group's email reads: enough to show MESSAGES_SHOWN when a few among
# them are lines about the roster or from people the recipient blocked (one read either way).
GROUP_MESSAGES_READ = 3 * MESSAGES_SHOWN


def note_unread(*, conversation_uuid: str, recipients: Mapping[str, int | None]) -> None:
    """A message in the conversation was stored: each recipient's email is due after their
    delay in seconds (None: they get no emails), unless a notice for this conversation is
    there already (an earlier message of the same unread stretch, or the email already sent).
    One SQL write for everyone (a pair's one person, a group's other members); none when no
    one gets emails."""
    now = timezone.now()
    notices = [
        UnreadNotice(
            recipient_id=recipient_uuid,
            conversation_uuid=conversation_uuid,
            due_at=now + timedelta(seconds=after),
        )
        for recipient_uuid, after in recipients.items()
        if after is not None
    ]
    UnreadNotice.objects.bulk_create(notices, ignore_conflicts=True)  # no query when empty


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
    the person who wrote (in a group: everyone who wrote the unread messages)."""
    recipient: User = notice.recipient
    if not recipient.gets_unread_emails:
        return None
    store = get_store()
    conversation = str(notice.conversation_uuid)
    entries = {e.owner_uuid: e for e in store.get_participants(conversation_uuid=conversation)}
    own = entries.get(str(recipient.uuid))
    if own is None or not own.unread:
        return None  # read in time (or no such conversation any more, or they left the group)
    if own.group is not None:
        return _group_email(recipient, own)
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


def _group_email(recipient: User, own: InboxEntry):
    """The email about a group's unread messages: those after what the recipient read (and
    from when they joined) written by others, less the lines about the roster and the messages
    of people the recipient blocked or who are gone; None when none is left to show."""
    mine = str(recipient.uuid)
    page = get_store().list_messages(
        conversation_uuid=own.conversation_uuid,
        limit=GROUP_MESSAGES_READ,
        since=own.visible_from,
    )
    unread = [
        message
        for message in page.items  # newest first
        if message.sender.uuid != mine
        and (own.read_up_to is None or message.sort_key > own.read_up_to)
    ][: own.unread]
    people = current_profiles(
        recipient.uuid, *filter(None, {parse_uuid(m.sender.uuid) for m in unread})
    )
    me = people.get(recipient.uuid)
    if me is None:
        return None
    shown = []
    for message in reversed(unread):  # oldest first
        author = people.get(parse_uuid(message.sender.uuid))
        if message.event or author is None or author.is_deleted or not author.is_active:
            continue  # a line about the roster, or someone gone
        if me.has_blocked(message.sender.uuid):
            continue
        shown.append(emails.Said(message, author.display_name or author.handle, author.handle))
    if not shown:
        return None
    return emails.unread_in_group(
        recipient=recipient,
        title=group_title(own.group.name, own.group.members, mine),
        conversation_uuid=own.conversation_uuid,
        messages=shown[-MESSAGES_SHOWN:],
        # What was read and left out is not counted; what the page did not reach is.
        unread=own.unread - (len(unread) - len(shown)),
    )
