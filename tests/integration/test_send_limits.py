"""Sending limits are shared by every process of the site: two uvicorn processes on one Redis
(the one `make test` runs), one person sending through both in turn. A form sent again whose
message is already stored is not counted: over DynamoDB (in-process moto), the store's own
idempotent replay."""

import os
import re
import time

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from messaging import services
from tests.helpers import conversation_url, signed_in, token
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


def in_a_minute_with_room(seconds: float = 20.0) -> None:
    """The limit counts in fixed one-minute windows (cruddur/limits.py): sends that straddle
    the start of a minute are counted in two. Wait, if need be, for a minute that has
    `seconds` left for a test's sends."""
    left_in_this_minute = 60 - time.time() % 60
    if left_in_this_minute < seconds:
        time.sleep(left_in_this_minute + 0.1)


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

    in_a_minute_with_room()
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


# --- a form sent again is not counted ---


@pytest.fixture
def limited(store, settings):
    """The DynamoDB store (in-process moto) and a limit of LIMIT messages a minute."""
    settings.SEND_LIMIT_PER_MINUTE = LIMIT
    return store


def test_a_form_sent_again_does_not_count_against_the_limit(limited, andrew, bayko):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hi")
    url = conversation_url(group)
    client = signed_in(andrew)
    forms = [{"text": f"message {number}", "token": token()} for number in range(LIMIT + 1)]
    in_a_minute_with_room()

    def post(form):
        answer = client.post(url, form)
        return answer.status_code, answer.get("Location")

    sent = [post(forms[0]), post(forms[0]), post(forms[0])]  # under the limit: replayed
    sent += [post(forms[1]), post(forms[2])]  # the limit is used up
    sent += [post(forms[2]) for _ in range(3)]  # at the limit: found stored, not refused
    refused = client.post(url, forms[3])  # a new message still is

    assert sent == [(303, url)] * 8
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert f"You can send at most {LIMIT} messages a minute." in refused.content.decode()
    page = limited.list_messages(conversation_uuid=group)
    assert [m.text for m in reversed(page.items)] == ["hi", "message 0", "message 1", "message 2"]


def test_a_first_message_sent_again_does_not_count_against_the_limit(
    limited, settings, andrew, bayko, londo
):
    settings.NEW_CONVERSATION_LIMIT_PER_HOUR = 1
    client = signed_in(andrew)
    form = {"text": "hello", "token": token()}

    answers = [client.post("/messages/new/bayko/", form) for _ in range(3)]
    refused = client.post("/messages/new/londo/", {"text": "hello too", "token": token()})

    assert [answer.status_code for answer in answers] == [303] * 3
    assert len({answer["Location"] for answer in answers}) == 1
    assert refused.status_code == 429
    assert "You can send at most 1 new conversations an hour." in refused.content.decode()
    assert len(limited.list_conversations(user_uuid=str(andrew.uuid)).items) == 1
