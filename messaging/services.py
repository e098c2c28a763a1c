"""Writes for messaging, and the rules they keep: sending, starting a conversation, reading.

The rules live here, once: what a message may hold (`clean_message_text`), that only
participants post (`messaging.access`), whom one may write to (`messaging.policy`, asked by
`_check_may_send` for every send) and how fast (`MESSAGES`, `NEW_CONVERSATIONS`, counted by
`_counted_send` per message stored: a form sent again is not counted again). Forms and
views ask these functions; the store only keeps the data consistent.

Reading never fails because marking read did: a page or a live poll whose reads worked is
shown when the store cannot record the reading now (`_record_reading`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from cruddur import limits, metrics
from cruddur.uuids import parse_uuid
from notifications import services as notifications
from users import services as user_services
from users.models import User
from users.profiles import Profile, current_profiles

from . import policy, rosters, selectors, view_models
from .access import ConversationNotFound, get_participants_for_member
from .domain import InboxEntry, Message, UserRef
from .errors import GroupFull, NotEditable, NotFound, StoreError, TableNotFound
from .events import Change, publish_change
from .store import get_store

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 1024

# How fast one person may send (cruddur/limits.py), far above what a person types.
MESSAGES = limits.Limit("send", "SEND_LIMIT_PER_MINUTE", 60, "messages", "a minute")
NEW_CONVERSATIONS = limits.Limit(
    "start", "NEW_CONVERSATION_LIMIT_PER_HOUR", 60 * 60, "new conversations", "an hour"
)
LIVE_MESSAGES_PER_POLL = 50

# Why a send was refused, as `cruddur_send_refusals_total` names it (cruddur/metrics.py): the
# policy's codes, the limit reached, and the text's own faults. Counted where each is decided
# (`_refuse`); every reason shows from the start, at 0, so a rate over time is there for each.
LIMIT_REASONS = {MESSAGES: "rate_limited", NEW_CONVERSATIONS: "new_conversations_limited"}
TEXT_REASONS = {"required": "empty", "max_length": "too_long"}
for _reason in (*policy.CODES, *LIMIT_REASONS.values(), *TEXT_REASONS.values()):
    metrics.SEND_REFUSALS.labels(reason=_reason)


def _refuse(reason: str) -> None:
    metrics.SEND_REFUSALS.labels(reason=reason).inc()


def clean_message_text(text: str) -> str:
    """The text as it will be stored, or ValidationError: empty, blank or too long."""
    # Browsers submit line breaks as CRLF; count a line break as one character, as they show it.
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        _refuse(TEXT_REASONS["required"])
        raise ValidationError("Write a message before sending.", code="required")
    if len(text) > MAX_MESSAGE_LENGTH:
        _refuse(TEXT_REASONS["max_length"])
        raise ValidationError(
            "A message can be at most %(limit)d characters (this one has %(length)d).",
            code="max_length",
            params={"limit": MAX_MESSAGE_LENGTH, "length": len(text)},
        )
    return text


class SendRefused(Exception):
    """The message was not sent, for the reason in `str(refusal)` (one sentence)."""

    status = 403
    retry_after: int | None = None


class SendLimited(SendRefused):
    """The sender reached a rate limit: they can send again in `retry_after` seconds."""

    status = 429

    def __init__(self, reached: limits.LimitReached):
        super().__init__(f"{reached} Your text is kept.")
        self.retry_after = reached.retry_after


def check_recipient(*, sender: User, recipient: User) -> None:
    """ValidationError unless `sender` may name `recipient` to write to (the policy's
    `addressing_refusal`: not themselves). Whether they may send is `_check_may_send`'s."""
    refused = policy.addressing_refusal(
        sender_uuid=str(sender.uuid), recipient_uuid=str(recipient.uuid)
    )
    if refused:
        raise ValidationError(refused.message, code=refused.code)


