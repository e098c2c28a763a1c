"""The store contract: one set of behaviour tests run against both `MessageStore`s.

Every behaviour test takes `message_store`, which is first the in-memory fake
(`messaging/memory.py`, the unit tier's store) and then the DynamoDB store over in-process moto
(`messaging/dynamo/`). What the pages and services rely on must hold for both, so the fake
cannot drift from the real thing. Assertions are on state read back through the interface,
never on calls or on DynamoDB items; what only DynamoDB has (items, request counts, retries,
errors from AWS) is tested in test_dynamo_store.py, what only the fake has in tests/unit.
"""

import base64
import inspect
import typing
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from messaging.domain import (
    PREVIEW_BYTES,
    InboxEntry,
    NewMessage,
    UserRef,
    format_sort_key,
    preview,
)
from messaging.dynamo import DynamoStore
from messaging.dynamo import store as dynamo_store_module
from messaging.errors import Conflict, InvalidCursor, NotEditable, NotFound
from messaging.memory import InMemoryStore
from messaging.store import MessageStore
from tests.helpers import after_first_call, read_position

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


@pytest.fixture(params=["memory", "dynamodb"])
def message_store(request):
    """An empty store of each kind: the in-memory fake, then DynamoDB over in-process moto."""
    if request.param == "memory":
        return request.getfixturevalue("memory_store")
    return request.getfixturevalue("store")  # tests/integration/conftest.py: table created


@pytest.fixture
def set_clock(message_store, monkeypatch):
    """`set_clock(moment)`: from now on the store's clock reads `moment`."""

    def set_to(moment):
        if isinstance(message_store, InMemoryStore):
            monkeypatch.setattr(message_store, "clock", lambda: moment)
        else:
            monkeypatch.setattr(dynamo_store_module, "utcnow", lambda: moment)

    return set_to


# --- helpers: read state back through the interface ---


def person(handle):
    return UserRef(uuid=str(uuid.uuid4()), handle=handle, display_name=handle.title())


def texts(store, conversation_uuid):
    """A conversation's message texts, newest first."""
    page = store.list_messages(conversation_uuid=conversation_uuid, limit=1000)
    return [message.text for message in page.items]


def unread(store, user):
    """{conversation: unread} of a person's inbox, and their count of unread conversations."""
    page = store.list_conversations(user_uuid=user.uuid, limit=1000)
    return {
        entry.conversation_uuid: entry.unread for entry in page.items
    }, page.unread_conversations


def entry_of(store, user, conversation_uuid):
    """A person's one inbox entry for a conversation."""
    page = store.list_conversations(user_uuid=user.uuid, limit=1000)
    [found] = [entry for entry in page.items if entry.conversation_uuid == conversation_uuid]
    return found


