"""Sending limits are shared by every process of the site: two uvicorn processes on one Redis
(the one `make test` runs), one person sending through both in turn."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client

from messaging import services

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("This test needs Postgres: the processes share the test database.")
    user = db["USER"] or "postgres"
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def two_processes(moto_endpoint, tmp_path):
    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: run it with REDIS_URL set (make test does).")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATABASE_POOL": "false",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "SEND_LIMIT_PER_MINUTE": str(LIMIT),
        "DEBUG": "true",
    }
    servers = []
    for name in ("a", "b"):
        port = free_port()
        log = open(tmp_path / f"server-{name}.log", "w")  # noqa: SIM115  (closed below)
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "cruddur.asgi:application", "--host",
             "127.0.0.1", "--port", str(port), "--lifespan", "off", "--log-level", "warning"],
            env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        servers.append((f"http://127.0.0.1:{port}", process, log))
    try:
        for url, process, _ in servers:
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(f"{url}/health/", timeout=2)
                    break
                except requests.ConnectionError:
                    assert process.poll() is None, (tmp_path / "server-a.log").read_text()
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    time.sleep(0.1)
        yield [url for url, _, _ in servers]
    finally:
        for _, process, log in servers:
            process.terminate()
            process.wait(10)
            log.close()


def test_the_limit_is_shared_by_two_processes(two_processes, andrew, bayko):
    call_command("ddb_schema_load", stdout=open(os.devnull, "w"))  # noqa: SIM115
    # bayko starts it: andrew's count is untouched.
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hi")
    login = Client()
    login.force_login(andrew)  # the session is in the database and in the shared cache
    browser = requests.Session()
    browser.cookies.set("sessionid", login.cookies["sessionid"].value)
    page = browser.get(f"{two_processes[0]}/messages/{group}/", timeout=10)
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    answers = []
    for number in range(LIMIT + 1):
        server = two_processes[number % 2]  # a, b, a, b
        fresh = browser.get(f"{server}/messages/{group}/", timeout=10)
        token = re.search(r'name="token" value="([^"]+)"', fresh.text).group(1)
        answers.append(
            browser.post(
                f"{server}/messages/{group}/",
                data={"csrfmiddlewaretoken": csrf, "text": f"message {number}", "token": token},
                headers={"Referer": f"{server}/messages/{group}/"},
                allow_redirects=False,
                timeout=10,
            )
        )

    assert [answer.status_code for answer in answers] == [303] * LIMIT + [429]
    last = answers[-1]
    assert 1 <= int(last.headers["Retry-After"]) <= 60
    assert f"You can send at most {LIMIT} messages a minute." in last.text
    assert "message 3</textarea>" in last.text
    # Each process alone saw at most two of the sends: only a shared count refuses the fourth.
    texts = [
        m.text
        for m in services.read_conversation(
            user=andrew, conversation_uuid=group
        ).conversation.messages
    ]
    assert texts == ["hi", "message 0", "message 1", "message 2"]
