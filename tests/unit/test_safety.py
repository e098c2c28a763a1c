"""Safety on the pages: blocks, who may start a conversation, sending limits, accounts that
are gone, sign-up rules (over the in-memory store and real Postgres; the limits shared through
Redis between processes: tests/integration/test_send_limits.py)."""

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messaging import services, view_models
from messaging.memory import InMemoryStore
from tests.helpers import conversation_url, seed, signed_in, signup, stored_texts, token
from users.models import Block, WhoMayStart

pytestmark = pytest.mark.django_db

User = get_user_model()


def send(client, group, text="are you there?", **extra):
    return client.post(conversation_url(group), {"text": text, "token": token(), **extra})


def start(client, handle, text="hello there"):
    return client.post(f"/messages/new/{handle}/", {"text": text, "token": token()})


def unread_of(store: InMemoryStore, user, group) -> int:
    page = store.list_conversations(user_uuid=str(user.uuid))
    return next(entry.unread for entry in page.items if entry.conversation_uuid == group)


def textarea(html: str) -> str:
    """The reply box's text (not an Edit box's, under one's own messages)."""
    box = r"<textarea[^>]*data-compose-text[^>]*>\n?(.*?)</textarea>"
    return re.search(box, html, flags=re.S).group(1)


def block(client, user, *, next_url="/messages/"):
    return client.post("/messages/block/", {"person": str(user.uuid), "next": next_url})


def unblock(client, user, *, next_url="/messages/"):
    return client.post("/messages/unblock/", {"person": str(user.uuid), "next": next_url})


# --- blocking ---


