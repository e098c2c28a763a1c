"""The project's middleware: the health checks' way past the Host check (`answer_health_checks`,
at the end), and what each request cost: its DynamoDB calls and capacity, and its SQL queries.

Operators see it three ways, all from the same figures:
- one log line per request that called DynamoDB, at INFO on the `messaging.cost` logger (the
  name operators filter on; `MESSAGING_LOG_LEVEL` sets its level);
- with `COST_HEADERS` on, `X-DynamoDB-*` and `X-SQL-Queries` response headers (the benchmark
  reads these, so its figures come from the server itself);
- with `COST_FOOTER` on, a small footer at the bottom of every HTML page (a developer's aid).

The DynamoDB figures come from the per-request tally (cruddur/request_cost.py) the store's
adapter adds each call to: capacity is AWS's own figure on AWS and is computed from the real
item sizes by AWS's rules elsewhere, since emulators report made-up numbers. This module
knows neither how: it only shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.encoding import escape_uri_path
from django.utils.html import format_html

from . import views
from .request_cost import Usage, track_usage

logger = logging.getLogger("messaging.cost")


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

        if usage.requests:
            _log(request, response, cost)
        if settings.COST_HEADERS:
            _add_headers(response, cost)
        if settings.COST_FOOTER:
            _add_footer(response, cost)
        return response


def _log(request: HttpRequest, response: HttpResponse, cost: RequestCost) -> None:
    usage = cost.usage
    logger.info(
        "method=%s path=%s status=%d dynamodb_requests=%d items=%d bytes=%d rcu=%g wcu=%g "
        "capacity=%s sql_queries=%d ms=%.1f calls=%s",
        request.method,
        escape_uri_path(request.path),
        response.status_code,
        usage.requests,
        usage.items_read,
        usage.bytes_read,
        usage.read_units,
        usage.write_units,
        cost.capacity,
        cost.sql_queries,
        cost.milliseconds,
        ",".join(call.operation for call in usage.calls) or "-",
    )


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


HEALTH_PATH = "/health/"  # cruddur/urls.py's "health" (tests/deploy/test_health_checks.py)


def answer_health_checks(get_response: Callable[[HttpRequest], HttpResponse]):
    """`/health/`, answered before anything reads the request's Host header.

    The load balancer's health check asks each task at its private address (Host:
    10.0.1.23:8000) and the image's HEALTHCHECK asks 127.0.0.1, names that ALLOWED_HOSTS (the
    site's public name) does not hold: Django answers them 400 as soon as a middleware calls
    request.get_host(), as CommonMiddleware does on every request. First in MIDDLEWARE, this
    hands `/health/` to its view, which reads no host name and links nowhere; over plain HTTP
    too, ahead of SecurityMiddleware's redirect to HTTPS, as a load balancer asks.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            return views.health(request)
        return get_response(request)

    return middleware
