"""The health checks: `/health/live` (the process answers; no I/O), `/health/ready` and its older
name `/health/` (the database, DynamoDB, the cache and the event listener, each with its state;
answered from this process's last check for HEALTH_CACHE_SECONDS)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cruddur import views
from messaging.events import EventsUnavailable, RedisBroker
from messaging.store import get_store
from tests.helpers import fake_response, on_a_loop_of_its_own

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def table(db, moto_endpoint):
    call_command("ddb_schema_load", stdout=io.StringIO())


@pytest.fixture
def dynamodb_requests(on, table):
    """Every request the app's DynamoDB clients send, as it leaves (retries included)."""
    sent = []
    on(get_store(), "before-send.dynamodb", lambda request, **kwargs: sent.append(request))
    return sent


@pytest.fixture
def dynamodb_refusing(on, table):
    """DynamoDB answers every request with an error (as when the task's role lost its
    policy); the requests it refused."""
    refused = []

    def refuse(request, **kwargs):
        refused.append(request)
        return fake_response(
            request,
            400,
            {
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "message": "not authorized to perform: dynamodb:GetItem",
            },
        )

    on.first(get_store(), "before-send.dynamodb", refuse)
    return refused


@pytest.mark.django_db
def test_health_ok_when_database_and_dynamodb_are_up(client, moto_endpoint):
    call_command("ddb_schema_load", stdout=io.StringIO())
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "dynamodb": "ok",
        "cache": "ok",
        "events": "ok",
    }
    assert "no-cache" in response["Cache-Control"]
    assert client.get("/health/ready").json() == response.json()


@pytest.mark.django_db
def test_health_503_when_table_is_missing(client, moto_endpoint):
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["dynamodb"].startswith("unavailable")


@pytest.mark.django_db
def test_health_503_when_dynamodb_is_unreachable(client, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    settings.DEBUG = True
    response = client.get("/health/")
    assert response.status_code == 503
    assert "make run" in response.json()["dynamodb"]


def test_health_503_when_database_is_down():
    # A real unreachable database, in a fresh interpreter: nothing is mocked.
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health/');"
        "print(r.status_code, json.dumps(r.json()))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cruddur.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().partition(" ")
    assert status == "503"
    assert '"status": "unavailable"' in body
    assert '"database": "unavailable' in body


# --- liveness apart from readiness ---


def test_liveness_does_no_io_while_dynamodb_refuses_every_request(client, dynamodb_refusing):
    with CaptureQueriesContext(connection) as queries:
        live = client.get("/health/live")

    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert "no-cache" in live["Cache-Control"]
    assert len(queries) == 0
    assert dynamodb_refusing == []
    assert "sessionid" not in live.cookies and not live.has_header("Vary")

    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["dynamodb"] == "unavailable: AwsError"  # DEBUG off: no details
    assert ready.json()["database"] == "ok"
    assert dynamodb_refusing  # readiness did ask


def test_readiness_reads_an_item_not_the_tables_description(client, dynamodb_requests):
    assert client.get("/health/ready").status_code == 200
    operations = {request.headers["X-Amz-Target"].decode() for request in dynamodb_requests}
    assert operations == {"DynamoDB_20120810.GetItem"}


def test_readiness_is_degraded_while_redis_is_down(client, table, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "cruddur.cache.ResilientRedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }
    settings.REDIS_URL = DEAD_REDIS  # the event broker's

    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert (body["database"], body["dynamodb"]) == ("ok", "ok")
    assert body["cache"].startswith("unavailable")
    assert body["events"].startswith("unavailable")


def test_the_event_listener_is_ready_while_it_listens_though_no_new_connection_can_be_made(
    monkeypatch,
):
    assert django_settings.REDIS_URL, "make test runs with Redis"
    broker = RedisBroker(django_settings.REDIS_URL, "h24-health")
    # From here on a new connection to Redis fails (the PING a broker without a listening
    # subscriber makes); the subscriber connected before goes on listening.
    monkeypatch.setattr(broker, "_publisher", redis.Redis.from_url(DEAD_REDIS, retry=None))

    async def listening():
        subscriber = await broker._subscriber_here()
        broker.check()  # no error: it listens
        return subscriber

    subscriber = on_a_loop_of_its_own(listening())  # its event loop is closed once this returns

    assert not subscriber.listening
    with pytest.raises(EventsUnavailable):
        broker.check()


# --- each process checks at most once per HEALTH_CACHE_SECONDS ---


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings, monkeypatch):
    settings.HEALTH_CACHE_SECONDS = 5
    clock = _Clock()
    monkeypatch.setattr(views.last_readiness, "clock", clock)
    views.last_readiness.forget()
    yield clock
    views.last_readiness.forget()


def test_a_probe_within_the_window_gets_the_last_answer_without_a_call(
    client, clock, dynamodb_requests
):
    def probe():
        dynamodb_requests.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/health/ready")
        assert response.status_code == 200
        return len(dynamodb_requests) + len(queries)

    assert probe() > 0
    clock.now += 4.9
    assert probe() == 0  # within 5 s of the check: the same answer, nothing asked
    clock.now += 0.1
    assert probe() > 0  # the window is over: checked again


def test_a_recovery_shows_once_the_window_is_over(client, clock, on, table):
    refusing = True

    def refuse(request, **kwargs):
        if refusing:
            return fake_response(request, 400, {"__type": "x#AccessDeniedException"})
        return None

    on.first(get_store(), "before-send.dynamodb", refuse)
    assert client.get("/health/").status_code == 503
    refusing = False
    assert client.get("/health/").status_code == 503  # the last answer, for a few seconds
    clock.now += 5
    assert client.get("/health/").status_code == 200
