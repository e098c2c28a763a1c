"""The logs an operator reads: one JSON line per request with its id, the id returned as
X-Request-ID and shown on the error pages, and Sentry only when SENTRY_DSN is set.

The lines are read from the real console handler (settings.LOGGING) with its JSON formatter,
as production writes them, and parsed."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import gzip
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django_guid.context import guid

import cruddur.views
import messaging.view_models
from cruddur.logs import incoming_request_id
from cruddur.middleware import RequestCostMiddleware
from messaging.errors import Unavailable
from tests.helpers import on_a_loop_of_its_own

UUID_HEX = "0f6b4a3e8e364d1f9d6b1f2e3d4c5b6a"
TRACE_ROOT = "1-67891233-abcdef012345678912345678"


@pytest.fixture
def log_lines():
    """What the console handler writes while the test runs, with the JSON formatter
    production uses (LOG_FORMAT=json), one parsed object per line."""
    handler = next(h for h in logging.getLogger("cruddur").handlers if h.name == "console")
    formatter_config = copy.deepcopy(settings.LOGGING["formatters"]["json"])
    json_formatter = logging.config.DictConfigurator({}).configure_formatter(formatter_config)
    stream = io.StringIO()
    kept_formatter, kept_stream = handler.formatter, handler.setStream(stream)
    handler.setFormatter(json_formatter)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setFormatter(kept_formatter)
        handler.setStream(kept_stream)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "cruddur.requests"]


# --- which incoming id is believed ---


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"HTTP_X_REQUEST_ID": UUID_HEX}, UUID_HEX),
        ({"HTTP_X_REQUEST_ID": "web-7f3a.2_x"}, "web-7f3a.2_x"),
        ({"HTTP_X_REQUEST_ID": "a" * 128}, "a" * 128),
        ({"HTTP_X_REQUEST_ID": "a" * 129}, None),  # too long
        ({"HTTP_X_REQUEST_ID": "short"}, None),  # too short to tell requests apart
        ({"HTTP_X_REQUEST_ID": "abc def ghi"}, None),
        ({"HTTP_X_REQUEST_ID": 'x"}\t{"level":"ERROR'}, None),
        # What django-guid's own UUID check lets through: any number of "urn:" prefixes.
        ({"HTTP_X_REQUEST_ID": "urn:" * 50 + UUID_HEX}, None),
        # The load balancer's header when the client sent no id: its Root, only in its shape.
        ({"HTTP_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT}"}, TRACE_ROOT),
        ({"HTTP_X_AMZN_TRACE_ID": f"Self=1-6789-ab;Root={TRACE_ROOT};Sampled=1"}, TRACE_ROOT),
        ({"HTTP_X_AMZN_TRACE_ID": "Root=1-6789;evil"}, None),
        ({"HTTP_X_AMZN_TRACE_ID": f"Parent={TRACE_ROOT[2:]}"}, None),
        # An id the client sent wins over the load balancer's; a bad one is not replaced by it.
        ({"HTTP_X_REQUEST_ID": UUID_HEX, "HTTP_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT}"}, UUID_HEX),
        ({"HTTP_X_REQUEST_ID": "bad id", "HTTP_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT}"}, None),
        ({}, None),
    ],
)
def test_which_incoming_id_is_accepted(headers, accepted):
    assert incoming_request_id(headers) == accepted


# --- one JSON line per request, with the id the response carries ---


@pytest.mark.django_db
def test_the_returned_id_is_in_the_requests_json_line(log_lines):
    response = Client().get("/accounts/login/?next=/messages/&token=live-secret-token")
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32  # made here: none came in

    lines = log_lines()
    [line] = request_lines(lines)
    assert line["request_id"] == request_id
    assert line["level"] == "INFO"
    assert line["timestamp"].endswith("+00:00")
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["user"] is None
    assert line["path"] == "/accounts/login/"  # without the query string
    assert "live-secret-token" not in json.dumps(lines)
    assert line["sql_queries"] == 0
    assert (line["dynamodb_requests"], line["dynamodb_rcu"], line["dynamodb_wcu"]) == (0, 0, 0)
    assert isinstance(line["duration_ms"], float)


@pytest.mark.django_db
def test_a_valid_incoming_id_is_reused_an_invalid_one_replaced(log_lines):
    client = Client()
    kept = client.get("/accounts/login/", HTTP_X_REQUEST_ID=UUID_HEX)
    too_long = client.get("/accounts/login/", HTTP_X_REQUEST_ID="b" * 200)
    odd = client.get("/accounts/login/", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    from_alb = client.get("/accounts/login/", HTTP_X_AMZN_TRACE_ID=f"Root={TRACE_ROOT}")

    assert kept["X-Request-ID"] == UUID_HEX
    assert from_alb["X-Request-ID"] == TRACE_ROOT
    for replaced in (too_long, odd):
        assert len(replaced["X-Request-ID"]) == 32
        assert replaced["X-Request-ID"] not in (UUID_HEX, "b" * 200)
    logged = [line["request_id"] for line in request_lines(log_lines())]
    answered = [r["X-Request-ID"] for r in (kept, too_long, odd, from_alb)]
    assert logged == answered


@pytest.mark.django_db
def test_the_health_checks_carry_an_id_and_log_no_line(log_lines):
    response = Client().get("/health/live", HTTP_X_REQUEST_ID=UUID_HEX)
    assert response.status_code == 200
    assert response["X-Request-ID"] == UUID_HEX
    assert request_lines(log_lines()) == []


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_line_has_the_id_and_the_user(log_lines, andrew):
    async def visit():
        client = AsyncClient()
        await client.aforce_login(andrew)
        try:
            return await client.get("/accounts/settings/", headers={"X-Request-ID": UUID_HEX})
        finally:  # the connection of asgiref's thread, before the test database goes
            await sync_to_async(connections.close_all)()

    response = on_a_loop_of_its_own(visit())
    assert response.status_code == 200
    assert response["X-Request-ID"] == UUID_HEX
    [line] = request_lines(log_lines())
    assert (line["request_id"], line["user"]) == (UUID_HEX, str(andrew.uuid))
    assert line["sql_queries"] >= 1


async def _event_lines():
    yield "retry: 2000\n\n"
    await asyncio.sleep(3600)  # an open stream, waiting for a change
    yield "data: 1\n\n"


def _open_stream(request_id: str) -> StreamingHttpResponse:
    middleware = RequestCostMiddleware(
        lambda request: StreamingHttpResponse(_event_lines(), content_type="text/event-stream")
    )
    token = guid.set(request_id)  # as django-guid's middleware, outside this one, does
    try:
        return middleware(RequestFactory().get("/messages/events/?token=live-secret"))
    finally:
        guid.reset(token)


def test_a_stream_is_logged_once_when_its_client_leaves(log_lines):
    response = _open_stream(UUID_HEX)

    async def serve_until_the_client_leaves():
        async def send():
            async for _part in response:
                pass

        sending = asyncio.ensure_future(send())
        await asyncio.sleep(0.01)
        assert request_lines(log_lines()) == []  # not while it is open
        sending.cancel()  # as Django's ASGI handler does when the client disconnects
        with contextlib.suppress(asyncio.CancelledError):
            await sending

    on_a_loop_of_its_own(serve_until_the_client_leaves())
    [line] = request_lines(log_lines())
    assert line["stream"] is True
    assert (line["request_id"], line["path"], line["status"]) == (
        UUID_HEX,
        "/messages/events/",
        200,
    )
    response = None  # let go, as the server does
    gc.collect()
    assert len(request_lines(log_lines())) == 1  # once


def test_a_stream_never_started_is_logged_when_let_go(log_lines):
    response = _open_stream(UUID_HEX)
    assert request_lines(log_lines()) == []
    del response  # a client gone before the first line: Django cancels, never iterates
    gc.collect()
    [line] = request_lines(log_lines())
    assert (line["request_id"], line["stream"]) == (UUID_HEX, True)


def test_cost_headers_still_come_with_the_line(settings, log_lines):
    settings.COST_HEADERS = True
    middleware = RequestCostMiddleware(lambda request: HttpResponse("ok"))
    response = middleware(RequestFactory().get("/"))
    assert response["X-DynamoDB-Requests"] == "0"
    assert response["X-SQL-Queries"] == "0"
    assert len(request_lines(log_lines())) == 1


# --- the error pages show it ---


def _fail(*args, **kwargs):
    raise RuntimeError("a bug")


@pytest.mark.django_db
def test_a_500_is_logged_and_its_page_shows_the_id(monkeypatch, log_lines):
    monkeypatch.setattr(cruddur.views, "redirect", _fail)  # "/" now fails
    response = Client(raise_request_exception=False).get("/?token=live-secret-token")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    page = response.content.decode()
    assert f"quote this reference: <code>{request_id}</code>" in page
    assert "Content-Security-Policy" in response  # the strict policy on error pages too

    lines = log_lines()
    [line] = request_lines(lines)
    assert (line["request_id"], line["status"], line["path"]) == (request_id, 500, "/")
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert error["request_id"] == request_id
    assert "RuntimeError: a bug" in error["exc_info"]
    assert "live-secret-token" not in json.dumps(lines)  # not through Django's `request`


@pytest.mark.django_db
def test_the_503_page_shows_the_id(monkeypatch, client, andrew, log_lines):
    def unavailable(**kwargs):
        raise Unavailable("the store is down")

    monkeypatch.setattr(messaging.view_models, "inbox", unavailable)
    client.force_login(andrew)
    response = client.get("/messages/", HTTP_X_REQUEST_ID=UUID_HEX)
    assert response.status_code == 503
    assert f"quote this reference: <code>{UUID_HEX}</code>" in response.content.decode()
    [line] = request_lines(log_lines())
    assert (line["status"], line["user"]) == (503, str(andrew.uuid))


# --- the format, and Sentry, as a process with its own settings starts them ---

_PROCESS = """
import logging, sys, wsgiref.util
import django
django.setup()
from django.urls import path
import cruddur.urls

