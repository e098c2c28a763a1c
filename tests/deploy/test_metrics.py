"""`/metrics` (cruddur/metrics_views.py, cruddur/metrics.py): refused without the token, off
without one set, and each metric moved by what it counts, read from `/metrics` itself as a
scraper reads it; several processes' values added up as under gunicorn's workers."""

import asyncio
import json
import os
import runpy
import subprocess
import sys
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.retries.standard
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from cruddur import cache as cache_module
from messaging import events, services
from messaging.dynamo import get_dynamo_store, schema
from messaging.dynamo import table as table_module
from tests.helpers import conversation_url, fake_response, signed_in, token

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "a-long-random-scrape-token"
_DYNAMODB = "com.amazonaws.dynamodb.v20120810#"


def scrape(**extra) -> dict[tuple[str, tuple], float]:
    """Every sample /metrics shows now: (name, sorted labels) -> value."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


# --- who may read them ---


def test_off_while_no_token_is_set(settings, db):
    settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert b"cruddur_" not in response.content


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="metrics"'),
        (f"Bearer {TOKEN}x", 'Bearer realm="metrics", error="invalid_token"'),
        (f"Bearer {TOKEN[:-1]}", 'Bearer realm="metrics", error="invalid_token"'),
        (f"Basic {TOKEN}", 'Bearer realm="metrics"'),
        ("Bearer", 'Bearer realm="metrics"'),
    ],
    ids=["none", "longer", "shorter", "another-scheme", "empty"],
)
def test_refused_without_the_right_token(metrics_on, db, authorization, challenge):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client().get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge
    assert response["Content-Type"].startswith("text/plain")
    assert b"cruddur_" not in response.content


def test_the_token_is_compared_in_constant_time(metrics_on, db, monkeypatch):
    from cruddur import metrics_views

    compared = []

    def spy(given, expected):
        compared.append((given, expected))
        return given == expected

    monkeypatch.setattr(metrics_views, "constant_time_compare", spy)
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert compared == [("nope", TOKEN)]


def test_scraped_over_plain_http_at_a_task_s_own_address(metrics_on, db, settings):
    """From inside the VPC a scraper asks a task at its address over plain HTTP (Prometheus
    cannot set a Host per target): no redirect to HTTPS and no Host check for /metrics, the
    rest of the site keeps both, and the token still guards it."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["messages.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    task = {"HTTP_HOST": "10.0.1.23:8000"}
    assert Client().get("/accounts/login/", HTTP_HOST="messages.example.com").status_code == 301
    assert Client().get("/accounts/login/", **task).status_code == 400
    assert value(scrape(**task), "cruddur_event_streams") == 0
    assert Client().get("/metrics", **task).status_code == 401
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", **task).status_code == 404


# --- what they count ---


@pytest.fixture
def quick(monkeypatch):
    """No back-off waits, botocore's or the table's: retries are counted, not timed."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    monkeypatch.setattr(table_module, "backoff", lambda attempt: 0)


@pytest.fixture
def dynamo(moto_endpoint):
    """The DynamoDB store over the emulator's HTTP server, the one the pages use."""
    store = get_dynamo_store()
    schema.create(store.table)
    return store


class Answers:
    """A botocore `before-send` handler on both of the store's clients: answers the next
    requests of `operation` with the errors queued, then lets them reach moto again."""

    def __init__(self, store, operation):
        self.queued = []
        self.clients = {id(t.client): t.client for t in (store.table, store.interactive)}
        self.event = f"before-send.dynamodb.{operation}"
        for client in self.clients.values():
            client.meta.events.register_first(self.event, self)

    def __call__(self, request, **kwargs):
        if self.queued:
            return fake_response(request, 400, self.queued.pop(0))
        return None

    def remove(self):
        for client in self.clients.values():
            client.meta.events.unregister(self.event, self)


@pytest.fixture
def answers(dynamo):
    made = []

    def make(operation):
        made.append(Answers(dynamo, operation))
        return made[-1]

    yield make
    for handler in made:
        handler.remove()


def test_a_send_counts_once(metrics_on, dynamo, andrew, bayko):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    client = signed_in(andrew)
    form = {"text": "one message", "token": token()}
    before = scrape()

    assert client.post(conversation_url(group), form).status_code == 303
    assert client.post(conversation_url(group), form).status_code == 303  # sent again: stored once

    after = scrape()
    assert value(after, "cruddur_messages_sent_total") - value(
        before, "cruddur_messages_sent_total"
    ) == pytest.approx(1)
    writes = "cruddur_dynamodb_requests_total"
    assert value(after, writes, operation="transact_write_items") > value(
        before, writes, operation="transact_write_items"
    )


