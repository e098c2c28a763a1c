"""The default cache's Redis backend: Django's RedisCache, never a reason for an error page.

A cache only makes pages cheaper, so when Redis cannot be reached this backend answers as an
empty cache would: reads miss, writes are dropped, and the pages fall back to the database and
DynamoDB. The failure is logged (and `cruddur_cache_degraded` is 1 until Redis answers again),
and for `retry_after` seconds the backend does not try Redis again, so a host that stopped
answering costs one timeout, not one per cache call.

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

All of it wraps the cache's public methods; Redis is reached through Django's own client.
What must outlive one backend instance (Django makes one per thread, and under ASGI one per
request) is kept per Redis location and process: the memory of an outage (RedisOutage) and
the connections (SharedConnectionPool, given to Django's client by its documented
`pool_class` option), so that a request under ASGI does not open a connection of its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from . import metrics

logger = logging.getLogger("cruddur.cache")

# Redis cannot be reached, or says it cannot serve for now: while it loads its data (a
# ConnectionError), during a failover (READONLY from a former primary, CLUSTERDOWN, MASTERDOWN,
# TRYAGAIN) or when full (OOM). Answering as an empty cache is right for these, not for a bug.
OUTAGE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.OutOfMemoryError,
)
# The cache's OPTIONS that are Django's own, not redis-py's connection settings.
_DJANGO_OPTIONS = ("pool_class", "parser_class", "serializer")
_NOT_SENT = object()


@dataclass
class RedisOutage:
    """What this process remembers of a Redis location's outage, shared by every backend
    instance on it and by the event publisher (messaging/events.py)."""

    down_until: float = 0.0  # time.monotonic(); not tried before then
    unsent_deletes: set[tuple[str, int | None]] = field(default_factory=set)
    clear_when_back: bool = False  # more deletes than kept: delete every entry instead

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def back_off(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds
        metrics.CACHE_DEGRADED.set(1)

    def answered(self) -> None:
        """Redis answered: an outage behind us is over (one a concurrent call has just met
        stands). `cruddur_cache_degraded` is 1 from a failure until this."""
        if self.down_until and not self.is_down():
            self.down_until = 0.0
            metrics.CACHE_DEGRADED.set(0)


_outages: dict[str, RedisOutage] = {}
_outages_lock = threading.Lock()


def _outage_at(location: str) -> RedisOutage:
    with _outages_lock:
        return _outages.setdefault(location, RedisOutage())


class SharedConnectionPool(redis.ConnectionPool):
    """One redis-py pool per URL and connection options in a process. Django's client makes a
    pool per backend instance, and Django makes a backend per thread and, under ASGI, per
    request: without this, every request would open a connection to Redis (with TLS, a
    handshake). redis-py's pools are thread-safe and start afresh in a forked child."""

    _shared: dict[str, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options) -> redis.ConnectionPool:
        key = f"{url} {sorted(options.items())!r}"
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = super().from_url(url, **options)
            return cls._shared[key]


class ResilientRedisCache(RedisCache):
    retry_after = 5.0  # seconds without a try after a failure
    max_unsent_deletes = 10_000  # (key, version) pairs, some 1 MB

    def __init__(self, server, params):
        super().__init__(server, params)
        self.servers = re.split("[;,]", server) if isinstance(server, str) else list(server)
        self.outage = _outage_at(",".join(self.servers))
        options = params.get("OPTIONS", {})
        self.connection_options = {
            name: value for name, value in options.items() if name not in _DJANGO_OPTIONS
        }

    def ping(self) -> None:
        """Raise (a RedisError) unless Redis answers now."""
        super().has_key("health")  # any command answered will do
        self.outage.down_until = 0.0
        metrics.CACHE_DEGRADED.set(0)

    def _guarded(self, fallback: Any, operation, *args, **kwargs) -> Any:
        if self.outage.is_down():
            return fallback
        try:
            self._send_unsent_deletes()
            answer = operation(*args, **kwargs)
        except OUTAGE_ERRORS as error:
            self.outage.back_off(self.retry_after)
            logger.warning(
                "cache unavailable, serving without it for %.0f s: %s", self.retry_after, error
            )
            return fallback
        self.outage.answered()
        return answer

    def _send_unsent_deletes(self) -> None:
        if self.outage.clear_when_back:
            self.delete_every_entry()
            self.outage.clear_when_back = False
        unsent = self.outage.unsent_deletes
        for key, version in list(unsent):
            super().delete(key, version)
            unsent.discard((key, version))

    def _keep_unsent(self, keys, version) -> None:
        if self.outage.clear_when_back:
            return  # every entry goes anyway
        unsent = self.outage.unsent_deletes
        unsent.update((key, version) for key in keys)
        if len(unsent) > self.max_unsent_deletes:
            logger.error(
                "more than %d cache deletes could not be sent during this outage: every "
                "entry under the prefix %r is deleted when Redis answers again",
                self.max_unsent_deletes,
                self.key_prefix,
            )
            self.outage.clear_when_back = True
            unsent.clear()

    def delete_every_entry(self) -> None:
        """Delete every key of this site (KEY_PREFIX, any version), one key per command: a
        cluster refuses a command on keys of different slots; unlike clear(), which empties
        the whole Redis database. Rare (after a long outage, and between tests), so on a
        connection of its own rather than the cache's."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        with redis.Redis.from_url(self.servers[0], **self.connection_options) as client:
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
    outage = _outage_of(url)
    return outage is not None and outage.is_down()


def note_redis_down(url: str, error: Exception) -> None:
    """The Redis at `url` is out (`error` is one of OUTAGE_ERRORS): the cache, and whoever
    asks `redis_is_down`, does not try it again for `retry_after` seconds."""
    outage = _outage_of(url)
    if outage is not None:
        outage.back_off(ResilientRedisCache.retry_after)
        logger.warning(
            "Redis unreachable, not tried for %.0f s: %s", ResilientRedisCache.retry_after, error
        )


def _outage_of(url: str) -> RedisOutage | None:
    """The default cache's memory of an outage when that cache is this backend on `url`."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, ResilientRedisCache) and url in cache.servers:
        return cache.outage
    return None
