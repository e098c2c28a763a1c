"""The live poll: one request per change, answered with what changed (the pages work
without it: reloading shows everything).

A page carries its live state in a small hidden form (`_live.html`: where the inbox was, which
list it shows, the open conversation's newest message). static/js/live.js asks htmx to send
that form when the event stream says something changed, or on a timer when there is no
stream. The answer is the same form with the next state, and out-of-band swaps (htmx's
`hx-swap-oob`) drawn with the pages' own partials: the unread badge, the redrawn list, and
the open conversation's new messages joined to the one shown last (`view_models.Seam`). A row
or a message has one markup whichever way it reaches the screen, and no script regroups it.
Errors are short text/plain answers, mapped by `error_pages.status_for` like the pages' errors.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_htmx.http import trigger_client_event

from . import services, view_models
from .domain import format_sort_key, parse_sort_key
from .error_pages import HANDLED, status_for
from .errors import InvalidCursor
from .live_tokens import check_live_token

logger = logging.getLogger(__name__)

_MAX_LIVE_PARAMETER = 64  # a state (16 hex digits) or a conversation uuid (36 characters)
_MAX_UNREAD = 10_000
_RETRY_AFTER_SECONDS = 5
# How often a page without the event stream asks whether older messages were edited or unsent.
CHANGES_EVERY = timedelta(seconds=5)


class _BadLiveRequest(ValueError):
    pass


def _text_error(message: str, *, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 503:
        response["Retry-After"] = str(_RETRY_AFTER_SECONDS)
    return response


def live_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in only, GET/HEAD only, never cached, errors as short text.

    A signed-out poll gets 403 rather than a redirect to the login page, which a script
    would follow and take for an answer.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _text_error("Sign in to see your messages.", status=403)
        try:
            return view(request, *args, **kwargs)
        except (_BadLiveRequest, InvalidCursor) as error:
            return _text_error(str(error), status=400)
        except HANDLED as error:
            if status_for(error) == 404:
                return _text_error("No such conversation.", status=404)
            return _live_unavailable(request, error)

    return never_cache(require_safe(wrapper))


def _live_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    # A warning, not an error: during an outage every open tab keeps asking (with backoff).
    logger.warning("Live poll unavailable on %s: %s: %s", request.path, type(error).__name__, error)
    return _text_error("Messaging is unavailable; trying again shortly.", status=503)


def _short_parameter(request: HttpRequest, name: str) -> str:
    value = request.GET.get(name, "")
    if len(value) > _MAX_LIVE_PARAMETER:
        raise _BadLiveRequest(f"{name} is longer than any this server gives out; reload.")
    return value


@dataclass(frozen=True)
class _OpenConversation:
    """Where the open conversation of a page stands, as its live form says."""

    conversation_uuid: str
    after: str  # the sort key of the newest message shown
    row: str  # the sort key its inbox row had when last seen
    unread: int  # the other person's messages shown since the last read
    above: view_models.Seam  # the message shown last: new ones join it
    read: bool  # the tab is in front: what it shows is read
    changes: datetime | None  # when the page last learned of edits and unsends (none: never asks)
    visible_from: str | None = None  # a group member's join: nothing before it is theirs


def _open_conversation(request: HttpRequest) -> _OpenConversation | None:
    conversation = _short_parameter(request, "conversation")
    if not conversation:
        return None
    access = check_live_token(
        user=request.user, conversation_uuid=conversation, token=request.GET.get("token", "")
    )
    try:
        unread = int(request.GET.get("unread", "0"))
    except ValueError:
        raise _BadLiveRequest("unread must be a whole number.") from None
    if not 0 <= unread <= _MAX_UNREAD:
        raise _BadLiveRequest(f"unread must be between 0 and {_MAX_UNREAD}.")
    return _OpenConversation(
        conversation_uuid=access.conversation_uuid,
        visible_from=access.visible_from,
        after=_short_parameter(request, "after"),
        row=_short_parameter(request, "row"),
        unread=unread,
        above=view_models.Seam(
            _short_parameter(request, "sender"), _short_parameter(request, "day")
        ),
        read=request.GET.get("read") == "1",
        changes=_changes_since(request),
    )


def _changes_since(request: HttpRequest) -> datetime | None:
    value = _short_parameter(request, "changes")
    if not value:
        return None
    try:
        return parse_sort_key(value)
    except ValueError:
        raise _BadLiveRequest("changes is not a time this server gives out; reload.") from None


@live_endpoint
def poll(request: HttpRequest) -> HttpResponse:
    """What changed since the state in the page's live form.

    The inbox: has its first page changed since `since`? Idle, one Query of two small items
    (the counter and the newest row); when it changed and the page shows the list (`list`:
    "inbox" or "sidebar"), the first page redrawn. `current` is the conversation open beside
    the list (its row is marked as the current page).

    The open conversation (`conversation`, with the `token` its page was signed with, which
    proves membership without a read): its new messages, only when its inbox row moved past
    the newest message shown (`after`, `row`) or there is something to mark read (`read=1`:
    the tab is in front; `unread`: what it showed since the last read; services.catch_up).
    Its row shows read in the redrawn list when this poll marks it read. With `changed=1`
    (the event stream told the page something changed) the list is redrawn whatever the state,
    and the open conversation's edited and unsent messages come too (`_changes`).
    """
    since = _short_parameter(request, "since")
    shown_list = _short_parameter(request, "list")
    current = _short_parameter(request, "current") or None
    thread = _open_conversation(request)
    reading = thread.conversation_uuid if thread and thread.read else None
    if request.GET.get("changed") == "1":
        # The event stream said something changed, maybe the preview of a row below the
        # newest one (an edit or unsend of its last message), which the state does not cover.
        since = ""
    update = view_models.inbox_update(
        user=request.user, since=since, with_rows=bool(shown_list), reading=reading
    )
    context = {
        "update": update,
        "list": shown_list,
        "thread_list": shown_list == "sidebar",  # a conversation's sidebar, not the inbox
        "current": current,
        "thread": thread,
    }
    if thread is not None:
        context.update(_catch_up(request, thread, update))
        context.update(_changes(request, thread))
    response = render(request, "messaging/live_update.html", context)
    if context.get("again"):
        # Reads may lag a write for a moment, and a batch may be full: the page looks again soon.
        trigger_client_event(response, "cruddur:again")
    return response


def _changes(request, thread: _OpenConversation) -> dict:
    """The open conversation's messages edited or unsent since the page last looked, to redraw
    in place: a page that asks only for newer messages learns this way that an older one
    changed. One Query, asked when the event stream told the page something changed
    (`changed=1`) and, without a stream, at most every CHANGES_EVERY on the timer, so an
    idle poll stays one Query."""
    if thread.changes is None:
        return {}
    now = timezone.now()
    if request.GET.get("changed") != "1" and now - thread.changes < CHANGES_EVERY:
        return {"changes": format_sort_key(thread.changes)}
    rows = view_models.changed_messages(
        user=request.user,
        conversation_uuid=thread.conversation_uuid,
        since=thread.changes,
        visible_from=thread.visible_from,
    )
    return {"changes": format_sort_key(now), "changed_messages": rows}


def _catch_up(request, thread: _OpenConversation, update) -> dict:
    """The open conversation's part of a poll's answer: its new messages, when there may be
    any or something to mark read, and where it stands next."""
    row, unread = thread.row, thread.unread
    if update.inbox is not None:
        own = [r for r in update.inbox.rows if r.conversation_uuid == thread.conversation_uuid]
        row = max(row, own[0].sort_key) if own else row
        if row <= thread.after:
            # The list shows it read because this poll marks it: mark what that row held.
            unread = max(unread, update.inbox.reading_unread)
    if not (thread.after < row or (thread.read and unread > 0)):
        return {"after": thread.after, "row": row, "unread": unread, "above": thread.above}
    caught = services.catch_up(
        user=request.user,
        conversation_uuid=thread.conversation_uuid,
        after=thread.after,
        unread=unread,
        mark_read=thread.read,
        above=thread.above,
        visible_from=thread.visible_from,
    )
    heading = None
    if any(message.event for message in caught.messages):  # someone joined, left, renamed it
        heading = view_models.group_heading(
            user=request.user, conversation_uuid=thread.conversation_uuid
        )
    return {
        "group_heading": heading,
        "new_messages": caught.messages,
        "after": caught.after,
        "row": row,
        "unread": caught.unread,
        "above": caught.messages[-1].seam if caught.messages else thread.above,
        "again": caught.more or caught.after < row,
    }
