"""The store contract for groups: the same behaviour tests against both `MessageStore`s
(the in-memory fake, then DynamoDB over in-process moto), read back through the interface."""

import pytest

from messaging.domain import ADDED, LEFT, RENAMED
from messaging.errors import GroupFull, NotEditable, NotFound
from tests.integration.test_store_contract import entry_of, person, texts, unread


@pytest.fixture(params=["memory", "dynamodb"])
def message_store(request):
    """An empty store of each kind: the in-memory fake, then DynamoDB over in-process moto."""
    if request.param == "memory":
        return request.getfixturevalue("memory_store")
    return request.getfixturevalue("store")


def start(store, sender, members, text="hello all", name=""):
    return store.create_group(sender=sender, members=members, name=name, text=text)


def owners(store, conversation_uuid):
    return {
        entry.owner_uuid for entry in store.get_participants(conversation_uuid=conversation_uuid)
    }


def inbox_uuids(store, user):
    page = store.list_conversations(user_uuid=user.uuid, limit=1000)
    return [entry.conversation_uuid for entry in page.items]


def test_a_group_reaches_every_members_inbox_unread_but_the_senders(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    conversation, message = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    assert message.text == "hello all" and message.conversation_uuid == conversation
    for member in (andrew_ref, bayko_ref, londo_ref):
        entry = entry_of(message_store, member, conversation)
        assert entry.group is not None
        assert {m.uuid for m in entry.group.members} == {
            andrew_ref.uuid,
            bayko_ref.uuid,
            londo_ref.uuid,
        }
        assert entry.last_message == "hello all"
        assert entry.group.joined_at is None
    assert unread(message_store, andrew_ref) == ({conversation: 0}, 0)
    assert unread(message_store, bayko_ref) == ({conversation: 1}, 1)
    assert unread(message_store, londo_ref) == ({conversation: 1}, 1)
    title = entry_of(message_store, bayko_ref, conversation).other_user.display_name
    assert title == f"{andrew_ref.display_name}, {londo_ref.display_name}"
    roster = message_store.get_roster(conversation_uuid=conversation)
    assert roster.version == 1 and roster.has(londo_ref.uuid)


def test_the_same_people_again_make_a_new_group_and_pairs_stay_apart(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    first, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    second, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    assert first != second
    pair, _ = message_store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    assert pair not in (first, second)
    assert (
        message_store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid)
        == pair
    )
    assert message_store.get_roster(conversation_uuid=pair) is None
    assert entry_of(message_store, andrew_ref, pair).group is None


def test_replies_reach_everyone_with_unread_counts(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    message_store.create_message(
        conversation_uuid=conversation, sender=bayko_ref, text="from bayko"
    )
    message_store.create_message(
        conversation_uuid=conversation, sender=londo_ref, text="from londo"
    )
    assert unread(message_store, andrew_ref) == ({conversation: 2}, 1)
    assert unread(message_store, bayko_ref) == ({conversation: 1}, 1)  # sending means reading
    assert unread(message_store, londo_ref) == ({conversation: 0}, 0)
    for member in (andrew_ref, bayko_ref, londo_ref):
        entry = entry_of(message_store, member, conversation)
        assert entry.last_message == "from londo"
        assert entry.group.last_sender_uuid == londo_ref.uuid
    assert texts(message_store, conversation) == ["from londo", "from bayko", "hello all"]


def test_an_added_member_sees_only_what_came_after(message_store, andrew_ref, bayko_ref, londo_ref):
    alt = person("altbrown")
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    message_store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="before")
    line = message_store.add_members(
        actor=londo_ref, conversation_uuid=conversation, people=[alt], max_members=10
    )
    assert line.event == ADDED and alt.display_name in line.text
    message_store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="after")
    entry = entry_of(message_store, alt, conversation)
    assert entry.group.joined_at == line.sort_key
    assert entry.unread == 2  # the line that added them, and the message after it
    seen = message_store.list_messages(conversation_uuid=conversation, since=entry.visible_from)
    assert [m.text for m in seen.items] == ["after", line.text]
    assert texts(message_store, conversation)[-1] == "hello all"  # the others still see all
    after = message_store.list_messages_after(
        conversation_uuid=conversation,
        after_sort_key="2000-01-01T00:00:00.000000+00:00",
        since=entry.visible_from,
    )
    assert [m.text for m in after] == [line.text, "after"]
    assert owners(message_store, conversation) == {
        andrew_ref.uuid,
        bayko_ref.uuid,
        londo_ref.uuid,
        alt.uuid,
    }
    # Everyone's entry knows the new roster.
    for member in (andrew_ref, bayko_ref, londo_ref, alt):
        assert len(entry_of(message_store, member, conversation).group.members) == 4
    assert message_store.get_roster(conversation_uuid=conversation).version == 2


