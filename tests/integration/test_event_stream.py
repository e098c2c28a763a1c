"""The event stream under a real ASGI server (uvicorn), with real Redis: what a page hears."""

import http.client
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

from messaging import services
from tests.helpers import ref
from tests.integration.test_cache import RedisServer

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


class EventStream:
    """A signed-in person's `/messages/events/`, read line by line as a browser would."""

    def __init__(self, server_url: str, user):
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
        assert stream.next_event() == {"retry": "3000"}

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
        assert stream.next_event() == {"retry": "3000"}
        publish = (
            "from messaging.events import Change, RedisBroker;"
            f"RedisBroker({django_settings.REDIS_URL!r}, {django_settings.CACHE_KEY_PREFIX!r})"
            f".publish({str(andrew.uuid)!r}, Change('c-1', 's-1'))"
        )
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", publish], cwd=ROOT, check=True, timeout=30)

        event = stream.next_event()
        assert json.loads(event["data"]) == {"conversation": "c-1", "sort_key": "s-1"}
        assert time.monotonic() - started < 10
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
        assert stream.next_event() == {"retry": "3000"}
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


def test_open_streams_hold_no_database_connection(asgi_server, andrew):
    # More streams than the database pool has connections (DATABASE_POOL_SIZE, 10): a stream
    # that kept its connection would leave the eleventh waiting, then failing.
    streams = [EventStream(asgi_server, andrew) for _ in range(12)]
    try:
        assert [stream.response.status for stream in streams] == [200] * 12
        assert all(stream.next_event() == {"retry": "3000"} for stream in streams)
    finally:
        for stream in streams:
            stream.close()
