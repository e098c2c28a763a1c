"""Live events: "this conversation changed", pushed to its participants' open pages.

After a send commits, `publish_change` tells each participant which conversation changed and
its new sort key, never the text: a page reacts by fetching what changed through the
permission-checked fragment endpoints (`live_views`), so authorisation and markup stay there.
A reader's other tabs hear of a read the same way (their unread counts change).

Brokers: with `REDIS_URL`, Redis pub/sub, so that a sender on one process reaches a reader on
any other; without it, this process's own (the embedded default: one process). Either way a
server process keeps its open streams in one `_Streams`, at most `EVENT_STREAMS_PER_PERSON`
for one person. With Redis it holds one connection for all of them (`_Subscriber`),
subscribed to the channels of the people who have a stream open in this process and to no
others, and hands each event to that person's streams. A stream that cannot be had (Redis
down) is refused with `EventsUnavailable`, and the page polls instead.

Streams end when the broker goes away and when the server stops (SIGTERM): the browser then
opens its stream again, on another server behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis import exceptions as redis_errors

from cruddur import metrics
from cruddur.cache import OUTAGE_ERRORS, note_redis_down, redis_is_down
from cruddur.errors import ServiceError

logger = logging.getLogger(__name__)

_QUEUE_SIZE = 64  # events a stream may have waiting; a page needs one to know it must look
_CONNECT_SECONDS = 2.0
# The signals a server stops on (uvicorn's, for Ctrl-C and for `kill`, a deploy, a reload).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class EventsUnavailable(ServiceError):
    """No event stream can be had now (the broker is down): poll instead."""


class TooManyStreams(Exception):
    """This person has `EVENT_STREAMS_PER_PERSON` streams open in this process already: the
    page polls instead. (A browser holds one, shared by its tabs; more are other browsers and
    devices, or streams a page left behind.)"""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(
            f"Live updates are on in {limit} of your pages already; "
            "this one checks for new messages by itself instead."
        )


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

    ENDED = None  # put in the queue when the broker went away or the server stops

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
        try:
            self.loop.call_soon_threadsafe(self._put, item)
        except RuntimeError:  # its event loop is closed: no one will read it again
            self.close()

    def _put(self, item: Change | None) -> None:
        # A full queue has events waiting already: the page will look and see this one too.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(item)

    def close(self) -> None:
        self._streams.remove(self)


class _Streams:
    """The streams open in this process, by person. `on_last_closed(user_uuid)` is called
    when a person's last stream here closes (the Redis broker stops listening for them)."""

    def __init__(self, on_last_closed: Callable[[str], None] | None = None):
        self._by_user: dict[str, set[Stream]] = {}
        self._lock = threading.Lock()
        self._on_last_closed = on_last_closed
        self._stopping = False

    def add(self, user_uuid: str) -> Stream:
        """A new stream for this person, or TooManyStreams."""
        _end_streams_when_the_server_stops()
        limit = settings.EVENT_STREAMS_PER_PERSON
        stream = Stream(self, user_uuid)
        with self._lock:
            if len(self._by_user.get(user_uuid, ())) >= limit:
                raise TooManyStreams(limit)
            self._by_user.setdefault(user_uuid, set()).add(stream)
            stopping = self._stopping
        metrics.EVENT_STREAMS.inc()
        if stopping:
            stream.offer(Stream.ENDED)  # opened as the server stops: to another server
        return stream

    def remove(self, stream: Stream) -> None:
        with self._lock:
            open_streams = self._by_user.get(stream.user_uuid, set())
            if stream not in open_streams:
                return
            open_streams.discard(stream)
            last = not open_streams
            if last:
                del self._by_user[stream.user_uuid]
        metrics.EVENT_STREAMS.dec()
        if last and self._on_last_closed:
            self._on_last_closed(stream.user_uuid)

    def has(self, user_uuid: str) -> bool:
        with self._lock:
            return user_uuid in self._by_user

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

    def stop(self) -> None:
        """The server is stopping: end every stream, and those opened from now on at once."""
        with self._lock:
            self._stopping = True
        self.end_all()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._by_user.values())