def all_pages(fetch):
    """Follow the cursors to the end; every page. The last one may be empty: AWS answers a
    list that fills its last page exactly with a cursor, then an empty page."""
    pages, cursor = [], None
    while True:
        page = fetch(cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert isinstance(cursor, str)
        assert len(pages) < 100, "paging never ends"


def import_messages(store, conversation_uuid, first, second, count, *, start=START):
    """`count` messages alternating first, second, ... one minute apart; returns them."""
    messages = [
        NewMessage(
            message_uuid=str(uuid.uuid4()),
            sender=(first, second)[i % 2],
            text=f"message {i}",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    store.import_conversation(
        conversation_uuid=conversation_uuid, participants=(first, second), messages=messages
    )
    return messages


def make_inbox(store, owner, count, *, owner_sends):
    """`count` conversations of `owner` with new people; their uuids, newest first."""
    uuids = []
    for i in range(count):
        other = person(f"friend{i}")
        sender, recipient = (owner, other) if owner_sends else (other, owner)
        conversation_uuid, _ = store.create_conversation(
            sender=sender, recipient=recipient, text=f"hello {i}"
        )
        uuids.append(conversation_uuid)
    return uuids[::-1]


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- the interface itself: a method added to one store and not the other fails here ---

DECLARED = sorted(
    name
    for name in dir(MessageStore)
    if not name.startswith("_") and callable(getattr(MessageStore, name))
)
IMPLEMENTATIONS = [InMemoryStore, DynamoStore]
# Public methods a store has outside the interface, each for a reason of its own.
EXTRAS = {
    InMemoryStore: set(),
    DynamoStore: {"advance_inboxes"},  # pattern D alone, for the DynamoDB Streams handler
}


def public_methods(cls):
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def signature_of(cls, name):
    """(name, kind, default) of each parameter but self, and the resolved type hints."""
    method = getattr(cls, name)
    parameters = list(inspect.signature(method).parameters.values())[1:]
    return (
        [(p.name, p.kind, p.default) for p in parameters],
        typing.get_type_hints(method),
    )


@pytest.mark.parametrize("name", DECLARED)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=lambda cls: cls.__name__)
def test_each_store_has_every_method_of_the_interface_as_declared(implementation, name):
    declared_parameters, declared_hints = signature_of(MessageStore, name)
    assert all(kind is inspect.Parameter.KEYWORD_ONLY for _, kind, _ in declared_parameters)

    assert callable(getattr(implementation, name, None)), f"{implementation.__name__}.{name}"
    assert signature_of(implementation, name) == (declared_parameters, declared_hints)


def test_no_store_has_public_methods_outside_the_interface():
    assert "list_conversations" in DECLARED  # the interface is read, not an empty list

    for implementation in IMPLEMENTATIONS:
        extra = public_methods(implementation) - set(DECLARED)
        assert extra == EXTRAS[implementation], implementation.__name__


# --- create_conversation: one conversation per pair ---


def test_a_new_conversation_reaches_both_inboxes(message_store, andrew_ref, bayko_ref):
    store = message_store

    conversation_uuid, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )

    assert (message.conversation_uuid, message.sender, message.text) == (
        conversation_uuid,
        andrew_ref,
        "hi",
    )
    assert message.sort_key == format_sort_key(message.created_at)
    shared = {
        "conversation_uuid": conversation_uuid,
        "last_message": "hi",
        "last_message_at": message.created_at,
        "sort_key": message.sort_key,
    }
    andrews = store.list_conversations(user_uuid=andrew_ref.uuid)
    baykos = store.list_conversations(user_uuid=bayko_ref.uuid)
    assert andrews.items == (
        InboxEntry(owner_uuid=andrew_ref.uuid, other_user=bayko_ref, unread=0, **shared),
    )
    assert baykos.items == (
        InboxEntry(owner_uuid=bayko_ref.uuid, other_user=andrew_ref, unread=1, **shared),
    )
    assert (andrews.unread_conversations, baykos.unread_conversations) == (0, 1)
    assert store.list_messages(conversation_uuid=conversation_uuid).items == (message,)
    assert set(store.get_participants(conversation_uuid=conversation_uuid)) == {
        *andrews.items,
        *baykos.items,
    }


@pytest.mark.parametrize("direction", ["same way", "the other way"])
def test_starting_a_conversation_again_continues_it(
    message_store, andrew_ref, bayko_ref, direction
):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    sender, recipient = andrew_ref, bayko_ref
    if direction == "the other way":
        sender, recipient = bayko_ref, andrew_ref

    again, message = store.create_conversation(sender=sender, recipient=recipient, text="again")

    assert again == conversation_uuid
    assert (message.conversation_uuid, message.sender) == (conversation_uuid, sender)
    assert texts(store, conversation_uuid) == ["again", "hi"]
    assert len(store.get_participants(conversation_uuid=conversation_uuid)) == 2
    for someone in (andrew_ref, bayko_ref):
        [mine] = store.list_conversations(user_uuid=someone.uuid).items
        assert (mine.conversation_uuid, mine.sort_key, mine.last_message) == (
            conversation_uuid,
            message.sort_key,
            "again",
        )
    assert unread(store, sender) == ({conversation_uuid: 0}, 0)  # sending means reading
    expected = 2 if direction == "same way" else 1
    assert unread(store, recipient) == ({conversation_uuid: expected}, 1)
    for a, b in ((andrew_ref, bayko_ref), (bayko_ref, andrew_ref)):
        assert store.find_conversation(user_uuid=a.uuid, other_user_uuid=b.uuid) == again


# --- a form sent again: its key already claimed ---


def test_a_send_again_with_a_claimed_key_returns_the_message_replayed(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    start_key, send_key = str(uuid.uuid4()), str(uuid.uuid4())
    conversation_uuid, started = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi", idempotency_key=start_key
    )
    sent = store.create_message(
        conversation_uuid=conversation_uuid,
        sender=andrew_ref,
        text="once",
        idempotency_key=send_key,
    )

    again, started_again = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi", idempotency_key=start_key
    )
    sent_again = store.create_message(
        conversation_uuid=conversation_uuid,
        sender=andrew_ref,
        text="once",
        idempotency_key=send_key,
    )

    assert not started.replayed and not sent.replayed  # these stored the messages
    assert (again, started_again, sent_again) == (conversation_uuid, started, sent)
    assert started_again.replayed and sent_again.replayed  # these stored nothing
    assert texts(store, conversation_uuid) == ["once", "hi"]
    assert not any(
        m.replayed for m in store.list_messages(conversation_uuid=conversation_uuid).items
    )
    assert unread(store, bayko_ref) == ({conversation_uuid: 2}, 1)


def test_sent_message_finds_what_a_key_stored_for_its_sender_only(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    key = str(uuid.uuid4())
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    assert store.sent_message(sender_uuid=andrew_ref.uuid, idempotency_key=key) is None
    sent = store.create_message(
        conversation_uuid=conversation_uuid, sender=andrew_ref, text="once", idempotency_key=key
    )

    found = store.sent_message(sender_uuid=andrew_ref.uuid, idempotency_key=key)

    assert found == sent and found.replayed  # as a send with the key would answer now
    assert store.sent_message(sender_uuid=bayko_ref.uuid, idempotency_key=key) is None


# --- find_conversation, get_participants ---


def test_find_conversation_works_both_ways_and_is_none_for_strangers(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid) is None
    )

    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )

    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid)
        == conversation_uuid
    )
    assert (
        store.find_conversation(user_uuid=bayko_ref.uuid, other_user_uuid=andrew_ref.uuid)
        == conversation_uuid
    )
    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=londo_ref.uuid) is None
    )
    assert store.find_conversation(user_uuid=londo_ref.uuid, other_user_uuid=bayko_ref.uuid) is None


