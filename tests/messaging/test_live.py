"""The live endpoints (static/js/live.js polls them): over the in-memory gateway, then their
DynamoDB cost measured over moto's HTTP server with `track_usage`.

Run with `-s` to see the measured costs.
"""

import html as html_lib
import json
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from messaging import gateway, services
from messaging.gateway import NewMessage, track_usage
from tests.fakes import ref

pytestmark = pytest.mark.django_db


@pytest.fixture
def andrew(make_user):
    return make_user("andrewbrown", display_name="Andrew Brown")


@pytest.fixture
def bayko(make_user):
    return make_user("bayko", display_name="Andrew Bayko")


@pytest.fixture
def londo(make_user):
    return make_user("londo", display_name="Londo Mollari")


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
        message_group_uuid=group, participants=(ref(a), ref(b)), messages=messages
    )
    return group


def send(fake, group, sender, text):
    return fake.create_message(message_group_uuid=group, sender=ref(sender), text=text)


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
def test_polls_require_login_and_answer_json(client, fake_gateway, name):
    args = [str(uuid.uuid4())] if name == "conversation_poll" else []

    response = client.get(reverse(f"messaging:{name}", args=args), {"after": "x", "token": "y"})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "Sign in" in response.json()["error"]
    assert fake_gateway.calls == []


@pytest.mark.parametrize("name", ["poll", "conversation_poll"])
def test_polls_are_get_only_and_never_cached(fake_gateway, andrew, name):
    args = [str(uuid.uuid4())] if name == "conversation_poll" else []
    client = signed_in(andrew)

    assert client.post(reverse(f"messaging:{name}", args=args)).status_code == 405
    response = client.get(reverse("messaging:poll"))
    assert "no-store" in response["Cache-Control"]


def test_the_poll_url_is_not_taken_for_a_conversation(fake_gateway, andrew):
    assert reverse("messaging:poll") == "/messages/poll/"
    response = signed_in(andrew).get("/messages/poll/")
    assert response.status_code == 200
    assert fake_gateway.calls == ["list_message_groups"]


# --- the conversation poll ---


def test_idle_conversation_poll_is_one_query_and_no_names_lookup(
    fake_gateway, andrew, bayko, django_assert_max_num_queries
):
    group = seed(fake_gateway, andrew, bayko, count=30)
    thread = Thread(signed_in(andrew), group)
    fake_gateway.calls.clear()

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
    assert fake_gateway.calls == ["list_messages_after"]


