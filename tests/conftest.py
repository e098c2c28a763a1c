"""Shared fixtures. Tier-specific fixtures live next to the tests that use them."""

import os
import urllib.request

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # PBKDF2 at production strength would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
def _no_real_aws(settings):
    # Unreachable by default (port 1): a test that forgets its fixture fails fast, never
    # talks to AWS or to a developer's running emulator.
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    settings.AWS_DEFAULT_REGION = "us-east-1"
    settings.AWS_COGNITO_USER_POOL_ID = ""
    settings.DDB_MESSAGE_TABLE = "cruddur-messages"


@pytest.fixture(autouse=True)
def _fresh_gateways():
    # Cached clients keep the credentials and handlers they were built with.
    yield
    from messaging.gateway import reset_gateways

    reset_gateways()


@pytest.fixture(scope="session")
def moto_server_url():
    """One moto HTTP server for the session (DynamoDB, Streams and Cognito on one port)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server_url, settings):
    """A wiped moto server for this test, with settings pointing the app at it."""
    request = urllib.request.Request(f"{moto_server_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    settings.AWS_ENDPOINT_URL = moto_server_url
    return moto_server_url


@pytest.fixture
def aws_in_process(settings):
    """moto in-process (no HTTP): boto3 clients made inside see a fresh fake AWS."""
    settings.AWS_ENDPOINT_URL = None
    with mock_aws():
        yield


@pytest.fixture
def fake_gateway(monkeypatch):
    """The in-memory gateway (tests/fakes.py) in place of DynamoDB for this test."""
    from tests.fakes import install

    return install(monkeypatch)
