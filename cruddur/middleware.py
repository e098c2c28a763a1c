"""The project's middleware: the health checks' way past the Host check (`answer_health_checks`),
and what each request cost: its DynamoDB calls and capacity, and its SQL queries.

Operators see it three ways, all from the same figures:
- one log line per request, at INFO on the `cruddur.requests` logger, with the request's id
  (cruddur/logs.py), who asked, its answer and its time besides its cost: docs/OPERATIONS.md
  says what each field means;
- with `COST_HEADERS` on, `X-DynamoDB-*` and `X-SQL-Queries` response headers (the benchmark
  reads these, so its figures come from the server itself);
- with `COST_FOOTER` on, a small footer at the bottom of every HTML page (a developer's aid).

The DynamoDB figures come from the per-request tally (cruddur/request_cost.py) the store's
adapter adds each call to: capacity is AWS's own figure on AWS and is computed from the real
item sizes by AWS's rules elsewhere, since emulators report made-up numbers. This module
knows neither how: it only shows them.
"""

from __future__ import annotations

import contextvars
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.encoding import escape_uri_path
from django.utils.html import format_html

from . import metrics, metrics_views, views
from .request_cost import Usage, track_usage

logger = logging.getLogger("cruddur.requests")

# Requests that log no line: Prometheus scrapes /metrics every few seconds from every task, and
# its own `up` series says when a scrape fails. The health checks are answered before this
# middleware (answer_health_checks), so they log none either.
UNLOGGED_PATHS = frozenset({"/metrics"})


class _SqlCounter:
    """A `connection.execute_wrapper`: counts queries, works with DEBUG off."""

    def __init__(self) -> None:
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        return execute(sql, params, many, context)


@dataclass(frozen=True)
class RequestCost:
    usage: Usage
    sql_queries: int
    milliseconds: float

    @property
    def capacity(self) -> str:
        """Where the capacity figures come from, in the log's short form: "aws" or "computed"."""
        return "aws" if self.usage.capacity_reported else "computed"


class RequestCostMiddleware:
    """Measure each request; log it, and show it in headers or a footer when asked to.

    Placed just inside WhiteNoise (static files never reach it) and outside the session
    middleware, so the session's own queries, including its save on the way out, count.
    Synchronous on purpose: the SQL counter wraps the database connection of the thread the
    request's queries run on, and under ASGI Django runs this middleware in that thread (the
    one asgiref keeps for the request's sync code).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        counter = _SqlCounter()
        started = time.perf_counter()
        with track_usage() as usage, connection.execute_wrapper(counter):
            response = self.get_response(request)
        cost = RequestCost(usage, counter.queries, (time.perf_counter() - started) * 1000)

        if request.path_info not in UNLOGGED_PATHS:
            _log(request, response, cost, started)
        if settings.COST_HEADERS:
            _add_headers(response, cost)
        if settings.COST_FOOTER:
            _add_footer(response, cost)
        return response


def _log(request: HttpRequest, response: HttpResponse, cost: RequestCost, started: float) -> None:
    """The request's line: now, or for a stream (an event stream lasts as long as its page)
    when it ends."""
    usage = cost.usage
    line = {
        # The path alone: the query string carries live tokens.
        "method": request.method,
        "path": escape_uri_path(request.path),
        "status": response.status_code,
        "duration_ms": round(cost.milliseconds, 1),
        "user": _user_uuid(request),
        "dynamodb_requests": usage.requests,
        "dynamodb_rcu": usage.read_units,
        "dynamodb_wcu": usage.write_units,
        "dynamodb_items": usage.items_read,
        "dynamodb_bytes": usage.bytes_read,
        "dynamodb_capacity": cost.capacity if usage.requests else None,
        "dynamodb_calls": [call.operation for call in usage.calls],
        "sql_queries": cost.sql_queries,
    }
    if not response.streaming:
        _write(line)
        return
    # Its cost is what it cost to open: the figures above; its duration, until it ended.
    line["stream"] = True
    end = _StreamEnd(line, started)
    content = response.streaming_content
    if response.is_async:

        async def parts():
            try:
                async for part in content:
                    yield part
            finally:
                end()

    else:

        def parts():
            try:
                yield from content
            finally:
                end()

    response.streaming_content = parts()
    # A client gone before the first part was sent cancels the request: the parts, never
    # started, never run their `finally`; the response, let go, still ends the stream.
    weakref.finalize(response, end)


class _StreamEnd:
    """Writes a stream's line once, when it ends (the client left, the server stopped, the
    stream was done), in the request's context: with its id."""

    def __init__(self, line: dict, started: float):
        self.line = line
        self.started = started
        self.context = contextvars.copy_context()
        self.written = False

    def __call__(self) -> None:
        if self.written:
            return
        self.written = True
        self.line["duration_ms"] = round((time.perf_counter() - self.started) * 1000, 1)
        self.context.run(_write, self.line)