def test_get_participants_is_both_entries_or_none(message_store, andrew_ref, bayko_ref, londo_ref):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="elsewhere")

    entries = store.get_participants(conversation_uuid=conversation_uuid)

    assert sorted((e.owner_uuid, e.other_user) for e in entries) == sorted(
        [(andrew_ref.uuid, bayko_ref), (bayko_ref.uuid, andrew_ref)]
    )
    assert set(entries) == {
        entry_of(store, andrew_ref, conversation_uuid),
        entry_of(store, bayko_ref, conversation_uuid),
    }
    assert store.get_participants(conversation_uuid=str(uuid.uuid4())) == ()
    assert store.get_participants(conversation_uuid="not-a-uuid") == ()


# --- create_message ---


@pytest.mark.parametrize("participants", ["not passed", "passed", "passed stale"])
def test_a_message_moves_both_entries_and_raises_the_recipients_unread(
    message_store, andrew_ref, bayko_ref, londo_ref, participants
):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    other, _ = store.create_conversation(sender=londo_ref, recipient=bayko_ref, text="elsewhere")
    sent = ["hi"]
    read = store.get_participants(conversation_uuid=conversation_uuid)
    if participants == "passed stale":  # another send moved both entries since they were read
        store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="also")
        sent.append("also")

    reply = store.create_message(
        conversation_uuid=conversation_uuid,
        sender=andrew_ref,
        text="again",
        participants=None if participants == "not passed" else read,
    )
    sent.append("again")

    assert (reply.conversation_uuid, reply.sender, reply.text) == (
        conversation_uuid,
        andrew_ref,
        "again",
    )
    for entry in store.get_participants(conversation_uuid=conversation_uuid):
        assert (entry.sort_key, entry.last_message, entry.last_message_at) == (
            reply.sort_key,
            "again",
            reply.created_at,
        )
    baykos = store.list_conversations(user_uuid=bayko_ref.uuid)
    assert [(e.conversation_uuid, e.unread) for e in baykos.items] == [
        (conversation_uuid, len(sent)),  # moved to the top
        (other, 1),
    ]
    assert baykos.unread_conversations == 2
    assert unread(store, andrew_ref) == ({conversation_uuid: 0}, 0)
    assert texts(store, conversation_uuid) == sent[::-1]
    assert store.list_messages(conversation_uuid=conversation_uuid).items[0] == reply

    # Replying reads the conversation: bayko's count clears, andrew's rises.
    answer = store.create_message(
        conversation_uuid=conversation_uuid,
        sender=bayko_ref,
        text="back",
        participants=None
        if participants == "not passed"
        else store.get_participants(conversation_uuid=conversation_uuid),
    )

    assert [e.sort_key for e in store.get_participants(conversation_uuid=conversation_uuid)] == [
        answer.sort_key
    ] * 2
    assert unread(store, bayko_ref) == ({conversation_uuid: 0, other: 1}, 1)
    assert unread(store, andrew_ref) == ({conversation_uuid: 1}, 1)


def test_create_message_in_a_missing_conversation_is_not_found(message_store, andrew_ref):
    with pytest.raises(NotFound):
        message_store.create_message(
            conversation_uuid=str(uuid.uuid4()), sender=andrew_ref, text="x"
        )


def test_a_sender_who_is_not_a_participant_is_not_found(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    before = set(store.get_participants(conversation_uuid=conversation_uuid))

    with pytest.raises(NotFound):
        store.create_message(
            conversation_uuid=conversation_uuid, sender=londo_ref, text="let me in"
        )
    with pytest.raises(NotFound):  # also with the entries read: they are not londo's
        store.create_message(
            conversation_uuid=conversation_uuid,
            sender=londo_ref,
            text="let me in",
            participants=tuple(before),
        )

    assert texts(store, conversation_uuid) == ["hi"]
    assert set(store.get_participants(conversation_uuid=conversation_uuid)) == before
    assert store.list_conversations(user_uuid=londo_ref.uuid).items == ()


def test_messages_get_strictly_increasing_sort_keys(message_store, andrew_ref, bayko_ref):
    store = message_store
    conversation_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="m0"
    )
    sent = [first] + [
        store.create_message(
            conversation_uuid=conversation_uuid, sender=(andrew_ref, bayko_ref)[i % 2], text=f"m{i}"
        )
        for i in range(1, 10)
    ]

    keys = [message.sort_key for message in sent]
    assert keys == sorted(set(keys))
    assert all(message.sort_key == format_sort_key(message.created_at) for message in sent)
    assert store.list_messages(conversation_uuid=conversation_uuid).items == tuple(sent[::-1])


def test_sort_keys_increase_when_the_clock_stands_still_or_goes_back(
    message_store, set_clock, andrew_ref, bayko_ref
):
    store = message_store
    set_clock(START)
    conversation_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="one"
    )
    second = store.create_message(conversation_uuid=conversation_uuid, sender=bayko_ref, text="2")
    set_clock(START - timedelta(hours=1))
    third = store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="3")

    assert first.sort_key < second.sort_key < third.sort_key
    assert store.list_messages(conversation_uuid=conversation_uuid).items == (third, second, first)
    assert store.list_messages_after(
        conversation_uuid=conversation_uuid, after_sort_key=first.sort_key
    ) == (second, third)
    for entry in store.get_participants(conversation_uuid=conversation_uuid):
        assert (entry.sort_key, entry.last_message) == (third.sort_key, "3")


