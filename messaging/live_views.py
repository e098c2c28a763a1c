"""The live endpoints: JSON for static/js/live.js (the pages work without them).

Errors are JSON too, mapped by `error_pages.status_for` like the pages' errors.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import selectors, services
from .error_pages import HANDLED, status_for
from .live_tokens import check_live_token
from .store import InvalidCursor

logger = logging.getLogger(__name__)

LIVE_MESSAGES_PER_POLL = 50
_MAX_LIVE_STATE = 64
_MAX_UNREAD = 10_000
_RETRY_AFTER_SECONDS = 5


class _BadLiveRequest(ValueError):
    pass


def _json_error(message: str, *, status: int) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 503:
        response["Retry-After"] = str(_RETRY_AFTER_SECONDS)
    return response


def live_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in only, GET/HEAD only, never cached, and every answer JSON (errors too).

    A signed-out poll gets 403 rather than a redirect to the login page, which a script
    would follow and take for an answer.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error("Sign in to see your messages.", status=403)
        try:
            return view(request, *args, **kwargs)
        except (_BadLiveRequest, InvalidCursor) as error:
            return _json_error(str(error), status=400)
        except HANDLED as error:
            if status_for(error) == 404:
                return _json_error("No such conversation.", status=404)
            return _live_unavailable(request, error)

    return never_cache(require_safe(wrapper))


def _live_unavailable(request: HttpRequest, error: Exception) -> JsonResponse:
    # A warning, not an error: during an outage every open tab keeps asking (with backoff).
    logger.warning("Live poll unavailable on %s: %s: %s", request.path, type(error).__name__, error)
    return _json_error("Messaging is unavailable; trying again shortly.", status=503)


def _row_json(row: selectors.InboxRow) -> dict[str, object]:
    return {
        "uuid": row.conversation_uuid,
        "url": row.url,
        "name": row.other.display_name,
        "handle": row.other.handle,
        "initial": row.other.initial,
        "last_message": row.last_message,
        # The same as the templates' <time> elements.
        "when": row.time.label,
        "datetime": row.time.iso,
        "title": row.time.title,
        "unread": row.unread,
        "sort_key": row.sort_key,
    }


def _message_json(message: selectors.MessageRow) -> dict[str, object]:
    return {
        "uuid": message.message_uuid,
        "author": "You" if message.is_mine else message.sender.display_name,
        "mine": message.is_mine,
        "text": message.text,
        "when": message.time.label,
        "datetime": message.time.iso,
        "title": message.time.title,
        "sort_key": message.sort_key,
    }


@live_endpoint
def inbox_poll(request: HttpRequest) -> HttpResponse:
    """Has the first inbox page changed since `since` (the state the page was drawn with)?

    Idle: one Query of two small items (the counter and the newest row). When it changed and
    the page shows the list (`rows=1`), also the first page, so the script can redraw it.
    `reading` is the conversation open in a focused tab, which that tab marks read.
    """
    since = request.GET.get("since", "")
    if len(since) > _MAX_LIVE_STATE:
        raise _BadLiveRequest("That state is not one this server gave out; reload the page.")
    current = selectors.inbox_state(user=request.user)
    body: dict[str, object] = {
        "state": current.state,
        "changed": current.state != since,
        "unread_conversations": current.unread_conversations,
    }
    if body["changed"] and request.GET.get("rows") == "1":
        page = selectors.inbox(user=request.user, reading=request.GET.get("reading") or None)
        older = None
        if page.next_cursor:
            older = f"{reverse('messaging:inbox')}?{urlencode({'cursor': page.next_cursor})}"
        body.update(
            state=page.live_state,
            unread_conversations=page.unread_conversations,
            rows=[_row_json(row) for row in page.rows],
            older_url=older,
            # Shown as read above: the count the tab that reads it must clear.
            reading_unread=page.reading_unread,
        )
    return JsonResponse(body)


@live_endpoint
def conversation_poll(request: HttpRequest, conversation_uuid: str) -> HttpResponse:
    """The messages after sort key `after`, for a conversation open on screen.

    `token` (signed by the conversation page) proves membership without a read, so when
    nothing is new this costs one Query that returns nothing. `unread` is how many of the
    other person's messages the page has shown since the last read; with `read=1` (the tab
    is in front) those and the new ones are marked read: one more write, only then.
    """
    conversation_uuid = check_live_token(
        user=request.user,
        conversation_uuid=conversation_uuid,
        token=request.GET.get("token", ""),
    )
    try:
        unread = int(request.GET.get("unread", "0"))
    except ValueError:
        raise _BadLiveRequest("unread must be a whole number.") from None
    if not 0 <= unread <= _MAX_UNREAD:
        raise _BadLiveRequest(f"unread must be between 0 and {_MAX_UNREAD}.")
    after = request.GET.get("after", "")
    messages = selectors.new_messages(
        user=request.user,
        conversation_uuid=conversation_uuid,
        after=after,
        limit=LIVE_MESSAGES_PER_POLL,
    )
    for message in messages:
        unread = 0 if message.is_mine else unread + 1  # sending means reading
    newest = messages[-1].sort_key if messages else after
    marked = False
    if request.GET.get("read") == "1" and unread:
        services.mark_read_up_to(
            user=request.user, conversation_uuid=conversation_uuid, sort_key=newest, unread=unread
        )
        unread, marked = 0, True
    return JsonResponse(
        {
            "messages": [_message_json(message) for message in messages],
            "after": newest,
            "unread": unread,
            "read": marked,
            "more": len(messages) == LIVE_MESSAGES_PER_POLL,
        }
    )
