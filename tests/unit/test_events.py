"""Live events without Redis: the in-process broker, the stream's refusals, what a send
publishes. (Redis, ASGI and the browser: tests/integration/test_event_stream.py, tests/e2e.)"""

import asyncio
import gc
import threading
import uuid

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from cruddur.cache import redis_is_down
from messaging import events, services
from messaging.events import Change, LocalBroker, Stream, TooManyStreams
from tests.helpers import on_a_loop_of_its_own, ref

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_broker(settings):
    settings.REDIS_URL = ""  # the embedded default, whatever `make test` set
    broker = events.get_broker()
    assert isinstance(broker, LocalBroker)
    return broker


def on_its_own_connection(work):
    """`work` for a thread of its own, closing the database connection it opened."""

    def run():
        try:
            work()
        finally:
            connections.close_all()

    return run


def collect(broker, user_uuid, publish, *, wanted=1, timeout=2.0):
    """Open a stream for `user_uuid` on an event loop, run `publish()` on another thread, and
    return what the stream received within `timeout` seconds."""

    async def listen():
        stream = await broker.open_stream(user_uuid)
        publisher = threading.Thread(target=publish)
        try:
            publisher.start()
            received = []
            while len(received) < wanted:
                item = await stream.next(timeout)
                if item is False:
                    break
                received.append(item)
            return received
        finally:
            stream.close()
            publisher.join()

    return on_a_loop_of_its_own(listen())


def test_a_stream_receives_its_person_s_changes_only(local_broker):
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    change = Change(str(uuid.uuid4()), "2026-11-30T10:00:00.000001+00:00")

    def publish():
        events.publish_change([theirs], Change("other", "x"))
        events.publish_change([mine], change)

    assert collect(local_broker, mine, publish, wanted=2, timeout=0.5) == [change]
    assert len(local_broker.streams) == 0  # closed streams are gone


def test_a_change_carries_no_text():
    change = Change("5ae290ed-55d1-47a0-bc6d-fe2bc2700399", "2026-11-30T10:00:00+00:00")
    assert change.dumps() == (
        '{"conversation":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399",'
        '"sort_key":"2026-11-30T10:00:00+00:00"}'
    )
    assert Change.loads(change.dumps()) == change


# The sends run on another thread, which reads the users from the database (whether one may
# write to the other): committed users, and each thread closes its connection.
@pytest.mark.django_db(transaction=True)
def test_a_send_tells_both_participants(local_broker, memory_store, andrew, bayko):
    conversation_uuid, _ = memory_store.create_conversation(
        sender=ref(andrew), recipient=ref(bayko), text="hi"
    )
    sent = []

    @on_its_own_connection
    def send():
        sent.append(
            services.send_message(sender=bayko, conversation_uuid=conversation_uuid, text="yo")
        )

    received_by_andrew = collect(local_broker, str(andrew.uuid), send)
    assert received_by_andrew == [Change(conversation_uuid, sent[0].sort_key)]
    received_by_bayko = collect(local_broker, str(bayko.uuid), send)  # the sender's other tabs
    assert received_by_bayko == [Change(conversation_uuid, sent[1].sort_key)]


@pytest.mark.django_db(transaction=True)
def test_a_new_conversation_tells_both(local_broker, memory_store, andrew, londo):
    started = []

    @on_its_own_connection
    def start():
        started.append(services.start_conversation(sender=andrew, recipient=londo, text="hello"))

    [change] = collect(local_broker, str(londo.uuid), start)
    assert change.conversation_uuid == started[0]