# --- A: a conversation's messages ---


def test_messages_page_newest_first_with_opaque_cursors(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    group, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="m0")
    for i in range(1, 5):
        store.create_message(conversation_uuid=group, sender=andrew_ref, text=f"m{i}")

    first = store.list_messages(conversation_uuid=group, limit=2)
    second = store.list_messages(conversation_uuid=group, cursor=first.next_cursor, limit=2)
    last = store.list_messages(conversation_uuid=group, cursor=second.next_cursor, limit=2)

    assert [m.text for m in first.items + second.items + last.items] == [
        "m4",
        "m3",
        "m2",
        "m1",
        "m0",
    ]
    assert last.next_cursor is None
    other, _ = store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="hello")
    with pytest.raises(InvalidCursor):
        store.list_messages(conversation_uuid=other, cursor=first.next_cursor)
    with pytest.raises(InvalidCursor):
        store.list_conversations(user_uuid=andrew_ref.uuid, cursor=first.next_cursor)
    with pytest.raises(InvalidCursor):
        store.list_messages(conversation_uuid=group, cursor="!!")


@pytest.mark.parametrize(("count", "sizes"), [(45, [20, 20, 5]), (40, [20, 20])])
def test_message_pages_hold_every_message_once_newest_first(
    message_store, andrew_ref, bayko_ref, count, sizes
):
    store = message_store
    conversation_uuid = str(uuid.uuid4())
    messages = import_messages(store, conversation_uuid, andrew_ref, bayko_ref, count)

    pages = all_pages(
        lambda cursor: store.list_messages(
            conversation_uuid=conversation_uuid, cursor=cursor, limit=20
        )
    )

    assert all(page.items for page in pages[:-1])  # only the last page may be empty
    assert [len(page.items) for page in pages if page.items] == sizes
    listed = [message for page in pages for message in page.items]
    assert [m.message_uuid for m in listed] == [m.message_uuid for m in reversed(messages)]
    assert [m.created_at for m in listed] == [m.created_at for m in reversed(messages)]


def test_list_messages_after_is_strictly_newer_oldest_first_and_limited(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    conversation_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="m0"
    )
    sent = [first] + [
        store.create_message(
            conversation_uuid=conversation_uuid, sender=(andrew_ref, bayko_ref)[i % 2], text=f"m{i}"
        )
        for i in range(1, 6)
    ]
    elsewhere, _ = store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="no")

    def after(sort_key, **limit):
        return store.list_messages_after(
            conversation_uuid=conversation_uuid, after_sort_key=sort_key, **limit
        )

    assert after(sent[1].sort_key) == tuple(sent[2:])
    assert after(sent[1].sort_key, limit=2) == tuple(sent[2:4])
    assert after(sent[-1].sort_key) == ()
    assert after(format_sort_key(first.created_at - ONE_MICROSECOND)) == tuple(sent)
    assert after(format_sort_key(first.created_at - ONE_MICROSECOND), limit=1) == (first,)
    missing = str(uuid.uuid4())
    assert store.list_messages_after(conversation_uuid=missing, after_sort_key=first.sort_key) == ()
    # Each conversation's own messages only: m1..m5 are newer too, but not in `elsewhere`.
    others = store.list_messages_after(conversation_uuid=elsewhere, after_sort_key=first.sort_key)
    assert [m.text for m in others] == ["no"]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!",
        "garbage!",
        "%%%",
        "é",
        "a" * 5000,
        encode(b"\xff\xfe not json"),
        encode(b"null"),
        encode(b"5"),
        encode(b'["a", "b"]'),
        encode(b'{"x": "y"}'),
        encode(b"[" * 100000),
    ],
    ids=lambda cursor: cursor[:12],
)
def test_a_damaged_cursor_is_invalid_cursor(message_store, andrew_ref, bayko_ref, cursor):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )

    with pytest.raises(InvalidCursor):
        store.list_messages(conversation_uuid=conversation_uuid, cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor)


def test_a_cursor_of_another_list_is_invalid_cursor(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    import_messages(store, ours, andrew_ref, bayko_ref, 5)
    import_messages(store, theirs, londo_ref, bayko_ref, 5)
    messages_cursor = store.list_messages(conversation_uuid=ours, limit=2).next_cursor
    inbox_cursor = store.list_conversations(user_uuid=bayko_ref.uuid, limit=1).next_cursor
    assert messages_cursor and inbox_cursor

    for bad in (
        lambda: store.list_messages(conversation_uuid=theirs, cursor=messages_cursor),
        lambda: store.list_messages(conversation_uuid=ours, cursor=inbox_cursor),
        lambda: store.list_messages(conversation_uuid=ours, cursor=messages_cursor[:-4]),
        lambda: store.list_conversations(user_uuid=andrew_ref.uuid, cursor=messages_cursor),
        lambda: store.list_conversations(user_uuid=andrew_ref.uuid, cursor=inbox_cursor),
        lambda: store.list_messages_after(conversation_uuid=ours, after_sort_key=messages_cursor),
    ):
        with pytest.raises(InvalidCursor):
            bad()
    # The right list still takes them.
    assert len(store.list_messages(conversation_uuid=ours, cursor=messages_cursor).items) == 3
    assert len(store.list_conversations(user_uuid=bayko_ref.uuid, cursor=inbox_cursor).items) == 1


@pytest.mark.parametrize(
    "after_sort_key", ["yesterday", "' OR 1=1", "", "2026-03-01T09:00:00", "MSG#x"]
)
def test_a_bad_after_sort_key_is_invalid_cursor(
    message_store, andrew_ref, bayko_ref, after_sort_key
):
    conversation_uuid, _ = message_store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )

    with pytest.raises(InvalidCursor):
        message_store.list_messages_after(
            conversation_uuid=conversation_uuid, after_sort_key=after_sort_key
        )