def test_new_messages_come_in_order_once_and_the_position_moves_on(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    first = send(fake_gateway, group, bayko, "one <b>bold</b> & more")
    second = send(fake_gateway, group, bayko, "two")

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


def test_own_messages_reset_the_unread_guess_and_show_as_yours(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(fake_gateway, group, bayko, "theirs")
    send(fake_gateway, group, andrew, "mine, from another tab")
    send(fake_gateway, group, bayko, "theirs again")

    body = thread.poll(unread=5).json()

    assert [(m["author"], m["mine"]) for m in body["messages"]] == [
        ("Andrew Bayko", False),
        ("You", True),
        ("Andrew Bayko", False),
    ]
    assert body["unread"] == 1


def test_a_tab_in_front_marks_what_it_shows_read(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(fake_gateway, group, bayko, "hello?")
    send(fake_gateway, group, bayko, "are you there?")
    fake_gateway.calls.clear()

    body = thread.poll(read="1").json()

    assert (body["unread"], body["read"]) == (0, True)
    assert fake_gateway.calls == ["list_messages_after", "mark_read"]
    assert fake_gateway.groups[str(andrew.uuid)][group].unread == 0
    assert fake_gateway.groups[str(bayko.uuid)][group].unread == 0


def test_a_tab_behind_marks_nothing_until_it_comes_to_front(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(fake_gateway, group, bayko, "while you were away")

    away = thread.poll().json()
    assert fake_gateway.groups[str(andrew.uuid)][group].unread == 1
    fake_gateway.calls.clear()

    back = thread.poll(after=away["after"], unread=away["unread"], read="1").json()

    assert (back["messages"], back["unread"], back["read"]) == ([], 0, True)
    assert fake_gateway.calls == ["list_messages_after", "mark_read"]
    assert fake_gateway.groups[str(andrew.uuid)][group].unread == 0


def test_nothing_to_mark_writes_nothing(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(fake_gateway, group, andrew, "only mine")
    fake_gateway.calls.clear()

    body = thread.poll(read="1").json()

    assert (body["unread"], body["read"]) == (0, False)
    assert fake_gateway.calls == ["list_messages_after"]


def test_an_old_page_of_a_conversation_does_not_poll(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko, count=30)
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
def test_a_missing_or_forged_token_is_404(fake_gateway, andrew, bayko, token):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    fake_gateway.calls.clear()

    url = reverse("messaging:conversation_poll", args=[group])
    response = thread.client.get(url, {"token": token, "after": thread.after})

    assert response.status_code == 404
    assert response.json() == {"error": "No such conversation."}
    assert fake_gateway.calls == []


def test_a_token_works_only_for_its_user_and_conversation(fake_gateway, andrew, bayko, londo):
    group = seed(fake_gateway, andrew, bayko)
    other = seed(fake_gateway, andrew, londo)
    thread = Thread(signed_in(andrew), group)
    token = re.search(r"token=([^&]+)", thread.url).group(1)
    fake_gateway.calls.clear()

    as_londo = get(signed_in(londo), thread.url, {"after": thread.after})
    as_bayko = get(signed_in(bayko), thread.url, {"after": thread.after})
    elsewhere = get(
        thread.client,
        f"{reverse('messaging:conversation_poll', args=[other])}?token={token}",
        {"after": thread.after},
    )

    assert [r.status_code for r in (as_londo, as_bayko, elsewhere)] == [404, 404, 404]
    assert fake_gateway.calls == []


@pytest.mark.parametrize("after", ["", "garbage", "2026-13-45T99:00:00", "2026-01-01T00:00:00"])
def test_a_bad_position_is_400(fake_gateway, andrew, bayko, after):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)

    response = thread.poll(after=after)

    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("unread", ["x", "-1", "10001", "1.5"])
def test_a_bad_unread_guess_is_400(fake_gateway, andrew, bayko, unread):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    fake_gateway.calls.clear()

    response = thread.poll(unread=unread)

    assert response.status_code == 400
    assert fake_gateway.calls == []


# --- the inbox poll ---


def test_idle_inbox_poll_is_one_small_query(
    fake_gateway, andrew, bayko, make_user, django_assert_max_num_queries
):
    for i in range(25):
        seed(fake_gateway, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")
    fake_gateway.calls.clear()

    with django_assert_max_num_queries(2):
        body = inbox_poll(client, since=state, rows="1").json()

    assert body == {"state": state, "changed": False, "unread_conversations": 0}
    assert fake_gateway.calls == ["list_message_groups"]


def test_a_new_message_moves_its_conversation_to_the_top_marked(fake_gateway, andrew, bayko, londo):
    now = timezone.now()
    with_bayko = seed(fake_gateway, andrew, bayko, start=now - timedelta(days=3))
    with_londo = seed(fake_gateway, andrew, londo, start=now - timedelta(days=1))
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")
    send(fake_gateway, with_bayko, bayko, "Up you go")
    fake_gateway.calls.clear()

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
    assert fake_gateway.calls == ["list_message_groups", "list_message_groups"]
    # From the new state on, quiet again.
    assert inbox_poll(client, since=body["state"], rows="1").json()["changed"] is False


def test_without_a_list_the_poll_only_counts(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    send(fake_gateway, group, bayko, "ping")
    client = signed_in(andrew)
    fake_gateway.calls.clear()

    body = inbox_poll(client, since="").json()

    assert body["changed"] is True
    assert body["unread_conversations"] == 1
    assert "rows" not in body
    assert fake_gateway.calls == ["list_message_groups"]


def test_a_read_elsewhere_changes_the_state(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    send(fake_gateway, group, bayko, "ping")
    client = signed_in(andrew)
    state = attribute(client.get("/messages/").content.decode(), "data-state")

    Thread(signed_in(andrew), group)  # opened in another tab: marked read

    body = inbox_poll(client, since=state, rows="1").json()
    assert body["changed"] is True
    assert (body["unread_conversations"], body["rows"][0]["unread"]) == (0, 0)


def test_the_conversation_being_read_shows_read_and_reports_its_count(fake_gateway, andrew, bayko):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(fake_gateway, group, bayko, "new")

    body = inbox_poll(thread.client, since=thread.state, rows="1", reading=group).json()

    assert body["rows"][0]["unread"] == 0
    assert body["unread_conversations"] == 0
    assert body["reading_unread"] == 1
    # Once the tab marks it read, the state is what the poll promised: quiet again.
    thread.poll(read="1")
    assert inbox_poll(thread.client, since=body["state"], rows="1").json()["changed"] is False


def test_a_conversation_page_starts_in_step_with_the_poll(fake_gateway, andrew, bayko, londo):
    group = seed(fake_gateway, andrew, bayko)
    other = seed(fake_gateway, andrew, londo)
    send(fake_gateway, group, bayko, "unread until opened")
    send(fake_gateway, other, londo, "still unread")

    thread = Thread(signed_in(andrew), group)  # marks `group` read while rendering

    body = inbox_poll(thread.client, since=thread.state, rows="1").json()
    assert body["changed"] is False
    assert body["unread_conversations"] == 1


def test_the_older_link_follows_the_redrawn_first_page(fake_gateway, andrew, make_user):
    for i in range(21):
        seed(fake_gateway, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)

    body = inbox_poll(client, since="", rows="1").json()

    assert len(body["rows"]) == 20
    assert body["older_url"].startswith("/messages/?cursor=")
    assert client.get(body["older_url"]).status_code == 200


def test_a_state_too_long_is_400(fake_gateway, andrew):
    response = inbox_poll(signed_in(andrew), since="x" * 65)

    assert response.status_code == 400
    assert fake_gateway.calls == []


# --- faults ---


@pytest.mark.parametrize(
    "error",
    [
        gateway.Unavailable("down"),
        gateway.Throttled("slow down"),
        gateway.TableNotFound("no table"),
        gateway.Conflict("busy"),
    ],
)
def test_polls_answer_503_json_when_dynamodb_is_unavailable(fake_gateway, andrew, bayko, error):
    group = seed(fake_gateway, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    fake_gateway.fail_with = error

    responses = [thread.poll(), inbox_poll(thread.client, since="", rows="1")]

    for response in responses:
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "5"
        assert "unavailable" in response.json()["error"]


# --- the pages carry what the script needs ---


def test_pages_include_the_script_and_its_hooks(fake_gateway, andrew, bayko, londo):
    group = seed(fake_gateway, andrew, bayko)
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


def test_later_inbox_pages_poll_only_for_the_count(fake_gateway, andrew, make_user):
    for i in range(25):
        seed(fake_gateway, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    cursor = client.get("/messages/").context["inbox"].next_cursor

    later = client.get("/messages/", {"cursor": cursor}).content.decode()

    assert 'data-state=""' in later
    assert "data-live-rows" not in later
    assert "data-live-list" not in later


def test_an_empty_inbox_has_a_list_for_the_first_conversation(fake_gateway, andrew):
    html = signed_in(andrew).get("/messages/").content.decode()

    assert '<ul class="convo-list" role="list" data-live-list>' in html
    assert "data-live-empty" in html


# --- DynamoDB cost of a poll, measured over moto's HTTP server ---


@pytest.fixture
def dynamodb(moto_endpoint):
    gateway.get_gateway().create_schema()
    return gateway.get_gateway()


def measured(user, url, params):
    """Call the view behind `url` as `user` inside `track_usage()`.

    Straight to the view (RequestFactory): the project's cost middleware opens its own
    `track_usage()` per request, which would hide the calls from this one.
    """
    path, _, query = url.partition("?")
    request = RequestFactory().get(f"{path}?{'&'.join(filter(None, [query, urlencode(params)]))}")
    request.user = user
    match = resolve(path)
    with track_usage() as usage:
        response = match.func(request, *match.args, **match.kwargs)
    assert response.status_code == 200, response.content
    return json.loads(response.content), usage


def figures(usage) -> str:
    return (
        f"{usage.requests} requests ({', '.join(c.operation for c in usage.calls)}), "
        f"{usage.items_read} items, {usage.bytes_read} B read, {usage.read_units:g} RCU, "
        f"{usage.write_units:g} WCU"
    )


def test_poll_costs_idle_and_busy_on_dynamodb(dynamodb, andrew, bayko, make_user):
    # A full inbox (25 conversations) and a long conversation: the idle cost must not grow
    # with either.
    for i in range(24):
        services.start_conversation(
            sender=andrew, recipient=make_user(f"user{i:02d}"), text=f"hello {i}"
        )
    group = services.start_conversation(sender=bayko, recipient=andrew, text="first")
    for i in range(60):
        services.send_message(
            sender=andrew,
            group=dynamodb.list_message_groups(user_uuid=str(andrew.uuid)).items[0],
            text=f"message {i} " + "x" * 60,
        )
    client = signed_in(andrew)
    thread = Thread(client, group)
    thread_url, inbox_url = thread.url, reverse("messaging:poll")
    inbox_state = attribute(client.get("/messages/").content.decode(), "data-state")
    report = []

    body, idle_inbox = measured(andrew, inbox_url, {"since": inbox_state, "rows": "1"})
    assert body["changed"] is False
    assert (idle_inbox.requests, idle_inbox.items_read) == (1, 2)  # counter + newest row
    assert idle_inbox.bytes_read < 600
    assert idle_inbox.read_units == 0.5
    report.append(f"inbox poll, idle:         {figures(idle_inbox)}")

    body, idle_thread = measured(andrew, thread_url, {"after": thread.after, "read": "1"})
    assert body["messages"] == []
    assert (idle_thread.requests, idle_thread.items_read, idle_thread.bytes_read) == (1, 0, 0)
    assert idle_thread.read_units == 0.5
    report.append(f"conversation poll, idle:  {figures(idle_thread)}")

    bayko_group = dynamodb.list_message_groups(user_uuid=str(bayko.uuid)).items[0]
    services.send_message(sender=bayko, group=bayko_group, text="Are you there?")

    body, busy_inbox = measured(
        andrew, inbox_url, {"since": inbox_state, "rows": "1", "reading": group}
    )
    assert body["changed"] is True and body["rows"][0]["uuid"] == group
    assert [c.operation for c in busy_inbox.calls] == ["query", "query"]
    state_after_busy = body["state"]  # as it will be once this tab marks the message read
    report.append(f"inbox poll, busy:         {figures(busy_inbox)}")

    body, busy_thread = measured(andrew, thread_url, {"after": thread.after, "read": "1"})
    assert [m["text"] for m in body["messages"]] == ["Are you there?"]
    assert body["read"] is True
    assert [c.operation for c in busy_thread.calls] == ["query", "transact_write_items"]
    assert busy_thread.items_read == 1
    report.append(f"conversation poll, busy:  {figures(busy_thread)}")

    # The read reached DynamoDB: the row, its read marker and the counter.
    [row] = [
        g
        for g in dynamodb.list_message_groups(user_uuid=str(andrew.uuid)).items
        if g.message_group_uuid == group
    ]
    assert row.unread == 0
    assert dynamodb.list_message_groups(user_uuid=str(andrew.uuid)).unread_conversations == 0
    stored = [
        i for i in dynamodb.scan() if i["pk"] == f"GRP#{andrew.uuid}" and i["sk"] == row.sort_key
    ]
    assert stored[0]["last_read_sk"] == row.sort_key

    # ... and the next poll is idle again, at the state the busy poll promised.
    body, after_busy = measured(andrew, inbox_url, {"since": state_after_busy, "rows": "1"})
    assert body["changed"] is False and after_busy.requests == 1
    print("\nDynamoDB cost per poll (capacity computed from item sizes by AWS's rules):")
    print("\n".join(report))
