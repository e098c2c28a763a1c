"""The live endpoints: HTML fragments for static/js/live.js (the pages work without them).

The fragments come from the pages' own partials (`_conversation_list.html`, `_messages.html`,
`_unread_badge.html`), so a row or a message has one markup whichever way it reaches the
screen; the script only reads the data-* attributes of a fragment's root and swaps its
elements in. Errors are short text/plain answers, mapped by `error_pages.status_for` like
the pages' errors.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import selectors, services
from .error_pages import HANDLED, status_for
from .errors import InvalidCursor
from .live_tokens import check_live_token

logger = logging.getLogger(__name__)

_MAX_LIVE_PARAMETER = 64  # a state (16 hex digits) or a conversation uuid (36 characters)
_MAX_UNREAD = 10_000
_RETRY_AFTER_SECONDS = 5


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


@live_endpoint
def inbox_poll(request: HttpRequest) -> HttpResponse:
    """Has the first inbox page changed since `since` (the state the page was drawn with)?

    Idle: one Query of two small items (the counter and the newest row). When it changed and
    the page shows the list (`rows=1`), also the first page, redrawn. `current` is the
    conversation open beside the list (its row is marked as the current page); `reading` is
    the same one when its tab is in front, which marks it read, so it is shown read.
    """
    since = _short_parameter(request, "since")
    current = _short_parameter(request, "current") or None
    reading = _short_parameter(request, "reading") or None
    update = selectors.inbox_update(
        user=request.user, since=since, with_rows=request.GET.get("rows") == "1", reading=reading
    )
    return render(request, "messaging/live_inbox.html", {"update": update, "current": current})


@live_endpoint
def conversation_poll(request: HttpRequest, conversation_uuid: str) -> HttpResponse:
    """The messages after sort key `after`, for a conversation open on screen.

    `token` (signed by the conversation page) proves membership without a read, so when
    nothing is new this costs one Query that returns nothing. `unread` is how many of the
    other person's messages the page has shown since the last read; `read=1` (the tab is in
    front) marks them and the new ones read (services.catch_up).
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
    catch_up = services.catch_up(
        user=request.user,
        conversation_uuid=conversation_uuid,
        after=request.GET.get("after", ""),
        unread=unread,
        mark_read=request.GET.get("read") == "1",
    )
    return render(request, "messaging/live_messages.html", {"catch_up": catch_up})
