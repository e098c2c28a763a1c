"""Hide, unsend and edit under real concurrency: threads against the emulator's HTTP server
(each request isolated, as on AWS; races between requests remain). Whatever order the
requests commit in, the store's conditions must leave no text that was unsent, no preview
out of step with the newest message, and counts that the repair finds nothing to fix in."""

import contextlib
import threading
import time
from datetime import UTC, datetime

import pytest

from messaging.dynamo import schema
from messaging.errors import Conflict, NotEditable
from tests.helpers import at_once

from .test_unread_concurrency import all_messages, assert_consistent

ROUNDS = 5  # each race is run this many times: the order differs from run to run
rounds = pytest.mark.parametrize("round_", range(ROUNDS))


def entries(store, conversation, *people):
    """Each person's inbox entry of the conversation, by uuid."""
    found = store.get_participants(conversation_uuid=conversation)
    return {
        entry.owner_uuid: entry for entry in found if entry.owner_uuid in {p.uuid for p in people}
    }


def stored_texts(store):
    """Every text the table holds anywhere: message items and inbox previews."""
    return [item.get("message") for item in schema.scan(store.table) if item.get("message")]


@rounds
def test_edits_racing_an_unsend_never_bring_the_text_back(
    server_store, andrew_ref, bayko_ref, round_
):
    store = server_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text=f"secret {round_}"
    )

    editing = threading.Event()

    def change(index):
        if index == 0:  # once the editors are under way
            editing.wait(timeout=10)
            return store.unsend_message(
                user_uuid=andrew_ref.uuid,
                conversation_uuid=conversation,
                message_uuid=message.message_uuid,
            )
        for attempt in range(40):  # edit after edit, until the unsend has won
            try:
                store.edit_message(
                    user_uuid=andrew_ref.uuid,
                    conversation_uuid=conversation,
                    message_uuid=message.message_uuid,
                    text=f"secret {round_}, edit {index}.{attempt}",
                    now=datetime.now(UTC),
                    sort_key=message.sort_key,
                )
                editing.set()
            except NotEditable:
                return attempt
            except Conflict:
                continue
        return None

    refused_after = at_once(4, change)[1:]

    assert None not in refused_after  # every editor ended refused by the unsend
    assert any(refused_after)  # after editing: the unsend raced edits
    [now] = all_messages(store, conversation)
    assert now.unsent and now.text == ""
    assert not [text for text in stored_texts(store) if text.startswith(f"secret {round_}")]
    for entry in entries(store, conversation, andrew_ref, bayko_ref).values():
        assert entry.last_message == "" and entry.last_message_unsent
    assert_consistent(store, conversation, andrew_ref, bayko_ref)


@rounds
def test_an_unsend_racing_new_messages_keeps_the_previews_on_the_newest(
    server_store, andrew_ref, bayko_ref, round_
):
    store = server_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text=f"oops {round_}"
    )

    def act(index):
        if index == 0:
            return store.unsend_message(
                user_uuid=andrew_ref.uuid,
                conversation_uuid=conversation,
                message_uuid=message.message_uuid,
            )
        time.sleep(0.008 * index)  # spread over the unsend's reads and write
        sender = bayko_ref if index % 2 else andrew_ref
        return store.create_message(
            conversation_uuid=conversation, sender=sender, text=f"newer {index}"
        )

    at_once(6, act)

    messages = all_messages(store, conversation)
    assert len(messages) == 6
    assert messages[0].unsent and not any(m.unsent for m in messages[1:])
    newest = messages[-1]
    for entry in entries(store, conversation, andrew_ref, bayko_ref).values():
        assert (entry.sort_key, entry.last_message) == (newest.sort_key, newest.text)
        assert not entry.last_message_unsent
    assert not [text for text in stored_texts(store) if text == f"oops {round_}"]
    # No preview written where an entry was a moment ago (an item of an entry's fields only).
    for person in (andrew_ref, bayko_ref):
        page = store.list_conversations(user_uuid=person.uuid)
        assert [entry.conversation_uuid for entry in page.items] == [conversation]
    assert_consistent(store, conversation, andrew_ref, bayko_ref)


def test_the_same_unsend_or_edit_at_once_is_done_once(server_store, andrew_ref, bayko_ref):
    store = server_store
    conversation, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="twice"
    )
    second = store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="teh")

    unsent = at_once(
        4,
        lambda _: store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=first.message_uuid,
        ),
    )
    edited = at_once(
        4,
        lambda _: store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=second.message_uuid,
            text="the",
            now=datetime.now(UTC),
        ),
    )

    # One unsend and one edit happened: the same moment answered to every caller.
    assert len({message.unsent_at for message in unsent}) == 1
    assert len({message.edited_at for message in edited}) == 1
    changes = store.list_changed_messages(conversation_uuid=conversation, since=first.created_at)
    assert [(m.message_uuid, m.unsent, m.text) for m in changes] == [
        (first.message_uuid, True, ""),
        (second.message_uuid, False, "the"),
    ]
    assert_consistent(store, conversation, andrew_ref, bayko_ref)


@rounds
def test_a_hide_racing_new_messages_never_hides_one_unread(
    server_store, andrew_ref, bayko_ref, round_
):
    store = server_store
    conversation, _ = store.create_conversation(
        sender=bayko_ref, recipient=andrew_ref, text="hello"
    )

    def act(index):
        if index == 0:
            with contextlib.suppress(Conflict):  # lost to the sends beyond its budget
                store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid=conversation)
            return
        store.create_message(conversation_uuid=conversation, sender=bayko_ref, text=f"{index}")

    at_once(4, act)

    mine = entries(store, conversation, andrew_ref)[andrew_ref.uuid]
    newest = all_messages(store, conversation)[-1]
    if mine.hidden:  # hidden after the last send: it was all read, nothing is lost
        assert mine.unread == 0 and mine.read_up_to == newest.sort_key
    else:  # a send after the hide brought it back, with what came unread
        assert mine.unread >= 1
        assert conversation in [
            entry.conversation_uuid
            for entry in store.list_conversations(user_uuid=andrew_ref.uuid).items
        ]
    assert_consistent(store, conversation, andrew_ref, bayko_ref)
