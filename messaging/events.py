"""Live events: "this conversation changed", pushed to its participants' open pages.

After a send commits, `publish_change` tells each participant which conversation changed and
its new sort key, never the text: a page reacts by fetching what changed through the
permission-checked fragment endpoints (`live_views`), so authorisation and markup stay there.
A reader's other tabs hear of a read the same way (their unread counts change).

Brokers: with `REDIS_URL`, Redis pub/sub, so that a sender on one process reaches a reader on
any other; without it, this process's own (the embedded default: one process). Either way a
server process keeps its open streams in one `_Streams`; with Redis it holds one connection
for all of them, subscribed to the pattern of every person's channel, and hands each event to
the streams open for that person. A stream that cannot be had (Redis down) is refused with
`EventsUnavailable`, and the page polls instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from cruddur.errors import ServiceError

logger = logging.getLogger(__name__)

_QUEUE_SIZE = 64  # events a stream may have waiting; a page needs one to know it must look
_CONNECT_SECONDS = 2.0


class EventsUnavailable(ServiceError):
    """No event stream can be had now (the broker is down): poll instead."""


@dataclass(frozen=True)
class Change:
    conversation_uuid: str
    sort_key: str

    def dumps(self) -> str:
        return json.dumps(
            {"conversation": self.conversation_uuid, "sort_key": self.sort_key},
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, data: str | bytes) -> Change:
        fields = json.loads(data)
        return cls(str(fields["conversation"]), str(fields["sort_key"]))


class Stream:
    """One open event stream of one person in this process."""

    ENDED = None  # put in the queue when the broker went away: the stream ends

    def __init__(self, streams: _Streams, user_uuid: str):
        self.user_uuid = user_uuid
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(_QUEUE_SIZE)
        self._streams = streams

    async def next(self, timeout: float) -> Change | None | bool:
        """The next change; False when `timeout` passed with none; None when the stream ended."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return False

    def offer(self, item: Change | None) -> None:
        """From any thread: hand this stream an item (dropped if it has plenty waiting)."""
        self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: Change | None) -> None:
        # A full queue has events waiting already: the page will look and see this one too.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(item)

    def close(self) -> None:
        self._streams.remove(self)


class _Streams:
    """The streams open in this process, by person."""

    def __init__(self):
        self._by_user: dict[str, set[Stream]] = {}
        self._lock = threading.Lock()

    def add(self, user_uuid: str) -> Stream:
        stream = Stream(self, user_uuid)
        with self._lock:
            self._by_user.setdefault(user_uuid, set()).add(stream)
        return stream

    def remove(self, stream: Stream) -> None:
        with self._lock:
            open_streams = self._by_user.get(stream.user_uuid, set())
            open_streams.discard(stream)
            if not open_streams:
                self._by_user.pop(stream.user_uuid, None)

    def deliver(self, user_uuid: str, change: Change) -> None:
        with self._lock:
            streams = list(self._by_user.get(user_uuid, ()))
        for stream in streams:
            stream.offer(change)

    def end_all(self) -> None:
        with self._lock:
            streams = [stream for group in self._by_user.values() for stream in group]
        for stream in streams:
            stream.offer(Stream.ENDED)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._by_user.values())


class LocalBroker:
    """This process only: what `make run` has without Redis."""

    def __init__(self):
        self.streams = _Streams()

    def publish(self, user_uuid: str, change: Change) -> None:
        self.streams.deliver(user_uuid, change)

    async def open_stream(self, user_uuid: str) -> Stream:
        return self.streams.add(user_uuid)


class RedisBroker:
    """Redis pub/sub: one channel per person, `<CACHE_KEY_PREFIX>:events:<uuid>`."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.url = url
        self.prefix = f"{prefix}:events:"
        self.streams = _Streams()
        self._publisher = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=None
        )
        self._listener: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None  # set once the listener knows how it went
        self._connected = False

    def publish(self, user_uuid: str, change: Change) -> None:
        self._publisher.publish(self.prefix + user_uuid, change.dumps())

    async def open_stream(self, user_uuid: str) -> Stream:
        loop = asyncio.get_running_loop()
        listener = self._listener
        if listener is None or listener.done() or listener.get_loop() is not loop:
            self._ready = asyncio.Event()
            self._listener = loop.create_task(self._listen(self._ready))
        try:
            await asyncio.wait_for(self._ready.wait(), _CONNECT_SECONDS)
        except TimeoutError:
            raise EventsUnavailable("Redis is not answering.") from None
        if not self._connected:
            raise EventsUnavailable("Redis is not answering.")
        return self.streams.add(user_uuid)

    async def _listen(self, ready: asyncio.Event) -> None:
        """Receive every person's events and hand them to the streams open here."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1, retry=None)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe(self.prefix + "*")
                self._connected = True
                ready.set()
                async for message in pubsub.listen():
                    if message["type"] != "pmessage":
                        continue
                    user_uuid = message["channel"].decode().removeprefix(self.prefix)
                    try:
                        change = Change.loads(message["data"])
                    except (ValueError, KeyError, TypeError):
                        logger.warning("ignored a malformed event on %s", message["channel"])
                        continue
                    self.streams.deliver(user_uuid, change)
        except (RedisError, OSError) as error:
            logger.warning("event streams lost Redis: %s", error)
        finally:
            self._connected = False
            ready.set()  # wake anyone waiting: they see it did not connect
            self.streams.end_all()  # the pages reconnect, or poll while Redis is away
            await client.aclose()


@cache
def get_broker() -> LocalBroker | RedisBroker:
    if settings.REDIS_URL:
        return RedisBroker(settings.REDIS_URL, settings.CACHE_KEY_PREFIX)
    return LocalBroker()


@receiver(setting_changed)
def _forget_broker(setting, **kwargs) -> None:
    if setting in {"REDIS_URL", "CACHE_KEY_PREFIX"}:
        get_broker.cache_clear()


def publish_change(user_uuids: Iterable[str], change: Change) -> None:
    """Tell these people's open pages that a conversation changed. Never raises: the change
    is already stored, and a page that missed the event sees it on its next look."""
    broker = get_broker()
    for user_uuid in user_uuids:
        try:
            broker.publish(user_uuid, change)
        except Exception as error:  # noqa: BLE001 (any broker failure: log, never fail a send)
            logger.warning("could not publish a change to %s: %s", user_uuid, error)
