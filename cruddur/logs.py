"""Log lines and the request id that ties them to one request.

The id itself is django-guid's: its middleware keeps it in a context variable for the request
(sync and async alike), its log filter puts it on every record as `request_id`, and it returns
it as `X-Request-ID`. What this module adds is which incoming id to believe, before django-guid
reads the header:

- `X-Request-ID` from whoever sent the request, when it looks like an id: 8 to 128 letters,
  digits, dots, underscores and dashes. Anything else (too long, spaces, quotes, control
  characters) is dropped and django-guid makes a new id, so a client cannot write what it
  likes into every log line of its request.
- Otherwise the `Root` of the load balancer's `X-Amzn-Trace-Id`, such as
  `1-67891233-abcdef012345678912345678`: the ALB adds that header to every request and writes
  it in its own access log (`trace_id`), so one reference quoted from an error page finds the
  request in both logs.
  Only the Root, and only in its exact shape: the whole header is not an id (it holds
  `Self=`, `Parent=`, `Sampled=` fields, and a client may send its own).
- Otherwise a new id (django-guid's: 32 hexadecimal digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware
from django_guid import get_guid
from django_guid.integrations import Integration

REQUEST_ID_HEADER = "X-Request-ID"  # DJANGO_GUID's GUID_HEADER_NAME (cruddur/settings.py)

_REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_TRACE_ID_META = "HTTP_X_AMZN_TRACE_ID"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
_TRACE_ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")


def incoming_request_id(meta: dict) -> str | None:
    """The id this request arrived with that we accept (see the module doc), or None."""
    given = meta.get(_REQUEST_ID_META)
    if given is not None:
        return given if _ACCEPTED_ID.fullmatch(given) else None
    for field in meta.get(_TRACE_ID_META, "").split(";"):
        name, _, value = field.strip().partition("=")
        if name == "Root" and _TRACE_ROOT.fullmatch(value):
            return value
    return None


@sync_and_async_middleware
def accept_request_id(get_response: Callable):
    """Leave in `X-Request-ID` only an id we accept, for django-guid's middleware (next in
    MIDDLEWARE) to take; with none there, it makes one. First in MIDDLEWARE, so that every
    answer carries an id, the health checks' too."""

    def choose(request) -> None:
        request_id = incoming_request_id(request.META)
        if request_id is None:
            request.META.pop(_REQUEST_ID_META, None)
        else:
            request.META[_REQUEST_ID_META] = request_id

    if iscoroutinefunction(get_response):

        async def middleware(request):
            choose(request)
            return await get_response(request)

    else:

        def middleware(request):
            choose(request)
            return get_response(request)

    return middleware


def current_request_id() -> str | None:
    """The id of the request being answered (for pages that show it), or None outside one."""
    return get_guid()


class SentryRequestIdTag(Integration):
    """A django-guid integration: each request's id as the `request_id` tag of whatever Sentry
    reports while answering it. Listed in DJANGO_GUID only when SENTRY_DSN is set.

    Not django-guid's own SentryIntegration: it names the tag `transaction_id`, and with
    sentry-sdk 2.12 and later sets it on a scope it throws away at once. This sets it on the
    request's isolation scope, which sentry-sdk's Django integration opens for each request.
    """

    identifier = "SentryRequestIdTag"

    def setup(self) -> None:
        pass

    def run(self, guid: str, **kwargs) -> None:
        import sentry_sdk

        sentry_sdk.get_isolation_scope().set_tag("request_id", guid)

    def cleanup(self, **kwargs) -> None:
        pass
