"""The messaging pages over the in-memory store (messaging/memory.py) and real Postgres."""

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import errors
from tests.conftest import forget_cached
from tests.helpers import conversation_url, ref, seed, signed_in, stored_texts, token, within_budget

pytestmark = pytest.mark.django_db


# --- fixtures and helpers ---


def shown(html: str) -> str:
    """The page without its <template>s (markup for scripts to clone, not shown)."""
    return re.sub(r"<template\b.*?</template>", "", html, flags=re.S)


def texts_in_thread(html: str) -> list[str]:
    return re.findall(r'<p class="msg-text">(.*?)</p>', shown(html), flags=re.S)


def names_in_list(html: str) -> list[str]:
    return re.findall(r'<span class="convo-name">(.*?)</span>', html)


def others(page_rows) -> list[str]:
    return [row.other.handle for row in page_rows]


# --- login ---


@pytest.mark.parametrize(
    "path",
    [
        "/messages/",
        "/messages/new/",
        "/messages/new/bayko/",
        "/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_requires_login(client, memory_store, path, method):
    data = {"text": "hi", "token": token()} if method == "post" else {}
    response = getattr(client, method)(path, data)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    assert memory_store.calls == []


# --- inbox ---


def test_inbox_lists_conversations_newest_first(memory_store, andrew, bayko, londo, make_user):
    vir = make_user("vir", display_name="Vir Cotto")
    now = timezone.now()
    seed(memory_store, andrew, bayko, start=now - timedelta(hours=5))
    seed(memory_store, londo, andrew, start=now - timedelta(minutes=30))
    seed(memory_store, andrew, vir, start=now - timedelta(days=3))

    response = signed_in(andrew).get("/messages/")

    assert response.status_code == 200
    assert others(response.context["inbox"].rows) == ["londo", "bayko", "vir"]
    assert names_in_list(response.content.decode()) == [
        "Londo Mollari",
        "Andrew Bayko",
        "Vir Cotto",
    ]


def test_inbox_row_shows_person_last_message_time_and_link(memory_store, andrew, bayko):
    five_minutes_ago = timezone.now() - timedelta(minutes=5, seconds=10)
    group = seed(
        memory_store, bayko, andrew, start=five_minutes_ago, texts=["See you on Babylon 5"]
    )

    html = signed_in(andrew).get("/messages/").content.decode()

    row = re.search(r'<a class="convo[^"]*" href="([^"]+)".*?</a>', html, flags=re.S)
    assert row.group(1) == conversation_url(group)
    assert "Andrew Bayko" in row.group(0)
    assert "@bayko" in row.group(0)
    assert '<span class="convo-last">See you on Babylon 5</span>' in row.group(0)
    stamp = five_minutes_ago.astimezone(UTC)
    assert f'datetime="{stamp.isoformat()}"' in row.group(0)
    assert f'title="{stamp:%A} {stamp.day} {stamp:%B %Y, %H:%M} UTC"' in row.group(0)
    assert ">5m</time>" in row.group(0)


@pytest.mark.parametrize(
    ("age_or_moment", "label"),
    [
        (timedelta(seconds=20), "now"),
        (timedelta(minutes=42, seconds=5), "42m"),
        (timedelta(hours=3, minutes=1), "3h"),
        (datetime(2020, 3, 3, 12, 0, tzinfo=UTC), "Mar 3, 2020"),
    ],
)
def test_inbox_times_are_relative(memory_store, andrew, bayko, age_or_moment, label):
    if isinstance(age_or_moment, timedelta):
        moment = timezone.now() - age_or_moment
    else:
        moment = age_or_moment
    seed(memory_store, andrew, bayko, start=moment)

    html = signed_in(andrew).get("/messages/").content.decode()

    assert re.search(rf'<time class="convo-when"[^>]*>{re.escape(label)}</time>', html)


def test_inbox_empty_state_tells_how_to_start(memory_store, andrew):
    response = signed_in(andrew).get("/messages/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "No conversations yet." in html
    assert 'href="#id_handle"' in html
    assert '<input type="text" name="handle"' in html
    assert 'rel="next"' not in html


def test_inbox_pages_with_older_link(memory_store, andrew, make_user):
    start = timezone.now() - timedelta(days=10)
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"), start=start + timedelta(hours=i))
    client = signed_in(andrew)

    first = client.get("/messages/")
    older = re.search(r'<a rel="next" href="([^"]+)">Older</a>', first.content.decode())
    second = client.get(older.group(1).replace("&amp;", "&"))

    assert others(first.context["inbox"].rows) == [f"user{i:02d}" for i in range(24, 4, -1)]
    assert others(second.context["inbox"].rows) == [f"user{i:02d}" for i in range(4, -1, -1)]
    assert "?cursor=" in older.group(1)
    assert 'rel="next"' not in second.content.decode()
    assert ">Newest</a>" in second.content.decode()


def test_inbox_shows_unread_counts(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    seed(memory_store, andrew, londo)
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="ping")
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="ping again")

    response = signed_in(andrew).get("/messages/")

    html = response.content.decode()
    assert response.context["unread_conversations"] == 1
    assert '<a class="convo is-unread"' in html
    assert '2<span class="visually-hidden"> unread</span>' in html  # the row
    assert '1<span class="visually-hidden"> unread</span>' in html  # the nav badge


# --- the New message box ---


@pytest.mark.parametrize("typed", ["@bayko", "bayko", " BayKo ", "@BAYKO"])
def test_new_message_box_goes_to_the_new_page(memory_store, andrew, bayko, typed):
    response = signed_in(andrew).get("/messages/new/", {"handle": typed})

    assert response.status_code == 302
    assert response["Location"] == "/messages/new/bayko/"


def test_new_message_box_also_accepts_post(memory_store, andrew, bayko):
    response = signed_in(andrew).post("/messages/new/", {"handle": "@bayko"})

    assert response.status_code == 302
    assert response["Location"] == "/messages/new/bayko/"


@pytest.mark.parametrize("method", ["get", "post"])
def test_new_message_box_unknown_handle_shows_inbox_with_error(memory_store, andrew, bayko, method):
    seed(memory_store, andrew, bayko)

    response = getattr(signed_in(andrew), method)("/messages/new/", {"handle": "@nobody"})

    html = response.content.decode()
    assert response.status_code == (422 if method == "post" else 200)
    assert 'id="id_handle_error" role="alert">No user @nobody.</p>' in html
    assert 'value="@nobody"' in html
    assert 'aria-invalid="true"' in html
    assert "id_handle_error" in re.search(r"<input[^>]*name=\"handle\"[^>]*>", html).group(0)
    assert names_in_list(html) == ["Andrew Bayko"]  # the inbox is still there


def test_new_message_box_rejects_yourself(memory_store, andrew):
    response = signed_in(andrew).get("/messages/new/", {"handle": "@AndrewBrown"})

    assert response.status_code == 200
    assert "You can&#x27;t message yourself." in response.content.decode()


def test_new_message_box_without_handle_goes_to_inbox(memory_store, andrew):
    response = signed_in(andrew).get("/messages/new/")

    assert response.status_code == 302
    assert response["Location"] == "/messages/"


# --- conversation: access ---


def test_conversation_is_404_for_a_non_member(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko, texts=["secret"])

    response = signed_in(londo).get(conversation_url(group))

    assert response.status_code == 404
    assert "secret" not in response.content.decode()


@pytest.mark.parametrize(
    "group",
    ["not-a-uuid", "5ae290ed-55d1-47a0-bc6d", "1ee6592c-edb6-48ee-b73d-270eab53d580", "new-ish"],
)
def test_conversation_is_404_for_malformed_or_missing_group(memory_store, andrew, group):
    response = signed_in(andrew).get(f"/messages/{group}/")

    assert response.status_code == 404
    # The same page for both: a malformed uuid matches no path, a missing one is not found.
    assert "404.html" in [template.name for template in response.templates]


def test_non_member_cannot_post(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko, texts=["hello"])

    response = signed_in(londo).post(conversation_url(group), {"text": "me too", "token": token()})

    assert response.status_code == 404
    assert stored_texts(memory_store, group) == ["hello"]


@pytest.mark.parametrize("cursor", ["garbage", "eyJwayI6IDF9", "%%%"])
def test_bad_cursor_is_404_in_a_conversation_and_the_first_page_in_the_inbox(
    memory_store, andrew, bayko, cursor
):
    group = seed(memory_store, andrew, bayko, count=3)
    client = signed_in(andrew)

    assert client.get(conversation_url(group), {"before": cursor}).status_code == 404
    inbox = client.get("/messages/", {"cursor": cursor})
    assert inbox.status_code == 200
    assert inbox.context["cursor"] is None  # the first page, with its live updates
    assert names_in_list(inbox.content.decode()) == ["Andrew Bayko"]


def test_cursor_of_another_conversation_is_404(memory_store, andrew, bayko, londo):
    mine = seed(memory_store, andrew, bayko, count=3)
    theirs = seed(memory_store, andrew, londo, count=30)
    client = signed_in(andrew)
    foreign = client.get(conversation_url(theirs)).context["conversation"].earlier_cursor

    assert foreign
    assert client.get(conversation_url(mine), {"before": foreign}).status_code == 404
    assert client.get("/messages/", {"cursor": foreign}).context["cursor"] is None


# --- conversation: reading ---


def test_conversation_shows_messages_oldest_to_newest(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["first", "second", "third", "fourth"])

    response = signed_in(andrew).get(conversation_url(group))

    assert response.status_code == 200
    assert texts_in_thread(response.content.decode()) == ["first", "second", "third", "fourth"]


def test_conversation_shows_newest_twenty_of_many(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=25)

    response = signed_in(andrew).get(conversation_url(group))

    assert texts_in_thread(response.content.decode()) == [f"message {i}" for i in range(5, 25)]


def test_own_messages_are_set_apart(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["mine", "theirs", "mine again"])

    html = shown(signed_in(andrew).get(conversation_url(group)).content.decode())

    items = re.findall(r'<li class="(msg[^"]*)"[^>]*>.*?<p class="msg-text">(.*?)</p>', html, re.S)
    assert items == [("msg msg-mine", "mine"), ("msg", "theirs"), ("msg msg-mine", "mine again")]
    assert html.count('<span class="msg-author">You</span>') == 2
    assert html.count('<span class="msg-author">Andrew Bayko</span>') == 1


def test_conversation_has_header_sidebar_and_reply_form(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)

    html = signed_in(andrew).get(conversation_url(group)).content.decode()

    header = re.search(r'<h1 id="conversation-title">(.*?)</h1>', html, re.S).group(1)
    assert "Andrew Bayko" in header and "@bayko" in header
    current = re.findall(r'<a class="convo[^"]*" href="([^"]+)" aria-current="page"[^>]*>', html)
    assert current == [conversation_url(group)]
    assert f'href="{conversation_url(other)}"' in html
    assert '<label class="visually-hidden" for="id_text">Reply to Andrew Bayko</label>' in html
    textarea = re.search(r"<textarea[^>]*>", html).group(0)
    # No maxlength: the browser would count UTF-16 units; compose.js counts characters.
    assert "maxlength" not in textarea
    assert 'data-max-length="1024"' in textarea
    assert 'aria-describedby="id_text_counter"' in textarea
    assert 'id="id_text_counter" data-compose-counter>0 / 1024</span>' in html
    assert re.search(r'<input type="hidden" name="token" value="[0-9a-f-]{36}">', html)
    assert "js/compose.js" in html


def test_earlier_messages_page_back_to_the_very_first(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=45)
    client = signed_in(andrew)

    seen, url, pages = [], conversation_url(group), 0
    while url:
        html = client.get(url).content.decode()
        seen = texts_in_thread(html) + seen
        pages += 1
        earlier = re.search(r'<a rel="prev" href="([^"]+)"[^>]*>Earlier messages</a>', html)
        url = earlier.group(1).replace("&amp;", "&") if earlier else None
        assert pages <= 5

    assert pages == 3
    assert seen == [f"message {i}" for i in range(45)]
    assert "This is the start of your conversation with Andrew Bayko." in html
    assert ">Newest messages</a>" in html


# --- conversation: replying ---


def test_reply_redirects_and_shows_at_bottom_and_moves_both_inboxes(
    memory_store, andrew, bayko, londo
):
    group = seed(memory_store, andrew, bayko, texts=["hi", "hello"])
    seed(memory_store, andrew, londo, start=timezone.now() - timedelta(hours=1))
    seed(memory_store, bayko, londo, start=timezone.now() - timedelta(hours=1))
    client = signed_in(andrew)

    response = client.post(conversation_url(group), {"text": "  How are you?  ", "token": token()})

    assert response.status_code == 303
    assert response["Location"] == conversation_url(group)
    page = client.get(response["Location"])
    assert texts_in_thread(page.content.decode()) == ["hi", "hello", "How are you?"]
    for user in (andrew, bayko):
        rows = signed_in(user).get("/messages/").context["inbox"].rows
        assert rows[0].conversation_uuid == group
        assert rows[0].last_message == "How are you?"
    assert signed_in(bayko).get("/messages/").context["inbox"].rows[0].unread == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "Write a message before sending."),
        ("   \r\n\t  ", "Write a message before sending."),
        ("x" * 1025, "A message can be at most 1024 characters (this one has 1025)."),
    ],
)
def test_bad_reply_comes_back_with_error_and_text(memory_store, andrew, bayko, text, error):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    memory_store.calls.clear()

    response = signed_in(andrew).post(conversation_url(group), {"text": text, "token": token()})

    html = response.content.decode()
    assert response.status_code == 422
    assert f'<p class="error" id="id_text_error" role="alert">{error}</p>' in html
    textarea = re.search(r"(<textarea[^>]*>)\n(.*?)</textarea>", html, re.S)
    assert textarea.group(2) == text
    assert 'aria-invalid="true"' in textarea.group(1)
    assert 'aria-describedby="id_text_error id_text_counter"' in textarea.group(1)
    assert "create_message" not in memory_store.calls
    assert stored_texts(memory_store, group) == ["hi"]
    assert texts_in_thread(html) == ["hi"]  # the rest of the page is still there


