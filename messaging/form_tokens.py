"""The message form's one-time token: a resubmitted form sends once.

Each form carries a fresh token; a send spends it in the session first and gives it back if
the send fails, so the person can press Send again. The session keeps the newest few.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.http import HttpRequest

USED_TOKENS_KEY = "messaging_used_tokens"
USED_TOKENS_KEPT = 50


def already_sent(request: HttpRequest, token: uuid.UUID) -> bool:
    return str(token) in request.session.get(USED_TOKENS_KEY, [])


@contextmanager
def spending(request: HttpRequest, token: uuid.UUID) -> Iterator[None]:
    """Mark `token` used for the duration of a send; give it back if the send fails."""
    used = request.session.get(USED_TOKENS_KEY, [])
    request.session[USED_TOKENS_KEY] = [*used, str(token)][-USED_TOKENS_KEPT:]
    # Saved now rather than at the end of the request, so a concurrent double submit is very
    # likely to see it (the session middleware also skips saving on a 5xx response).
    _save(request)
    try:
        yield
    except BaseException:
        used = request.session.get(USED_TOKENS_KEY, [])
        request.session[USED_TOKENS_KEY] = [value for value in used if value != str(token)]
        _save(request)
        raise


def _save(request: HttpRequest) -> None:
    request.session.save()
    # Saved as it is: unless something changes it again, the session middleware need not save
    # it a second time (one SQL UPDATE less per send). The session key stays the same, so the
    # cookie needs no update either, as on any request that only reads the session.
    request.session.modified = False
