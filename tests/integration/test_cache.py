"""The cache against real Redis servers that each test starts, pauses and stops itself.

Every page must answer correctly whatever Redis does; with Redis up, a page reads names and the
session with single-slot commands only (the server here runs in cluster mode, which refuses
anything else, as ElastiCache Serverless does).
"""

import random
import socket
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from cruddur.cache import ResilientRedisCache
from messaging.domain import NewMessage
from tests.helpers import ref

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-42"


def free_port_pair() -> int:
    """A free port whose cluster bus port (+10,000, at most 65,535) is free too."""
    while True:
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


class RedisServer:
    """A redis-server of the test's own, nothing kept on disk; cluster mode with every slot."""

    def __init__(self, tmp_path):
        self.port = free_port_pair()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.process = None

    def start(self) -> None:
        log = self.tmp_path / "redis.log"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--cluster-enabled", "yes", "--logfile", str(log),
             "--cluster-config-file", str(self.tmp_path / f"nodes-{time.monotonic_ns()}.conf")],
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {log.read_text()}") from None
                time.sleep(0.05)
        client = self.client()
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up: {log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, retry=None)

    def calls(self) -> dict[str, int]:
        stats = self.client().info("commandstats")
        return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


@pytest.fixture
def redis_server(tmp_path, settings, monkeypatch):
    """The app's cache on a Redis of this test's own."""
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "cruddur.cache.ResilientRedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "t",
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }
    monkeypatch.setattr(ResilientRedisCache, "retry_after", 0.0)
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def conversation(memory_store, andrew, bayko):
    group = str(uuid.uuid4())
    start = timezone.now() - timedelta(hours=1)
    memory_store.import_conversation(
        conversation_uuid=group,
        participants=(ref(andrew), ref(bayko)),
        messages=[
            NewMessage(str(uuid.uuid4()), ref(andrew if i % 2 else bayko), f"message {i}",
                       start + timedelta(minutes=i))
            for i in range(3)
        ],
    )  # fmt: skip
    return f"/messages/{group}/"


def logged_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.handle, "password": PASSWORD})
    assert response.status_code == 302
    return client


def assert_pages_answer(client, conversation, *, name="Andrew Bayko"):
    inbox = client.get("/messages/")
    assert inbox.status_code == 200
    assert [row.other.display_name for row in inbox.context["inbox"].rows] == [name]
    page = client.get(conversation)
    assert page.status_code == 200
    assert "message 2" in page.content.decode()


def test_a_warm_page_reads_the_cache_with_one_mget_and_one_get(
    redis_server, andrew, bayko, conversation
):
    client = logged_in(andrew)
    assert_pages_answer(client, conversation)
    before = redis_server.calls()

    assert client.get("/messages/").status_code == 200

    after = redis_server.calls()
    sent = {name: after[name] - before.get(name, 0) for name in after}
    # (HELLO and INFO are this test's own connection asking.)
    sent = {name: n for name, n in sent.items() if n and name not in {"hello", "info"}}
    assert sent == {"get": 1, "mget": 1}  # the session, the profiles (viewer's included)
    keys = {key.decode() for key in redis_server.client().scan_iter("t:*")}
    assert f"t:1:profile2:{{names}}:{bayko.uuid}" in keys
    assert f"t:1:profile2:{{names}}:{andrew.uuid}" in keys


def test_the_cluster_server_refuses_keys_of_different_slots(redis_server):
    # What the hash tag is for: without it, one MGET of two names is refused.
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):
        redis_server.client().mget("profile:a", "profile:b")
    redis_server.client().mget("profile:{names}:a", "profile:{names}:b")


def test_a_rename_shows_on_the_next_page(redis_server, andrew, bayko, conversation):
    client = logged_in(andrew)
    assert_pages_answer(client, conversation)

    bayko.display_name = "Andrew B."
    bayko.save()

    assert_pages_answer(client, conversation, name="Andrew B.")


def test_pages_answer_when_redis_stops_and_starts_again(redis_server, andrew, conversation):
    client = logged_in(andrew)
    assert_pages_answer(client, conversation)

    redis_server.stop()

    assert_pages_answer(client, conversation)  # the session and names from the database
    reply = client.post(conversation, {"text": "still here", "token": str(uuid.uuid4())})
    assert reply.status_code == 303
    assert "still here" in client.get(conversation).content.decode()
    health = client.get("/health/")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["cache"].startswith("unavailable")

    redis_server.start()  # empty: it kept nothing

    assert_pages_answer(client, conversation)  # still logged in: the session was in the database
    assert client.get("/health/").json()["cache"] == "ok"


def test_backends_made_per_request_share_the_process_connections(redis_server):
    # Under ASGI Django makes a backend per request: each must not open a connection to Redis.
    admin = redis_server.client()
    before = admin.info("clients")["connected_clients"]

    for _ in range(20):
        backend = caches.create_connection("default")
        backend.set("name", "Andrew")
        assert backend.get("name") == "Andrew"

    assert admin.info("clients")["connected_clients"] - before == 1


