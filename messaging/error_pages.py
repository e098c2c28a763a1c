"""What a messaging error becomes for the person who met it, decided once for every view.

A conversation the caller may not see (missing, not theirs, a damaged page link) is a 404;
a store that cannot serve (unreachable, throttled, not set up, too busy) is a 503 that keeps
the text the person typed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from cruddur.logs import current_request_id
from cruddur.uuids import parse_uuid

from .access import ConversationNotFound
from .errors import InvalidCursor, NotFound, StoreError, TableNotFound

logger = logging.getLogger("messaging.views")

HANDLED = (ConversationNotFound, StoreError)


def status_for(error: Exception) -> int:
    """404 for what the caller may not see; 503 for a store that cannot serve now."""
    if isinstance(error, TableNotFound):  # a NotFound, but it means "not set up"
        return 503
    if isinstance(error, ConversationNotFound | NotFound | InvalidCursor):
        return 404
    return 503


def messaging_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map the messaging errors to pages: a 404, or the 503 page keeping the typed text."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except HANDLED as error:
            if status_for(error) == 404:
                raise Http404("No such conversation.") from error
            return unavailable_page(request, error)

    return wrapper


def unavailable_page(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.error(
        "Messaging unavailable on %s %s: %s: %s",
        request.method,
        request.path,
        type(error).__name__,
        error,
    )
    posted = request.POST if request.method == "POST" else {}
    context = {
        "error": error,
        "text": posted.get("text"),
        # The same token: if the send did commit before its answer was lost, trying again
        # finds it and sends nothing twice.
        "retry_token": parse_uuid(posted.get("token")) or uuid.uuid4(),
        "request_id": current_request_id(),  # for the person to quote (cruddur/logs.py)
    }
    return render(request, "messaging/unavailable.html", context, status=503)