def _check_may_send(
    *,
    sender: User,
    recipient_uuid: str,
    starting: bool,
    already_talking: Callable[[], bool] = lambda: True,
) -> Profile:
    """SendRefused unless `sender` may write to the recipient (the policy; the limits are
    `_counted_send`'s); else the recipient's profile as committed now.

    Costs one indexed SQL query (the two profiles as committed now, never the cache) and no
    DynamoDB request, except `already_talking` when the recipient's setting makes it matter.
    """
    recipient_key = parse_uuid(recipient_uuid)  # None: no user ever had it
    found = current_profiles(sender.uuid, recipient_key) if recipient_key else {}
    refused = policy.refusal(
        sender_uuid=str(sender.uuid),
        sender=found.get(sender.uuid),
        recipient_uuid=recipient_uuid,
        recipient=found.get(recipient_key),
        starting=starting,
        already_talking=already_talking,
    )
    if refused:
        _refuse(refused.code)
        raise SendRefused(refused.message)
    return found[recipient_key]


def _counted_send(
    *, sender: User, starting: bool, idempotency_key: str | None, store: Callable[[], Message]
) -> Message:
    """`store()` (the store's write of the message), counted against the sender's limits;
    SendLimited when one is reached.

    A form sent again whose message is already stored (its token claimed) is not counted: the
    store answers it `replayed` and the count is given back. At the limit, such a form is
    looked up before it is refused (two reads, only then), and answered with its message.
    """
    subject = str(sender.uuid)
    counted = (MESSAGES, NEW_CONVERSATIONS) if starting else (MESSAGES,)
    try:
        limits.take(subject, *counted)
    except limits.LimitReached as reached:
        stored = None
        if idempotency_key:
            stored = get_store().sent_message(sender_uuid=subject, idempotency_key=idempotency_key)
        if stored is None:
            _refuse(LIMIT_REASONS[reached.limit])
            raise SendLimited(reached) from None
        # take() counted one against each limit up to the one it refused at.
        limits.give_back(subject, *counted[: counted.index(reached.limit) + 1])
        return stored
    message = store()
    if message.replayed:
        limits.give_back(subject, *counted)
    else:
        metrics.MESSAGES_SENT.inc()
    return message


def user_ref(user: User) -> UserRef:
    """The user as stored on items: their current handle and display name."""
    return UserRef(uuid=str(user.uuid), handle=user.handle, display_name=user.display_name)


def send_message(
    *, sender: User, conversation_uuid: str, text: str, idempotency_key: str | None = None
) -> Message:
    """Post to a conversation the sender is in (else access.ConversationNotFound); SendRefused
    when the other person cannot be written to (gone, blocked) or the sender is over a limit.

    The membership check reads both inbox entries; the store builds the send's conditions
    from them instead of reading them again. `idempotency_key` (a form's one-time token):
    however often a send with it arrives, at once or retried, one message is stored and
    each arrival returns it.
    """
    text = clean_message_text(text)
    participants = get_participants_for_member(user=sender, conversation_uuid=conversation_uuid)
    recipients = _recipients(sender, participants)
    message = _counted_send(
        sender=sender,
        starting=False,
        idempotency_key=idempotency_key,
        store=lambda: get_store().create_message(
            conversation_uuid=participants[0].conversation_uuid,
            sender=user_ref(sender),
            text=text,
            participants=participants,
            idempotency_key=idempotency_key,
        ),
    )
    _after_send(message, recipients)
    _announce(message, [entry.owner_uuid for entry in participants])
    return message


def _recipients(sender: User, participants: tuple[InboxEntry, ...]) -> dict[str, Profile]:
    """Whom a reply reaches, by uuid, with their profiles as committed now; SendRefused when
    the sender may not write to them (one SQL query either way).

    A pair: the other person, as the policy allows (not blocked, not gone). A group: every
    other member; blocks do not close a group that others share, so a member who blocked
    the sender gets the message, shown to them without its text (view_models), and no email.
    """
    own = participants[0]
    if own.group is None:
        other = own.other_user.uuid
        return {other: _check_may_send(sender=sender, recipient_uuid=other, starting=False)}
    others = [parse_uuid(entry.owner_uuid) for entry in participants[1:]]
    found = current_profiles(sender.uuid, *filter(None, others))
    return {
        str(key): profile
        for key, profile in found.items()
        if key != sender.uuid and profile is not None
    }