def test_a_blocked_person_cannot_send_and_keeps_their_text(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    Block.objects.create(blocker=andrew, blocked=bayko)
    before = unread_of(memory_store, andrew, group)
    form_token = token()

    response = signed_in(bayko).post(
        conversation_url(group), {"text": "let me explain", "token": form_token}
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert "@andrewbrown is not accepting messages from you." in html
    assert textarea(html) == "let me explain"
    assert f'value="{form_token}"' in html  # sending again later is the same message
    assert stored_texts(memory_store, group) == ["hi"]
    assert unread_of(memory_store, andrew, group) == before


def test_a_blocked_person_cannot_start_a_conversation(memory_store, andrew, londo):
    Block.objects.create(blocker=andrew, blocked=londo)

    response = start(signed_in(londo), "andrewbrown", "first words")

    assert response.status_code == 403
    assert "@andrewbrown is not accepting messages from you." in response.content.decode()
    assert textarea(response.content.decode()) == "first words"
    assert memory_store.list_conversations(user_uuid=str(andrew.uuid)).items == ()


def test_unblocking_lets_them_write_again(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    block(client, bayko)
    assert send(signed_in(bayko), group).status_code == 403

    response = unblock(client, bayko, next_url=conversation_url(group))

    assert response.status_code == 303
    assert response["Location"] == conversation_url(group)
    assert send(signed_in(bayko), group, "sorry").status_code == 303
    assert stored_texts(memory_store, group) == ["hi", "sorry"]
    assert unread_of(memory_store, andrew, group) == 1


def test_blocking_from_the_conversation_closes_it_and_clears_its_unread(
    memory_store, andrew, bayko
):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    assert 'action="/messages/block/"' in client.get(conversation_url(group)).content.decode()
    for text in ["one", "two"]:
        services.send_message(sender=bayko, conversation_uuid=group, text=text)
    assert unread_of(memory_store, andrew, group) == 2

    response = block(client, bayko, next_url=conversation_url(group))

    assert response.status_code == 303
    assert Block.objects.filter(blocker=andrew, blocked=bayko).exists()
    assert unread_of(memory_store, andrew, group) == 0
    page = client.get(conversation_url(group)).content.decode()
    assert "You blocked @bayko. Unblock them to send a message." in page
    assert "<textarea" not in page
    assert "Unblock @bayko" in page
    assert '<span class="tag">Blocked</span>' in page
    # The blocker cannot send either, until they unblock.
    refused = send(client, group, "one last word")
    assert refused.status_code == 403
    assert textarea(refused.content.decode()) == "one last word"


def test_a_blocked_person_s_unread_count_is_hidden(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    services.send_message(sender=bayko, conversation_uuid=group, text="unread")
    Block.objects.create(blocker=andrew, blocked=bayko)  # as the admin would: nothing marked

    inbox = signed_in(andrew).get("/messages/").content.decode()

    assert unread_of(memory_store, andrew, group) == 1
    assert "is-unread" not in inbox
    assert '<span class="tag">Blocked</span>' in inbox


def test_a_hidden_count_is_not_a_change_for_the_live_poll(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    services.send_message(sender=bayko, conversation_uuid=group, text="unread")
    Block.objects.create(blocker=andrew, blocked=bayko)

    page = view_models.inbox(user=andrew)
    update = view_models.inbox_update(user=andrew, since=page.live_state, with_rows=False)

    assert page.rows[0].unread == 0
    assert update.changed is False  # else every poll would redraw the inbox


def test_the_new_conversation_page_blocks_and_unblocks(memory_store, andrew, londo):
    client = signed_in(andrew)
    assert 'action="/messages/block/"' in client.get("/messages/new/londo/").content.decode()

    response = block(client, londo, next_url="/messages/new/londo/")

    assert response["Location"] == "/messages/new/londo/"
    page = client.get("/messages/new/londo/").content.decode()
    assert "You blocked @londo. Unblock them to send a message." in page
    assert "<textarea" not in page and 'action="/messages/block/"' not in page
    assert 'action="/messages/unblock/"' in page


def test_block_and_unblock_answer_bad_input_without_an_error(andrew, bayko):
    client = signed_in(andrew)
    for data in ({}, {"person": "not-a-uuid"}, {"person": str(uuid.uuid4())}):
        assert client.post("/messages/block/", data).status_code == 303
    # Yourself: nothing happens.
    assert block(client, andrew).status_code == 303
    # Somewhere else: back to the inbox instead.
    assert block(client, bayko, next_url="https://evil.example/")["Location"] == "/messages/"
    assert client.get("/messages/block/").status_code == 405
    assert Client().post("/messages/block/", {"person": str(bayko.uuid)}).status_code == 302
    assert list(Block.objects.values_list("blocked__handle", flat=True)) == ["bayko"]


def test_settings_list_the_people_you_blocked_and_unblock_them(andrew, bayko, londo):
    client = signed_in(andrew)
    block(client, bayko)

    page = client.get("/accounts/settings/").content.decode()

    assert "People you blocked" in page
    assert "@bayko" in page and "@londo" not in page
    response = unblock(client, bayko, next_url="/accounts/settings/")
    assert response["Location"] == "/accounts/settings/"
    assert "You haven't blocked anyone." in client.get("/accounts/settings/").content.decode()


# --- who may start a conversation ---


def test_only_known_people_may_start_when_chosen(memory_store, andrew, bayko, londo):
    seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    saved = client.post(
        "/accounts/settings/", {"section": "messaging", "who_may_start": WhoMayStart.KNOWN}
    )
    assert saved.status_code == 302
    andrew.refresh_from_db()
    assert andrew.who_may_start == WhoMayStart.KNOWN

    stranger = start(signed_in(londo), "andrewbrown", "hello stranger")
    known = start(signed_in(bayko), "andrewbrown", "hello again")

    assert stranger.status_code == 403
    assert "@andrewbrown accepts new conversations only from people they already talk with." in (
        stranger.content.decode()
    )
    assert textarea(stranger.content.decode()) == "hello stranger"
    assert known.status_code == 303
    assert [
        e.other_user.handle
        for e in memory_store.list_conversations(user_uuid=str(andrew.uuid)).items
    ] == ["bayko"]

    client.post(
        "/accounts/settings/", {"section": "messaging", "who_may_start": WhoMayStart.EVERYONE}
    )
    assert start(signed_in(londo), "andrewbrown", "hello stranger").status_code == 303


def test_the_setting_refuses_an_unknown_choice(andrew):
    response = signed_in(andrew).post(
        "/accounts/settings/", {"section": "messaging", "who_may_start": "friends"}
    )

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    andrew.refresh_from_db()
    assert andrew.who_may_start == WhoMayStart.EVERYONE


# --- sending limits ---


def test_the_send_over_the_limit_is_a_429_that_keeps_the_text(
    memory_store, andrew, bayko, settings
):
    settings.SEND_LIMIT_PER_MINUTE = 3
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)
    assert [send(client, group, f"m{i}").status_code for i in range(3)] == [303] * 3

    response = send(client, group, "one too many")

    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    html = response.content.decode()
    assert "You can send at most 3 messages a minute." in html
    assert "You can send again in" in html
    assert textarea(html) == "one too many"
    assert stored_texts(memory_store, group) == ["hi", "m0", "m1", "m2"]
    # Per sender: the other person is not limited.
    assert send(signed_in(bayko), group, "fine").status_code == 303


def test_starting_conversations_has_its_own_lower_limit(memory_store, andrew, make_user, settings):
    settings.NEW_CONVERSATION_LIMIT_PER_HOUR = 2
    people = [make_user(f"person{i}") for i in range(3)]
    client = signed_in(andrew)
    assert start(client, "person0").status_code == 303
    assert start(client, "person1").status_code == 303

    response = start(client, "person2", "third new one")

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert "You can send at most 2 new conversations an hour." in response.content.decode()
    assert textarea(response.content.decode()) == "third new one"
    assert len(memory_store.list_conversations(user_uuid=str(people[2].uuid)).items) == 0


# --- accounts that are gone ---


def test_a_deactivated_person_s_conversation_is_closed(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    bayko.is_active = False
    bayko.save()
    client = signed_in(andrew)
    statement = (
        "@bayko&#x27;s account is deactivated. You can read the conversation, but not reply."
    )

    page = client.get(conversation_url(group)).content.decode()
    inbox = client.get("/messages/").content.decode()
    refused = send(client, group, "still there?")

    assert statement in page and "<textarea" not in page
    assert '<span class="tag">Deactivated</span>' in page
    assert '<span class="tag">Deactivated</span>' in inbox
    assert refused.status_code == 403
    assert statement in refused.content.decode()
    assert textarea(refused.content.decode()) == "still there?"
    assert stored_texts(memory_store, group) == ["hi"]


def test_a_reused_handle_does_not_inherit_old_conversations(memory_store, andrew, bayko, make_user):
    group = seed(memory_store, andrew, bayko, texts=["hi", "bye"])
    bayko.delete()
    newcomer = make_user("bayko", display_name="Someone Else", email="else@example.com")
    client = signed_in(andrew)

    page = client.get(conversation_url(group)).content.decode()
    inbox = client.get("/messages/").content.decode()

    assert "Someone Else" not in page and "Someone Else" not in inbox
    assert "Deleted user" in page and "Deleted user" in inbox
    assert "This account was deleted. You can read the conversation, but not reply." in page
    assert send(client, group).status_code == 403
    # The newcomer is a new conversation, not the old one.
    assert client.get("/messages/new/bayko/").status_code == 200
    assert start(signed_in(newcomer), "andrewbrown").status_code == 303
    newcomer_inbox = memory_store.list_conversations(user_uuid=str(newcomer.uuid)).items
    assert [entry.conversation_uuid != group for entry in newcomer_inbox] == [True]


# --- sign-up ---


@pytest.mark.parametrize("handle", ["admin", "Root", "SUPPORT", "staff", "System", "cruddur"])
def test_reserved_handles_are_refused_in_any_case(handle):
    response = signup(handle=handle)

    assert response.status_code == 200
    assert "That handle is reserved. Please choose another." in response.content.decode()
    assert f'value="{handle}"' in response.content.decode()  # what was typed is kept
    assert not User.objects.filter(handle__iexact=handle).exists()


def test_one_account_per_verified_email_address_in_any_case(andrew):
    andrew.email_verified = True  # unverified, it blocks no one (test_email_verification.py)
    andrew.save()
    response = signup(email="AndrewBrown@Example.COM")

    assert response.status_code == 200
    assert "An account with this email address already exists." in response.content.decode()
    assert not User.objects.filter(handle="newperson").exists()


def test_display_names_lose_invisible_and_direction_characters():
    response = signup(display_name="\u202eevil\u200b Name\u2066\ufeff")

    assert response.status_code == 302
    assert User.objects.get(handle="newperson").display_name == "evil Name"


def test_a_display_name_of_invisible_characters_only_is_refused():
    response = signup(display_name="\u202e\u200b\u2066")

    assert response.status_code == 200
    assert "Enter the name people will see." in response.content.decode()


def test_a_signup_that_loses_a_race_is_a_form_error(monkeypatch):
    from django.db import IntegrityError

    from users.forms import SignupForm

    def taken(self, commit=True):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(SignupForm, "save", taken)
    response = signup()

    assert response.status_code == 200
    assert "That handle or email address was just taken." in response.content.decode()
