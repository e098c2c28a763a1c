"""`/messages/events/`: the signed-in person's event stream (Server-Sent Events).

An async view, served under ASGI (`cruddur.asgi:application`): an open stream holds no thread
and costs nothing while idle but a comment line every `HEARTBEAT_SECONDS`, which keeps proxies
from closing it. Each event is a `change` (`messaging.events.Change`) with the sort key as its
id; the page (static/js/live.js) answers it by asking the live endpoints what changed, and
looks once more whenever the stream opens again, so that nothing sent while it was closed is
missed. When no stream can be had (no ASGI server, the broker down, signed out) the answer is
a short error and the page polls instead.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from .events import EventsUnavailable, Stream, get_broker

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 3000  # the browser's wait before it opens a lost stream again
_RETRY_AFTER_SECONDS = 30


def _refused(message: str, *, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    if status == 503:
        response["Retry-After"] = str(_RETRY_AFTER_SECONDS)
    return response


@require_safe
async def events(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    if not user.is_authenticated:
        return _refused("Sign in to see your messages.", status=403)
    if not isinstance(request, ASGIRequest):
        # A WSGI server would hold a worker for as long as the page stays open.
        return _refused("Live updates need the ASGI server; the page polls instead.", status=503)
    # The stream lasts as long as the page: give the database connection back now (to the
    # pool), not when the stream ends.
    await sync_to_async(connections.close_all)()
    try:
        stream = await get_broker().open_stream(str(user.uuid))
    except EventsUnavailable as error:
        logger.warning("event stream refused: %s", error)
        return _refused("Live updates are unavailable; the page polls instead.", status=503)
    response = StreamingHttpResponse(_event_stream(stream), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _event_stream(stream: Stream):
    """The stream's lines until the client goes (Django cancels this) or the broker does."""
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n: open\n\n"
        while True:
            change = await stream.next(HEARTBEAT_SECONDS)
            if change is False:
                yield ": heartbeat\n\n"
            elif change is Stream.ENDED:
                return  # the browser opens it again; meanwhile the page polls
            else:
                yield f"id: {change.sort_key}\nevent: change\ndata: {change.dumps()}\n\n"
    finally:
        stream.close()
