"""Settings and the factory: the table client and the store, built lazily and cached.

Settings come from Django (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`, `DDB_MESSAGE_TABLE`,
`AWS_MAX_ATTEMPTS`) or, when no Django project is configured (the Lambda), from the
environment variables of the same names. Clients are never built at import time: moto must
start before one is made.

Each store gets two clients of the same table, differing only in their retry budget
(cruddur/aws.py): `AWS_MAX_ATTEMPTS` for sends, jobs and administration, and the interactive
budget for the reads and mark-reads that pages and live polls wait on.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import boto3

from cruddur import aws

from .store import DynamoStore
from .table import Table

# Short timeouts: a page waits a few seconds at most before showing "DynamoDB unavailable".
_CONNECT_TIMEOUT = 2
_READ_TIMEOUT = 5
_POOL_CONNECTIONS = 50


@dataclass(frozen=True)
class AwsSettings:
    endpoint_url: str | None
    region: str
    table_name: str
    max_attempts: int


def read_settings() -> AwsSettings:
    """Django settings, or the environment when no Django project is configured (Lambda)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return _settings_from_environ()
    try:
        return AwsSettings(
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
            region=settings.AWS_DEFAULT_REGION,
            table_name=settings.DDB_MESSAGE_TABLE,
            max_attempts=int(settings.AWS_MAX_ATTEMPTS),
        )
    except ImproperlyConfigured:
        return _settings_from_environ()


def _settings_from_environ() -> AwsSettings:
    environ = os.environ
    return AwsSettings(
        endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
        region=environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION") or aws.DEFAULT_REGION,
        table_name=environ.get("DDB_MESSAGE_TABLE") or aws.DEFAULT_MESSAGE_TABLE,
        max_attempts=int(environ.get("AWS_MAX_ATTEMPTS") or aws.DEFAULT_MAX_ATTEMPTS),
    )


_stores: dict[tuple[object, ...], DynamoStore] = {}
_stores_lock = threading.Lock()


def get_dynamo_store(*, prod: bool = False) -> DynamoStore:
    """The store over the configured table (prod=True ignores AWS_ENDPOINT_URL)."""
    config = read_settings()
    endpoint_url = None if prod else config.endpoint_url
    key = (prod, endpoint_url, config.region, config.table_name, config.max_attempts)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            # boto3 sessions are not thread-safe (clients are): a new one, under the lock. A
            # new session also reads credentials afresh.
            session = boto3.session.Session()
            quick = aws.interactive_attempts(config.max_attempts)
            store = _stores[key] = DynamoStore(
                Table(
                    client=_client(session, config, endpoint_url, config.max_attempts),
                    name=config.table_name,
                ),
                interactive=Table(
                    client=_client(session, config, endpoint_url, quick),
                    name=config.table_name,
                    write_attempts=quick,
                ),
            )
    return store


def _client(session, config: AwsSettings, endpoint_url: str | None, max_attempts: int):
    # Both clients of a store from one session: the second one reuses the loaded model.
    return session.client(
        "dynamodb",
        **aws.client_kwargs(
            endpoint_url=endpoint_url,
            region=config.region,
            max_attempts=max_attempts,
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
            max_pool_connections=_POOL_CONNECTIONS,
        ),
    )


def get_table(*, prod: bool = False) -> Table:
    """The table client, for schema administration and jobs."""
    return get_dynamo_store(prod=prod).table


def reset_dynamo_stores() -> None:
    """Forget every cached store (tests: handlers registered on a client must not leak)."""
    with _stores_lock:
        _stores.clear()