@pytest.mark.parametrize("method", ["list_conversations", "list_messages", "list_messages_after"])
def test_page_sizes_are_1_to_1000(message_store, andrew_ref, bayko_ref, method):
    store = message_store
    conversation_uuid, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    arguments = {
        "list_conversations": {"user_uuid": andrew_ref.uuid},
        "list_messages": {"conversation_uuid": conversation_uuid},
        "list_messages_after": {
            "conversation_uuid": conversation_uuid,
            "after_sort_key": format_sort_key(message.created_at - ONE_MICROSECOND),
        },
    }[method]
    call = getattr(store, method)

    for limit in (0, -1, 1001):
        with pytest.raises(ValueError):
            call(limit=limit, **arguments)
    for limit in (1, 1000):
        call(limit=limit, **arguments)


# --- B: a person's inbox ---


def test_an_empty_inbox_is_one_empty_page(message_store, andrew_ref):
    page = message_store.list_conversations(user_uuid=andrew_ref.uuid)

    assert (page.items, page.next_cursor, page.unread_conversations) == ((), None, 0)


@pytest.mark.parametrize(("count", "sizes"), [(12, [5, 5, 2]), (10, [5, 5])])
@pytest.mark.parametrize("owner_sends", [True, False], ids=["all read", "all unread"])
def test_inbox_pages_hold_every_conversation_once_newest_first(
    message_store, andrew_ref, count, sizes, owner_sends
):
    store = message_store
    newest_first = make_inbox(store, andrew_ref, count, owner_sends=owner_sends)

    pages = all_pages(
        lambda cursor: store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor, limit=5)
    )

    assert all(page.items for page in pages[:-1])  # only the last page may be empty
    assert [len(page.items) for page in pages if page.items] == sizes
    assert [e.conversation_uuid for page in pages for e in page.items] == newest_first
    assert all(e.owner_uuid == andrew_ref.uuid for page in pages for e in page.items)
    # The first page holds the count of unread conversations; later pages do not (DynamoDB
    # reads its counter item with the first page only).
    first_count = 0 if owner_sends else count
    assert [page.unread_conversations for page in pages] == [first_count] + [0] * (len(pages) - 1)


def test_unread_counts_follow_sends_and_reads(message_store, andrew_ref, bayko_ref, londo_ref):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="1"
    )
    store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="2")
    store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="3")
    other, _ = store.create_conversation(sender=londo_ref, recipient=bayko_ref, text="hey")

    assert unread(store, bayko_ref) == ({conversation_uuid: 3, other: 1}, 2)
    assert unread(store, andrew_ref) == ({conversation_uuid: 0}, 0)

    store.mark_read(**read_position(entry_of(store, bayko_ref, conversation_uuid)))
    assert unread(store, bayko_ref) == ({conversation_uuid: 0, other: 1}, 1)

    store.create_message(conversation_uuid=other, sender=bayko_ref, text="replying reads it")
    assert unread(store, bayko_ref) == ({conversation_uuid: 0, other: 0}, 0)
    assert unread(store, londo_ref) == ({other: 1}, 1)


# --- mark_read ---


def test_mark_read_clears_the_owners_unread_and_is_idempotent(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="1"
    )
    store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="2")
    other, _ = store.create_conversation(sender=londo_ref, recipient=bayko_ref, text="hey")
    position = read_position(entry_of(store, bayko_ref, conversation_uuid))
    assert position["unread"] == 2

    for _ in range(3):
        store.mark_read(**position)

    assert unread(store, bayko_ref) == ({conversation_uuid: 0, other: 1}, 1)
    # Reading a read conversation changes nothing (andrew has nothing unread).
    store.mark_read(**read_position(entry_of(store, andrew_ref, conversation_uuid)))
    assert unread(store, andrew_ref) == ({conversation_uuid: 0}, 0)
    assert unread(store, bayko_ref) == ({conversation_uuid: 0, other: 1}, 1)
    # The count never went below what the entries say: a new message counts again.
    store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="3")
    assert unread(store, bayko_ref) == ({conversation_uuid: 1, other: 1}, 2)
    entry = entry_of(store, bayko_ref, conversation_uuid)
    assert (entry.last_message, texts(store, conversation_uuid)) == ("3", ["3", "2", "1"])


