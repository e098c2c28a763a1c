"""The default cache's Redis backend: Django's RedisCache, never a reason for an error page.

A cache only makes pages cheaper, so when Redis cannot be reached this backend answers as an
empty cache would: reads miss, writes are dropped, and the pages fall back to the database and
DynamoDB. The failure is logged, and for `retry_after` seconds the backend does not try Redis
again, so a host that stopped answering costs one timeout, not one per cache call.

Only a Redis that cannot be reached, or that says it cannot serve for now (OUTAGE_ERRORS), is an
outage. Any other RedisError (WRONGTYPE, CROSSSLOT, a syntax error) is a command this project
got wrong: it is raised as it is, a 500 with its traceback in the log like any other bug, and
the cache goes on using Redis. Callers such as cruddur/limits.py do not catch it either: a
bug must show, not quietly turn a limit off.

A delete that could not be sent is kept and sent before anything else once Redis answers
again: a logout or a rename during an outage must not be undone by the stale entry it was
meant to remove (a session, a name) when Redis comes back. At most `max_unsent_deletes` are
kept per process; past that, instead of dropping some (a dropped session delete would log
someone back in), every entry under this site's KEY_PREFIX is deleted when Redis answers
again: the cache only makes pages cheaper, sessions live on in the database, the limits'
counters merely start again, and an outage with that many deletes is rare. `ping()` is for
`/health/`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property
from redis import exceptions as redis_errors

logger = logging.getLogger("cruddur.cache")

# Redis cannot be reached, or says it cannot serve for now: while it loads its data (a
# ConnectionError), during a failover (READONLY from a former primary, CLUSTERDOWN, MASTERDOWN,
# TRYAGAIN) or when full (OOM). Answering as an empty cache is right for these, not for a bug.
OUTAGE_ERRORS = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.OutOfMemoryError,
)
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
        self.clear_when_back = False  # more deletes than kept: delete every entry instead

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
    max_unsent_deletes = 10_000  # (key, version) pairs, some 1 MB

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
        except OUTAGE_ERRORS as error:
            self._cache.down_until = time.monotonic() + self.retry_after
            logger.warning(
                "cache unavailable, serving without it for %.0f s: %s", self.retry_after, error
            )
            return fallback

    def _send_unsent_deletes(self) -> None:
        if self._cache.clear_when_back:
            self._delete_every_entry()
            self._cache.clear_when_back = False
        unsent = self._cache.unsent_deletes
        for key, version in list(unsent):
            super().delete(key, version)
            unsent.discard((key, version))

    def _keep_unsent(self, keys, version) -> None:
        if self._cache.clear_when_back:
            return  # every entry goes anyway
        unsent = self._cache.unsent_deletes
        unsent.update((key, version) for key in keys)
        if len(unsent) > self.max_unsent_deletes:
            logger.error(
                "more than %d cache deletes could not be sent during this outage: every "
                "entry under the prefix %r is deleted when Redis answers again",
                self.max_unsent_deletes,
                self.key_prefix,
            )
            self._cache.clear_when_back = True
            unsent.clear()

    def _delete_every_entry(self) -> None:
        """Delete every key of this site (KEY_PREFIX, any version), one key per command: a
        cluster refuses a command on keys of different slots."""
        client = self._cache.get_client(write=True)
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        pipeline = client.pipeline(transaction=False)
        for key in client.scan_iter(match=pattern, count=1000):
            pipeline.delete(key)
            if len(pipeline) == 500:
                pipeline.execute()
        pipeline.execute()

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
            self._keep_unsent([key], version)
            return False
        return deleted

    def delete_many(self, keys, version=None):
        if self._guarded(_NOT_SENT, super().delete_many, keys, version) is _NOT_SENT:
            self._keep_unsent(keys, version)

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


# Other users of the cache's Redis (event publishing, messaging/events.py) share its memory of
# an outage: while the cache backs off, so do they, and an outage they meet (OUTAGE_ERRORS,
# never a command Redis refused) makes the cache back off too.


def redis_is_down(url: str) -> bool:
    """Whether the cache is backing off from the Redis at `url` after a failure to reach it."""
    shared = _shared_client_of(url)
    return shared is not None and time.monotonic() < shared.down_until


def note_redis_down(url: str, error: Exception) -> None:
    """The Redis at `url` is out (`error` is one of OUTAGE_ERRORS): the cache, and whoever
    asks `redis_is_down`, does not try it again for `retry_after` seconds."""
    shared = _shared_client_of(url)
    if shared is not None:
        shared.down_until = time.monotonic() + ResilientRedisCache.retry_after
        logger.warning(
            "Redis unreachable, not tried for %.0f s: %s", ResilientRedisCache.retry_after, error
        )


def _shared_client_of(url: str) -> _SharedClient | None:
    """The default cache's shared client when that cache is this backend on `url`."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, ResilientRedisCache) and url in cache._servers:
        return cache._cache
    return None