def fail(request):
    raise RuntimeError("a bug for Sentry")

cruddur.urls.urlpatterns.append(path("fail/", fail))
logging.getLogger("cruddur").info("started")
environ = {"PATH_INFO": "/fail/", "HTTP_X_REQUEST_ID": sys.argv[1]}
wsgiref.util.setup_testing_defaults(environ)
from cruddur.wsgi import application
application(environ, lambda status, headers: print(status, file=sys.stderr))
print(",".join(sorted(name for name in ("sentry_sdk",) if name in sys.modules)))
if "sentry_sdk" in sys.modules:
    import sentry_sdk
    sentry_sdk.flush(5)
"""


def _run(**env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "cruddur.settings",
        **env,
    }
    for name in ("LOG_FORMAT", "SENTRY_DSN"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", _PROCESS, UUID_HEX],
        env=environment,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_json_by_default_with_debug_off_and_no_sentry_without_a_dsn():
    done = _run()
    assert done.stdout.strip() == ""  # sentry_sdk never imported
    started = json.loads(done.stderr.splitlines()[0])
    assert (started["logger"], started["message"], started["request_id"]) == (
        "cruddur",
        "started",
        None,
    )


def test_log_format_text_gives_text():
    done = _run(LOG_FORMAT="text")
    first = done.stderr.splitlines()[0]
    assert first.endswith(" INFO cruddur [None] started")
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


class _FakeSentry(BaseHTTPRequestHandler):
    """Sentry's ingest endpoint, on this machine: keeps each envelope's items."""

    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        for line in body.splitlines()[1:]:  # items' headers and payloads, one JSON a line
            with contextlib.suppress(ValueError):  # an attachment
                self.received.append(json.loads(line))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sentry_gets_the_error_tagged_with_the_request_id():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FakeSentry.received = []
    try:
        done = _run(SENTRY_DSN=f"http://public@127.0.0.1:{server.server_port}/1")
    finally:
        server.shutdown()
        server.server_close()
    assert done.stdout.strip() == "sentry_sdk"
    [event] = [item for item in _FakeSentry.received if item.get("exception")]
    assert event["exception"]["values"][-1]["value"] == "a bug for Sentry"
    assert event["tags"]["request_id"] == UUID_HEX
    assert "cookies" not in event["request"]  # send_default_pii off