def test_adding_someone_already_in_changes_nothing(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    assert (
        message_store.add_members(
            actor=andrew_ref, conversation_uuid=conversation, people=[bayko_ref], max_members=10
        )
        is None
    )
    assert len(texts(message_store, conversation)) == 1


def test_a_leaver_is_out_and_receives_nothing_more(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    line = message_store.leave_group(user=londo_ref, conversation_uuid=conversation)
    assert line.event == LEFT
    assert conversation not in inbox_uuids(message_store, londo_ref)
    assert unread(message_store, londo_ref) == ({}, 0)  # the unread first message went with it
    message_store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="later")
    assert conversation not in inbox_uuids(message_store, londo_ref)
    assert owners(message_store, conversation) == {andrew_ref.uuid, bayko_ref.uuid}
    with pytest.raises(NotFound):
        message_store.create_message(conversation_uuid=conversation, sender=londo_ref, text="x")
    with pytest.raises(NotFound):
        message_store.add_members(
            actor=londo_ref, conversation_uuid=conversation, people=[londo_ref], max_members=10
        )
    assert entry_of(message_store, bayko_ref, conversation).unread == 3


def test_the_cap_refuses_with_the_number(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    with pytest.raises(GroupFull) as refused:
        message_store.add_members(
            actor=andrew_ref,
            conversation_uuid=conversation,
            people=[person("one"), person("two")],
            max_members=4,
        )
    assert refused.value.max_members == 4 and "4" in str(refused.value)
    assert len(owners(message_store, conversation)) == 3


def test_a_rename_is_a_line_and_every_entry_shows_the_name(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    line = message_store.rename_group(actor=bayko_ref, conversation_uuid=conversation, name="Trip")
    assert line.event == RENAMED and "Trip" in line.text
    for member in (andrew_ref, bayko_ref, londo_ref):
        entry = entry_of(message_store, member, conversation)
        assert entry.group.name == "Trip" and entry.other_user.display_name == "Trip"
    assert (
        message_store.rename_group(actor=bayko_ref, conversation_uuid=conversation, name="Trip")
        is None
    )


def test_roster_lines_cannot_be_edited_or_unsent(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, _ = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    line = message_store.rename_group(actor=andrew_ref, conversation_uuid=conversation, name="X")
    with pytest.raises(NotFound):
        message_store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=line.message_uuid,
        )


def test_edit_unsend_and_hide_work_in_a_group(message_store, andrew_ref, bayko_ref, londo_ref):
    conversation, message = start(message_store, andrew_ref, [bayko_ref, londo_ref])
    edited = message_store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=conversation,
        message_uuid=message.message_uuid,
        text="hello everyone",
        now=message.created_at,
    )
    assert edited.text == "hello everyone"
    for member in (andrew_ref, bayko_ref, londo_ref):
        assert entry_of(message_store, member, conversation).last_message == "hello everyone"
    message_store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=message.message_uuid
    )
    for member in (andrew_ref, bayko_ref, londo_ref):
        assert entry_of(message_store, member, conversation).last_message_unsent
    message_store.hide_conversation(user_uuid=londo_ref.uuid, conversation_uuid=conversation)
    assert conversation not in inbox_uuids(message_store, londo_ref)
    message_store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="back")
    assert conversation in inbox_uuids(message_store, londo_ref)
    with pytest.raises(NotEditable):
        message_store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=message.message_uuid,
            text="again",
            now=message.created_at,
        )


def test_a_group_start_with_a_claimed_key_is_replayed(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    first = message_store.create_group(
        sender=andrew_ref,
        members=[bayko_ref, londo_ref],
        name="",
        text="once",
        idempotency_key="k1",
    )
    again = message_store.create_group(
        sender=andrew_ref,
        members=[bayko_ref, londo_ref],
        name="",
        text="once",
        idempotency_key="k1",
    )
    assert again[0] == first[0] and again[1].replayed
    assert inbox_uuids(message_store, bayko_ref) == [first[0]]
