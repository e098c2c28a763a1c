"""Sending limits are shared by every process of the site: two uvicorn processes on one Redis
(the one `make test` runs), one person sending through both in turn."""

import os
import re

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from messaging import services
from tests.servers import ServerProcess, server_env

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3


@pytest.fixture
def two_processes(moto_endpoint, tmp_path):
    if not settings.REDIS_URL:
        pytest.fail("This test needs Redis: run it with REDIS_URL set (make test does).")
    env = server_env(moto_endpoint, SEND_LIMIT_PER_MINUTE=str(LIMIT))
    servers = [ServerProcess(env, tmp_path / f"server-{name}.log") for name in ("a", "b")]
    try:
        for server in servers:
            server.start()
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()


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
