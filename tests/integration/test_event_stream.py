"""The event stream under a real ASGI server (uvicorn), with real Redis: what a page hears."""

import asyncio
import http.client
import json
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import redis.asyncio
from django.conf import settings as django_settings
from django.test import Client

from messaging import event_views, services
from messaging.events import Change, RedisBroker
from tests.helpers import on_a_loop_of_its_own, ref
from tests.integration.test_cache import RedisServer
from tests.servers import ServerProcess, server_env

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


class EventStream:
    """A signed-in person's `/messages/events/`, read line by line as a browser would."""

    def __init__(self, server_url: str, user, *, client: Client | None = None):
        if client is None:
            client = Client()
            client.force_login(user)
        address = urlsplit(server_url)
        self.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
        self.connection.request(
            "GET",
            "/messages/events/",
            headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        )
        self.response = self.connection.getresponse()

    def next_event(self, timeout: float = 5.0) -> dict[str, str] | None:
        """The next event's fields (comments skipped); None if the stream ended."""
        self.connection.sock.settimeout(timeout)
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                return None
            line = line.rstrip("\n")
            if not line:
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value

    def heartbeat(self, timeout: float = 5.0) -> None:
        """Read up to the next heartbeat (sent after each check that the session holds)."""
        self.connection.sock.settimeout(timeout)
        while (line := self.response.readline().decode()) != ": heartbeat\n":
            assert line, "the stream ended"

    def opened(self) -> int:
        """Read the stream's first event, which only says how long the browser should wait
        before it opens a lost stream again (milliseconds); that wait."""
        event = self.next_event()
        assert event is not None and set(event) == {"retry"}, event
        return int(event["retry"])

    def close(self):
        self.connection.close()


@pytest.fixture
def conversation(memory_store, andrew, bayko):
    conversation_uuid, _ = memory_store.create_conversation(
        sender=ref(andrew), recipient=ref(bayko), text="hi"
    )
    return conversation_uuid


def test_a_send_reaches_the_other_person_s_open_stream(asgi_server, andrew, bayko, conversation):
    stream = EventStream(asgi_server, andrew)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        assert 2_000 <= stream.opened() <= 8_000

        message = services.send_message(sender=bayko, conversation_uuid=conversation, text="yo")

        event = stream.next_event()
        assert event["event"] == "change"
        assert event["id"] == message.sort_key
        assert json.loads(event["data"]) == {
            "conversation": conversation,
            "sort_key": message.sort_key,
        }
        assert "yo" not in event["data"]  # never the text
    finally:
        stream.close()


def test_an_event_published_by_another_process_reaches_the_stream(asgi_server, andrew):
    assert django_settings.REDIS_URL, "make test runs with Redis"
    stream = EventStream(asgi_server, andrew)
    try:
        stream.opened()
        publish = (
            "from messaging.events import Change, RedisBroker;"
            f"RedisBroker({django_settings.REDIS_URL!r}, {django_settings.CACHE_KEY_PREFIX!r})"
            f".publish({str(andrew.uuid)!r}, Change('c-1', 's-1'))"
        )
        subprocess.run([sys.executable, "-c", publish], cwd=ROOT, check=True, timeout=30)

        event = stream.next_event()  # within its read timeout, or the test fails
        assert json.loads(event["data"]) == {"conversation": "c-1", "sort_key": "s-1"}
    finally:
        stream.close()


def test_redis_down_refuses_the_stream_so_the_page_polls(asgi_server, settings, andrew):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    stream = EventStream(asgi_server, andrew)
    try:
        assert stream.response.status == 503
        assert stream.response.getheader("Retry-After") == "30"
    finally:
        stream.close()


def test_redis_stopping_ends_the_stream(asgi_server, settings, tmp_path, andrew):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    settings.REDIS_URL = redis_server.url
    stream = EventStream(asgi_server, andrew)
    try:
        stream.opened()
        redis_server.stop()
        assert stream.next_event(timeout=10) is None  # ended: the browser reconnects or polls
    finally:
        stream.close()
        if redis_server.process.poll() is None:
            redis_server.stop()