def _write(line: dict) -> None:
    logger.info(
        "%s %s %d %.1f ms%s",
        line["method"],
        line["path"],
        line["status"],
        line["duration_ms"],
        " (stream)" if line.get("stream") else "",
        extra=line,
    )


def _user_uuid(request: HttpRequest) -> str | None:
    """The signed-in person's uuid, if the request looked them up; never looked up here: the
    line must cost nothing and cannot fail (a 500 may be the database gone). Django's
    AuthenticationMiddleware keeps the user it found on the request, under these names."""
    user = getattr(request, "_cached_user", None) or getattr(request, "_acached_user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.uuid)


def _add_headers(response: HttpResponse, cost: RequestCost) -> None:
    usage = cost.usage
    response["X-DynamoDB-Requests"] = str(usage.requests)
    response["X-DynamoDB-Items"] = str(usage.items_read)
    response["X-DynamoDB-Bytes"] = str(usage.bytes_read)
    response["X-DynamoDB-RCU"] = f"{usage.read_units:g}"
    response["X-DynamoDB-WCU"] = f"{usage.write_units:g}"
    response["X-SQL-Queries"] = str(cost.sql_queries)


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def footer_html(cost: RequestCost) -> str:
    """The footer's markup: one line, the same figures as the log (styled by the site's
    stylesheet: the Content-Security-Policy refuses inline styles)."""
    usage = cost.usage
    return format_html(
        '<footer class="cost-footer">DynamoDB: {} ({} items, {} bytes read, '
        "{} RCU, {} WCU; capacity {}) &middot; SQL: {} &middot; {} ms</footer>",
        _counted(usage.requests, "request", "requests"),
        usage.items_read,
        f"{usage.bytes_read:,}",
        f"{usage.read_units:g}",
        f"{usage.write_units:g}",
        usage.capacity_source,
        _counted(cost.sql_queries, "query", "queries"),
        f"{cost.milliseconds:.0f}",
    )


def _add_footer(response: HttpResponse, cost: RequestCost) -> None:
    if (
        response.streaming
        or response.has_header("Content-Encoding")
        or not response.get("Content-Type", "").startswith("text/html")
    ):
        return
    content = response.content
    end = content.rfind(b"</body>")
    if end == -1:
        return
    footer = footer_html(cost).encode(response.charset)
    response.content = content[:end] + footer + content[end:]
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


# Each health check's path (cruddur/urls.py's "health", "health-live", "health-ready":
# tests/deploy/test_health_checks.py) and its view.
HEALTH_CHECKS = {
    "/health/": views.ready,
    "/health/live": views.live,
    "/health/ready": views.ready,
}
# Paths asked of a task at its own address: the load balancer's and the image's health checks,
# and a Prometheus scraper inside the VPC (which cannot set a Host header per target).
ASKED_BY_ADDRESS = {**HEALTH_CHECKS, "/metrics": metrics_views.metrics}


def answer_health_checks(get_response: Callable[[HttpRequest], HttpResponse]):
    """The health checks, answered before anything reads the request's Host header.

    The load balancer's health check asks each task at its private address (Host:
    10.0.1.23:8000) and the image's HEALTHCHECK asks 127.0.0.1, names that ALLOWED_HOSTS (the
    site's public name) does not hold: Django answers them 400 as soon as a middleware calls
    request.get_host(), as CommonMiddleware does on every request. First in MIDDLEWARE, this
    hands these paths to their views, which read no host name and link nowhere; over plain
    HTTP too, ahead of SecurityMiddleware's redirect to HTTPS, as a load balancer asks.
    Nothing after it runs for them either: no session, no cost log line per probe.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        view = ASKED_BY_ADDRESS.get(request.path_info)
        if view is not None:
            return view(request)
        return get_response(request)

    return middleware


# Methods that name their own series; any other (a client may send any word) shares "other",
# so that no client can add series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def time_requests(get_response: Callable[[HttpRequest], HttpResponse]):
    """`cruddur_request_duration_seconds` (cruddur/metrics.py): each request's time, by the
    view's name in the URL patterns ("messaging:conversation", never the path, which holds
    uuids), its method and its status. A request no pattern matched (a 404, a host refused)
    is "unmatched". Inside WhiteNoise, so static files are not counted; an event stream is
    timed until its response starts."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        match = getattr(request, "resolver_match", None)
        metrics.REQUEST_DURATION.labels(
            view=match.view_name if match else "unmatched",
            method=request.method if request.method in _METHODS else "other",
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        return response

    return middleware
