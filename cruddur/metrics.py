"""Every Prometheus metric of the project, defined here once (prometheus-client).

The code that sees a thing happen counts it: the send services (sends, refusals), the DynamoDB
table client (requests, throttles, transaction conflicts), the event broker (streams,
publishes), the cache (its outage), the login throttling (lockouts) and the middleware
(request latency). `/metrics` shows them all (cruddur/metrics_views.py); what each means and
the alerts worth setting on them are in docs/OPERATIONS.md.

Several gunicorn workers: with `PROMETHEUS_MULTIPROC_DIR` set (deploy/entrypoint.sh sets it
for `web`), prometheus-client keeps each process's values in files there and `/metrics` adds
them up (`exposition`); deploy/gunicorn.conf.py forgets a worker's gauges when it exits. Each
gauge says how its processes' values add up (`multiprocess_mode`). Unset (uvicorn's one
process, tests, commands), the values live in this process's memory.

Label values come from short fixed lists (the refusal codes, DynamoDB operations, URL
pattern names), never from a request's path or a person: each value is a series kept forever.

The stream handler's Lambda imports the DynamoDB adapter without prometheus-client (nothing
scrapes a Lambda): there every metric is a stand-in that counts nothing.
"""

from __future__ import annotations

import os

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
        multiprocess,
    )
except ImportError:  # the stream handler's Lambda (deploy/lambda_zip.py)

    class _Uncounted:
        """A metric that counts nothing, for code that runs where nothing scrapes it."""

        def __init__(self, *args, **kwargs) -> None:
            pass

        def labels(self, *args, **kwargs) -> _Uncounted:
            return self

        def inc(self, amount: float = 1) -> None:
            pass

        def dec(self, amount: float = 1) -> None:
            pass

        def set(self, value: float) -> None:
            pass

        def observe(self, value: float) -> None:
            pass

    Counter = Gauge = Histogram = _Uncounted


MESSAGES_SENT = Counter(
    "cruddur_messages_sent",
    "Messages stored; a form sent again (the same one-time token) is not counted again.",
)
SEND_REFUSALS = Counter(
    "cruddur_send_refusals",
    "Sends refused before anything was stored, by reason (messaging/services.py).",
    ["reason"],
)
DYNAMODB_REQUESTS = Counter(
    "cruddur_dynamodb_requests",
    "DynamoDB requests answered, by operation (each page of a paginated one).",
    ["operation"],
)
DYNAMODB_THROTTLES = Counter(
    "cruddur_dynamodb_throttles",
    "DynamoDB answers that were throttling errors, those botocore retried included.",
)
TRANSACTION_CONFLICTS = Counter(
    "cruddur_transaction_conflicts",
    "DynamoDB requests refused for a conflict with another transaction (TransactionConflict).",
)
EVENT_STREAMS = Gauge(
    "cruddur_event_streams",
    "Live event streams open (/messages/events/).",
    multiprocess_mode="livesum",  # the open streams of the live processes, added up
)
EVENTS_PUBLISHED = Counter(
    "cruddur_events_published",
    "Live events published to the broker, one per person told of a change.",
)
PUBLISH_FAILURES = Counter(
    "cruddur_publish_failures",
    "Live events the broker did not take (Redis down): those pages see the change by polling.",
)
CACHE_DEGRADED = Gauge(
    "cruddur_cache_degraded",
    "1 while the cache is serving without Redis: from a failure to reach it until it answers.",
    multiprocess_mode="livemax",  # 1 when any live process is without Redis
)
LOGINS_LOCKED = Counter(
    "cruddur_logins_locked",
    "Logins refused by a lockout (django-axes): the failure that starts one, each try during it.",
)
REQUEST_DURATION = Histogram(
    "cruddur_request_duration_seconds",
    "Time to answer a request (an event stream: until it starts), by view, method and status.",
    ["view", "method", "status"],
    # Pages take 10-50 ms here; a send waits on DynamoDB's retries for up to ~7 s.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def multiprocess_dir() -> str | None:
    """Where the processes of this server keep their values, or None: this process alone."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """Every metric in Prometheus' text format, and its content type: the values of every
    process of this server (multiprocess mode) or of this one."""
    registry = REGISTRY
    if multiprocess_dir():
        # A registry of its own per scrape, as prometheus-client's documentation says: the
        # collector reads the files of every process, this one's included.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST
