"""Fixtures for the integration tier: the DynamoDB store over in-process moto, and over
moto's HTTP server with real sockets and real threads."""

import pytest
from moto.dynamodb.responses import DynamoHandler

from management.emulator import isolated
from messaging.dynamo import get_dynamo_store, schema


class _Handlers:
    """Register botocore event handlers on a store's client for one test only."""

    def __init__(self):
        self.registered = []

    def __call__(self, store, event, handler):
        store.table.client.meta.events.register(event, handler)
        self.registered.append((store.table.client.meta.events, event, handler))

    def first(self, store, event, handler):
        """Before every other handler: a `before-send` that answers instead of moto."""
        store.table.client.meta.events.register_first(event, handler)
        self.registered.append((store.table.client.meta.events, event, handler))


@pytest.fixture
def on():
    """`on(store, event, handler)`: a handler on the (cached) client, removed after the test."""
    handlers = _Handlers()
    yield handlers
    for events, event, handler in handlers.registered:
        events.unregister(event, handler)


@pytest.fixture
def store(aws_in_process):
    """The DynamoDB store over in-process moto, with the table created."""
    store = get_dynamo_store()
    schema.create(store.table)
    return store


@pytest.fixture
def isolated_moto_dynamodb(monkeypatch):
    """Serialise moto's DynamoDB requests, as AWS isolates each request.

    moto's server runs requests on threads without a lock, and its TransactWriteItems checks
    conditions and writes item by item: two concurrent transactions can both pass their
    conditions (measured: duplicate inbox entries). AWS isolates transactions, so this makes
    moto behave like it. Races *between* requests, the ones the store must handle, stay.
    """
    monkeypatch.setattr(DynamoHandler, "call_action", isolated(DynamoHandler.call_action))


@pytest.fixture
def server_store(moto_endpoint, isolated_moto_dynamodb):
    """The DynamoDB store over moto's HTTP server, table created."""
    store = get_dynamo_store()
    schema.create(store.table)
    return store
