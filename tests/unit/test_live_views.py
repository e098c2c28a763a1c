"""The live poll (static/js/live.js has htmx send a page's live form to it) and the service
behind it, over the in-memory store. Its DynamoDB cost is measured over moto's HTTP server in
tests/integration/test_live_cost.py.

The poll answers the live form's next fields and out-of-band swaps drawn with the pages' own
partials; these tests read them the way htmx does (the fields, the elements marked
hx-swap-oob and where they go), and check that a row, a message and the unread badge are the
same markup in a poll's answer as in a page, and that new messages join the one shown last.
"""

import dataclasses
import html as html_lib
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.test.html import Element, parse_html
from django.urls import resolve, reverse
from django.utils import timezone

from messaging import errors, services
from messaging.domain import NewMessage
from tests.helpers import ref, within_budget

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


def live_fields(html: str) -> dict[str, str]:
    """The hidden fields of a page's live form (or of a poll's answer), by name."""
    form = re.search(r'<form id="live".*?</form>', html, re.S)
    inputs = re.findall(
        r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0) if form else html
    )
    return {name: html_lib.unescape(value) for name, value in inputs}


class Thread:
    """A conversation page as live.js sees it: its live form, sent to the poll."""

    def __init__(self, client, group):
        page = client.get(reverse("messaging:conversation", args=[group])).content.decode()
        self.client = client
        self.fields = live_fields(page)
        self.after = self.fields["after"]
        self.state = self.fields["since"]
        self.url = f"{reverse('messaging:poll')}?{urlencode(self.fields)}"

    def poll(self, **params):
        return self.client.get(reverse("messaging:poll"), {**self.fields, **params})


def inbox_poll(client, **params):
    return client.get(reverse("messaging:poll"), params)


def row_uuids(body):
    return [row["uuid"] for row in body["rows"]]


# --- reading the answers as htmx does ---


def fragment(response) -> Element:
    """A poll's answer, parsed: the live form's fields and the out-of-band elements."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return parse_html(same_csrf(response.content.decode()))


def page_tree(response) -> Element:
    assert response.status_code == 200, response.content
    return parse_html(same_csrf(response.content.decode()))


def same_csrf(html: str) -> str:
    """The page with its CSRF tokens alike: Django masks the token anew in every response, so
    the same form (a message's Unsend) differs only there between a page and a poll."""
    return re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]*"', r'\1csrf"', html)


def descendants(node: Element) -> Iterator[Element]:
    for child in node.children:
        if isinstance(child, Element):
            yield child
            yield from descendants(child)


def attrs(element: Element) -> dict[str, str | None]:
    return dict(element.attributes)


def having(node: Element, attribute: str, value: str | None = None) -> list[Element]:
    return [
        e
        for e in descendants(node)
        if attribute in attrs(e) and (value is None or attrs(e)[attribute] == value)
    ]


def with_class(node: Element, name: str) -> list[Element]:
    return [e for e in descendants(node) if name in (attrs(e).get("class") or "").split()]


def one(node: Element, class_name: str) -> Element:
    [found] = with_class(node, class_name)
    return found


def text(element: Element) -> str:
    return "".join(c if isinstance(c, str) else text(c) for c in element.children)


def badge_count(node: Element) -> int:
    """The number on a `.badge` (0 without one), which reads "<n> unread"."""
    badges = with_class(node, "badge")
    if not badges:
        return 0
    [badge] = badges
    assert text(one(badge, "visually-hidden")) == "unread"
    return int(badge.children[0])


def time_fields(node: Element) -> dict[str, object]:
    [time] = [e for e in descendants(node) if e.name == "time"]
    return {"when": text(time), "datetime": attrs(time)["datetime"], "title": attrs(time)["title"]}


def row_fields(item: Element) -> dict[str, object]:
    """An inbox row as the person sees it (`_conversation_list.html`)."""
    assert item.name == "li"
    [link] = [e for e in item.children if isinstance(e, Element)]
    href = attrs(link)["href"]
    unread = badge_count(link)
    assert ("is-unread" in attrs(link)["class"].split()) == (unread > 0)
    return {
        "uuid": str(resolve(href).kwargs["conversation_uuid"]),
        "url": href,
        "name": text(one(link, "convo-name")),
        "handle": text(one(link, "handle")).removeprefix("@"),
        "initial": text(one(link, "avatar")),
        "last_message": text(one(link, "convo-last")),
        **time_fields(link),
        "unread": unread,
        "current": attrs(link).get("aria-current") == "page",
    }