def test_a_refused_send_counts_its_reason_and_no_message(metrics_on, memory_store, andrew, bayko):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    before = scrape()
    assert {"too_long", "blocked_you", "rate_limited"} <= {
        dict(labels)["reason"] for name, labels in before if name == "cruddur_send_refusals_total"
    }  # every reason shows from the start, at 0

    too_long = {"text": "x" * (services.MAX_MESSAGE_LENGTH + 1), "token": token()}
    assert signed_in(andrew).post(conversation_url(group), too_long).status_code == 422
    services.block_and_clear_unread(user=bayko, other=andrew)
    blocked = {"text": "are you there?", "token": token()}
    assert signed_in(andrew).post(conversation_url(group), blocked).status_code == 403

    after = scrape()
    refusals = "cruddur_send_refusals_total"
    for reason in ("too_long", "blocked_you"):
        moved = value(after, refusals, reason=reason) - value(before, refusals, reason=reason)
        assert moved == pytest.approx(1), reason
    sent = "cruddur_messages_sent_total"
    assert value(after, sent) == value(before, sent)


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_a_throttled_request_counts_each_throttle_botocore_retried(
    metrics_on, dynamo, answers, quick, andrew_ref, bayko_ref, code
):
    throttled = answers("Query")
    throttled.queued = [{"__type": f"{_DYNAMODB}{code}", "message": "Slow down."}]
    before = scrape()

    # A page's read: botocore tries it again (cruddur/aws.py), and the second try is answered.
    page = dynamo.list_conversations(user_uuid=andrew_ref.uuid)

    assert not page.items
    after = scrape()
    throttles = "cruddur_dynamodb_throttles_total"
    assert value(after, throttles) - value(before, throttles) == pytest.approx(1)
    queries = "cruddur_dynamodb_requests_total"
    assert value(after, queries, operation="query") - value(
        before, queries, operation="query"
    ) == pytest.approx(1)  # the answered one


def test_a_transaction_conflict_counts(metrics_on, dynamo, answers, quick, andrew, bayko):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    conflicting = answers("TransactWriteItems")
    conflicting.queued = [
        {
            "__type": f"{_DYNAMODB}TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons",
            "CancellationReasons": [
                {"Code": "None"},
                {"Code": "TransactionConflict"},
                {"Code": "None"},
            ],
        }
    ]
    before = scrape()

    services.send_message(sender=andrew, conversation_uuid=group, text="after the conflict")

    after = scrape()
    conflicts = "cruddur_transaction_conflicts_total"
    assert value(after, conflicts) - value(before, conflicts) == pytest.approx(1)
    assert value(after, "cruddur_dynamodb_throttles_total") == value(
        before, "cruddur_dynamodb_throttles_total"
    )
    sent = "cruddur_messages_sent_total"
    assert value(after, sent) - value(before, sent) == pytest.approx(1)  # planned again: stored


def test_open_streams_go_up_and_down(metrics_on, db, settings):
    settings.REDIS_URL = ""
    broker = events.get_broker()
    seen = []

    async def scenario():
        first = await broker.open_stream(str(uuid.uuid4()))
        second = await broker.open_stream(str(uuid.uuid4()))
        seen.append(value(scrape(), "cruddur_event_streams"))
        first.close()
        first.close()  # closed twice: counted once
        seen.append(value(scrape(), "cruddur_event_streams"))
        second.close()
        seen.append(value(scrape(), "cruddur_event_streams"))

    before = value(scrape(), "cruddur_event_streams")
    with ThreadPoolExecutor(1) as thread:  # a loop of its own, off any loop already running
        thread.submit(asyncio.run, scenario()).result()
    assert [count - before for count in seen] == [2, 1, 0]


def test_publishing_counts_what_the_broker_took_and_refused(metrics_on, db, settings):
    settings.REDIS_URL = ""
    change = events.Change(str(uuid.uuid4()), "2026-12-03T00:00:00.000000+00:00")
    before = scrape()
    events.publish_change([str(uuid.uuid4()), str(uuid.uuid4())], change)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    events.publish_change([str(uuid.uuid4())], change)
    after = scrape()

    for name, moved in (
        ("cruddur_events_published_total", 2),
        ("cruddur_publish_failures_total", 1),
    ):
        assert value(after, name) - value(before, name) == pytest.approx(moved), name