def test_pages_answer_with_nothing_listening(settings, andrew, conversation):
    settings.CACHES = {
        "default": {
            "BACKEND": "cruddur.cache.ResilientRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    client = logged_in(andrew)

    assert_pages_answer(client, conversation)
    assert client.get("/health/").json()["status"] == "degraded"


def test_a_logout_during_an_outage_is_not_undone_when_redis_answers_again(
    redis_server, andrew, conversation
):
    client = logged_in(andrew)
    assert_pages_answer(client, conversation)  # the session is now in Redis too
    session_cookie = client.cookies["sessionid"].value
    admin = redis_server.client()

    admin.execute_command("CLIENT", "PAUSE", 2000, "ALL")  # Redis keeps its data, answers late
    client.post("/accounts/logout/")
    admin.execute_command("CLIENT", "UNPAUSE")

    thief = Client()
    thief.cookies["sessionid"] = session_cookie
    response = thief.get("/messages/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.fixture
def cache_at(settings):
    """The app's cache on the Redis at a URL, under a key prefix of the test's own, with no
    memory of earlier outages or kept deletes (the process's memory outlives a test)."""
    used = []

    def forget(cache):
        cache.outage.down_until = 0.0
        cache.outage.unsent_deletes.clear()
        cache.outage.clear_when_back = False

    def at(url: str) -> ResilientRedisCache:
        settings.CACHES = {
            "default": {
                "BACKEND": "cruddur.cache.ResilientRedisCache",
                "LOCATION": url,
                "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
                "OPTIONS": settings.REDIS_CACHE_OPTIONS,
            }
        }
        cache = caches["default"]
        forget(cache)
        used.append(cache)
        return cache

    yield at
    for cache in used:
        forget(cache)


SHARED_REDIS = "redis://127.0.0.1:6379/0"  # the Redis `make test` runs the tests with


@pytest.mark.parametrize(
    "error, outage",
    [
        (redis.exceptions.ConnectionError("Connection refused"), True),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), True),
        (ConnectionResetError("reset by peer"), True),
        (redis.exceptions.BusyLoadingError("LOADING"), True),
        (redis.exceptions.ReadOnlyError("READONLY a failover"), True),
        (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), False),
        (redis.exceptions.ClusterCrossSlotError(), False),
        (redis.exceptions.DataError("Invalid input"), False),
    ],
)
def test_only_redis_out_of_reach_is_an_outage(cache_at, monkeypatch, error, outage):
    cache = cache_at(SHARED_REDIS)
    monkeypatch.setattr(ResilientRedisCache, "retry_after", 3600.0)
    cache.set("name", "Andrew")

    def fail(*args, **kwargs):
        raise error

    with monkeypatch.context() as failing:
        failing.setattr(redis.Redis, "get", fail)  # what Redis answers to the cache's GET
        if outage:
            assert cache.get("name", "fallback") == "fallback"
        else:
            with pytest.raises(type(error)):
                cache.get("name")

    # An outage is not tried again for a while; a refused command leaves Redis in use.
    assert cache.get("name") == (None if outage else "Andrew")


def test_every_backend_instance_of_the_process_shares_the_memory_of_an_outage(
    cache_at, monkeypatch
):
    # Django makes a backend per thread, and under ASGI per request: none of them may pay a
    # connect timeout while another has just met the outage.
    first = cache_at("redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(ResilientRedisCache, "retry_after", 3600.0)
    assert first.get("name", "missed") == "missed"
    tried = []
    monkeypatch.setattr(redis.Redis, "get", lambda *args, **kwargs: tried.append(args))

    second = caches.create_connection("default")

    assert second is not first
    assert second.get("name", "missed") == "missed"
    assert tried == []


def test_a_wrongtype_is_raised_and_the_next_read_uses_redis(cache_at, monkeypatch):
    cache = cache_at(SHARED_REDIS)
    monkeypatch.setattr(ResilientRedisCache, "retry_after", 3600.0)
    redis.Redis.from_url(SHARED_REDIS).lpush(cache.make_key("a-list"), "x")
    cache.set("name", "Andrew")

    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        cache.get("a-list")
    with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
        cache.incr("name")  # a limit's counter holding something else

    assert cache.get("name") == "Andrew"
    redis.Redis.from_url(SHARED_REDIS).delete(cache.make_key("a-list"), cache.make_key("name"))


def test_the_deletes_kept_during_an_outage_stop_growing_at_the_bound(cache_at, monkeypatch):
    cache = cache_at("redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(ResilientRedisCache, "max_unsent_deletes", 100)

    for number in range(250):
        cache.delete(f"session-{number}")
    cache.delete_many([f"name-{number}" for number in range(250)])

    assert len(cache.outage.unsent_deletes) <= 100
    assert cache.outage.clear_when_back


def test_past_the_bound_every_entry_of_the_site_is_deleted_when_redis_answers(
    redis_server, monkeypatch
):
    cache = caches["default"]
    monkeypatch.setattr(ResilientRedisCache, "max_unsent_deletes", 2)
    sessions = ["{s}a", "{s}b", "{s}c"]  # one slot: the cluster server refuses others
    cache.set_many(dict.fromkeys(sessions, 1))
    cache.set("name", "Andrew")
    admin = redis_server.client()
    admin.set("another-site:name", "kept")

    admin.execute_command("CLIENT", "PAUSE", 2000, "ALL")  # Redis keeps its data, answers late
    cache.delete_many(sessions)  # not sent: 3 > 2 kept
    admin.execute_command("CLIENT", "UNPAUSE")

    assert cache.get("name") is None  # not among the deletes, but every entry went
    assert cache.get_many(sessions) == {}
    assert admin.get("another-site:name") == b"kept"
    cache.set("name", "Andrew")
    assert cache.get("name") == "Andrew"  # once, not on every call
