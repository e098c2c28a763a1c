"""Fixtures for the integration tier: the DynamoDB store over in-process moto, and over
the emulator's HTTP server with real sockets and real threads."""

import pytest

from messaging.dynamo import get_dynamo_store, schema


class _Handlers:
    """Register botocore event handlers on a store's clients for one test only: both of them,
    the one for sends and jobs and the interactive one for reads and mark-read."""

    def __init__(self):
        self.registered = []

    def __call__(self, store, event, handler):
        for events in _events(store):
            events.register(event, handler)
            self.registered.append((events, event, handler))

    def first(self, store, event, handler):
        """Before every other handler: a `before-send` that answers instead of moto."""
        for events in _events(store):
            events.register_first(event, handler)
            self.registered.append((events, event, handler))


def _events(store):
    clients = {id(table.client): table.client for table in (store.table, store.interactive)}
    return [client.meta.events for client in clients.values()]


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
def server_store(moto_endpoint):
    """The DynamoDB store over the emulator's HTTP server, table created. Each request is
    isolated, as on AWS (devtools/emulator.py); races between requests remain."""
    store = get_dynamo_store()
    schema.create(store.table)
    return store
