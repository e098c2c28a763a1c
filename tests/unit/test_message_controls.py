"""Conversations you control (issue 25), over the in-memory store: Hide, Unsend and Edit as
plain POST forms (the views, the services behind them, the rules of who may and until when),
what the pages show afterwards, and how an open page learns of a change to an older message
through the live poll."""

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messaging import services
from messaging.events import Change
from tests.helpers import conversation_url, ref, seed, signed_in, within_budget
from users import services as user_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """The live events the services publish, as (people, change)."""
    sent = []
    monkeypatch.setattr(
        services, "publish_change", lambda people, change: sent.append((list(people), change))
    )
    return sent


def send(store, group, sender, text):
    return store.create_message(conversation_uuid=group, sender=ref(sender), text=text)


def unsend_url(message) -> str:
    return reverse("messaging:unsend", args=[message.conversation_uuid, message.message_uuid])


def edit_url(message) -> str:
    return reverse("messaging:edit", args=[message.conversation_uuid, message.message_uuid])


def stored(store, message):
    """The message as the store holds it now."""
    [found] = [
        m
        for m in store.messages[message.conversation_uuid]
        if m.message_uuid == message.message_uuid
    ]
    return found


def inbox_uuids(store, user) -> list[str]:
    page = store.list_conversations(user_uuid=str(user.uuid))
    return [entry.conversation_uuid for entry in page.items]


# --- Hide ---


def test_hide_takes_the_conversation_out_of_my_inbox_only(memory_store, andrew, bayko, published):
    group = seed(memory_store, andrew, bayko, count=3)
    send(memory_store, group, bayko, "unread for andrew")
    client = signed_in(andrew)

    response = client.post(reverse("messaging:hide", args=[group]))

    assert response.status_code == 303
    assert response["Location"] == reverse("messaging:inbox")
    assert inbox_uuids(memory_store, andrew) == []
    assert inbox_uuids(memory_store, bayko) == [group]
    inbox = client.get(reverse("messaging:inbox")).content.decode()
    assert "Conversation hidden. It comes back to your inbox with its next message." in inbox
    assert group not in inbox
    assert memory_store.entries[str(andrew.uuid)][group].unread == 0
    assert published == [([str(andrew.uuid)], Change(group, published[0][1].sort_key))]


def test_a_hidden_conversation_comes_back_with_the_next_message(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=2)
    client = signed_in(andrew)
    client.post(reverse("messaging:hide", args=[group]))
    client.post(reverse("messaging:hide", args=[group]))  # the same form twice: no harm

    send(memory_store, group, bayko, "back again")

    assert inbox_uuids(memory_store, andrew) == [group]
    assert "back again" in client.get(reverse("messaging:inbox")).content.decode()