def test_mark_read_at_a_stale_position_clears_the_entry_where_it_is(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation_uuid, _ = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="1"
    )
    stale = entry_of(store, bayko_ref, conversation_uuid)
    newer = store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="2")

    store.mark_read(**read_position(stale))

    [entry] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    assert (entry.unread, entry.last_message, entry.sort_key) == (0, "2", newer.sort_key)
    assert unread(store, bayko_ref) == ({conversation_uuid: 0}, 0)
    store.create_message(conversation_uuid=conversation_uuid, sender=andrew_ref, text="3")
    assert unread(store, bayko_ref) == ({conversation_uuid: 1}, 1)


# --- import_conversation (seed data, benchmarks) ---


def snapshot(store, conversation_uuid, people):
    """Everything the pages can read of one imported conversation."""
    first, second = people
    return (
        store.list_messages(conversation_uuid=conversation_uuid, limit=1000),
        [store.list_conversations(user_uuid=someone.uuid) for someone in people],
        store.get_participants(conversation_uuid=conversation_uuid),
        store.find_conversation(user_uuid=first.uuid, other_user_uuid=second.uuid),
    )


def test_import_is_idempotent(message_store, andrew_ref, bayko_ref):
    store = message_store
    conversation_uuid = str(uuid.uuid4())
    messages = import_messages(store, conversation_uuid, andrew_ref, bayko_ref, 6)
    once = snapshot(store, conversation_uuid, (andrew_ref, bayko_ref))

    store.import_conversation(
        conversation_uuid=conversation_uuid,
        participants=(andrew_ref, bayko_ref),
        messages=messages,
    )

    assert snapshot(store, conversation_uuid, (andrew_ref, bayko_ref)) == once
    assert texts(store, conversation_uuid) == [f"message {i}" for i in range(5, -1, -1)]
    newest = format_sort_key(START + timedelta(minutes=5))
    for owner, other in ((andrew_ref, bayko_ref), (bayko_ref, andrew_ref)):
        [entry] = store.list_conversations(user_uuid=owner.uuid).items
        assert (entry.conversation_uuid, entry.other_user) == (conversation_uuid, other)
        assert (entry.sort_key, entry.last_message, entry.unread) == (newest, "message 5", 0)
        assert store.find_conversation(user_uuid=owner.uuid, other_user_uuid=other.uuid) == (
            conversation_uuid
        )
    # An imported conversation takes new messages like any other.
    reply = store.create_message(conversation_uuid=conversation_uuid, sender=bayko_ref, text="hi")
    assert entry_of(store, andrew_ref, conversation_uuid).sort_key == reply.sort_key
    assert unread(store, andrew_ref) == ({conversation_uuid: 1}, 1)


def test_import_never_moves_an_entry_back(message_store, andrew_ref, bayko_ref):
    store = message_store
    group, live = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="live message"
    )
    old = NewMessage(
        str(uuid.uuid4()), bayko_ref, "seeded", datetime.now(UTC) - timedelta(days=400)
    )

    store.import_conversation(
        conversation_uuid=group, participants=(andrew_ref, bayko_ref), messages=[old]
    )
    store.import_conversation(  # idempotent
        conversation_uuid=group, participants=(andrew_ref, bayko_ref), messages=[old]
    )

    assert entry_of(store, andrew_ref, group).last_message == "live message"
    assert len(store.list_messages(conversation_uuid=group).items) == 2
    assert texts(store, group) == ["live message", "seeded"]
    for someone in (andrew_ref, bayko_ref):
        entry = entry_of(store, someone, group)
        assert (entry.sort_key, entry.last_message) == (live.sort_key, "live message")
    assert unread(store, bayko_ref) == ({group: 1}, 1)  # an import leaves unread counts alone


def test_import_of_newer_messages_moves_the_conversation_forward(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation_uuid = str(uuid.uuid4())
    import_messages(store, conversation_uuid, andrew_ref, bayko_ref, 5)

    import_messages(
        store, conversation_uuid, andrew_ref, bayko_ref, 3, start=START + timedelta(days=1)
    )

    newest = format_sort_key(START + timedelta(days=1, minutes=2))
    for someone in (andrew_ref, bayko_ref):
        entry = entry_of(store, someone, conversation_uuid)
        assert (entry.sort_key, entry.last_message) == (newest, "message 2")
    assert len(texts(store, conversation_uuid)) == 8


@pytest.mark.parametrize("case", ["one person twice", "no messages", "a stranger's message"])
def test_import_validates_its_participants(message_store, andrew_ref, bayko_ref, londo_ref, case):
    store = message_store
    conversation_uuid = str(uuid.uuid4())
    participants, senders = {
        "one person twice": ((andrew_ref, andrew_ref), [andrew_ref]),
        "no messages": ((andrew_ref, bayko_ref), []),
        "a stranger's message": ((andrew_ref, bayko_ref), [andrew_ref, londo_ref]),
    }[case]
    messages = [
        NewMessage(str(uuid.uuid4()), sender, f"text {i}", START + timedelta(minutes=i))
        for i, sender in enumerate(senders)
    ]

    with pytest.raises(ValueError):
        store.import_conversation(
            conversation_uuid=conversation_uuid, participants=participants, messages=messages
        )

    assert store.list_messages(conversation_uuid=conversation_uuid).items == ()
    for someone in (andrew_ref, bayko_ref, londo_ref):
        assert store.list_conversations(user_uuid=someone.uuid).items == ()
    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid) is None
    )


