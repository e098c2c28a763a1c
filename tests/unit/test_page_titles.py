"""The tab's title carries the number of conversations with unread messages, as the navigation
badge does: "(1) Messages · Cruddur". static/js/live.js keeps it current (tests/e2e)."""

import re

import pytest

from tests.helpers import conversation_url, ref, seed, signed_in

pytestmark = pytest.mark.django_db


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.content.decode(), flags=re.S).group(1)


def test_the_inbox_title_has_no_count_when_everything_is_read(memory_store, andrew, bayko):
    seed(memory_store, andrew, bayko)

    assert title(signed_in(andrew).get("/messages/")) == "Messages · Cruddur"


def test_the_inbox_title_carries_the_unread_count(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    seed(memory_store, andrew, londo)
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="ping")
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="ping again")

    response = signed_in(andrew).get("/messages/")

    assert response.context["unread_conversations"] == 1
    assert title(response) == "(1) Messages · Cruddur"


def test_a_conversation_title_counts_the_other_unread_conversations(
    memory_store, andrew, bayko, londo
):
    with_bayko = seed(memory_store, andrew, bayko)
    with_londo = seed(memory_store, andrew, londo)
    memory_store.create_message(conversation_uuid=with_bayko, sender=ref(bayko), text="ping")
    memory_store.create_message(conversation_uuid=with_londo, sender=ref(londo), text="ping")
    client = signed_in(andrew)

    # Opening one marks it read: the other is still unread.
    response = client.get(conversation_url(with_londo))

    assert title(response) == "(1) Londo Mollari (@londo) · Cruddur"
    assert title(client.get(conversation_url(with_bayko))) == "Andrew Bayko (@bayko) · Cruddur"