def _end_streams_when_the_server_stops() -> None:
    """Make the server's stop signals end every stream in this process first.

    On SIGTERM (a deploy, `kill`, a reload) uvicorn stops accepting connections and waits for
    the responses in flight to finish; a stream never finishes by itself, so it would wait
    until it is killed, cutting every stream mid-response. Ended instead, each response
    finishes cleanly, the server exits at once, and each page's EventSource opens its stream
    again (on another server, behind a load balancer).

    The handler goes on top of the server's own (uvicorn's), which it then calls, and only
    from the main thread, where handlers are set: called as each stream opens, since uvicorn
    sets its handlers after importing the application. A signal with no Python handler (the
    default action, which ends the process at once) is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _STOP_SIGNALS:
        server_handler = signal.getsignal(signum)
        if not callable(server_handler) or getattr(server_handler, "ends_streams", False):
            continue

        def handler(signum, frame, server_handler=server_handler):
            # Not here: the signal may have come while this thread holds the streams' lock.
            threading.Thread(target=_stop_every_stream, name="stop-streams").start()
            server_handler(signum, frame)

        handler.ends_streams = True
        signal.signal(signum, handler)


def _stop_every_stream() -> None:
    get_broker().streams.stop()


class LocalBroker:
    """This process only: what `make run` has without Redis."""

    def __init__(self):
        self.streams = _Streams()

    def publish(self, user_uuid: str, change: Change) -> None:
        self.streams.deliver(user_uuid, change)

    async def open_stream(self, user_uuid: str) -> Stream:
        return self.streams.add(user_uuid)

    def check(self) -> None:
        """Always fine: this process's own streams need nothing else (for /health/ready)."""


class RedisBroker:
    """Redis pub/sub: one channel per person, `<CACHE_KEY_PREFIX>:events:<uuid>`.

    Publishing shares the cache's memory of an outage (cruddur/cache.py): while Redis is
    known to be unreachable a send does not pay a connect timeout per participant."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.url = url
        self.prefix = f"{prefix}:events:"
        self.streams = _Streams(on_last_closed=self._unfollow)
        self._publisher = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=None
        )
        self._subscriber: _Subscriber | None = None

    def publish(self, user_uuid: str, change: Change) -> None:
        if redis_is_down(self.url):
            raise EventsUnavailable("Redis is not answering.")
        try:
            self._publisher.publish(self.prefix + user_uuid, change.dumps())
        except OUTAGE_ERRORS as error:
            note_redis_down(self.url, error)
            raise

    async def open_stream(self, user_uuid: str) -> Stream:
        if redis_is_down(self.url):
            raise EventsUnavailable("Redis is not answering.")
        subscriber = await self._subscriber_here()
        stream = self.streams.add(user_uuid)
        followed = False
        try:
            await subscriber.follow(user_uuid)
            followed = True
        except (TimeoutError, redis_errors.RedisError, OSError) as error:
            raise EventsUnavailable("Redis is not answering.") from error
        finally:
            if not followed:
                stream.close()
        return stream

    async def _subscriber_here(self) -> _Subscriber:
        """This event loop's subscriber, connected (one per loop: uvicorn runs one)."""
        loop = asyncio.get_running_loop()
        subscriber = self._subscriber
        if subscriber is None or subscriber.done or subscriber.loop is not loop:
            subscriber = self._subscriber = _Subscriber(self.url, self.prefix, self.streams)
        try:
            await asyncio.wait_for(subscriber.ready.wait(), _CONNECT_SECONDS)
        except TimeoutError:
            raise EventsUnavailable("Redis is not answering.") from None
        if not subscriber.connected:
            raise EventsUnavailable("Redis is not answering.")
        return subscriber

    def check(self) -> None:
        """Raise EventsUnavailable unless this process can have event streams now (for
        /health/ready): its subscriber is listening, or, with none (no stream opened here yet,
        as on the servers of pages) or one that lost Redis, Redis answers a PING, so the next
        stream connects one. Not the outage memory: a recovery must show at once."""
        subscriber = self._subscriber
        if subscriber is not None and subscriber.listening:
            return
        try:
            self._publisher.ping()
        except (redis_errors.RedisError, OSError) as error:
            raise EventsUnavailable(f"Redis is not answering: {error}") from error

    def _unfollow(self, user_uuid: str) -> None:
        subscriber = self._subscriber
        if subscriber is not None and not subscriber.done:
            subscriber.unfollow_soon(user_uuid)