def messages_in(node: Element) -> list[Element]:
    """The message items of a list, without its day separators."""
    return [item for item in node.children if "data-message-uuid" in attrs(item)]


def outside_actions(node: Element) -> Iterator[Element]:
    """The descendants of a message but its own controls (Unsend, Edit: `.msg-actions`)."""
    for child in node.children:
        if isinstance(child, Element) and "msg-actions" not in (attrs(child).get("class") or ""):
            yield child
            yield from outside_actions(child)


def message_fields(item: Element) -> dict[str, object]:
    """A message as the person sees it (`_messages.html`)."""
    assert item.name == "li"
    shown = [e for e in outside_actions(item) if e.name not in {"div", "p", "span", "time"}]
    assert not shown, "only text in a message, its Unsend and Edit controls apart"
    return {
        "uuid": attrs(item)["data-message-uuid"],
        "author": text(one(item, "msg-author")),
        "mine": "msg-mine" in attrs(item)["class"].split(),
        "continued": "msg-continued" in attrs(item)["class"].split(),
        "text": text(one(item, "msg-text")),
        **time_fields(item),
    }


def swapped(root: Element, oob: str) -> list[Element]:
    """The elements of an answer that htmx swaps out of band as `oob` says."""
    return having(root, "hx-swap-oob", oob)


def inbox_answer(response) -> dict[str, object]:
    """What an answer changes of the inbox: the badge always, the list when it was redrawn."""
    root = fragment(response)
    [badge] = swapped(root, "true")[:1]
    assert attrs(badge)["id"] == "unread-badge"
    state = live_fields(response.content.decode())["since"]
    body = {
        "state": state,
        "changed": state != response.wsgi_request.GET.get("since"),
        "unread_conversations": badge_count(badge),
    }
    lists = [e for e in swapped(root, "true") if attrs(e).get("id") == "conversations"]
    if lists:
        [redrawn] = lists
        [rows] = with_class(redrawn, "convo-list")
        older = [e for e in descendants(redrawn) if attrs(e).get("rel") == "next"]
        body.update(
            rows=[row_fields(item) for item in rows.children],
            older_url=attrs(older[0])["href"] if older else None,
        )
    return body


def thread_answer(response) -> dict[str, object]:
    """What an answer changes of the open conversation, and where it stands next."""
    root = fragment(response)
    appended = swapped(root, "beforeend:#thread-messages")
    fields = live_fields(response.content.decode())
    return {
        "messages": [message_fields(i) for i in (messages_in(appended[0]) if appended else [])],
        "separators": [
            text(e)
            for e in (appended[0].children if appended else [])
            if isinstance(e, Element) and "day-separator" in (attrs(e).get("class") or "")
        ],
        "after": fields["after"],
        "unread": int(fields["unread"]),
        "again": "cruddur:again" in response.get("HX-Trigger", ""),
    }


