"""Fixtures for the gateway tests: a gateway over in-process moto, one over moto's HTTP server."""

import uuid

import pytest
from moto.dynamodb.responses import DynamoHandler

from management.emulator import isolated
from messaging.gateway import UserRef, get_gateway, reset_gateways


@pytest.fixture(autouse=True, scope="module")
def _fresh_gateways():
    # get_gateway() caches clients across tests (same settings, same client); start each
    # module from none so nothing registered elsewhere reaches these tests.
    reset_gateways()
    yield
    reset_gateways()


class _Handlers:
    """Register botocore event handlers on a gateway's client for one test only."""

    def __init__(self):
        self.registered = []

    def __call__(self, gateway, event, handler):
        gateway.client.meta.events.register(event, handler)
        self.registered.append((gateway.client.meta.events, event, handler))

    def first(self, gateway, event, handler):
        """Before every other handler: a `before-send` that answers instead of moto."""
        gateway.client.meta.events.register_first(event, handler)
        self.registered.append((gateway.client.meta.events, event, handler))


@pytest.fixture
def on():
    """`on(gateway, event, handler)`: a handler on the (cached) client, removed after the test."""
    handlers = _Handlers()
    yield handlers
    for events, event, handler in handlers.registered:
        events.unregister(event, handler)


@pytest.fixture
def gateway(aws_in_process):
    """The gateway over in-process moto, with the table created."""
    gateway = get_gateway()
    gateway.create_schema()
    return gateway


@pytest.fixture
def isolated_moto_dynamodb(monkeypatch):
    """Serialise moto's DynamoDB requests, as AWS isolates each request.

    moto's server runs requests on threads without a lock, and its TransactWriteItems checks
    conditions and writes item by item: two concurrent transactions can both pass their
    conditions (measured: duplicate inbox rows). AWS isolates transactions, so this makes moto
    behave like it. Races *between* requests, the ones the gateway must handle, stay.
    """
    monkeypatch.setattr(DynamoHandler, "call_action", isolated(DynamoHandler.call_action))


@pytest.fixture
def server_gateway(moto_endpoint, isolated_moto_dynamodb):
    """The gateway over moto's HTTP server (real sockets, real threads), table created."""
    gateway = get_gateway()
    gateway.create_schema()
    return gateway


def _user(handle: str) -> UserRef:
    return UserRef(uuid=str(uuid.uuid4()), handle=handle, display_name=handle.title())


@pytest.fixture
def andrew():
    return _user("andrewbrown")


@pytest.fixture
def bayko():
    return _user("bayko")


@pytest.fixture
def londo():
    return _user("londo")
