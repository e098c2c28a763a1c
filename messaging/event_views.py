"""`/messages/events/`: the signed-in person's event stream (Server-Sent Events).

An async view, served under ASGI (`cruddur.asgi:application`): an open stream holds no thread
and costs nothing while idle but a comment line every `HEARTBEAT_SECONDS`, which keeps proxies
from closing it. Each event is a `change` (`messaging.events.Change`) with the sort key as its
id; the page (static/js/live.js) answers it by asking the live endpoints what changed, and
looks once more whenever the stream opens again, so that nothing sent while it was closed is
missed. When no stream can be had (no ASGI server, the broker down, signed out, too many
open) the answer is a short error and the page polls instead.

A stream lasts as long as its session: at every heartbeat it asks whether the session still
signs in the same person (django.contrib.auth's rules: not after logout, a password change
elsewhere, deactivation or deletion), and when it no longer does the stream ends with a
`signed-out` event (data `{}`), which the page answers by reloading, and is not reopened.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from functools import cache
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from cruddur.limits import too_many

from .events import EventsUnavailable, Stream, TooManyStreams, get_broker

logger = logging.getLogger(__name__)

# A comment line when nothing else was sent, and the session's check: a stream outlives its
# session by at most this long.
HEARTBEAT_SECONDS = 15.0
# The browser's wait before it opens a lost stream again, drawn for each stream, so that the
# pages of a server that stopped do not all come back in the same instant.
RECONNECT_MILLISECONDS = (2_000, 8_000)
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
    except TooManyStreams as error:
        message = f"{error} Try again in {_RETRY_AFTER_SECONDS} seconds."
        return too_many(_refused(message, status=429), _RETRY_AFTER_SECONDS)
    signed_in = _SignedIn(request.session.session_key, user.pk)
    response = StreamingHttpResponse(
        _event_stream(stream, signed_in), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    # The stream closes when its lines end (below), and in any case with the response: a
    # client gone before the first line was sent cancels the request, and the lines, never
    # started, never run their `finally`. Closing twice is harmless.
    weakref.finalize(response, stream.close)
    return response


async def _event_stream(stream: Stream, signed_in: _SignedIn):
    """The stream's lines until the client goes (Django cancels this), the broker does, the
    server stops, or the session ends."""
    loop = asyncio.get_running_loop()
    try:
        yield f"retry: {random.randint(*RECONNECT_MILLISECONDS)}\n: open\n\n"
        check_at = loop.time() + HEARTBEAT_SECONDS
        while True:
            # Changes in a steady flow still leave the check due: then it waits no more.
            change = await stream.next(max(0.0, check_at - loop.time()))
            if change is Stream.ENDED:
                return  # the browser opens it again; meanwhile the page polls
            if change is not False:
                yield f"id: {change.sort_key}\nevent: change\ndata: {change.dumps()}\n\n"
                continue
            if not await signed_in.still():
                yield "event: signed-out\ndata: {}\n\n"
                return
            yield ": heartbeat\n\n"
            check_at = loop.time() + HEARTBEAT_SECONDS
    finally:
        stream.close()


class _SignedIn:
    """Whether a stream's session still signs in the person it was opened for."""

    def __init__(self, session_key: str | None, user_pk):
        self.session_key = session_key
        self.user_pk = user_pk

    async def still(self) -> bool:
        return await sync_to_async(self._check)()

    def _check(self) -> bool:
        if self.session_key is None:
            return False
        request = HttpRequest()
        request.session = _read_only_sessions(settings.SESSION_ENGINE)(self.session_key)
        try:
            return get_user(request).pk == self.user_pk
        except DatabaseError as error:
            logger.warning("could not check an event stream's session: %s", error)
            return True  # the stream needs no database: check again at the next heartbeat
        finally:
            connections.close_all()  # an open stream holds no database connection


@cache
def _read_only_sessions(engine: str) -> type:
    """The session class of `engine`, for a check that only reads: get_user gives a session
    signed with an old secret (SECRET_KEY_FALLBACKS) a new key, and flushes one that no longer
    verifies. The browser's own next request does either, with a cookie to carry the new key;
    done here, the new key would never reach the browser, which would be signed out."""

    class ReadOnlySessionStore(import_module(engine).SessionStore):
        def cycle_key(self):
            pass

        def flush(self):
            pass

    return ReadOnlySessionStore