def test_the_cache_degraded_gauge_follows_an_outage(metrics_on, db):
    outage = cache_module.RedisOutage()
    outage.back_off(60)
    assert value(scrape(), "cruddur_cache_degraded") == 1
    outage.answered()  # an answer that started before this outage: it stands
    assert value(scrape(), "cruddur_cache_degraded") == 1
    outage.back_off(-1)  # the back-off is over, and Redis answers
    outage.answered()
    assert value(scrape(), "cruddur_cache_degraded") == 0


def test_a_lockout_counts(metrics_on, settings, andrew):
    client = Client()
    before = value(scrape(), "cruddur_logins_locked_total")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "andrewbrown", "password": "wrong"})
    assert value(scrape(), "cruddur_logins_locked_total") - before == pytest.approx(1)


def test_request_latency_is_by_view_never_by_path(metrics_on, memory_store, andrew, bayko):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    client = signed_in(andrew)
    duration = "cruddur_request_duration_seconds_count"
    page = {"view": "messaging:conversation", "method": "GET", "status": "200"}
    missing = {"view": "unmatched", "method": "other", "status": "404"}
    before = scrape()

    assert client.get(conversation_url(group)).status_code == 200
    assert client.generic("BREW", f"/no/such/{uuid.uuid4()}/").status_code == 404

    after = scrape()
    for labels in (page, missing):
        assert value(after, duration, **labels) - value(before, duration, **labels) == 1
    shown = {dict(labels).get("view") for name, labels in after if name == duration}
    assert not any("/" in view for view in shown)  # names, never paths


# --- several processes: gunicorn's workers ---

_WORKER = """
import os, sys
from cruddur import metrics
metrics.MESSAGES_SENT.inc(int(sys.argv[1]))
metrics.EVENT_STREAMS.inc(int(sys.argv[1]))
print(os.getpid())
"""
_SCRAPE = """
import sys
from cruddur import metrics
sys.stdout.write(metrics.exposition()[0].decode())
"""


def run_python(code, *args, multiproc_dir):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def totals(exposition: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if not sample.labels
    }


def test_the_workers_values_are_added_up_and_a_gone_worker_s_gauges_dropped(tmp_path):
    first = int(run_python(_WORKER, "2", multiproc_dir=tmp_path))
    run_python(_WORKER, "3", multiproc_dir=tmp_path)

    both = totals(run_python(_SCRAPE, multiproc_dir=tmp_path))
    assert both["cruddur_messages_sent_total"] == 5
    assert both["cruddur_event_streams"] == 5

    # gunicorn's master, as the first worker exits (deploy/gunicorn.conf.py).
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    try:
        hooks["child_exit"](None, types.SimpleNamespace(pid=first))
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]

    left = totals(run_python(_SCRAPE, multiproc_dir=tmp_path))
    assert left["cruddur_messages_sent_total"] == 5  # what it counted stays counted
    assert left["cruddur_event_streams"] == 3  # its open streams went with it


def test_the_web_container_starts_with_an_empty_metrics_folder(tmp_path):
    """deploy/entrypoint.sh `web`: the folder is made, and emptied of an earlier start's
    files, before gunicorn starts (a stand-in here, which shows what it was given)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_12345.db").write_bytes(b"from an earlier start")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gunicorn = bin_dir / "gunicorn"
    gunicorn.write_text(
        '#!/bin/sh\nprintf \'{"dir": "%s", "files": "%s"}\' '
        '"$PROMETHEUS_MULTIPROC_DIR" "$(ls "$PROMETHEUS_MULTIPROC_DIR")"\n'
    )
    gunicorn.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    done = subprocess.run(
        ["sh", "deploy/entrypoint.sh", "web"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"dir": str(folder), "files": ""}
    entrypoint = (ROOT / "deploy" / "entrypoint.sh").read_text()
    assert "PROMETHEUS_MULTIPROC_DIR:-/dev/shm/" in entrypoint  # in memory by default


def test_the_lambda_counts_nothing_without_prometheus_client():
    """The stream handler's zip imports the DynamoDB adapter, hence cruddur.metrics, where
    prometheus-client is not installed (deploy/lambda_zip.py)."""
    code = """
import importlib.abc, sys
class NoPrometheus(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "prometheus_client":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoPrometheus())
from cruddur import metrics
from messaging.dynamo import metering, table
metrics.DYNAMODB_REQUESTS.labels(operation="query").inc()
metrics.EVENT_STREAMS.dec()
metrics.REQUEST_DURATION.labels(view="x", method="GET", status="200").observe(0.1)
print("prometheus_client" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_every_metric_is_defined_in_one_module():
    for package in ("cruddur", "messaging", "users"):
        for path in (ROOT / package).rglob("*.py"):
            if path != ROOT / "cruddur" / "metrics.py":
                assert "prometheus_client" not in path.read_text(), path