def text_error(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return response.content.decode()


# --- access ---


def test_the_poll_requires_login_and_answers_a_short_text(client, memory_store):
    response = client.get(reverse("messaging:poll"), {"after": "x", "token": "y"})

    assert "Sign in" in text_error(response, 403)
    assert memory_store.calls == []


def test_the_poll_is_get_only_and_never_cached(memory_store, andrew):
    client = signed_in(andrew)

    assert client.post(reverse("messaging:poll")).status_code == 405
    response = client.get(reverse("messaging:poll"))
    assert "no-store" in response["Cache-Control"]


def test_the_poll_url_is_not_taken_for_a_conversation(memory_store, andrew):
    assert reverse("messaging:poll") == "/messages/poll/"
    response = signed_in(andrew).get("/messages/poll/")
    assert response.status_code == 200
    assert within_budget(memory_store.calls, list_conversations=1)


# --- the open conversation ---


def test_an_idle_poll_is_one_small_query_and_no_names_lookup(
    memory_store, andrew, bayko, django_assert_max_num_queries
):
    group = seed(memory_store, andrew, bayko, count=30)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    with django_assert_max_num_queries(2):  # the session and the user, nothing else
        response = thread.poll(read="1")

    assert thread_answer(response) == {
        "messages": [],
        "separators": [],
        "after": thread.after,
        "unread": 0,
        "again": False,
    }
    assert inbox_answer(response)["changed"] is False
    assert within_budget(memory_store.calls, list_conversations=1)


def test_new_messages_come_in_order_once_and_the_position_moves_on(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    first = send(memory_store, group, bayko, "one <b>bold</b> & more")
    second = send(memory_store, group, bayko, "two")
    memory_store.calls.clear()

    response = thread.poll()
    body = thread_answer(response)

    assert [m["uuid"] for m in body["messages"]] == [first.message_uuid, second.message_uuid]
    assert [m["text"] for m in body["messages"]] == ["one <b>bold</b> & more", "two"]
    assert "one &lt;b&gt;bold&lt;/b&gt; &amp; more" in response.content.decode()  # escaped
    assert body["messages"][0]["author"] == "Andrew Bayko"
    assert body["messages"][0]["mine"] is False
    assert body["messages"][0]["when"] == first.created_at.strftime("%H:%M")  # UTC here
    assert body["messages"][0]["datetime"] == first.created_at.isoformat()
    assert (body["after"], body["unread"]) == (second.sort_key, 2)
    # One request for the change: the inbox's state and page, and the messages.
    assert within_budget(memory_store.calls, list_conversations=2, list_messages_after=1)
    # Polling on from the next state the answer holds: nothing twice.
    next_fields = live_fields(response.content.decode())
    again = signed_in(andrew).get(reverse("messaging:poll"), next_fields)
    assert thread_answer(again)["messages"] == []


def test_new_messages_are_drawn_joined_to_the_one_shown_last(memory_store, andrew, bayko):
    """The seam: the page's last message was bayko's, today; his next ones continue his group
    and need no day separator, andrew's do not continue it."""
    group = seed(memory_store, andrew, bayko, count=2, start=timezone.now() - timedelta(minutes=5))
    thread = Thread(signed_in(andrew), group)
    assert thread.fields["sender"] == str(bayko.uuid)
    send(memory_store, group, bayko, "his, again")
    send(memory_store, group, andrew, "mine")

    body = thread_answer(thread.poll())

    assert body["separators"] == []  # the day runs on
    assert [(m["text"], m["continued"]) for m in body["messages"]] == [
        ("his, again", True),
        ("mine", False),
    ]
    # A page drawn from nothing above starts its own group, with its day.
    fresh = thread_answer(thread.poll(sender="", day=""))
    assert fresh["separators"] == ["Today"]
    assert fresh["messages"][0]["continued"] is False


def test_own_messages_reset_the_unread_guess_and_show_as_yours(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "theirs")
    send(memory_store, group, andrew, "mine, from another tab")
    send(memory_store, group, bayko, "theirs again")

    body = thread_answer(thread.poll(unread=5))

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

    response = thread.poll(read="1")
    body = thread_answer(response)

    assert body["unread"] == 0
    assert within_budget(
        memory_store.calls, list_conversations=2, list_messages_after=1, mark_read=1
    )
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0
    assert memory_store.entries[str(bayko.uuid)][group].unread == 0
    # The redrawn sidebar shows it read, and the badge nothing.
    inbox = inbox_answer(response)
    assert (inbox["rows"][0]["unread"], inbox["rows"][0]["current"]) == (0, True)
    assert inbox["unread_conversations"] == 0


def test_a_poll_answers_when_marking_read_fails_and_keeps_the_count(
    memory_store, andrew, bayko, monkeypatch
):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "hello?")

    def refuse(**position):
        raise errors.Throttled("DynamoDB is throttling writes; try again in a moment.")

    monkeypatch.setattr(memory_store, "mark_read", refuse)
    body = thread_answer(thread.poll(read="1"))

    assert [m["text"] for m in body["messages"]] == ["hello?"]
    assert body["unread"] == 1  # the next poll asks to mark it again
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1


def test_a_tab_behind_marks_nothing_until_it_comes_to_front(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "while you were away")

    away = thread.poll()
    assert thread_answer(away)["unread"] == 1
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1
    memory_store.calls.clear()

    fields = {**live_fields(away.content.decode()), "read": "1"}
    back = thread_answer(thread.client.get(reverse("messaging:poll"), fields))

    assert (back["messages"], back["unread"]) == ([], 0)
    assert within_budget(
        memory_store.calls, list_conversations=1, list_messages_after=1, mark_read=1
    )
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0


def test_nothing_to_mark_writes_nothing(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, andrew, "only mine")
    memory_store.calls.clear()

    body = thread_answer(thread.poll(read="1"))

    assert body["unread"] == 0
    assert within_budget(memory_store.calls, list_conversations=2, list_messages_after=1)


def test_reads_that_lag_ask_to_look_again(memory_store, andrew, bayko, monkeypatch):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "not readable yet")
    monkeypatch.setattr(memory_store, "list_messages_after", lambda **query: ())

    body = thread_answer(thread.poll())

    assert (body["messages"], body["after"], body["again"]) == ([], thread.after, True)