class _Subscriber:
    """One Redis connection on one event loop, subscribed to the channels of the people with
    a stream open in this process, so that it receives their events and no one else's.

    A person's channel is subscribed when their first stream opens here (`follow`, which
    returns once Redis confirmed it) and unsubscribed when their last one closes. One change
    of subscriptions at a time, each deciding from the streams open at that moment, so a
    stream that closes as another opens leaves the channel subscribed. When Redis goes away
    every stream ends (the pages reconnect, or poll while Redis is away)."""

    def __init__(self, url: str, prefix: str, streams: _Streams):
        import redis.asyncio as aioredis

        self.loop = asyncio.get_running_loop()
        self.prefix = prefix
        self.streams = streams
        self.ready = asyncio.Event()  # set once it knows whether it connected
        self.connected = False
        self._client = aioredis.Redis.from_url(url, socket_connect_timeout=1, retry=None)
        self._pubsub = self._client.pubsub()
        self._following: set[str] = set()  # the people whose channel is subscribed
        self._changing = asyncio.Lock()
        self._confirmations: dict[str, asyncio.Event] = {}  # by channel
        self._unfollowing: set[asyncio.Task] = set()
        self._task = self.loop.create_task(self._listen())

    @property
    def done(self) -> bool:
        return self._task.done()

    @property
    def listening(self) -> bool:
        """Connected and reading, on a loop still running (read from any thread)."""
        return self.connected and not self.done and not self.loop.is_closed()

    async def follow(self, user_uuid: str) -> None:
        """Receive this person's events (once Redis confirmed the subscription)."""
        async with self._changing:
            if not self.connected:
                raise EventsUnavailable("Redis is not answering.")
            if user_uuid in self._following:
                return
            channel = self.prefix + user_uuid
            confirmed = self._confirmations[channel] = asyncio.Event()
            try:
                await self._pubsub.subscribe(channel)
                # Sent: unsubscribed when their streams close, even if unconfirmed.
                self._following.add(user_uuid)
                await asyncio.wait_for(confirmed.wait(), _CONNECT_SECONDS)
            finally:
                self._confirmations.pop(channel, None)
            if not self.connected:
                raise EventsUnavailable("Redis is not answering.")

    def unfollow_soon(self, user_uuid: str) -> None:
        """From any thread: stop receiving this person's events unless a stream of theirs is
        open by then."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: so is the connection
            self.loop.call_soon_threadsafe(self._start_unfollowing, user_uuid)

    def _start_unfollowing(self, user_uuid: str) -> None:
        task = self.loop.create_task(self._unfollow(user_uuid))
        self._unfollowing.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._unfollowing.discard)

    async def _unfollow(self, user_uuid: str) -> None:
        async with self._changing:
            if user_uuid not in self._following or self.streams.has(user_uuid):
                return
            try:
                await self._pubsub.unsubscribe(self.prefix + user_uuid)
            except (redis_errors.RedisError, OSError) as error:
                # The connection is going: the listener sees it and ends every stream.
                logger.info("could not unsubscribe from %s: %s", user_uuid, error)
                return
            self._following.discard(user_uuid)

    async def _listen(self) -> None:
        """Read what Redis sends on the connection: confirmations and events."""
        try:
            await self._pubsub.connect()
            self.connected = True
            self.ready.set()
            while True:
                message = await self._pubsub.get_message(timeout=None)  # wait for one
                if message is not None:
                    self._receive(message)
        except (redis_errors.RedisError, OSError) as error:
            logger.warning("event streams lost Redis: %s", error)
        finally:
            self.connected = False
            self.ready.set()  # wake anyone waiting: they see it did not connect
            for confirmed in self._confirmations.values():
                confirmed.set()
            self.streams.end_all()  # the pages reconnect, or poll while Redis is away
            await self._pubsub.aclose()
            await self._client.aclose()

    def _receive(self, message: dict) -> None:
        channel = message["channel"].decode()
        if message["type"] == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            try:
                change = Change.loads(message["data"])
            except (ValueError, KeyError, TypeError):
                logger.warning("ignored a malformed event on %s", channel)
                return
            self.streams.deliver(channel.removeprefix(self.prefix), change)


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
            metrics.PUBLISH_FAILURES.inc()
            logger.warning("could not publish a change to %s: %s", user_uuid, error)
        else:
            metrics.EVENTS_PUBLISHED.inc()
