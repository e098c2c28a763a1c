"""Sending without a reload (static/js/compose.js): the fetch contract of the message forms,
and the CSRF failure page that keeps what was written (over the in-memory store)."""

import re
import uuid

import pytest
from django.test import Client

from tests.helpers import conversation_url, seed, signed_in, stored_texts, token
from users.models import Block

pytestmark = pytest.mark.django_db

FETCH = {"headers": {"X-Requested-With": "fetch"}}


def items(html: str) -> list[str]:
    return re.findall(r"<li\b[^>]*>", html)


def test_a_fetch_send_answers_201_with_the_message_and_the_next_token(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    form_token = token()

    response = signed_in(andrew).post(
        conversation_url(group), {"text": "  Sent <b>live</b>  ", "token": form_token}, **FETCH
    )

    assert response.status_code == 201
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    # The message as the page prints it (its day's separator first), escaped, and nothing else.
    [separator, message] = items(html)
    assert 'class="day-separator"' in separator
    [stored] = [m for m in memory_store.messages[group] if m.text == "Sent <b>live</b>"]
    assert f'data-message-uuid="{stored.message_uuid}"' in message
    assert f'data-sender="{andrew.uuid}"' in message
    assert "msg-mine" in message
    assert '<p class="msg-text">Sent &lt;b&gt;live&lt;/b&gt;</p>' in html
    assert "<html" not in html and "<ol" not in html
    next_token = response["X-Next-Token"]
    assert str(uuid.UUID(next_token)) == next_token != form_token
    assert stored_texts(memory_store, group) == ["hi", "Sent <b>live</b>"]


def test_the_same_token_twice_by_fetch_stores_one_message(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    form = {"text": "only once", "token": token()}

    first = client.post(conversation_url(group), form, **FETCH)
    second = client.post(conversation_url(group), form, **FETCH)  # a retry after a lost answer

    assert first.status_code == second.status_code == 201
    assert stored_texts(memory_store, group) == ["hi", "only once"]
    # Both answers are the one stored message, so the page shows it once.
    uuids = {
        re.search(r'data-message-uuid="([^"]+)"', r.content.decode()).group(1)
        for r in (first, second)
    }
    assert len(uuids) == 1


def test_a_refused_fetch_send_answers_as_the_page_does(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    Block.objects.create(blocker=andrew, blocked=bayko)
    form_token = token()

    response = signed_in(bayko).post(
        conversation_url(group), {"text": "let me explain", "token": form_token}, **FETCH
    )

    assert response.status_code == 403
    assert "X-Next-Token" not in response
    html = response.content.decode()
    # The page with the error where compose.js reads it: an alert in the message form.
    form = re.search(r"<form[^>]*data-compose.*?</form>", html, flags=re.S).group(0)
    assert (
        '<p class="form-errors" role="alert">@andrewbrown is not accepting messages from you.</p>'
        in form
    )
    assert f'value="{form_token}"' in form
    assert stored_texts(memory_store, group) == ["hi"]


def test_a_fetch_send_over_the_limit_is_a_429_with_retry_after(
    memory_store, andrew, bayko, settings
):
    settings.SEND_LIMIT_PER_MINUTE = 1
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    first = client.post(conversation_url(group), {"text": "a", "token": token()}, **FETCH)

    response = client.post(conversation_url(group), {"text": "b", "token": token()}, **FETCH)

    assert first.status_code == 201
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    form = re.search(r"<form[^>]*data-compose.*?</form>", response.content.decode(), flags=re.S)
    assert "You can send at most 1 messages a minute." in form.group(0)
    assert stored_texts(memory_store, group) == ["hi", "a"]


def test_an_invalid_fetch_send_is_a_422_page(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    response = signed_in(andrew).post(
        conversation_url(group), {"text": "😀" * 1025, "token": token()}, **FETCH
    )

    assert response.status_code == 422
    assert "at most 1024 characters (this one has 1025)" in response.content.decode()


def test_without_the_header_a_send_still_redirects(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    response = signed_in(andrew).post(conversation_url(group), {"text": "hello", "token": token()})

    assert response.status_code == 303
    assert response["Location"] == conversation_url(group)
    assert "X-Next-Token" not in response


def test_a_first_message_by_fetch_answers_201_with_where_the_conversation_is(
    memory_store, andrew, bayko
):
    response = signed_in(andrew).post(
        "/messages/new/bayko/", {"text": "hello", "token": token()}, **FETCH
    )

    assert response.status_code == 201
    [group] = memory_store.messages
    assert response["Location"] == conversation_url(group)
    assert stored_texts(memory_store, group) == ["hello"]


def test_a_fetch_send_after_the_session_ended_goes_to_the_login(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    response = Client().post(conversation_url(group), {"text": "hi", "token": token()}, **FETCH)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={conversation_url(group)}"


# --- the CSRF failure page ---


def test_a_csrf_failure_is_our_page_with_the_text_kept(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew, enforce_csrf_checks=True)
    client.get(conversation_url(group))  # the CSRF cookie, whose token the post leaves out

    response = client.post(
        conversation_url(group),
        {"text": "written <before> the login", "token": token()},
        HTTP_REFERER=f"http://testserver{conversation_url(group)}",
    )

    assert response.status_code == 403
    assert [t.name for t in response.templates][0] == "403_csrf.html"
    html = response.content.decode()
    assert "This page was out of date" in html
    assert "logged in or out in another tab" in html
    assert re.search(r"<textarea[^>]*readonly>\nwritten &lt;before&gt; the login</textarea>", html)
    assert f'<a href="http://testserver{conversation_url(group)}">Back to the page</a>' in html
    assert "csrftoken" in response.cookies  # a fresh token for the retry
    assert stored_texts(memory_store, group) == ["hi"]


def test_the_csrf_page_links_back_only_to_this_site(andrew):
    client = signed_in(andrew, enforce_csrf_checks=True)

    response = client.post(
        "/messages/block/", {"person": str(andrew.uuid)}, HTTP_REFERER="https://evil.example/"
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert '<a href="/messages/">Back to the page</a>' in html
    assert "evil.example" not in html
    assert "Your message (not sent)" not in html  # nothing was written: no box
