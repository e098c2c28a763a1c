"""Fixtures shared by every tier: people, settings isolation, the message stores, moto.

Tiers (folders): `unit` runs over the in-memory store and needs neither Postgres nor a
browser (`make test-fast`); `integration` talks to moto (in-process and over HTTP),
Postgres and real threads; `e2e` drives Debian's Chromium against a live server.
"""

import os
import uuid

import pytest
from django.core.cache import cache
from moto import mock_aws

from devtools import emulator
from messaging.domain import UserRef
from messaging.dynamo import reset_dynamo_stores
from messaging.memory import reset_memory_stores
from messaging.store import get_store

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


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # PBKDF2 at production strength would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
    client = getattr(cache, "_cache", None)
    if client is None or not hasattr(client, "get_client"):
        cache.clear()  # this process's memory
        return
    redis = client.get_client(write=True)
    for key in redis.scan_iter(match=f"{cache.key_prefix}:*", count=1000):
        redis.delete(key)


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
def _emulator_patches():
    """moto as `make run` runs it (devtools/emulator.py), for the whole session: requests
    isolated, and the speed-ups. They patch moto's classes, so in-process `mock_aws` tests
    get them as well as the server: one moto for every test, answering as stock moto does
    (tests/integration/test_emulator.py compares the two)."""
    emulator.install()


@pytest.fixture(scope="session")
def moto_server_url(_emulator_patches):
    """The emulator's HTTP server for the session, on a thread (DynamoDB, Streams, Cognito)."""
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

    settings.WHITENOISE_USE_FINDERS = True  # static files from the apps, as with DEBUG on
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
    server.should_exit = True
    thread.join(10)
    database["CONN_MAX_AGE"] = kept_age