def test_reply_of_exactly_1024_characters_is_sent(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    response = signed_in(andrew).post(
        conversation_url(group), {"text": "y" * 1024, "token": token()}
    )

    assert response.status_code == 303
    assert stored_texts(memory_store, group) == ["hi", "y" * 1024]


def test_resubmitted_form_sends_once(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    form = {"text": "only once", "token": token()}

    first = client.post(conversation_url(group), form)
    second = client.post(conversation_url(group), form)

    assert first.status_code == second.status_code == 303
    assert second["Location"] == conversation_url(group)
    assert stored_texts(memory_store, group) == ["hi", "only once"]
    # Both reached the store, which found the second one's token already claimed.
    assert memory_store.calls.count("create_message") == 2


def test_a_send_reads_the_participants_once_and_writes_no_session(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    form = {"text": "hello", "token": token()}
    client.get(conversation_url(group))  # the profiles, into the cache
    memory_store.calls.clear()

    with CaptureQueriesContext(connection) as queries:
        response = client.post(conversation_url(group), form)

    assert response.status_code == 303
    # The user (the session is in the cache), then the two people as the database holds them
    # (whether one may write to the other is never decided on the cache); the token is the
    # store's to keep, not the session's.
    statements = [q["sql"].split()[0] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert statements == ["SELECT", "SELECT"]
    assert "EXISTS" in queries[-1]["sql"]
    assert within_budget(memory_store.calls, get_participants=1, create_message=1)
    [passed] = memory_store.participants_passed
    assert [g.owner_uuid for g in passed] == [str(andrew.uuid), str(bayko.uuid)]  # own first
    assert stored_texts(memory_store, group) == ["hi", "hello"]
    # The spent token was stored all the same: the same form again sends nothing.
    assert client.post(conversation_url(group), form).status_code == 303
    assert stored_texts(memory_store, group) == ["hi", "hello"]


def test_each_new_form_sends(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)

    client.post(conversation_url(group), {"text": "same words", "token": token()})
    client.post(conversation_url(group), {"text": "same words", "token": token()})

    assert stored_texts(memory_store, group) == ["hi", "same words", "same words"]


def test_a_form_sent_from_another_session_is_still_sent_once(memory_store, andrew, bayko):
    # The token is claimed in the store, so a second tab, or the same form replayed after a
    # new login, finds it claimed too.
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    form = {"text": "from two tabs", "token": token()}

    responses = [signed_in(andrew).post(conversation_url(group), form) for _ in range(3)]

    assert [r.status_code for r in responses] == [303, 303, 303]
    assert stored_texts(memory_store, group) == ["hi", "from two tabs"]


def test_missing_or_bad_token_asks_to_send_again(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    response = signed_in(andrew).post(conversation_url(group), {"text": "kept", "token": "nope"})

    html = response.content.decode()
    assert response.status_code == 422
    assert "This form has expired. Please send again." in html
    assert re.search(r"<textarea[^>]*>\nkept</textarea>", html)
    fresh = re.search(r'name="token" value="([^"]+)"', html).group(1)
    assert uuid.UUID(fresh)
    assert stored_texts(memory_store, group) == ["hi"]


def test_csrf_is_enforced(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew, enforce_csrf_checks=True)

    reply = client.post(conversation_url(group), {"text": "no token", "token": token()})
    first = client.post("/messages/new/bayko/", {"text": "no token", "token": token()})

    assert reply.status_code == first.status_code == 403
    assert stored_texts(memory_store, group) == ["hi"]


def test_csrf_token_in_the_form_is_accepted(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew, enforce_csrf_checks=True)
    html = client.get(conversation_url(group)).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = client.post(
        conversation_url(group), {"csrfmiddlewaretoken": csrf, "text": "ok", "token": token()}
    )

    assert response.status_code == 303
    assert stored_texts(memory_store, group) == ["hi", "ok"]


def test_user_text_is_escaped(memory_store, andrew, make_user):
    mallory = make_user("mallory", display_name="<b>Mallory</b>")
    group = seed(memory_store, mallory, andrew, texts=["<script>alert(1)</script>"])
    client = signed_in(andrew)

    pages = [client.get("/messages/"), client.get(conversation_url(group))]

    for page in pages:
        html = page.content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>Mallory</b>" not in html
        assert "&lt;b&gt;Mallory&lt;/b&gt;" in html


def test_names_are_current_after_a_rename(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi", "hello"])
    bayko.display_name = "Bayko the Great"
    bayko.handle = "thegreat"
    bayko.save()
    client = signed_in(andrew)

    inbox = client.get("/messages/").content.decode()
    thread = client.get(conversation_url(group)).content.decode()

    for html in (inbox, thread):
        assert "Bayko the Great" in html
        assert "@thegreat" in html
        assert "Andrew Bayko" not in html
        assert "@bayko" not in html
    assert '<span class="msg-author">Bayko the Great</span>' in thread


def test_a_deleted_user_is_shown_as_deleted_user(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi", "bye"])
    bayko.delete()
    client = signed_in(andrew)

    inbox = client.get("/messages/").content.decode()
    thread = client.get(conversation_url(group)).content.decode()

    assert names_in_list(inbox) == ["Deleted user"]
    assert "@bayko" not in inbox and "@bayko" not in thread
    assert '<span class="msg-author">Deleted user</span>' in thread


@pytest.mark.parametrize("page", ["inbox", "conversation", "new"])
def test_message_pages_are_never_cached(memory_store, andrew, bayko, londo, page):
    group = seed(memory_store, andrew, bayko)
    url = {
        "inbox": "/messages/",
        "conversation": conversation_url(group),
        "new": "/messages/new/londo/",
    }[page]

    response = signed_in(andrew).get(url)

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]


# --- faults ---


@pytest.mark.parametrize(
    "error",
    [
        errors.Unavailable("DynamoDB cannot be reached."),
        errors.Throttled("DynamoDB kept throttling."),
        errors.TableNotFound("Run manage.py ddb_schema_load."),
        errors.Conflict("Too many concurrent writes."),
    ],
)
def test_unavailable_page_on_gateway_faults(memory_store, andrew, bayko, error, caplog):
    group = seed(memory_store, andrew, bayko)
    memory_store.fail_with = error
    client = signed_in(andrew)

    with caplog.at_level(logging.ERROR, logger="messaging"):
        responses = [
            client.get("/messages/"),
            client.get(conversation_url(group)),
            client.get("/messages/new/bayko/"),
        ]

    for response in responses:
        assert response.status_code == 503
        assert "Messaging is unavailable" in response.content.decode()
        assert "no-store" in response["Cache-Control"]
    logged = [r.getMessage() for r in caplog.records if r.name == "messaging.views"]
    assert len(logged) == 3
    assert all(f"{type(error).__name__}: {error}" in message for message in logged)


@pytest.mark.parametrize(
    "error",
    [errors.Throttled("slow down"), errors.Unavailable("down"), errors.Conflict("lost a race")],
)
def test_a_conversation_opens_when_marking_it_read_fails(
    memory_store, andrew, bayko, error, monkeypatch, caplog
):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="newest")

    def refuse(**position):
        raise error

    monkeypatch.setattr(memory_store, "mark_read", refuse)
    with caplog.at_level(logging.WARNING, logger="messaging"):
        response = signed_in(andrew).get(conversation_url(group))

    assert response.status_code == 200
    assert texts_in_thread(response.content.decode()) == ["hi", "newest"]
    assert memory_store.entries[str(andrew.uuid)][group].unread == 1  # the next view clears it
    [logged] = [r for r in caplog.records if r.name.startswith("messaging")]
    assert logged.levelno == logging.WARNING and logged.exc_info is None
    assert f"{type(error).__name__}: {error}" in logged.getMessage()


@pytest.mark.parametrize("error", [errors.Unavailable("down"), errors.Throttled("slow down")])
def test_unavailable_page_keeps_the_text_of_a_post(memory_store, andrew, bayko, error):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    memory_store.fail_with = error
    client = signed_in(andrew)
    form = {"text": "Don't lose <this>\nplease", "token": token()}

    response = client.post(conversation_url(group), form)

    html = response.content.decode()
    assert response.status_code == 503
    assert "Your message may not have been sent." in html
    assert "\nDon&#x27;t lose &lt;this&gt;\nplease</textarea>" in html
    assert f'action="{conversation_url(group)}"' in html
    # Trying again carries the same token: a send that did commit is not sent twice.
    assert f'name="token" value="{form["token"]}"' in html

    memory_store.fail_with = None  # back up: the same form can be sent again
    assert client.post(conversation_url(group), form).status_code == 303
    assert stored_texts(memory_store, group) == ["hi", "Don't lose <this>\nplease"]


def test_unavailable_page_keeps_the_text_of_a_first_message(memory_store, andrew, bayko):
    memory_store.fail_with = errors.Unavailable("down")

    response = signed_in(andrew).post("/messages/new/bayko/", {"text": "hello", "token": token()})

    assert response.status_code == 503
    assert "\nhello</textarea>" in response.content.decode()


# --- new conversation ---


def test_new_page_shows_recipient_and_form(memory_store, andrew, bayko):
    response = signed_in(andrew).get("/messages/new/bayko/")

    html = response.content.decode()
    assert response.status_code == 200
    heading = re.search(r'<h1 id="new-title">(.*?)</h1>', html, re.S).group(1)
    assert "Andrew Bayko" in heading and "@bayko" in heading
    assert 'action="/messages/new/bayko/"' in html
    assert "<textarea" in html
    assert within_budget(memory_store.calls, find_conversation=1)


def test_new_page_redirects_to_an_existing_conversation(memory_store, andrew, bayko):
    group = seed(memory_store, bayko, andrew)

    response = signed_in(andrew).get("/messages/new/BAYKO/")

    assert response.status_code == 302
    assert response["Location"] == conversation_url(group)


def test_first_message_creates_the_conversation(memory_store, andrew, bayko):
    client = signed_in(andrew)

    response = client.post("/messages/new/bayko/", {"text": " Hello Bayko ", "token": token()})

    assert response.status_code == 303
    group = memory_store.find_conversation(
        user_uuid=str(andrew.uuid), other_user_uuid=str(bayko.uuid)
    )
    assert response["Location"] == conversation_url(group)
    assert stored_texts(memory_store, group) == ["Hello Bayko"]
    assert texts_in_thread(client.get(response["Location"]).content.decode()) == ["Hello Bayko"]
    theirs = signed_in(bayko).get("/messages/").context["inbox"].rows
    assert [(row.conversation_uuid, row.other.handle) for row in theirs] == [(group, "andrewbrown")]


def test_first_message_resubmitted_creates_one_conversation(memory_store, andrew, bayko):
    client = signed_in(andrew)
    form = {"text": "Hello once", "token": token()}

    first = client.post("/messages/new/bayko/", form)
    second = client.post("/messages/new/bayko/", form)

    assert first.status_code == second.status_code == 303
    assert second["Location"] == first["Location"]  # the normal redirect, to the same place
    assert [len(messages) for messages in memory_store.messages.values()] == [1]


def test_first_message_into_a_conversation_started_meanwhile(memory_store, andrew, bayko):
    client = signed_in(andrew)
    page = client.get("/messages/new/bayko/").content.decode()
    form_token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    group = seed(memory_store, bayko, andrew, texts=["I wrote first"])  # meanwhile

    response = client.post("/messages/new/bayko/", {"text": "So did I", "token": form_token})

    assert response["Location"] == conversation_url(group)
    assert stored_texts(memory_store, group) == ["I wrote first", "So did I"]


def test_bad_first_message_comes_back_with_error(memory_store, andrew, bayko):
    response = signed_in(andrew).post("/messages/new/bayko/", {"text": "   ", "token": token()})

    html = response.content.decode()
    assert response.status_code == 422
    assert "Write a message before sending." in html
    assert re.search(r"<textarea[^>]*>\n   </textarea>", html)
    assert memory_store.messages == {}


@pytest.mark.parametrize("method", ["get", "post"])
def test_new_page_for_unknown_handle_is_404(memory_store, andrew, method):
    response = getattr(signed_in(andrew), method)(
        "/messages/new/nobody/", {"text": "hi", "token": token()}
    )

    assert response.status_code == 404
    assert "No user @nobody" in response.content.decode()
    assert memory_store.calls == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_new_page_for_yourself_is_400(memory_store, andrew, method):
    response = getattr(signed_in(andrew), method)(
        "/messages/new/AndrewBrown/", {"text": "hi", "token": token()}
    )

    assert response.status_code == 400
    assert "You can&#x27;t message yourself" in response.content.decode()
    assert memory_store.calls == []


def test_new_page_escapes_the_handle_in_its_error(memory_store, andrew):
    response = signed_in(andrew).get("/messages/new/<b>x/")

    assert response.status_code == 404
    assert "No user @&lt;b&gt;x" in response.content.decode()
    assert "<b>x" not in response.content.decode()


# --- cost per page ---


# SQL per page: with a warm cache only the user (django.contrib.auth loads it on every
# request); with a cold one also the session and the names of the people shown.
QUERIES = {"warm": 1, "cold": 3}


def visited(client, url: str, cache_state: str) -> None:
    """Visit `url` once, then leave the cache warm, or empty it."""
    client.get(url)
    if cache_state == "cold":
        forget_cached()


@pytest.mark.parametrize("cache_state", ["warm", "cold"])
@pytest.mark.parametrize("conversations", [3, 60])
def test_inbox_costs_one_request_and_one_query_when_warm(
    memory_store, andrew, make_user, django_assert_num_queries, conversations, cache_state
):
    for i in range(conversations):
        seed(memory_store, andrew, make_user(f"user{i:02d}"), count=2)
    client = signed_in(andrew)
    visited(client, "/messages/", cache_state)
    memory_store.calls.clear()

    with django_assert_num_queries(QUERIES[cache_state]):
        response = client.get("/messages/")

    assert len(response.context["inbox"].rows) == min(conversations, 20)
    assert within_budget(memory_store.calls, list_conversations=1)


@pytest.mark.parametrize("cache_state", ["warm", "cold"])
@pytest.mark.parametrize("messages", [5, 200])
def test_conversation_costs_two_requests_and_one_query_when_warm(
    memory_store, andrew, bayko, make_user, django_assert_num_queries, messages, cache_state
):
    for i in range(10):
        seed(
            memory_store,
            andrew,
            make_user(f"user{i:02d}"),
            start=timezone.now() - timedelta(days=9),
        )
    group = seed(memory_store, andrew, bayko, count=messages)
    client = signed_in(andrew)
    visited(client, conversation_url(group), cache_state)
    memory_store.calls.clear()

    with django_assert_num_queries(QUERIES[cache_state]):
        response = client.get(conversation_url(group))

    assert len(response.context["conversation"].messages) == min(messages, 20)
    assert len(response.context["inbox"].rows) == 11
    assert within_budget(memory_store.calls, list_conversations=1, list_messages=1)


def test_conversation_beyond_the_first_inbox_page_checks_participants(
    memory_store, andrew, bayko, make_user, django_assert_num_queries
):
    old = seed(memory_store, andrew, bayko, count=3, start=timezone.now() - timedelta(days=30))
    for i in range(25):
        seed(memory_store, andrew, make_user(f"user{i:02d}"))
    client = signed_in(andrew)
    visited(client, conversation_url(old), "warm")
    memory_store.calls.clear()

    with django_assert_num_queries(QUERIES["warm"]):
        response = client.get(conversation_url(old))

    assert response.status_code == 200
    assert texts_in_thread(response.content.decode()) == ["message 0", "message 1", "message 2"]
    assert "aria-current" not in re.search(
        r'<nav class="card sidebar".*?</nav>', response.content.decode(), re.S
    ).group(0)
    assert within_budget(
        memory_store.calls, list_conversations=1, get_participants=1, list_messages=1
    )


def test_reading_an_unread_conversation_marks_it_read(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    other = seed(memory_store, andrew, londo)
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="new!")
    memory_store.create_message(conversation_uuid=other, sender=ref(londo), text="me too")
    client = signed_in(andrew)
    memory_store.calls.clear()

    first = client.get(conversation_url(group))
    calls_first = list(memory_store.calls)
    memory_store.calls.clear()
    client.get(conversation_url(group))

    # Reading stays at two requests; the write happens only when something was unread.
    assert within_budget(calls_first, list_conversations=1, list_messages=1, mark_read=1)
    assert within_budget(memory_store.calls, list_conversations=1, list_messages=1)
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0
    assert memory_store.entries[str(andrew.uuid)][other].unread == 1
    assert first.context["unread_conversations"] == 1
    rows = {row.conversation_uuid: row.unread for row in first.context["inbox"].rows}
    assert rows == {group: 0, other: 1}


def test_new_page_costs_one_request(memory_store, andrew, bayko, django_assert_max_num_queries):
    client = signed_in(andrew)
    client.get("/messages/new/bayko/")  # the profiles, into the cache
    memory_store.calls.clear()

    with django_assert_max_num_queries(2):  # the user, and bayko by handle
        client.get("/messages/new/bayko/")

    assert within_budget(memory_store.calls, find_conversation=1)
