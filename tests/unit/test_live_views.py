"""The live endpoints (static/js/live.js polls them): over the in-memory store, then their
DynamoDB cost measured over moto's HTTP server with `track_usage`.

Run with `-s` to see the measured costs.
"""

import html as html_lib
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messaging import store
from messaging.domain import NewMessage
from tests.helpers import ref

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def seed(fake, a, b, *, count=3, start=None) -> str:
    """A conversation between a and b, messages alternating a, b, a, ... one minute apart."""
    group = str(uuid.uuid4())
    start = start or timezone.now() - timedelta(days=1)
    messages = [
        NewMessage(
            message_uuid=str(uuid.uuid4()),
            sender=ref(a if i % 2 == 0 else b),
            text=f"message {i}",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    fake.import_conversation(
        conversation_uuid=group, participants=(ref(a), ref(b)), messages=messages
    )
    return group


def send(fake, group, sender, text):
    return fake.create_message(conversation_uuid=group, sender=ref(sender), text=text)


def attribute(html: str, name: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', html)
    return html_lib.unescape(found.group(1)) if found else None


class Thread:
    """What live.js reads from a conversation page: its poll URL (with token) and position."""

    def __init__(self, client, group):
        page = client.get(reverse("messaging:conversation", args=[group])).content.decode()
        thread = re.search(r"<div class=\"thread\"[^>]*>", page).group(0)
        self.client = client
        self.url = attribute(thread, "data-poll-url")
        self.after = attribute(thread, "data-after")
        self.state = attribute(page, "data-state")

    def poll(self, **params):
        params.setdefault("after", self.after)
        return get(self.client, self.url, params)


def get(client, url, params):
    # The test client would replace the URL's query (the token) with `params`: append them.
    return client.get(f"{url}&{urlencode(params)}")


def inbox_poll(client, **params):
    return client.get(reverse("messaging:poll"), params)


def row_uuids(body):
    return [row["uuid"] for row in body["rows"]]


# --- access ---


@pytest.mark.parametrize("name", ["poll", "conversation_poll"])
def test_polls_require_login_and_answer_json(client, memory_store, name):
    args = [str(uuid.uuid4())] if name == "conversation_poll" else []

    response = client.get(reverse(f"messaging:{name}", args=args), {"after": "x", "token": "y"})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "Sign in" in response.json()["error"]
    assert memory_store.calls == []


@pytest.mark.parametrize("name", ["poll", "conversation_poll"])
def test_polls_are_get_only_and_never_cached(memory_store, andrew, name):
    args = [str(uuid.uuid4())] if name == "conversation_poll" else []
    client = signed_in(andrew)

    assert client.post(reverse(f"messaging:{name}", args=args)).status_code == 405
    response = client.get(reverse("messaging:poll"))
    assert "no-store" in response["Cache-Control"]


def test_the_poll_url_is_not_taken_for_a_conversation(memory_store, andrew):
    assert reverse("messaging:poll") == "/messages/poll/"
    response = signed_in(andrew).get("/messages/poll/")
    assert response.status_code == 200
    assert memory_store.calls == ["list_conversations"]


# --- the conversation poll ---


def test_idle_conversation_poll_is_one_query_and_no_names_lookup(
    memory_store, andrew, bayko, django_assert_max_num_queries
):
    group = seed(memory_store, andrew, bayko, count=30)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    with django_assert_max_num_queries(2):  # the session and the user, nothing else
        response = thread.poll()

    assert response.status_code == 200
    assert response.json() == {
        "messages": [],
        "after": thread.after,
        "unread": 0,
        "read": False,
        "more": False,
    }
    assert memory_store.calls == ["list_messages_after"]


def test_new_messages_come_in_order_once_and_the_position_moves_on(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    first = send(memory_store, group, bayko, "one <b>bold</b> & more")
    second = send(memory_store, group, bayko, "two")

    body = thread.poll().json()

    assert [m["uuid"] for m in body["messages"]] == [first.message_uuid, second.message_uuid]
    assert [m["text"] for m in body["messages"]] == ["one <b>bold</b> & more", "two"]
    assert body["messages"][0]["author"] == "Andrew Bayko"
    assert body["messages"][0]["mine"] is False
    assert body["messages"][0]["when"] == "now"
    assert body["messages"][0]["datetime"] == first.created_at.isoformat()
    assert body["after"] == second.sort_key
    assert (body["unread"], body["read"]) == (2, False)
    # Polling on from the new position: nothing twice.
    assert thread.poll(after=body["after"], unread=body["unread"]).json()["messages"] == []


def test_own_messages_reset_the_unread_guess_and_show_as_yours(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "theirs")
    send(memory_store, group, andrew, "mine, from another tab")
    send(memory_store, group, bayko, "theirs again")

    body = thread.poll(unread=5).json()

    assert [(m["author"], m["mine"]) for m in body["messages"]] == [
        ("Andrew Bayko", False),
        ("You", True),
        ("Andrew Bayko", False),
    ]
    assert body["unread"] == 1


def test_a_tab_in_front_marks_what_it_shows_read(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "hello?")
    send(memory_store, group, bayko, "are you there?")
    memory_store.calls.clear()

    body = thread.poll(read="1").json()

    assert (body["unread"], body["read"]) == (0, True)
    assert memory_store.calls == ["list_messages_after", "mark_read"]
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0
    assert memory_store.entries[str(bayko.uuid)][group].unread == 0


def test_a_tab_behind_marks_nothing_until_it_comes_to_front(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "while you were away")

    away = thread.poll().json()
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1
    memory_store.calls.clear()

    back = thread.poll(after=away["after"], unread=away["unread"], read="1").json()

    assert (back["messages"], back["unread"], back["read"]) == ([], 0, True)
    assert memory_store.calls == ["list_messages_after", "mark_read"]
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0


def test_nothing_to_mark_writes_nothing(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, andrew, "only mine")
    memory_store.calls.clear()

    body = thread.poll(read="1").json()

    assert (body["unread"], body["read"]) == (0, False)
    assert memory_store.calls == ["list_messages_after"]


def test_an_old_page_of_a_conversation_does_not_poll(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=30)
    client = signed_in(andrew)
    newest = client.get(reverse("messaging:conversation", args=[group])).context["conversation"]

    older = client.get(
        reverse("messaging:conversation", args=[group]), {"before": newest.earlier_cursor}
    ).content.decode()

    assert "data-live-thread" not in older
    assert newest.newest_sort_key == newest.messages[-1].sort_key


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "x" * 600,
        "WyJhIiwgImIiXQ:1tWZ8n:forged-signature",
    ],
)
def test_a_missing_or_forged_token_is_404(memory_store, andrew, bayko, token):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    url = reverse("messaging:conversation_poll", args=[group])
    response = thread.client.get(url, {"token": token, "after": thread.after})

    assert response.status_code == 404
    assert response.json() == {"error": "No such conversation."}
    assert memory_store.calls == []


def test_a_token_works_only_for_its_user_and_conversation(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    thread = Thread(signed_in(andrew), group)
    token = re.search(r"token=([^&]+)", thread.url).group(1)
    memory_store.calls.clear()

    as_londo = get(signed_in(londo), thread.url, {"after": thread.after})
    as_bayko = get(signed_in(bayko), thread.url, {"after": thread.after})
    elsewhere = get(
        thread.client,
        f"{reverse('messaging:conversation_poll', args=[other])}?token={token}",
        {"after": thread.after},
    )

    assert [r.status_code for r in (as_londo, as_bayko, elsewhere)] == [404, 404, 404]
    assert memory_store.calls == []


@pytest.mark.parametrize("after", ["", "garbage", "2026-13-45T99:00:00", "2026-01-01T00:00:00"])
def test_a_bad_position_is_400(memory_store, andrew, bayko, after):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)

    response = thread.poll(after=after)

    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("unread", ["x", "-1", "10001", "1.5"])
def test_a_bad_unread_guess_is_400(memory_store, andrew, bayko, unread):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    response = thread.poll(unread=unread)

    assert response.status_code == 400
    assert memory_store.calls == []


# --- the inbox poll ---


def test_idle_inbox_poll_is_one_small_query(
    memory_store, andrew, bayko, make_user, django_assert_max_num_queries
):
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")
    memory_store.calls.clear()

    with django_assert_max_num_queries(2):
        body = inbox_poll(client, since=state, rows="1").json()

    assert body == {"state": state, "changed": False, "unread_conversations": 0}
    assert memory_store.calls == ["list_conversations"]


def test_a_new_message_moves_its_conversation_to_the_top_marked(memory_store, andrew, bayko, londo):
    now = timezone.now()
    with_bayko = seed(memory_store, andrew, bayko, start=now - timedelta(days=3))
    with_londo = seed(memory_store, andrew, londo, start=now - timedelta(days=1))
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")
    send(memory_store, with_bayko, bayko, "Up you go")
    memory_store.calls.clear()

    body = inbox_poll(client, since=state, rows="1").json()

    assert body["changed"] is True
    assert body["state"] != state
    assert row_uuids(body) == [with_bayko, with_londo]
    top = body["rows"][0]
    assert (top["name"], top["handle"], top["initial"]) == ("Andrew Bayko", "bayko", "A")
    assert (top["last_message"], top["unread"], top["when"]) == ("Up you go", 1, "now")
    assert top["url"] == reverse("messaging:conversation", args=[with_bayko])
    assert body["unread_conversations"] == 1
    assert body["older_url"] is None
    assert memory_store.calls == ["list_conversations", "list_conversations"]
    # From the new state on, quiet again.
    assert inbox_poll(client, since=body["state"], rows="1").json()["changed"] is False


def test_without_a_list_the_poll_only_counts(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    send(memory_store, group, bayko, "ping")
    client = signed_in(andrew)
    memory_store.calls.clear()

    body = inbox_poll(client, since="").json()

    assert body["changed"] is True
    assert body["unread_conversations"] == 1
    assert "rows" not in body
    assert memory_store.calls == ["list_conversations"]


def test_a_read_elsewhere_changes_the_state(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    send(memory_store, group, bayko, "ping")
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")

    Thread(signed_in(andrew), group)  # opened in another tab: marked read

    body = inbox_poll(client, since=state, rows="1").json()
    assert body["changed"] is True
    assert (body["unread_conversations"], body["rows"][0]["unread"]) == (0, 0)


def test_the_conversation_being_read_shows_read_and_reports_its_count(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "new")

    body = inbox_poll(thread.client, since=thread.state, rows="1", reading=group).json()

    assert body["rows"][0]["unread"] == 0
    assert body["unread_conversations"] == 0
    assert body["reading_unread"] == 1
    # Once the tab marks it read, the state is what the poll promised: quiet again.
    thread.poll(read="1")
    assert inbox_poll(thread.client, since=body["state"], rows="1").json()["changed"] is False


def test_a_conversation_page_starts_in_step_with_the_poll(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    send(memory_store, group, bayko, "unread until opened")
    send(memory_store, other, londo, "still unread")

    thread = Thread(signed_in(andrew), group)  # marks `group` read while rendering

    body = inbox_poll(thread.client, since=thread.state, rows="1").json()
    assert body["changed"] is False
    assert body["unread_conversations"] == 1


def test_the_older_link_follows_the_redrawn_first_page(memory_store, andrew, make_user):
    for i in range(21):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)

    body = inbox_poll(client, since="", rows="1").json()

    assert len(body["rows"]) == 20
    assert body["older_url"].startswith("/messages/?cursor=")
    assert client.get(body["older_url"]).status_code == 200


def test_a_state_too_long_is_400(memory_store, andrew):
    response = inbox_poll(signed_in(andrew), since="x" * 65)

    assert response.status_code == 400
    assert memory_store.calls == []


# --- faults ---


@pytest.mark.parametrize(
    "error",
    [
        store.Unavailable("down"),
        store.Throttled("slow down"),
        store.TableNotFound("no table"),
        store.Conflict("busy"),
    ],
)
def test_polls_answer_503_json_when_dynamodb_is_unavailable(memory_store, andrew, bayko, error):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.fail_with = error

    responses = [thread.poll(), inbox_poll(thread.client, since="", rows="1")]

    for response in responses:
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "5"
        assert "unavailable" in response.json()["error"]


# --- the pages carry what the script needs ---


def test_pages_include_the_script_and_its_hooks(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    client = signed_in(andrew)

    inbox = client.get("/messages/").content.decode()
    conversation = client.get(reverse("messaging:conversation", args=[group])).content.decode()
    new = client.get("/messages/new/londo/").content.decode()

    for page in (inbox, conversation, new):
        assert "js/live.js" in page
        assert 'data-poll-url="/messages/poll/"' in page
        assert "<span data-live-unread>" in page
    assert "data-live-rows" in inbox and "data-live-list" in inbox
    assert f'data-reading="{group}"' in conversation
    assert "data-live-thread" in conversation
    assert 'aria-live="polite"' in conversation
    assert "data-live-rows" not in new


def test_later_inbox_pages_poll_only_for_the_count(memory_store, andrew, make_user):
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    cursor = client.get("/messages/").context["inbox"].next_cursor

    later = client.get("/messages/", {"cursor": cursor}).content.decode()

    assert 'data-state=""' in later
    assert "data-live-rows" not in later
    assert "data-live-list" not in later


def test_an_empty_inbox_has_a_list_for_the_first_conversation(memory_store, andrew):
    html = signed_in(andrew).get("/messages/").content.decode()

    assert '<ul class="convo-list" role="list" data-live-list>' in html
    assert "data-live-empty" in html