def test_hide_is_a_post_for_members_only(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    hide = reverse("messaging:hide", args=[group])

    assert signed_in(andrew).get(hide).status_code == 405
    assert signed_in(londo).post(hide).status_code == 404
    assert inbox_uuids(memory_store, andrew) == [group]


def test_the_conversation_page_has_the_hide_button(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    page = signed_in(andrew).get(conversation_url(group)).content.decode()
    form = re.search(
        rf'<form method="post" action="{reverse("messaging:hide", args=[group])}".*?</form>',
        page,
        re.S,
    )
    assert form and "csrfmiddlewaretoken" in form.group(0)
    assert re.search(r"<button[^>]*>Hide<span", form.group(0))


# --- Unsend ---


def test_unsend_replaces_the_message_for_both_and_removes_its_text(
    memory_store, andrew, bayko, published
):
    group = seed(memory_store, andrew, bayko, count=2)
    mine = send(memory_store, group, andrew, "sent to the wrong person")

    response = signed_in(andrew).post(unsend_url(mine), {"sort_key": mine.sort_key})

    assert response.status_code == 303
    assert response["Location"] == conversation_url(group)
    people = sorted([str(andrew.uuid), str(bayko.uuid)])
    assert [(sorted(p), c) for p, c in published] == [(people, Change(group, mine.sort_key))]
    assert stored(memory_store, mine).text == ""
    assert stored(memory_store, mine).unsent
    for person in (andrew, bayko):
        page = signed_in(person).get(conversation_url(group)).content.decode()
        assert "sent to the wrong person" not in page
        assert "Message unsent" in page
        inbox = signed_in(person).get(reverse("messaging:inbox")).content.decode()
        assert "sent to the wrong person" not in inbox
        assert "<em>Message unsent</em>" in inbox  # it was the last message: the preview follows


def test_unsend_keeps_the_order_and_the_other_messages(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["first", "second", "third"])
    [first] = [m for m in memory_store.messages[group] if m.text == "first"]

    signed_in(andrew).post(unsend_url(first))  # no sort key: the store finds it anyway

    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    page = page[page.index('id="thread-messages"') :]
    assert page.index("Message unsent") < page.index("second") < page.index("third")
    inbox = signed_in(bayko).get(reverse("messaging:inbox")).content.decode()
    assert "third" in inbox and "Message unsent" not in inbox  # not the last: preview stays


def test_a_forged_unsend_of_someone_elses_message_changes_nothing(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=2)
    theirs = send(memory_store, group, bayko, "mine, says bayko")

    response = signed_in(andrew).post(unsend_url(theirs), {"sort_key": theirs.sort_key})

    assert response.status_code == 404
    assert stored(memory_store, theirs).text == "mine, says bayko"


def test_an_unsend_by_someone_outside_the_conversation_is_404(memory_store, andrew, bayko, londo):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    assert signed_in(londo).post(unsend_url(mine)).status_code == 404
    missing = reverse("messaging:unsend", args=[group, uuid.uuid4()])
    assert signed_in(andrew).post(missing).status_code == 404
    assert stored(memory_store, mine).text == "hello"


def test_the_same_unsend_form_twice_unsends_once(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "oops")
    client = signed_in(andrew)

    first = client.post(unsend_url(mine), {"sort_key": mine.sort_key})
    unsent_at = stored(memory_store, mine).unsent_at
    second = client.post(unsend_url(mine), {"sort_key": mine.sort_key})

    assert (first.status_code, second.status_code) == (303, 303)
    assert stored(memory_store, mine).unsent_at == unsent_at


def test_the_forms_need_the_csrf_token(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    client = Client(enforce_csrf_checks=True)
    client.force_login(andrew)

    assert client.post(unsend_url(mine)).status_code == 403
    assert client.post(edit_url(mine), {"text": "changed"}).status_code == 403
    assert client.post(reverse("messaging:hide", args=[group])).status_code == 403
    assert stored(memory_store, mine).text == "hello"


# --- Edit ---


def test_edit_replaces_the_text_for_both_marked_edited(memory_store, andrew, bayko, published):
    group = seed(memory_store, andrew, bayko, count=2)
    mine = send(memory_store, group, andrew, "teh typo")

    response = signed_in(andrew).post(edit_url(mine), {"text": "the typo", "sort_key": ""})

    assert response.status_code == 303
    assert len(published) == 1
    assert stored(memory_store, mine).text == "the typo"
    assert stored(memory_store, mine).edited_at is not None
    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    assert "teh typo" not in page
    assert "the typo" in page
    edited = re.search(r'<span class="msg-edited" title="Edited ([^"]+)">edited', page)
    assert edited and "UTC" in edited.group(1)
    inbox = signed_in(bayko).get(reverse("messaging:inbox")).content.decode()
    assert "the typo" in inbox and "teh typo" not in inbox


def test_an_edit_follows_the_message_rules_and_keeps_the_text(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    client = signed_in(andrew)

    blank = client.post(edit_url(mine), {"text": "   "})
    long = client.post(edit_url(mine), {"text": "x" * (services.MAX_MESSAGE_LENGTH + 1)})

    assert blank.status_code == 422
    assert "Write a message before sending." in blank.content.decode()
    assert long.status_code == 422
    assert "x" * (services.MAX_MESSAGE_LENGTH + 1) in long.content.decode()
    assert stored(memory_store, mine).text == "hello"


def test_a_late_edit_is_refused_with_a_sentence_and_the_text_kept(
    memory_store, andrew, bayko, settings
):
    settings.EDIT_WINDOW_SECONDS = 60
    group = seed(memory_store, andrew, bayko, count=1)  # andrew's, two days old
    [old] = memory_store.messages[group]

    response = signed_in(andrew).post(edit_url(old), {"text": "too late, but kept"})

    assert response.status_code == 409
    body = response.content.decode()
    assert "This message can no longer be edited" in body
    assert "too late, but kept" in body  # in the reply box, to send as a new message
    assert "Send as a new message" in body
    assert stored(memory_store, old).text == "message 0"


def test_an_unsent_message_cannot_be_edited(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    client = signed_in(andrew)
    client.post(unsend_url(mine))

    response = client.post(edit_url(mine), {"text": "back from the dead"})

    assert response.status_code == 409
    assert stored(memory_store, mine).text == ""


def test_a_forged_edit_of_someone_elses_message_is_404(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    theirs = send(memory_store, group, bayko, "bayko wrote this")

    assert signed_in(andrew).post(edit_url(theirs), {"text": "andrew did"}).status_code == 404
    assert stored(memory_store, theirs).text == "bayko wrote this"


def test_the_controls_show_on_my_messages_and_edit_only_in_the_window(
    memory_store, andrew, bayko, settings
):
    settings.EDIT_WINDOW_SECONDS = 600
    group = seed(memory_store, andrew, bayko, count=2)  # two days old: andrew's, bayko's
    [old_mine] = [m for m in memory_store.messages[group] if m.sender.uuid == str(andrew.uuid)]
    fresh = send(memory_store, group, andrew, "just now")
    theirs = send(memory_store, group, bayko, "theirs")

    page = signed_in(andrew).get(conversation_url(group)).content.decode()

    assert unsend_url(old_mine) in page and edit_url(old_mine) not in page
    assert unsend_url(fresh) in page and edit_url(fresh) in page
    assert unsend_url(theirs) not in page and edit_url(theirs) not in page
    at = timezone.localtime(fresh.created_at).strftime("%H:%M")
    assert f'Unsend<span class="visually-hidden"> your message sent at {at}</span>' in page
    assert f'Edit<span class="visually-hidden"> your message sent at {at}</span>' in page
    assert f'<label class="visually-hidden" for="edit-{fresh.message_uuid}">' in page
    until = re.search(r'data-edit-until="([^"]+)">\s*<summary[^>]*>Edit', page)
    assert until and until.group(1) == (fresh.created_at + timedelta(seconds=600)).isoformat()


def test_from_the_pages_script_an_unsend_or_edit_answers_with_the_bubble(
    memory_store, andrew, bayko
):
    group = seed(memory_store, andrew, bayko)
    first = send(memory_store, group, andrew, "to be unsent")
    second = send(memory_store, group, andrew, "teh typo")
    client = signed_in(andrew)

    unsent = client.post(unsend_url(first), HTTP_HX_REQUEST="true")
    edited = client.post(edit_url(second), {"text": "the typo"}, HTTP_HX_REQUEST="true")
    refused = client.post(edit_url(second), {"text": " "}, HTTP_HX_REQUEST="true")

    assert unsent.status_code == 200
    html = unsent.content.decode().strip()
    assert html.startswith(f'<div class="bubble is-unsent" id="msg-{first.message_uuid}"')
    assert "Message unsent" in html and "to be unsent" not in html
    assert "<html" not in html
    assert edited.status_code == 200
    html = edited.content.decode().strip()
    assert html.startswith(f'<div class="bubble" id="msg-{second.message_uuid}"')
    assert "the typo" in html and "msg-edited" in html and "teh typo" not in html
    # An error answers as without JavaScript (the script then sends the form that way).
    assert refused.status_code == 422
    assert stored(memory_store, second).text == "the typo"


# --- live: an open page learns of a change to an older message ---


def live_fields(html: str) -> dict[str, str]:
    """A page's live form, or a poll's answer (the form's next fields), by name."""
    form = re.search(r'<form id="live".*?</form>', html, re.S)
    fields = re.findall(
        r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0) if form else html
    )
    return dict(fields)


def test_an_open_page_learns_of_an_unsend_and_an_edit_through_the_poll(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=4)
    first = send(memory_store, group, bayko, "to be unsent")
    second = send(memory_store, group, bayko, "to be edited")
    send(memory_store, group, andrew, "newest")
    client = signed_in(andrew)
    fields = live_fields(client.get(conversation_url(group)).content.decode())
    assert fields["changes"]

    services.unsend_message(user=bayko, conversation_uuid=group, message_uuid=first.message_uuid)
    services.edit_message(
        user=bayko, conversation_uuid=group, message_uuid=second.message_uuid, text="edited!"
    )
    memory_store.calls.clear()
    answer = client.get(reverse("messaging:poll"), {**fields, "changed": "1"}).content.decode()

    unsent = re.search(
        rf'<div class="bubble is-unsent" id="msg-{first.message_uuid}" '
        r'hx-swap-oob="true">.*?</div>',
        answer,
        re.S,
    )
    assert unsent and "Message unsent" in unsent.group(0)
    edited = re.search(
        rf'<div class="bubble" id="msg-{second.message_uuid}" '
        r'hx-swap-oob="true">.*?</p>\s*<p class="msg-text">(.*?)</p>',
        answer,
        re.S,
    )
    assert edited and edited.group(1).strip() == "edited!"
    assert "msg-edited" in answer
    assert "to be unsent" not in answer
    assert live_fields(answer)["changes"] > fields["changes"]
    # The stream said something changed: the list is redrawn too (the state and the page).
    assert within_budget(memory_store.calls, list_conversations=2, list_changed_messages=1)


def test_an_unsend_below_the_newest_row_reaches_the_inbox_preview_live(
    memory_store, andrew, bayko, londo
):
    older = seed(memory_store, andrew, bayko)
    last = send(memory_store, older, bayko, "sorry, wrong person")
    newer = seed(memory_store, andrew, londo)
    send(memory_store, newer, londo, "the newest")  # the top row: the state covers only it
    client = signed_in(andrew)
    fields = live_fields(client.get(reverse("messaging:inbox")).content.decode())
    services.unsend_message(user=bayko, conversation_uuid=older, message_uuid=last.message_uuid)

    idle = client.get(reverse("messaging:poll"), fields).content.decode()
    told = client.get(reverse("messaging:poll"), {**fields, "changed": "1"}).content.decode()

    assert "wrong person" not in idle and "Message unsent" not in idle  # nothing redrawn
    assert newer in told and "<em>Message unsent</em>" in told and "wrong person" not in told


def test_an_idle_poll_asks_for_changes_only_now_and_then(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, count=3)
    client = signed_in(andrew)
    fields = live_fields(client.get(conversation_url(group)).content.decode())
    memory_store.calls.clear()

    quiet = client.get(reverse("messaging:poll"), fields).content.decode()
    assert within_budget(memory_store.calls, list_conversations=1)
    assert live_fields(quiet)["changes"] == fields["changes"]

    memory_store.calls.clear()
    stale = dict(
        fields, changes=(timezone.now() - timedelta(seconds=6)).isoformat(timespec="microseconds")
    )
    client.get(reverse("messaging:poll"), stale)
    assert "list_changed_messages" in memory_store.calls


@pytest.mark.parametrize("changes", ["yesterday", "2026-12-03T10:00:00"])
def test_a_bad_changes_time_is_400(memory_store, andrew, bayko, changes):
    group = seed(memory_store, andrew, bayko)
    client = signed_in(andrew)
    fields = live_fields(client.get(conversation_url(group)).content.decode())
    response = client.get(reverse("messaging:poll"), dict(fields, changes=changes))
    assert response.status_code == 400


def test_no_edit_to_someone_who_cannot_be_written_to(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    user_services.block(user=bayko, other=andrew)

    response = signed_in(andrew).post(edit_url(mine), {"text": "changed behind the block"})

    assert response.status_code == 403
    body = response.content.decode()
    assert "@bayko is not accepting messages from you." in body
    assert "changed behind the block" in body  # kept, to copy
    assert stored(memory_store, mine).text == "hello"
    # Unsending stays possible.
    assert signed_in(andrew).post(unsend_url(mine)).status_code == 303


def test_a_closed_conversation_offers_no_edit(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko)
    mine = send(memory_store, group, andrew, "hello")
    user_services.block(user=andrew, other=bayko)

    page = signed_in(andrew).get(conversation_url(group)).content.decode()

    assert unsend_url(mine) in page and edit_url(mine) not in page