def test_signed_out_streams_are_refused(asgi_server):
    address = urlsplit(asgi_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    connection.request("GET", "/messages/events/")
    assert connection.getresponse().status == 403


def test_open_streams_hold_no_database_connection(asgi_server, settings, andrew):
    # More streams than the database pool has connections (DATABASE_POOL_SIZE, 10): a stream
    # that kept its connection would leave the eleventh waiting, then failing.
    settings.EVENT_STREAMS_PER_PERSON = 12  # one person's here, for simplicity
    streams = [EventStream(asgi_server, andrew) for _ in range(12)]
    try:
        assert [stream.response.status for stream in streams] == [200] * 12
        for stream in streams:
            stream.opened()
    finally:
        for stream in streams:
            stream.close()


def test_each_stream_asks_for_its_own_reconnect_delay(asgi_server, andrew):
    # After a deploy every page reconnects: spread over seconds, not all in the same instant.
    streams = [EventStream(asgi_server, andrew) for _ in range(5)]
    try:
        delays = [stream.opened() for stream in streams]
        assert all(2_000 <= delay <= 8_000 for delay in delays), delays
        assert len(set(delays)) > 1, delays
    finally:
        for stream in streams:
            stream.close()


def log_out(client, user):
    assert client.post("/accounts/logout/").status_code == 302


def change_password_elsewhere(client, user):
    user.set_password("a new password, set from another browser")
    user.save()


def delete_the_account(client, user):
    from users.services import delete_account

    delete_account(user)


@pytest.mark.parametrize("end_session", [log_out, change_password_elsewhere, delete_the_account])
def test_a_stream_ends_when_its_session_does(asgi_server, monkeypatch, andrew, end_session):
    monkeypatch.setattr(event_views, "HEARTBEAT_SECONDS", 0.2)  # 15 s in production
    client = Client()
    client.force_login(andrew)
    stream = EventStream(asgi_server, andrew, client=client)
    try:
        stream.opened()
        stream.heartbeat()  # a check passed: the session still holds
        end_session(client, andrew)
        assert stream.next_event(timeout=10) == {"event": "signed-out", "data": "{}"}
        assert stream.next_event() is None  # ended; the page reloads to the login page
    finally:
        stream.close()


def test_checking_a_session_signed_with_a_retired_secret_key_keeps_it(
    asgi_server, settings, monkeypatch, andrew
):
    monkeypatch.setattr(event_views, "HEARTBEAT_SECONDS", 0.2)
    checks = []  # the secret key of each check, and its answer
    check = event_views._SignedIn._check

    def recorded_check(signed_in):
        answer = check(signed_in)
        checks.append((settings.SECRET_KEY, answer))
        return answer

    monkeypatch.setattr(event_views._SignedIn, "_check", recorded_check)
    client = Client()
    client.force_login(andrew)
    stream = EventStream(asgi_server, andrew, client=client)
    try:
        stream.opened()
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]  # a key rotation
        settings.SECRET_KEY = "a new secret key for this test, long enough to be one"
        deadline = time.monotonic() + 10
        while not any(key == settings.SECRET_KEY for key, _ in checks):
            assert time.monotonic() < deadline, "no check under the new key"
            time.sleep(0.02)

        assert (settings.SECRET_KEY, True) in checks  # still signed in
        # The check left the session as it was: the browser's next request moves it to a new
        # key, and sends the cookie for it.
        assert client.get("/accounts/settings/").status_code == 200
    finally:
        stream.close()


def test_a_person_s_streams_beyond_the_cap_are_refused_so_the_page_polls(
    asgi_server, settings, andrew, bayko
):
    settings.EVENT_STREAMS_PER_PERSON = 2
    streams = [EventStream(asgi_server, andrew) for _ in range(3)]
    someone_else = EventStream(asgi_server, bayko)
    try:
        assert [stream.response.status for stream in streams] == [200, 200, 429]
        refused = streams[2].response
        assert refused.getheader("Retry-After") == "30"
        assert refused.read().decode() == (
            "Live updates are on in 2 of your pages already; this one checks for new messages "
            "by itself instead. Try again in 30 seconds."
        )
        assert someone_else.response.status == 200
    finally:
        for stream in [*streams, someone_else]:
            stream.close()


