"""Fixtures shared by every tier: people, settings isolation, the message stores, moto.

Tiers (folders): `unit` runs over the in-memory store and needs neither Postgres nor a
browser (`make test-fast`); `integration` talks to moto (in-process and over HTTP),
Postgres and real threads; `e2e` drives Debian's Chromium against the site served as in
production. moto is the released one, with AWS's isolation of requests only.
"""

import os
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import override_settings
from moto import mock_aws

from cruddur.cache import ResilientRedisCache
from devtools import emulator
from messaging.domain import UserRef
from messaging.dynamo import reset_dynamo_stores
from messaging.memory import reset_memory_stores
from messaging.store import get_store

# Records the DynamoDB calls the app makes and checks them against deploy/messages.yaml's
# policies when the session ends (tests/deploy/dynamodb_calls.py).
pytest_plugins = ["tests.deploy.dynamodb_calls"]

# No test may ever reach real AWS, whatever the developer's shell or .env holds.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
# A developer's .env (read into os.environ by settings) must not steer the tests either.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_COGNITO_USER_POOL_ID"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session", autouse=True)
def _keys_of_this_worker():
    """Under pytest-xdist (`make test` runs two workers) each worker keys its cache entries and
    event channels with a prefix of its own, so that one's `_empty_cache` never deletes the
    other's. Its database is its own already: pytest-django names it after the worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        yield
        return
    prefix = f"{django_settings.CACHE_KEY_PREFIX}-{worker}"
    caches_of_worker = {
        alias: {**config, "KEY_PREFIX": prefix} for alias, config in django_settings.CACHES.items()
    }
    with override_settings(CACHE_KEY_PREFIX=prefix, CACHES=caches_of_worker):
        yield


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # PBKDF2 at production strength would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _readiness_checked_at_each_probe(settings):
    # /health/ready answers from its last check for HEALTH_CACHE_SECONDS (cruddur/views.py);
    # tests change what it checks between probes. tests/integration/test_health.py sets it.
    settings.HEALTH_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _no_real_aws(settings):
    # Unreachable by default (port 1): a test that forgets its fixture fails fast, never
    # talks to AWS or to a developer's running emulator.
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    settings.AWS_DEFAULT_REGION = "us-east-1"
    settings.AWS_COGNITO_USER_POOL_ID = ""
    settings.DDB_MESSAGE_TABLE = "cruddur-messages"
    settings.MESSAGE_STORE = "messaging.dynamo.get_dynamo_store"


@pytest.fixture(autouse=True)
def _fresh_stores():
    # Each test starts from an empty in-memory store and from new clients: cached clients
    # keep the credentials and handlers they were built with.
    reset_stores()
    yield
    reset_stores()


def reset_stores() -> None:
    reset_memory_stores()
    reset_dynamo_stores()


@pytest.fixture(autouse=True)
def _empty_cache():
    # Each test starts from an empty cache: names and sessions of rolled-back rows must not
    # outlive their test. On Redis only this run's keys go (the prefix `make test` picks).
    forget_cached()
    yield
    forget_cached()


def forget_cached() -> None:
    backend = caches["default"]
    if isinstance(backend, ResilientRedisCache):
        backend.delete_every_entry()
    else:
        backend.clear()  # this process's memory


# --- people: SQL users for pages, services and commands; UserRefs for store-level tests ---


@pytest.fixture
def make_user(db, django_user_model):
    """Factory: make_user("londo", display_name=..., password=...)."""

    def make(handle, *, display_name=None, email=None, password="correct-horse-42", **extra):
        return django_user_model.objects.create_user(
            handle,
            email or f"{handle.lower()}@example.com",
            password,
            display_name=display_name or handle.title(),
            **extra,
        )

    return make


@pytest.fixture
def andrew(make_user):
    return make_user("andrewbrown", display_name="Andrew Brown")


@pytest.fixture
def bayko(make_user):
    return make_user("bayko", display_name="Andrew Bayko")


@pytest.fixture
def londo(make_user):
    return make_user("londo", display_name="Londo Mollari")


def _ref(handle: str) -> UserRef:
    return UserRef(uuid=str(uuid.uuid4()), handle=handle, display_name=handle.title())


@pytest.fixture
def andrew_ref():
    return _ref("andrewbrown")


@pytest.fixture
def bayko_ref():
    return _ref("bayko")


@pytest.fixture
def londo_ref():
    return _ref("londo")


# --- message stores ---


@pytest.fixture
def memory_store(settings):
    """The in-memory store (messaging/memory.py) is the app's store for this test."""
    settings.MESSAGE_STORE = "messaging.memory.get_memory_store"
    return get_store()


@pytest.fixture(scope="session", autouse=True)
def _isolated_requests():
    """moto as released, with one DynamoDB request at a time as AWS isolates each request
    (devtools/emulator.py), in-process and over HTTP alike. Not the emulator's speed-ups:
    they patch moto's internals for `make run` and the benchmark, and
    tests/integration/test_emulator.py checks them on their own."""
    emulator.isolate_dynamodb_requests()


@pytest.fixture(scope="session")
def moto_server_url():
    """moto's HTTP server for the session, on a thread (DynamoDB, Streams, Cognito)."""
    server = emulator.ThreadedEmulator("127.0.0.1", 0).start()
    yield server.url
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server_url, settings):
    """A wiped emulator for this test, with settings pointing the app at it."""
    emulator.reset(moto_server_url)
    settings.AWS_ENDPOINT_URL = moto_server_url
    return moto_server_url


@pytest.fixture
def aws_in_process(settings):
    """moto in-process (no HTTP): boto3 clients made inside see a fresh fake AWS."""
    settings.AWS_ENDPOINT_URL = None
    with mock_aws():
        yield


# --- the site under an ASGI server (event streams need one) ---


@pytest.fixture
def asgi_server(transactional_db, settings):
    """The whole site under uvicorn on a thread of this process (as `make run` serves it),
    static files included; its URL. The test's settings and database are the server's."""
    import threading
    import time

    import uvicorn
    from django.core.asgi import get_asgi_application
    from django.db import connections

    from messaging.events import get_broker

    settings.WHITENOISE_USE_FINDERS = True  # static files from the apps, as with DEBUG on
    # The server's own event broker, as a process of its own has: none of an earlier test's
    # streams, which lived on an event loop that is gone.
    get_broker.cache_clear()
    # Each request closes its connection, so none outlives the test in the server's threads.
    database = connections.settings["default"]
    kept_age, database["CONN_MAX_AGE"] = database["CONN_MAX_AGE"], 0
    config = uvicorn.Config(
        get_asgi_application(),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    # As on SIGTERM (messaging/events.py): the open streams end, and the server stops at once.
    get_broker().streams.stop()
    server.should_exit = True
    thread.join(10)
    get_broker.cache_clear()
    database["CONN_MAX_AGE"] = kept_age