def test_an_old_page_of_a_conversation_polls_only_for_the_list(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=30)
    client = signed_in(andrew)
    newest = client.get(reverse("messaging:conversation", args=[group])).context["conversation"]

    older = client.get(
        reverse("messaging:conversation", args=[group]), {"before": newest.earlier_cursor}
    ).content.decode()

    assert set(live_fields(older)) == {"since", "list", "current"}
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

    response = thread.poll(token=token)

    assert text_error(response, 404) == "No such conversation."
    assert memory_store.calls == []


def test_a_token_works_only_for_its_user_and_conversation(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    poll = reverse("messaging:poll")
    as_londo = signed_in(londo).get(poll, thread.fields)
    as_bayko = signed_in(bayko).get(poll, thread.fields)
    elsewhere = thread.poll(conversation=other)

    for response in (as_londo, as_bayko, elsewhere):
        assert text_error(response, 404) == "No such conversation."
    assert memory_store.calls == []


@pytest.mark.parametrize("after", ["", "garbage", "2026-13-45T99:00:00", "2026-01-01T00:00:00"])
def test_a_bad_position_is_400(memory_store, andrew, bayko, after):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)

    response = thread.poll(after=after, unread="1", read="1")  # a poll that reads messages

    assert text_error(response, 400)


@pytest.mark.parametrize("unread", ["x", "-1", "10001", "1.5"])
def test_a_bad_unread_guess_is_400(memory_store, andrew, bayko, unread):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    response = thread.poll(unread=unread)

    assert "unread" in text_error(response, 400)
    assert memory_store.calls == []


# --- the inbox ---


def test_idle_inbox_poll_is_one_small_query(
    memory_store, andrew, bayko, make_user, django_assert_max_num_queries
):
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    state = live_fields(client.get("/messages/").content.decode())["since"]
    memory_store.calls.clear()

    with django_assert_max_num_queries(2):
        body = inbox_answer(inbox_poll(client, since=state, list="inbox"))

    assert body == {"state": state, "changed": False, "unread_conversations": 0}
    assert within_budget(memory_store.calls, list_conversations=1)


def test_a_new_message_moves_its_conversation_to_the_top_marked(memory_store, andrew, bayko, londo):
    now = timezone.now()
    with_bayko = seed(memory_store, andrew, bayko, start=now - timedelta(days=3))
    with_londo = seed(memory_store, andrew, londo, start=now - timedelta(days=1))
    client = signed_in(andrew)
    state = live_fields(client.get("/messages/").content.decode())["since"]
    send(memory_store, with_bayko, bayko, "Up you go")
    memory_store.calls.clear()

    body = inbox_answer(inbox_poll(client, since=state, list="inbox"))

    assert body["changed"] is True
    assert row_uuids(body) == [with_bayko, with_londo]
    top = body["rows"][0]
    assert (top["name"], top["handle"], top["initial"]) == ("Andrew Bayko", "bayko", "A")
    assert (top["last_message"], top["unread"], top["when"]) == ("Up you go", 1, "now")
    assert top["url"] == reverse("messaging:conversation", args=[with_bayko])
    assert body["rows"][1]["unread"] == 0
    assert not any(row["current"] for row in body["rows"])  # no conversation open beside it
    assert body["unread_conversations"] == 1
    assert body["older_url"] is None
    assert within_budget(memory_store.calls, list_conversations=2)
    # From the new state on, quiet again.
    assert inbox_answer(inbox_poll(client, since=body["state"], list="inbox"))["changed"] is False


