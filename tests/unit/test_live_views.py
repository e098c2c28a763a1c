"""The live endpoints (static/js/live.js polls them) and the service behind the conversation
poll, over the in-memory store. Their DynamoDB cost is measured over moto's HTTP server in
tests/integration/test_live_cost.py.

The endpoints answer HTML fragments drawn with the pages' own partials; these tests read them
the way live.js does (the root's data-* attributes, the elements it swaps in), and check that
a row, a message and the unread badge are the same markup in a poll's answer as in a page.
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


# --- reading the fragments as live.js does ---


def fragment(response) -> Element:
    """The root element of a poll's answer: one HTML element, as live.js parses it."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/html; charset=utf-8"
    root = parse_html(response.content.decode())
    assert isinstance(root, Element) and root.name, "one root element"
    return root


def page_tree(response) -> Element:
    assert response.status_code == 200, response.content
    return parse_html(response.content.decode())


def descendants(node: Element) -> Iterator[Element]:
    for child in node.children:
        if isinstance(child, Element):
            yield child
            yield from descendants(child)


def attrs(element: Element) -> dict[str, str | None]:
    return dict(element.attributes)


def having(node: Element, attribute: str) -> list[Element]:
    return [e for e in descendants(node) if attribute in attrs(e)]


def with_class(node: Element, name: str) -> list[Element]:
    return [e for e in descendants(node) if name in (attrs(e).get("class") or "").split()]


def one(node: Element, class_name: str) -> Element:
    [found] = with_class(node, class_name)
    return found


def text(element: Element) -> str:
    return "".join(c if isinstance(c, str) else text(c) for c in element.children)


def flag(value: str | None) -> bool:
    return {"true": True, "false": False}[value]


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
        "uuid": resolve(href).kwargs["conversation_uuid"],
        "url": href,
        "name": text(one(link, "convo-name")),
        "handle": text(one(link, "handle")).removeprefix("@"),
        "initial": text(one(link, "avatar")),
        "last_message": text(one(link, "convo-last")),
        **time_fields(link),
        "unread": unread,
        "current": attrs(link).get("aria-current") == "page",
        "sort_key": attrs(item).get("data-sort-key"),  # drawn on the current row only
    }


def messages_in(node: Element) -> list[Element]:
    """The message items of a list, without its day separators."""
    return [item for item in node.children if "data-message-uuid" in attrs(item)]


def ungrouped(item: Element) -> str:
    return str(item).replace(" msg-continued", "")


def message_fields(item: Element) -> dict[str, object]:
    """A message as the person sees it (`_messages.html`)."""
    assert item.name == "li"
    assert not [e for e in descendants(item) if e.name not in {"div", "p", "span", "time"}]
    return {
        "uuid": attrs(item)["data-message-uuid"],
        "author": text(one(item, "msg-author")),
        "mine": "msg-mine" in attrs(item)["class"].split(),
        "text": text(one(item, "msg-text")),
        **time_fields(item),
    }


def inbox_answer(response) -> dict[str, object]:
    """What live.js takes from an inbox poll's answer; the list only when it was redrawn."""
    root = fragment(response)
    assert (root.name, "data-inbox-update" in attrs(root)) == ("div", True)
    [badge] = having(root, "data-live-unread")
    body = {
        "state": attrs(root)["data-state"],
        "changed": flag(attrs(root)["data-changed"]),
        "unread_conversations": badge_count(badge),
    }
    lists = having(root, "data-live-list")
    if lists:
        [redrawn] = lists
        body.update(
            rows=[row_fields(item) for item in redrawn.children],
            older_url=attrs(root).get("data-older-url"),
            reading_unread=int(attrs(root)["data-reading-unread"]),
        )
    return body


def thread_answer(response) -> dict[str, object]:
    """What live.js takes from a conversation poll's answer."""
    root = fragment(response)
    assert (root.name, "data-new-messages" in attrs(root)) == ("ol", True)
    return {
        "messages": [message_fields(item) for item in messages_in(root)],
        "after": attrs(root)["data-after"],
        "unread": int(attrs(root)["data-unread"]),
        "read": flag(attrs(root)["data-read"]),
        "more": flag(attrs(root)["data-more"]),
    }