def test_sigterm_ends_every_stream_cleanly_and_the_server_exits(
    transactional_db, moto_endpoint, tmp_path, andrew
):
    # As in production: uvicorn without a graceful shutdown timeout waits for every response.
    server = ServerProcess(
        server_env(moto_endpoint), tmp_path / "server.log", graceful_shutdown_seconds=None
    )
    server.start()
    streams = []
    try:
        streams = [EventStream(server.url, andrew) for _ in range(3)]
        for stream in streams:
            stream.opened()

        server.process.send_signal(signal.SIGTERM)

        with ThreadPoolExecutor(len(streams)) as readers:
            ends = list(readers.map(lambda stream: stream.next_event(timeout=10), streams))
        # Each response ended (its last chunk, not a reset): the browser opens it again, on
        # another server behind the load balancer.
        assert ends == [None, None, None]
        server.process.wait(timeout=10)
    finally:
        for stream in streams:
            stream.close()
        server.stop()


class Channels:
    """This test's event channels in the Redis the tests share, seen from outside."""

    def __init__(self):
        self.prefix = f"{django_settings.CACHE_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"
        self.client = redis.asyncio.Redis.from_url(django_settings.REDIS_URL)

    def of(self, user_uuid: str) -> str:
        return f"{self.prefix}:events:{user_uuid}"

    async def subscribed(self) -> list[str]:
        """The channels some process is subscribed to (PUBSUB CHANNELS)."""
        channels = await self.client.pubsub_channels(f"{self.prefix}:events:*")
        return sorted(channel.decode() for channel in channels)

    async def listeners(self, user_uuid: str) -> int:
        [(_, count)] = await self.client.pubsub_numsub(self.of(user_uuid))
        return count

    async def publish(self, user_uuid: str, change: Change) -> int:
        """Publish to this person; how many connections received it."""
        return await self.client.publish(self.of(user_uuid), change.dumps())

    async def until_subscribed(self, expected: list[str], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (subscribed := await self.subscribed()) != expected:
            assert asyncio.get_running_loop().time() < deadline, subscribed
            await asyncio.sleep(0.02)


def test_a_process_listens_only_for_the_people_with_streams_open_on_it():
    assert django_settings.REDIS_URL, "make test runs with Redis"
    channels = Channels()
    broker = RedisBroker(django_settings.REDIS_URL, channels.prefix)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        try:
            assert await channels.subscribed() == []
            assert await channels.publish(a, Change("c-0", "s-0")) == 0  # no process receives it

            stream = await broker.open_stream(a)
            assert await channels.subscribed() == [channels.of(a)]
            assert await channels.listeners(a) == 1
            assert await channels.listeners(b) == 0
            assert await channels.publish(b, Change("c-b", "s-b")) == 0  # never reaches us
            assert await channels.publish(a, Change("c-a", "s-a")) == 1
            assert await stream.next(5) == Change("c-a", "s-a")

            stream.close()
            await channels.until_subscribed([])
            # Still connected, ready for the next stream, but listening for no one.
            assert await channels.publish(a, Change("c-1", "s-1")) == 0
        finally:
            await channels.client.aclose()

    on_a_loop_of_its_own(scenario())


def test_a_stream_that_closes_as_another_opens_leaves_the_channel_subscribed():
    channels = Channels()
    broker = RedisBroker(django_settings.REDIS_URL, channels.prefix)
    a, c = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        try:
            first = await broker.open_stream(a)
            first.close()  # a's last stream here: their channel is let go...
            second = await broker.open_stream(a)  # ...as another stream of theirs opens
            # Subscriptions change one at a time, in order: once c's has come and gone, the
            # decision about a's has been made.
            other = await broker.open_stream(c)
            other.close()
            await channels.until_subscribed([channels.of(a)])
            assert await channels.publish(a, Change("c-a", "s-a")) == 1
            assert await second.next(5) == Change("c-a", "s-a")
            second.close()
        finally:
            await channels.client.aclose()

    on_a_loop_of_its_own(scenario())