def _after_send(message: Message, recipients: dict[str, Profile]) -> None:
    """The recipients' emails about unread messages, due after each one's delay (one SQL write
    at most; none for a resubmitted form, whose message was noted when it was stored). No
    email to someone who blocked the sender (in a group, where the message reaches them)."""
    if not message.replayed:
        notifications.note_unread(
            conversation_uuid=message.conversation_uuid,
            recipients={
                recipient_uuid: profile.email_unread_after
                for recipient_uuid, profile in recipients.items()
                if not profile.has_blocked(message.sender.uuid)
            },
        )


def start_conversation(
    *, sender: User, recipient: User, text: str, idempotency_key: str | None = None
) -> str:
    """Send a first message to `recipient`; returns the conversation's uuid.

    If the two already have a conversation, the message goes into it (the store keeps one
    conversation per pair, also when both start one at the same moment). `idempotency_key`
    as for `send_message`, and SendRefused as there (also to oneself).
    """
    text = clean_message_text(text)
    profile = _check_may_send(
        sender=sender,
        recipient_uuid=str(recipient.uuid),
        starting=True,
        already_talking=lambda: (
            selectors.find_conversation(user=sender, other=recipient) is not None
        ),
    )
    message = _counted_send(
        sender=sender,
        starting=True,
        idempotency_key=idempotency_key,
        store=lambda: get_store().create_conversation(
            sender=user_ref(sender),
            recipient=user_ref(recipient),
            text=text,
            idempotency_key=idempotency_key,
        )[1],
    )
    _after_send(message, {str(recipient.uuid): profile})
    _announce(message, [str(sender.uuid), str(recipient.uuid)])
    return message.conversation_uuid


# --- groups: start one, add people, leave, rename ---


class GroupRefused(Exception):
    """The roster change was not made, for the reason in `str(refusal)` (one sentence)."""

    status = 403


def _check_may_add(*, sender: User, people: list[User]) -> dict[str, Profile]:
    """SendRefused unless `sender` may bring each of `people` into a group: as for starting a
    conversation with each (not blocked either way, not gone, and their "who may message me"
    setting); else their profiles as committed now. One SQL query, plus a pair lookup for
    each person who accepts new conversations only from people they talk with."""
    found = current_profiles(sender.uuid, *(person.uuid for person in people))
    for person in people:
        refused = policy.refusal(
            sender_uuid=str(sender.uuid),
            sender=found.get(sender.uuid),
            recipient_uuid=str(person.uuid),
            recipient=found.get(person.uuid),
            starting=True,
            already_talking=lambda person=person: (
                selectors.find_conversation(user=sender, other=person) is not None
            ),
        )
        if refused:
            _refuse(refused.code)
            raise SendRefused(refused.message)
    return {str(person.uuid): found[person.uuid] for person in people}


def group_max_members() -> int:
    """How many people a group may hold, its starter included (settings.GROUP_MAX_MEMBERS,
    3 to 32: checked when the settings load)."""
    return settings.GROUP_MAX_MEMBERS


def group_cap_refusal(count: int) -> str | None:
    """Why a group of `count` people (the sender included) cannot be, or None."""
    cap = group_max_members()
    return _group_full(cap) if count > cap else None


def _group_full(cap: int) -> str:
    return f"A group can have at most {cap} people, you included."


def start_group(
    *,
    sender: User,
    recipients: list[User],
    name: str,
    text: str,
    idempotency_key: str | None = None,
) -> str:
    """Start a group of `sender` and `recipients` (two or more others) with a first message;
    returns its uuid. A new group every time: groups are not keyed by their members. The same
    rules as a first message to each of them (SendRefused), counted as one new conversation;
    GroupRefused past GROUP_MAX_MEMBERS. `idempotency_key` as for `send_message`."""
    text = clean_message_text(text)
    refused = group_cap_refusal(len(recipients) + 1)
    if refused:
        raise GroupRefused(refused)
    profiles = _check_may_add(sender=sender, people=recipients)
    message = _counted_send(
        sender=sender,
        starting=True,
        idempotency_key=idempotency_key,
        store=lambda: get_store().create_group(
            sender=user_ref(sender),
            members=[user_ref(person) for person in recipients],
            name=clean_group_name(name),
            text=text,
            idempotency_key=idempotency_key,
        )[1],
    )
    _after_send(message, profiles)
    _announce(message, [str(sender.uuid), *profiles])
    return message.conversation_uuid