def test_import_into_a_pair_that_has_another_conversation_conflicts(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    existing, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")

    with pytest.raises(Conflict, match=existing):
        import_messages(store, str(uuid.uuid4()), bayko_ref, andrew_ref, 3)

    # Still one conversation for the pair (the refused one may have left unreachable messages).
    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid)
        == existing
    )
    for someone in (andrew_ref, bayko_ref):
        page = store.list_conversations(user_uuid=someone.uuid)
        assert [e.conversation_uuid for e in page.items] == [existing]
    assert texts(store, existing) == ["hi"]


# --- ping ---


def test_ping(message_store):
    assert message_store.ping() is None


# --- the last message an inbox entry keeps ---


@pytest.mark.parametrize("text", ["short", "x" * 1024, "ü" * 40, "😀" * 300])
def test_an_entry_keeps_a_bounded_preview_and_the_message_keeps_everything(message_store, text):
    andrew, bayko = person("andrewbrown"), person("bayko")
    conversation, _ = message_store.create_conversation(sender=andrew, recipient=bayko, text="hi")
    message_store.create_message(conversation_uuid=conversation, sender=bayko, text=text)

    last = entry_of(message_store, andrew, conversation).last_message
    assert last == preview(text)
    assert len(last.encode()) <= PREVIEW_BYTES
    assert texts(message_store, conversation)[0] == text


# --- hiding a conversation (issue 25) ---


def visible(store, user):
    """The conversation uuids of every page of a person's inbox, newest first, and the pages."""
    pages = all_pages(
        lambda cursor: store.list_conversations(user_uuid=user.uuid, cursor=cursor, limit=3)
    )
    return [e.conversation_uuid for page in pages for e in page.items], pages


def test_a_hidden_conversation_leaves_only_its_owners_inbox_until_the_next_message(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation, _ = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hi")
    assert unread(store, andrew_ref) == ({conversation: 1}, 1)

    store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid=conversation)
    store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid=conversation)  # again

    assert unread(store, andrew_ref) == ({}, 0)  # gone, and marked read
    assert unread(store, bayko_ref) == ({conversation: 0}, 0)  # the other side unchanged
    mine = {e.owner_uuid: e for e in store.get_participants(conversation_uuid=conversation)}
    assert mine[andrew_ref.uuid].hidden and not mine[bayko_ref.uuid].hidden
    assert mine[andrew_ref.uuid].last_message == "hi"

    reply = store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="back?")

    assert unread(store, andrew_ref) == ({conversation: 1}, 1)
    assert entry_of(store, andrew_ref, conversation).sort_key == reply.sort_key
    assert not entry_of(store, andrew_ref, conversation).hidden


def test_a_message_from_the_hider_brings_it_back_too(message_store, andrew_ref, bayko_ref):
    store = message_store
    conversation, _ = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hi")
    store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid=conversation)

    store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="me again")

    assert unread(store, andrew_ref) == ({conversation: 0}, 0)
    assert unread(store, bayko_ref) == ({conversation: 1}, 1)


def test_hiding_keeps_inbox_pages_full(message_store, andrew_ref):
    store = message_store
    newest_first = make_inbox(store, andrew_ref, 10, owner_sends=False)
    hidden = set(newest_first[1::2])  # every other one, the newest and oldest stay
    for conversation in hidden:
        store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid=conversation)

    listed, pages = visible(store, andrew_ref)

    assert listed == [c for c in newest_first if c not in hidden]
    assert [len(page.items) for page in pages if page.items] == [3, 2]
    assert all(len(page.items) == 3 for page in pages[:-1] if page.next_cursor)


def test_hiding_a_conversation_one_is_not_in_is_not_found(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    conversation, _ = message_store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    with pytest.raises(NotFound):
        message_store.hide_conversation(user_uuid=londo_ref.uuid, conversation_uuid=conversation)


# --- unsending and editing a message (issue 25) ---


def test_unsend_removes_the_text_and_the_previews_and_keeps_the_place(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="first"
    )
    oops = store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="oops")

    unsent = store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=oops.message_uuid
    )
    again = store.unsend_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=conversation,
        message_uuid=oops.message_uuid,
        sort_key=oops.sort_key,
    )

    assert unsent.unsent and unsent.text == "" and again == unsent
    stored = store.list_messages(conversation_uuid=conversation).items
    assert [(m.message_uuid, m.text, m.unsent) for m in stored] == [
        (oops.message_uuid, "", True),
        (first.message_uuid, "first", False),
    ]
    for someone in (andrew_ref, bayko_ref):
        entry = entry_of(store, someone, conversation)
        assert entry.last_message == "" and entry.last_message_unsent
    assert unread(store, bayko_ref) == ({conversation: 2}, 1)  # counts stay right


def test_unsend_of_an_older_message_leaves_the_previews(message_store, andrew_ref, bayko_ref):
    store = message_store
    conversation, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="first"
    )
    store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="reply")

    store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=first.message_uuid
    )

    assert entry_of(store, andrew_ref, conversation).last_message == "reply"
    assert texts(store, conversation) == ["reply", ""]
    # The next message after an unsent last one is shown normally.