def text_error(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return response.content.decode()


# --- access ---


@pytest.mark.parametrize("name", ["poll", "conversation_poll"])
def test_polls_require_login_and_answer_a_short_text(client, memory_store, name):
    args = [str(uuid.uuid4())] if name == "conversation_poll" else []

    response = client.get(reverse(f"messaging:{name}", args=args), {"after": "x", "token": "y"})

    assert "Sign in" in text_error(response, 403)
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

    assert thread_answer(response) == {
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

    response = thread.poll()
    body = thread_answer(response)

    assert [m["uuid"] for m in body["messages"]] == [first.message_uuid, second.message_uuid]
    assert [m["text"] for m in body["messages"]] == ["one <b>bold</b> & more", "two"]
    assert "one &lt;b&gt;bold&lt;/b&gt; &amp; more" in response.content.decode()  # escaped
    assert body["messages"][0]["author"] == "Andrew Bayko"
    assert body["messages"][0]["mine"] is False
    assert body["messages"][0]["when"] == first.created_at.strftime("%H:%M")  # UTC here
    assert body["messages"][0]["datetime"] == first.created_at.isoformat()
    assert body["after"] == second.sort_key
    assert (body["unread"], body["read"]) == (2, False)
    # Polling on from the new position: nothing twice.
    assert thread_answer(thread.poll(after=body["after"], unread=body["unread"]))["messages"] == []


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

    body = thread_answer(thread.poll(read="1"))

    assert (body["unread"], body["read"]) == (0, True)
    assert memory_store.calls == ["list_messages_after", "mark_read"]
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0
    assert memory_store.entries[str(bayko.uuid)][group].unread == 0


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
    assert (body["unread"], body["read"]) == (1, False)  # live.js asks to mark it again
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1


def test_a_tab_behind_marks_nothing_until_it_comes_to_front(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "while you were away")

    away = thread_answer(thread.poll())
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1
    memory_store.calls.clear()

    back = thread_answer(thread.poll(after=away["after"], unread=away["unread"], read="1"))

    assert (back["messages"], back["unread"], back["read"]) == ([], 0, True)
    assert memory_store.calls == ["list_messages_after", "mark_read"]
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0


def test_nothing_to_mark_writes_nothing(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, andrew, "only mine")
    memory_store.calls.clear()

    body = thread_answer(thread.poll(read="1"))

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

    assert text_error(response, 404) == "No such conversation."
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

    for response in (as_londo, as_bayko, elsewhere):
        assert text_error(response, 404) == "No such conversation."
    assert memory_store.calls == []


@pytest.mark.parametrize("after", ["", "garbage", "2026-13-45T99:00:00", "2026-01-01T00:00:00"])
def test_a_bad_position_is_400(memory_store, andrew, bayko, after):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)

    response = thread.poll(after=after)

    assert text_error(response, 400)


@pytest.mark.parametrize("unread", ["x", "-1", "10001", "1.5"])
def test_a_bad_unread_guess_is_400(memory_store, andrew, bayko, unread):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.calls.clear()

    response = thread.poll(unread=unread)

    assert "unread" in text_error(response, 400)
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
        body = inbox_answer(inbox_poll(client, since=state, rows="1"))

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

    body = inbox_answer(inbox_poll(client, since=state, rows="1"))

    assert body["changed"] is True
    assert body["state"] != state
    assert row_uuids(body) == [with_bayko, with_londo]
    top = body["rows"][0]
    assert (top["name"], top["handle"], top["initial"]) == ("Andrew Bayko", "bayko", "A")
    assert (top["last_message"], top["unread"], top["when"]) == ("Up you go", 1, "now")
    assert top["url"] == reverse("messaging:conversation", args=[with_bayko])
    assert body["rows"][1]["unread"] == 0
    assert not any(row["current"] for row in body["rows"])  # no conversation open beside it
    assert body["unread_conversations"] == 1
    assert body["older_url"] is None
    assert memory_store.calls == ["list_conversations", "list_conversations"]
    # From the new state on, quiet again.
    assert inbox_answer(inbox_poll(client, since=body["state"], rows="1"))["changed"] is False


def test_without_a_list_the_poll_only_counts(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    send(memory_store, group, bayko, "ping")
    client = signed_in(andrew)
    memory_store.calls.clear()

    body = inbox_answer(inbox_poll(client, since=""))

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

    body = inbox_answer(inbox_poll(client, since=state, rows="1"))
    assert body["changed"] is True
    assert (body["unread_conversations"], body["rows"][0]["unread"]) == (0, 0)


def test_the_conversation_being_read_shows_read_and_reports_its_count(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    send(memory_store, group, bayko, "new")

    body = inbox_answer(
        inbox_poll(thread.client, since=thread.state, rows="1", current=group, reading=group)
    )

    assert body["rows"][0]["unread"] == 0
    assert body["rows"][0]["current"] is True
    assert body["unread_conversations"] == 0
    assert body["reading_unread"] == 1
    # Once the tab marks it read, the state is what the poll promised: quiet again.
    thread.poll(read="1")
    assert (
        inbox_answer(inbox_poll(thread.client, since=body["state"], rows="1"))["changed"] is False
    )


def test_a_conversation_page_starts_in_step_with_the_poll(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    send(memory_store, group, bayko, "unread until opened")
    send(memory_store, other, londo, "still unread")

    thread = Thread(signed_in(andrew), group)  # marks `group` read while rendering

    body = inbox_answer(inbox_poll(thread.client, since=thread.state, rows="1"))
    assert body["changed"] is False
    assert body["unread_conversations"] == 1


def test_the_older_link_follows_the_redrawn_first_page(memory_store, andrew, make_user):
    for i in range(21):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)

    body = inbox_answer(inbox_poll(client, since="", rows="1"))

    assert len(body["rows"]) == 20
    assert body["older_url"].startswith("/messages/?cursor=")
    assert client.get(body["older_url"]).status_code == 200


@pytest.mark.parametrize("name", ["since", "current", "reading"])
def test_a_state_or_conversation_too_long_is_400(memory_store, andrew, name):
    response = inbox_poll(signed_in(andrew), **{"since": "", "rows": "1", name: "x" * 65})

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
def test_polls_answer_503_when_dynamodb_is_unavailable(memory_store, andrew, bayko, error):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    memory_store.fail_with = error

    responses = [thread.poll(), inbox_poll(thread.client, since="", rows="1")]

    for response in responses:
        assert "unavailable" in text_error(response, 503)
        assert response["Retry-After"] == "5"


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


# --- one source of markup: a poll sends what the pages print ---


def test_a_row_and_the_badge_are_the_same_markup_in_the_poll_as_in_the_pages(
    memory_store, andrew, bayko, londo
):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    send(memory_store, other, londo, "unread, with <i>markup</i> & an ampersand")
    client = signed_in(andrew)

    inbox = page_tree(client.get("/messages/"))
    polled = fragment(inbox_poll(client, since="", rows="1"))

    [page_list], [polled_list] = having(inbox, "data-live-list"), having(polled, "data-live-list")
    assert [row_fields(item)["uuid"] for item in polled_list.children] == [other, group]
    assert polled_list == page_list  # the list, row by row, element by element
    assert having(polled, "data-live-unread") == having(inbox, "data-live-unread")
    assert badge_count(having(polled, "data-live-unread")[0]) == 1

    # The conversation page's sidebar: the open conversation is the current row.
    conversation = page_tree(client.get(reverse("messaging:conversation", args=[group])))
    polled = fragment(inbox_poll(client, since="", rows="1", current=group, reading=group))

    [page_list], [polled_list] = (
        having(conversation, "data-live-list"),
        having(polled, "data-live-list"),
    )
    assert polled_list == page_list
    assert [row_fields(item)["current"] for item in polled_list.children] == [False, True]
    assert having(polled, "data-live-unread") == having(conversation, "data-live-unread")


def test_a_message_is_the_same_markup_in_the_poll_as_in_the_page(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    thread = Thread(signed_in(andrew), group)
    theirs = send(memory_store, group, bayko, "theirs, with <b>markup</b> & an ampersand")
    mine = send(memory_store, group, andrew, "mine")

    polled = messages_in(fragment(thread.poll()))
    page = page_tree(thread.client.get(reverse("messaging:conversation", args=[group])))

    [shown] = having(page, "data-live-messages")
    by_uuid = {attrs(item)["data-message-uuid"]: item for item in messages_in(shown)}
    assert [attrs(item)["data-message-uuid"] for item in polled] == [
        theirs.message_uuid,
        mine.message_uuid,
    ]
    # The same markup, but for the grouping with the message before, which a list cannot
    # know at its start (live.js joins lists: msg-continued).
    assert [ungrouped(item) for item in polled] == [
        ungrouped(by_uuid[theirs.message_uuid]),
        ungrouped(by_uuid[mine.message_uuid]),
    ]
    assert [message_fields(item)["mine"] for item in polled] == [False, True]


def test_the_open_conversation_row_is_drawn_current_with_its_sort_key(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    client = signed_in(andrew)
    send(memory_store, group, bayko, "moves the row")
    row_sort_key = memory_store.entries[str(andrew.uuid)][group].sort_key

    [plain] = inbox_answer(inbox_poll(client, since="", rows="1"))["rows"]
    [current] = inbox_answer(inbox_poll(client, since="", rows="1", current=group))["rows"]

    assert (plain["current"], plain["sort_key"]) == (False, None)
    assert (current["current"], current["sort_key"]) == (True, row_sort_key)
    assert current["unread"] == 1  # open but not in front: not marked, so not shown read


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
    assert memory_store.calls == ["list_messages_after"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.unread = 0


def test_catch_up_marks_read_only_when_asked_and_something_is_unread(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    after = memory_store.entries[str(andrew.uuid)][group].sort_key
    last = send(memory_store, group, bayko, "hello?")
    memory_store.calls.clear()

    away = catch_up(andrew, group, after=after)
    nothing_new = catch_up(andrew, group, after=away.after, mark_read=True)
    assert memory_store.calls == ["list_messages_after", "list_messages_after"]

    back = catch_up(andrew, group, after=away.after, unread=away.unread, mark_read=True)

    assert (away.unread, away.marked_read) == (1, False)
    assert (nothing_new.messages, nothing_new.unread, nothing_new.marked_read) == ((), 0, False)
    assert (back.messages, back.after, back.unread, back.marked_read) == (
        (),
        last.sort_key,
        0,
        True,
    )
    assert memory_store.calls[2:] == ["list_messages_after", "mark_read"]
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