def clean_group_name(name: str) -> str:
    """A group's name as stored: one line, spaces collapsed, at most MAX_GROUP_NAME_LENGTH."""
    return " ".join((name or "").split())[: rosters.MAX_GROUP_NAME_LENGTH]


def _own_group_entry(user: User, conversation_uuid: str) -> tuple[InboxEntry, ...]:
    """The members' entries of a group `user` is in, theirs first; ConversationNotFound when
    not a member, and for a conversation of two (it never becomes a group: no such group)."""
    participants = get_participants_for_member(user=user, conversation_uuid=conversation_uuid)
    if participants[0].group is None:
        raise ConversationNotFound
    return participants


def add_to_group(*, user: User, conversation_uuid: str, people: list[User]) -> Message | None:
    """`user` adds `people` to a group they are in; each sees it from the line that says so.
    SendRefused when `user` may not bring someone in (blocked either way, gone, their
    setting); GroupRefused past GROUP_MAX_MEMBERS (the store's check decides under races).
    None when everyone was in already."""
    participants = _own_group_entry(user, conversation_uuid)
    members = {entry.owner_uuid for entry in participants}
    new = [person for person in people if str(person.uuid) not in members]
    if not new:
        return None
    refused = group_cap_refusal(len(members) + len(new))
    if refused:
        raise GroupRefused(refused)
    _check_may_add(sender=user, people=new)
    try:
        message = get_store().add_members(
            actor=user_ref(user),
            conversation_uuid=participants[0].conversation_uuid,
            people=[user_ref(person) for person in new],
            max_members=group_max_members(),
        )
    except GroupFull as full:  # others added people meanwhile: the store's check decides
        raise GroupRefused(_group_full(full.max_members)) from None
    if message is not None:
        _announce(message, [*members, *(str(person.uuid) for person in new)])
    return message


def leave_group(*, user: User, conversation_uuid: str) -> bool:
    """`user` leaves a group: it goes from their inbox, and nothing more of it reaches or can
    be read by them (404); the others see a line. False, changing nothing, when they are not
    in such a group (any more): a second Leave (a double click, a retry after a lost answer)
    ends where the first did, and a stranger's tells them nothing."""
    try:
        participants = _own_group_entry(user, conversation_uuid)
        own = participants[0]
        message = get_store().leave_group(
            user=user_ref(user), conversation_uuid=own.conversation_uuid
        )
    except TableNotFound:
        raise
    except (ConversationNotFound, NotFound):  # the same Leave, at once: the store decided
        return False
    notifications.conversation_read(
        user_uuid=own.owner_uuid, conversation_uuid=own.conversation_uuid
    )
    if message is not None:
        _announce(message, [entry.owner_uuid for entry in participants])
    return True


def rename_group(*, user: User, conversation_uuid: str, name: str) -> Message | None:
    """Name a group `user` is in ("" takes the name away), with a line; None if unchanged."""
    participants = _own_group_entry(user, conversation_uuid)
    message = get_store().rename_group(
        actor=user_ref(user),
        conversation_uuid=participants[0].conversation_uuid,
        name=clean_group_name(name),
    )
    if message is not None:
        _announce(message, [entry.owner_uuid for entry in participants])
    return message


# --- taking something back: hide a conversation, unsend or edit one's own message ---


class EditRefused(Exception):
    """The edit was not made, for the reason in `str(refusal)` (one sentence): the message was
    unsent, or its time for edits is over (`messaging.domain.edit_refusal`)."""

    status = 409


def hide_conversation(*, user: User, conversation_uuid: str) -> None:
    """Take the conversation out of `user`'s inbox (marked read) until the next message from
    anyone in it; the other person sees no change. ConversationNotFound unless a member.
    Idempotent: the same form twice hides it once."""
    own = get_participants_for_member(user=user, conversation_uuid=conversation_uuid)[0]
    get_store().hide_conversation(user_uuid=own.owner_uuid, conversation_uuid=own.conversation_uuid)
    notifications.conversation_read(
        user_uuid=own.owner_uuid, conversation_uuid=own.conversation_uuid
    )
    # The person's other pages show their inbox (and its unread count): they look again.
    publish_change([own.owner_uuid], Change(own.conversation_uuid, own.sort_key))