def test_a_failing_broker_never_fails_a_send(settings, memory_store, andrew, bayko, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    conversation_uuid, _ = memory_store.create_conversation(
        sender=ref(andrew), recipient=ref(bayko), text="hi"
    )

    message = services.send_message(sender=bayko, conversation_uuid=conversation_uuid, text="yo")

    assert message.text == "yo"
    assert "could not publish a change" in caplog.text


def test_the_stream_needs_signing_in(client, local_broker):
    response = client.get("/messages/events/")
    assert response.status_code == 403


def test_the_stream_under_wsgi_is_refused_so_the_page_polls(local_broker, andrew):
    client = Client()
    client.force_login(andrew)
    response = client.get("/messages/events/")
    assert response.status_code == 503
    assert "ASGI" in response.content.decode()
    assert response["Retry-After"] == "30"


def test_a_person_holds_at_most_EVENT_STREAMS_PER_PERSON_streams(settings):
    settings.EVENT_STREAMS_PER_PERSON = 2
    broker = LocalBroker()
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        first = await broker.open_stream(mine)
        second = await broker.open_stream(mine)
        with pytest.raises(TooManyStreams, match="Live updates are on in 2 of your pages"):
            await broker.open_stream(mine)
        someone_else = await broker.open_stream(theirs)  # counted for each person
        first.close()
        third = await broker.open_stream(mine)  # a closed one makes room
        for stream in (second, third, someone_else):
            stream.close()

    on_a_loop_of_its_own(scenario())
    assert len(broker.streams) == 0


@pytest.mark.django_db(transaction=True)  # the view reads the session on threads of its own
def test_a_stream_whose_client_left_before_its_first_line_is_closed(local_broker, andrew):
    # The client goes while the response's head is being sent: Django cancels the request,
    # and the stream's lines, never started, never run their own `finally`. The stream must
    # not go on counting against the person's limit.
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    signed_in = Client()
    signed_in.force_login(andrew)
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={signed_in.cookies[settings.SESSION_COOKIE_NAME].value}"
    )
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/messages/events/", "raw_path": b"/messages/events/",
        "query_string": b"", "root_path": "", "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
    }  # fmt: skip

    async def scenario():
        head_sent = asyncio.Event()
        requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive():
            message = next(requests, None)
            if message is None:
                await head_sent.wait()
                message = {"type": "http.disconnect"}
            return message

        async def send(message):
            if message["type"] == "http.response.start":
                assert message["status"] == 200
                head_sent.set()
                await asyncio.Event().wait()  # the client is gone: this never completes

        await get_asgi_application()(scope, receive, send)

    on_a_loop_of_its_own(scenario())
    gc.collect()  # the response and its lines, never started
    assert len(local_broker.streams) == 0


def test_a_change_for_a_stream_whose_event_loop_is_gone_closes_that_stream():
    broker = LocalBroker()
    mine = str(uuid.uuid4())

    async def scenario():
        return await broker.open_stream(mine)

    on_a_loop_of_its_own(scenario())  # the loop is closed when this returns

    broker.publish(mine, Change(conversation_uuid=str(uuid.uuid4()), sort_key="k"))

    assert len(broker.streams) == 0


def test_a_stopping_server_ends_every_stream_and_those_opened_after():
    broker = LocalBroker()

    async def scenario():
        stream = await broker.open_stream(str(uuid.uuid4()))
        broker.streams.stop()  # SIGTERM
        assert await stream.next(5) is Stream.ENDED
        late = await broker.open_stream(str(uuid.uuid4()))  # before the server stopped listening
        assert await late.next(5) is Stream.ENDED
        stream.close()
        late.close()

    on_a_loop_of_its_own(scenario())


@pytest.fixture
def unreachable_redis(settings, tmp_path):
    """The cache and the events on a Redis that is not there: its URL."""
    url = f"unix://{tmp_path}/redis.sock"  # nothing listens: refused at once
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "cruddur.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }
    return url


def publish_attempts(broker, monkeypatch) -> list[str]:
    """The channels `broker` tries to publish to from now on."""
    attempts = []
    send = broker._publisher.publish

    def counted(channel, message):
        attempts.append(channel)
        return send(channel, message)

    monkeypatch.setattr(broker._publisher, "publish", counted)
    return attempts


def test_while_the_cache_backs_off_from_redis_a_send_does_not_publish(
    unreachable_redis, monkeypatch
):
    assert cache.get("anything", "missed") == "missed"  # the cache meets the outage
    assert redis_is_down(unreachable_redis)
    attempts = publish_attempts(events.get_broker(), monkeypatch)

    events.publish_change([str(uuid.uuid4()), str(uuid.uuid4())], Change("c", "s"))

    assert attempts == []  # no connect timeout paid, for either participant


def test_a_publish_that_cannot_reach_redis_makes_everyone_back_off(
    unreachable_redis, monkeypatch, caplog
):
    attempts = publish_attempts(events.get_broker(), monkeypatch)

    events.publish_change([str(uuid.uuid4()), str(uuid.uuid4())], Change("c", "s"))

    assert len(attempts) == 1  # the second participant is not tried
    assert redis_is_down(unreachable_redis)  # nor is Redis by the cache, for a while
    assert "could not publish a change" in caplog.text