def test_a_forged_unsend_or_edit_of_anothers_message_is_not_found_and_changes_nothing(
    message_store, andrew_ref, bayko_ref, londo_ref
):
    store = message_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="mine"
    )
    for forger in (bayko_ref, londo_ref):
        for sort_key in (None, message.sort_key):
            with pytest.raises(NotFound):
                store.unsend_message(
                    user_uuid=forger.uuid,
                    conversation_uuid=conversation,
                    message_uuid=message.message_uuid,
                    sort_key=sort_key,
                )
            with pytest.raises(NotFound):
                store.edit_message(
                    user_uuid=forger.uuid,
                    conversation_uuid=conversation,
                    message_uuid=message.message_uuid,
                    text="forged",
                    now=message.created_at,
                    sort_key=sort_key,
                )
    with pytest.raises(NotFound):  # a right uuid at a wrong key
        store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=message.message_uuid,
            sort_key=format_sort_key(START),
        )
    assert texts(store, conversation) == ["mine"]
    assert entry_of(store, bayko_ref, conversation).last_message == "mine"


def test_edit_within_the_window_replaces_the_text_and_the_preview(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="teh typo"
    )
    later = message.created_at + timedelta(seconds=899)

    edited = store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=conversation,
        message_uuid=message.message_uuid,
        text="the typo",
        now=later,
    )
    again = store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=conversation,
        message_uuid=message.message_uuid,
        text="the typo",
        now=later + timedelta(seconds=1),
        sort_key=message.sort_key,
    )

    assert edited.text == "the typo" and edited.edited_at == later and again == edited
    [stored] = store.list_messages(conversation_uuid=conversation).items
    assert stored == edited
    assert entry_of(store, bayko_ref, conversation).last_message == "the typo"


@pytest.mark.parametrize("use_sort_key", [False, True])
def test_edit_after_the_window_or_of_an_unsent_message_is_refused(
    message_store, andrew_ref, bayko_ref, use_sort_key, settings
):
    settings.EDIT_WINDOW_SECONDS = 60
    store = message_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hello"
    )
    sort_key = message.sort_key if use_sort_key else None

    def edit(now):
        return store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=message.message_uuid,
            text="changed",
            now=now,
            sort_key=sort_key,
        )

    late = message.created_at + timedelta(seconds=61)
    if use_sort_key:
        with pytest.raises(NotEditable):
            edit(late)
    else:  # without its key the store looks inside the window only: not found there
        with pytest.raises((NotEditable, NotFound)):
            edit(late)
    store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=message.message_uuid
    )
    with pytest.raises(NotEditable):
        edit(message.created_at + timedelta(seconds=1))
    assert texts(store, conversation) == [""]


def test_an_edit_racing_an_unsend_never_brings_the_text_back(
    message_store, andrew_ref, bayko_ref, monkeypatch
):
    """The unsend commits between the edit's read and its write: the edit's condition, not
    its read, must refuse it."""
    store = message_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="secret"
    )
    raced = after_first_call(
        monkeypatch,
        type(store),
        "_own_message",
        lambda: store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=message.message_uuid,
        ),
    )

    with pytest.raises(NotEditable):
        store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=conversation,
            message_uuid=message.message_uuid,
            text="secret, edited",
            now=message.created_at,
        )

    assert raced and texts(store, conversation) == [""]
    for someone in (andrew_ref, bayko_ref):
        assert entry_of(store, someone, conversation).last_message == ""


def test_an_unsend_racing_a_new_message_keeps_both_right(
    message_store, andrew_ref, bayko_ref, monkeypatch
):
    """A new message commits between the unsend's read and its write: the previews must end
    on the new message, and no entry may be written where the old one was."""
    store = message_store
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="oops"
    )
    newer = after_first_call(
        monkeypatch,
        type(store),
        "_own_message",
        lambda: store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="new"),
    )
    store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=message.message_uuid
    )

    assert texts(store, conversation) == ["new", ""]  # newest first
    for someone in (andrew_ref, bayko_ref):
        entry = entry_of(store, someone, conversation)
        assert (entry.last_message, entry.sort_key) == ("new", newer[0].sort_key)
        assert not entry.last_message_unsent
        page = store.list_conversations(user_uuid=someone.uuid)
        assert [e.conversation_uuid for e in page.items] == [conversation]


def test_list_changed_messages_tells_a_page_that_older_messages_changed(
    message_store, andrew_ref, bayko_ref
):
    store = message_store
    conversation, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="first"
    )
    second = store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="two")
    since = datetime.now(UTC)
    assert store.list_changed_messages(conversation_uuid=conversation, since=since) == ()

    store.unsend_message(
        user_uuid=bayko_ref.uuid, conversation_uuid=conversation, message_uuid=second.message_uuid
    )
    store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=conversation,
        message_uuid=first.message_uuid,
        text="first!",
        now=datetime.now(UTC),
    )

    changed = store.list_changed_messages(conversation_uuid=conversation, since=since)
    assert [(m.message_uuid, m.text, m.unsent) for m in changed] == [
        (second.message_uuid, "", True),
        (first.message_uuid, "first!", False),
    ]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert store.list_changed_messages(conversation_uuid=conversation, since=later) == ()