def test_without_a_list_the_poll_only_counts(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    send(memory_store, group, bayko, "ping")
    client = signed_in(andrew)
    memory_store.calls.clear()

    body = inbox_answer(inbox_poll(client, since=""))

    assert body["changed"] is True
    assert body["unread_conversations"] == 1
    assert "rows" not in body
    assert within_budget(memory_store.calls, list_conversations=1)


def test_a_read_elsewhere_changes_the_state(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    send(memory_store, group, bayko, "ping")
    client = signed_in(andrew)
    state = live_fields(client.get("/messages/").content.decode())["since"]

    Thread(signed_in(andrew), group)  # opened in another tab: marked read

    body = inbox_answer(inbox_poll(client, since=state, list="inbox"))
    assert body["changed"] is True
    assert (body["unread_conversations"], body["rows"][0]["unread"]) == (0, 0)


def test_the_conversation_read_by_the_poll_is_quiet_afterwards(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "new")

    response = thread.poll(read="1")

    # The state it promised is the one the store holds once it marked it read: quiet again.
    again = thread.client.get(reverse("messaging:poll"), live_fields(response.content.decode()))
    assert inbox_answer(again)["changed"] is False
    assert thread_answer(again)["messages"] == []


def test_a_row_read_by_the_list_is_marked_by_the_same_poll(memory_store, andrew, bayko):
    """The list shows the open conversation read when the tab is in front, so the same poll
    marks what that row held, even without new messages to show (another tab's page)."""
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "shown by another poll already")
    caught_up = {**thread.fields, "after": memory_store.entries[str(andrew.uuid)][group].sort_key}

    response = thread.client.get(reverse("messaging:poll"), {**caught_up, "read": "1"})

    assert inbox_answer(response)["rows"][0]["unread"] == 0
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0


def test_a_conversation_page_starts_in_step_with_the_poll(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    send(memory_store, group, bayko, "unread until opened")
    send(memory_store, other, londo, "still unread")

    thread = Thread(signed_in(andrew), group)  # marks `group` read while rendering

    body = inbox_answer(thread.poll())
    assert body["changed"] is False
    assert body["unread_conversations"] == 1


def test_the_older_link_follows_the_redrawn_first_page(memory_store, andrew, make_user):
    for i in range(21):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)

    body = inbox_answer(inbox_poll(client, since="", list="inbox"))

    assert len(body["rows"]) == 20
    assert body["older_url"].startswith("/messages/?cursor=")
    assert client.get(body["older_url"]).status_code == 200


@pytest.mark.parametrize("name", ["since", "current", "list", "after", "row", "sender", "day"])
def test_a_parameter_too_long_is_400(memory_store, andrew, bayko, name):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    response = thread.poll(**{name: "x" * 65})

    assert name in text_error(response, 400)
    assert memory_store.calls == []


# --- faults ---


@pytest.mark.parametrize(
    "error",
    [
        errors.Unavailable("down"),
        errors.Throttled("slow down"),
        errors.TableNotFound("no table"),
        errors.Conflict("busy"),
    ],
)
def test_the_poll_answers_503_when_dynamodb_is_unavailable(memory_store, andrew, bayko, error):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.fail_with = error

    responses = [thread.poll(), inbox_poll(thread.client, since="", list="inbox")]

    for response in responses:
        assert "unavailable" in text_error(response, 503)
        assert response["Retry-After"] == "5"


# --- the pages carry what the script needs ---


def test_pages_include_htmx_the_bridge_and_the_live_form(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    client = signed_in(andrew)

    inbox = client.get("/messages/").content.decode()
    conversation = client.get(reverse("messaging:conversation", args=[group])).content.decode()
    new = client.get("/messages/new/londo/").content.decode()

    for page in (inbox, conversation, new):
        assert "django_htmx/htmx-2.min.js" in page
        assert "js/live.js" in page
        assert 'hx-get="/messages/poll/"' in page
        assert 'data-events-url="/messages/events/"' in page
        assert '<span id="unread-badge" data-live-unread>' in page
    assert live_fields(inbox)["list"] == "inbox"
    fields = live_fields(conversation)
    assert (fields["list"], fields["current"], fields["conversation"]) == ("sidebar", group, group)
    assert 'id="thread-messages" aria-label="Messages" aria-live="polite"' in conversation
    assert '<template id="pending-message">' in conversation
    assert set(live_fields(new)) == {"since"}


def test_later_inbox_pages_poll_only_for_the_count(memory_store, andrew, make_user):
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    cursor = client.get("/messages/").context["inbox"].next_cursor

    later = client.get("/messages/", {"cursor": cursor}).content.decode()

    assert live_fields(later) == {"since": ""}
    assert 'id="conversations"' not in later


def test_an_empty_inbox_has_a_list_for_the_first_conversation(memory_store, andrew):
    html = signed_in(andrew).get("/messages/").content.decode()

    assert '<div id="conversations">' in html
    assert "No conversations yet." in html


# --- one source of markup: a poll sends what the pages print ---


def test_a_row_and_the_badge_are_the_same_markup_in_the_poll_as_in_the_pages(
    memory_store, andrew, bayko, londo
):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    send(memory_store, other, londo, "unread, with <i>markup</i> & an ampersand")
    client = signed_in(andrew)

    def oob_free(element):
        return str(element).replace(' hx-swap-oob="true"', "")

    inbox = page_tree(client.get("/messages/"))
    polled = fragment(inbox_poll(client, since="", list="inbox"))

    [page_list], [polled_list] = having(inbox, "id", "conversations"), swapped(polled, "true")[1:]
    assert [
        row_fields(item)["uuid"] for item in with_class(polled_list, "convo-list")[0].children
    ] == [other, group]
    assert oob_free(polled_list) == str(page_list)  # the list, row by row, element by element
    [page_badge], [polled_badge] = having(inbox, "id", "unread-badge"), swapped(polled, "true")[:1]
    assert oob_free(polled_badge) == str(page_badge)
    assert badge_count(polled_badge) == 1

    # The conversation page's sidebar: the open conversation is the current row.
    thread = Thread(client, group)
    conversation = page_tree(client.get(reverse("messaging:conversation", args=[group])))
    polled = fragment(thread.poll(since="", read="1"))

    [page_list] = having(conversation, "id", "conversations")
    [polled_list] = [e for e in swapped(polled, "true") if attrs(e)["id"] == "conversations"]
    assert oob_free(polled_list) == str(page_list)
    rows = with_class(polled_list, "convo-list")[0].children
    assert [row_fields(item)["current"] for item in rows] == [False, True]


def test_a_message_is_the_same_markup_in_the_poll_as_in_the_page(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    theirs = send(memory_store, group, bayko, "theirs, with <b>markup</b> & an ampersand")
    mine = send(memory_store, group, andrew, "mine")

    [appended] = swapped(fragment(thread.poll()), "beforeend:#thread-messages")
    page = page_tree(thread.client.get(reverse("messaging:conversation", args=[group])))

    [shown] = having(page, "id", "thread-messages")
    by_uuid = {attrs(item)["data-message-uuid"]: item for item in messages_in(shown)}
    polled = messages_in(appended)
    assert [attrs(item)["data-message-uuid"] for item in polled] == [
        theirs.message_uuid,
        mine.message_uuid,
    ]
    # The same markup, grouping included: the poll drew them joined to the page's last one.
    assert polled == [by_uuid[theirs.message_uuid], by_uuid[mine.message_uuid]]
    assert [message_fields(item)["mine"] for item in polled] == [False, True]


# --- "Earlier messages" in place ---


def earlier(client, group, cursor):
    url = reverse("messaging:conversation", args=[group])
    return client.get(url, {"before": cursor}, headers={"HX-Request": "true"})


def test_earlier_messages_come_alone_joined_to_the_page_below(memory_store, andrew, bayko):
    """Thirty messages of one day; the page boundary falls inside bayko's group."""
    start = timezone.now().replace(hour=12, minute=0) - timedelta(days=1)
    group = str(uuid.uuid4())
    senders = [andrew] * 5 + [bayko] * 25
    memory_store.import_conversation(
        conversation_uuid=group,
        participants=(ref(andrew), ref(bayko)),
        messages=[
            NewMessage(str(uuid.uuid4()), ref(who), f"m{i}", start + timedelta(minutes=i))
            for i, who in enumerate(senders)
        ],
    )
    client = signed_in(andrew)
    page = client.get(reverse("messaging:conversation", args=[group])).context["conversation"]
    first_shown = page.messages[0]
    assert not first_shown.continued
    memory_store.calls.clear()

    response = earlier(client, group, page.earlier_cursor)

    html = response.content.decode()
    root = parse_html(html)
    assert "<html" not in html  # the older page alone
    [link] = having(root, "id", "earlier")
    assert "This is the start of your conversation" in text(link)
    [above] = swapped(root, "afterbegin:#thread-messages")
    assert [message_fields(m)["text"] for m in messages_in(above)] == [f"m{i}" for i in range(10)]
    # The day runs on: the separator of the page below goes, and its first message is drawn
    # again, now continuing bayko's group.
    day = first_shown.time.day_iso
    delete = f"delete:#thread-messages > [data-day='{day}'].day-separator"
    assert len(swapped(root, delete)) == 1
    [redrawn] = swapped(root, f"outerHTML:[data-message-uuid='{first_shown.message_uuid}']")
    assert message_fields(redrawn)["continued"] is True
    assert text(swapped(root, "innerHTML:#thread-status")[0]) == "10 earlier messages loaded."
    # The membership check, the page, and the one message after it.
    assert within_budget(
        memory_store.calls, get_participants=1, list_messages=1, list_messages_after=1
    )


def test_earlier_messages_without_javascript_are_the_older_page(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=30)
    client = signed_in(andrew)
    cursor = (
        client.get(reverse("messaging:conversation", args=[group]))
        .context["conversation"]
        .earlier_cursor
    )

    page = client.get(reverse("messaging:conversation", args=[group]), {"before": cursor})

    assert "<html" in page.content.decode() and "Newest messages" in page.content.decode()


# --- the service behind the conversation poll ---


def catch_up(user, group, **kwargs):
    kwargs.setdefault("unread", 0)
    kwargs.setdefault("mark_read", False)
    return services.catch_up(user=user, conversation_uuid=group, **kwargs)


def test_catch_up_counts_the_other_persons_messages_since_your_last(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    after = memory_store.entries[str(andrew.uuid)][group].sort_key
    send(memory_store, group, bayko, "one")
    send(memory_store, group, andrew, "two: sending means reading")
    send(memory_store, group, bayko, "three")
    last = send(memory_store, group, bayko, "four")
    memory_store.calls.clear()

    result = catch_up(andrew, group, after=after, unread=7)

    assert [m.text for m in result.messages] == [
        "one",
        "two: sending means reading",
        "three",
        "four",
    ]
    assert (result.after, result.unread, result.marked_read, result.more) == (
        last.sort_key,
        2,
        False,
        False,
    )
    assert within_budget(memory_store.calls, list_messages_after=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.unread = 0


def test_catch_up_marks_read_only_when_asked_and_something_is_unread(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    after = memory_store.entries[str(andrew.uuid)][group].sort_key
    last = send(memory_store, group, bayko, "hello?")
    memory_store.calls.clear()

    away = catch_up(andrew, group, after=after)
    nothing_new = catch_up(andrew, group, after=away.after, mark_read=True)
    assert within_budget(memory_store.calls, list_messages_after=2)  # no write: none unread
    memory_store.calls.clear()

    back = catch_up(andrew, group, after=away.after, unread=away.unread, mark_read=True)

    assert (away.unread, away.marked_read) == (1, False)
    assert (nothing_new.messages, nothing_new.unread, nothing_new.marked_read) == ((), 0, False)
    assert (back.messages, back.after, back.unread, back.marked_read) == (
        (),
        last.sort_key,
        0,
        True,
    )
    assert within_budget(memory_store.calls, list_messages_after=1, mark_read=1)
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0


def test_catch_up_asks_for_more_after_a_full_batch(memory_store, andrew, bayko, monkeypatch):
    monkeypatch.setattr(services, "LIVE_MESSAGES_PER_POLL", 2)
    group = seed(memory_store, andrew, bayko)
    after = memory_store.entries[str(andrew.uuid)][group].sort_key
    for word in ("a", "b", "c"):
        send(memory_store, group, bayko, word)

    first = catch_up(andrew, group, after=after)
    rest = catch_up(andrew, group, after=first.after, unread=first.unread)

    assert ([m.text for m in first.messages], first.unread, first.more) == (["a", "b"], 2, True)
    assert ([m.text for m in rest.messages], rest.unread, rest.more) == (["c"], 3, False)
