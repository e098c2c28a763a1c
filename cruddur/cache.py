"""The default cache's Redis backend: Django's RedisCache, never a reason for an error page.

A cache only makes pages cheaper, so when Redis cannot be reached this backend answers as an
empty cache would: reads miss, writes are dropped, and the pages fall back to the database and
DynamoDB. The failure is logged, and for `retry_after` seconds the backend does not try Redis
again, so a host that stopped answering costs one timeout, not one per cache call.

A delete that could not be sent is kept and sent before anything else once Redis answers
again: a logout or a rename during an outage must not be undone by the stale entry it was
meant to remove (a session, a name) when Redis comes back. `ping()` is for `/health/`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property
from redis.exceptions import RedisError

logger = logging.getLogger("cruddur.cache")
_NOT_SENT = object()


class _SharedClient(RedisCacheClient):
    """The connection pools of one Redis location, shared by every backend instance of the
    process, with the backend's memory of an outage.

    Django makes a cache backend per thread, and under ASGI per request; each would open its
    own pool (a new connection, per request). One per location and process instead: pools
    and `redis.Redis` clients are thread-safe. Django's client also builds a `redis.Redis`
    for every call (redis-py sets up some 170 response callbacks in each); one per pool here.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self.down_until = 0.0
        self.unsent_deletes: set[tuple[str, int | None]] = set()

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


_shared: dict[str, _SharedClient] = {}
_shared_lock = threading.Lock()


class ResilientRedisCache(RedisCache):
    retry_after = 5.0  # seconds without a try after a failure

    @cached_property
    def _cache(self) -> _SharedClient:
        location = repr((self._servers, sorted(self._options.items())))
        with _shared_lock:
            if location not in _shared:
                _shared[location] = _SharedClient(self._servers, **self._options)
            return _shared[location]

    def ping(self) -> None:
        """Raise (a RedisError) unless Redis answers now."""
        self._cache.get_client(write=True).ping()
        self._cache.down_until = 0.0

    def _guarded(self, fallback: Any, operation, *args, **kwargs) -> Any:
        if time.monotonic() < self._cache.down_until:
            return fallback
        try:
            self._send_unsent_deletes()
            return operation(*args, **kwargs)
        except RedisError as error:
            self._cache.down_until = time.monotonic() + self.retry_after
            logger.warning(
                "cache unavailable, serving without it for %.0f s: %s", self.retry_after, error
            )
            return fallback

    def _send_unsent_deletes(self) -> None:
        unsent = self._cache.unsent_deletes
        for key, version in list(unsent):
            super().delete(key, version)
            unsent.discard((key, version))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(False, super().add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._guarded(default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._guarded(None, super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        deleted = self._guarded(_NOT_SENT, super().delete, key, version)
        if deleted is _NOT_SENT:
            self._cache.unsent_deletes.add((key, version))
            return False
        return deleted

    def delete_many(self, keys, version=None):
        if self._guarded(_NOT_SENT, super().delete_many, keys, version) is _NOT_SENT:
            self._cache.unsent_deletes.update((key, version) for key in keys)

    def incr(self, key, delta=1, version=None):
        value = self._guarded(_NOT_SENT, super().incr, key, delta, version)
        if value is _NOT_SENT:
            raise ValueError(f"Key '{key}' not found.")  # as an empty cache answers
        return value

    def get_many(self, keys, version=None):
        return self._guarded({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._guarded(False, super().has_key, key, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(list(data), super().set_many, data, timeout, version)