def unsend_message(
    *, user: User, conversation_uuid: str, message_uuid: str, sort_key: str | None = None
) -> Message:
    """Remove the text of `user`'s own message for everyone (a placeholder stays in its place;
    the inbox previews follow). ConversationNotFound unless a member; the store's NotFound
    (a 404) for a message that is not theirs, so a forged form changes nothing. Idempotent."""
    participants = get_participants_for_member(user=user, conversation_uuid=conversation_uuid)
    message = get_store().unsend_message(
        user_uuid=str(user.uuid),
        conversation_uuid=participants[0].conversation_uuid,
        message_uuid=message_uuid,
        sort_key=sort_key or None,
    )
    _announce(message, [entry.owner_uuid for entry in participants])
    return message


def edit_message(
    *,
    user: User,
    conversation_uuid: str,
    message_uuid: str,
    text: str,
    sort_key: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Replace the text of `user`'s own message for everyone, marked edited (the old text is
    not kept). The message rules apply (`clean_message_text`: ValidationError); EditRefused
    once it is unsent or its edit window is over (the store's condition decides, at `now`);
    NotFound / ConversationNotFound as for `unsend_message`. The same text again writes nothing.
    An edit writes to the other person as a reply does: SendRefused when a reply would be
    (blocked, gone), with the same sentence; not counted against the sending limits.
    """
    text = clean_message_text(text)
    participants = get_participants_for_member(user=user, conversation_uuid=conversation_uuid)
    if participants[0].group is None:  # a group refuses no member's edit (`_recipients`)
        _recipients(user, participants)
    try:
        message = get_store().edit_message(
            user_uuid=str(user.uuid),
            conversation_uuid=participants[0].conversation_uuid,
            message_uuid=message_uuid,
            text=text,
            now=now or timezone.now(),
            sort_key=sort_key or None,
        )
    except NotEditable as error:
        raise EditRefused(str(error)) from None
    _announce(message, [entry.owner_uuid for entry in participants])
    return message


def _announce(message: Message, people: list[str]) -> None:
    """The live event of a stored message, to both participants' open pages (the sender's
    other tabs too). Sent again for a resubmitted form: the pages find nothing new."""
    publish_change(people, Change(message.conversation_uuid, message.sort_key))


def block_and_clear_unread(*, user: User, other: User) -> None:
    """`user` blocks `other` (users.services.block), and their conversation is marked read,
    so nothing of theirs is left counted as unread. Blocking is the users app's write; this
    is messaging's part of it, kept here so that users never reaches into messaging (and not
    in a signal on Block, which would also mark read for a block made in the admin)."""
    user_services.block(user=user, other=other)
    try:
        conversation_uuid = selectors.find_conversation(user=user, other=other)
        if conversation_uuid:
            own = get_participants_for_member(user=user, conversation_uuid=conversation_uuid)[0]
            mark_read(entry=own)
    except StoreError as error:  # the block holds; the pages hide their count meanwhile
        logger.warning("Blocked, but could not mark the conversation read: %s", error)


def read_conversation(
    *, user: User, conversation_uuid: str, before: str | None = None, marks_read: bool = True
) -> view_models.ConversationPage:
    """A page of a conversation. The newest page (no `before`) shown to the person marks the
    conversation read: it shows the newest message. An older page, or `marks_read` off (a
    HEAD request, a form sent back with an error), marks nothing. The page is shown even when
    the store cannot mark it read now (`_record_reading`)."""
    marks_read = marks_read and before is None
    page = view_models.conversation_page(
        user=user, conversation_uuid=conversation_uuid, before=before, reading=marks_read
    )
    if marks_read:
        mark_read(entry=page.conversation.entry)  # a write only when something is unread
    return page


def mark_read(*, entry: InboxEntry) -> bool:
    """Clear the owner's unread count for this conversation (nothing to do if already read).
    False if the store could not (`_record_reading`): the count stays as it was."""
    if not entry.unread:
        return True
    return _record_reading(
        owner_uuid=entry.owner_uuid,
        conversation_uuid=entry.conversation_uuid,
        sort_key=entry.sort_key,
        unread=entry.unread,
    )


def mark_read_up_to(*, user: User, conversation_uuid: str, sort_key: str, unread: int) -> bool:
    """Clear `user`'s unread count for a conversation open on screen (the live poll).

    The poll has not read the user's entry (that would be a second read per poll), so it says
    where it believes the entry is: at `sort_key`, the newest message it has shown, holding
    `unread`, the other person's messages it has shown since the last read. The store writes
    only if the entry is exactly that; otherwise it reads the entry again and clears it there.
    Membership must already be proven (live_tokens.check_live_token). False if the store could
    not (`_record_reading`).
    """
    if unread <= 0:
        return True
    return _record_reading(
        owner_uuid=str(user.uuid),
        conversation_uuid=conversation_uuid,
        sort_key=sort_key,
        unread=unread,
    )


def _record_reading(*, owner_uuid: str, conversation_uuid: str, sort_key: str, unread: int) -> bool:
    """The store's mark_read, which never fails the reading it follows: True when written.

    The reads worked and the person has the messages on screen; that the store refuses writes
    now (throttled, unreachable) or the entry kept moving (a lost race) must not turn that
    into an error page. The count stays, and the next view or live poll clears it. One warning
    line each, no traceback: during a write outage every page view logs it. A read is announced
    to the reader's open pages, whose unread counts change.
    """
    try:
        get_store().mark_read(
            owner_uuid=owner_uuid,
            conversation_uuid=conversation_uuid,
            sort_key=sort_key,
            unread=unread,
        )
    except StoreError as error:
        logger.warning(
            "Could not mark conversation %s read for %s (it stays unread): %s: %s",
            conversation_uuid,
            owner_uuid,
            type(error).__name__,
            error,
        )
        return False
    notifications.conversation_read(user_uuid=owner_uuid, conversation_uuid=conversation_uuid)
    # The person's other pages show the unread count: they look again.
    publish_change([owner_uuid], Change(conversation_uuid, sort_key))
    return True


@dataclass(frozen=True)
class CatchUp:
    """What an open conversation missed since the newest message it shows."""

    messages: tuple[view_models.MessageRow, ...]  # oldest first
    after: str  # the sort key to ask from next time
    unread: int  # the other person's messages shown since the last read, after this one
    marked_read: bool  # this call cleared the unread count
    more: bool  # a full batch: ask again at once


def catch_up(
    *,
    user: User,
    conversation_uuid: str,
    after: str,
    unread: int,
    mark_read: bool,
    above: view_models.Seam | None = None,
    visible_from: str | None = None,
) -> CatchUp:
    """The messages after sort key `after` for a conversation open on screen, and its reading.

    `unread` is how many of the other person's messages the page has shown since the last
    read; `above` is the message shown last, which the new ones join (view_models.Seam).
    With `mark_read` (the tab is in front) those and the new ones are marked read: one
    write, only when there is something to mark; when the store cannot write it, the answer
    keeps them unread, so the page asks again. Membership must already be proven
    (live_tokens.check_live_token): when nothing is new this is one Query and no SQL.
    """
    messages = view_models.new_messages(
        user=user,
        conversation_uuid=conversation_uuid,
        after=after,
        above=above,
        limit=LIVE_MESSAGES_PER_POLL,
        visible_from=visible_from,
    )
    for message in messages:
        unread = 0 if message.is_mine else unread + 1  # sending means reading
    newest = messages[-1].sort_key if messages else after
    marked = (
        mark_read
        and unread > 0
        and mark_read_up_to(
            user=user, conversation_uuid=conversation_uuid, sort_key=newest, unread=unread
        )
    )
    if marked:
        unread = 0
    return CatchUp(
        messages=messages,
        after=newest,
        unread=unread,
        marked_read=marked,
        more=len(messages) == LIVE_MESSAGES_PER_POLL,
    )
