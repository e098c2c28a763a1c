"""Tables written by the original code: items put exactly as its scripts put them.

The original's seed and create_message_group wrote inbox entries (group items) and messages
with `datetime.isoformat()` sort keys, local offsets, with and without microseconds, and no
PAIR items, unread fields, counters or schema version. The app reads them, replies into them,
and resumes them instead of starting a second conversation for the pair.
"""

import uuid

from cruddur.request_cost import track_usage
from messaging.domain import UserRef
from messaging.dynamo import items, schema
from tests.helpers import at_once, within_budget

ORIGINAL_TIMES = [
    "2023-03-20T18:40:21.123456-04:00",  # local offset, microseconds
    "2023-03-20T22:41:00+00:00",  # UTC, no microseconds (isoformat drops zeros)
    "2023-03-20T22:42:30.500000+00:00",
]


def forget_schema_version(store):
    """A table made by schema.create, but as the original left it: no version item."""
    pk, sk = items.SCHEMA_KEY
    store.table.client.delete_item(TableName=store.table.name, Key=items.typed_key(pk, sk))
    store._current_checked_at = None  # a store that has not looked yet


def put_like_the_original(store, andrew: UserRef, bayko: UserRef) -> str:
    """One conversation as the original's seed script wrote it: returns its uuid."""
    conversation = str(uuid.uuid4())
    client, table = store.table.client, store.table.name
    last = ORIGINAL_TIMES[-1]
    for owner, other in ((andrew, bayko), (bayko, andrew)):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"GRP#{owner.uuid}"},
                "sk": {"S": last},
                "message_group_uuid": {"S": conversation},
                "message": {"S": "third, from bayko"},
                "user_uuid": {"S": other.uuid},
                "user_display_name": {"S": other.display_name},
                "user_handle": {"S": other.handle},
            },
        )
    for created_at, sender, text in zip(
        ORIGINAL_TIMES,
        (andrew, andrew, bayko),
        ("first, from andrew", "second, from andrew", "third, from bayko"),
        strict=True,
    ):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"MSG#{conversation}"},
                "sk": {"S": created_at},
                "message_uuid": {"S": str(uuid.uuid4())},
                "message": {"S": text},
                "user_uuid": {"S": sender.uuid},
                "user_display_name": {"S": sender.display_name},
                "user_handle": {"S": sender.handle},
            },
        )
    return conversation


def start_at_once(store, people):
    """Each (sender, recipient) starts a conversation on its own thread, all at the same moment."""

    def start(index):
        sender, recipient = people[index]
        return store.create_conversation(sender=sender, recipient=recipient, text=f"hi {index}")

    return at_once(len(people), start)


def pair_items(store):
    return [item for item in schema.scan(store.table) if item["pk"].startswith("PAIR#")]


def test_an_original_table_reads_and_replies(store, andrew_ref, bayko_ref):
    forget_schema_version(store)
    conversation = put_like_the_original(store, andrew_ref, bayko_ref)

    inbox = store.list_conversations(user_uuid=andrew_ref.uuid)
    messages = store.list_messages(conversation_uuid=conversation)
    reply = store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="reply")

    assert [entry.conversation_uuid for entry in inbox.items] == [conversation]
    assert [m.text for m in reversed(messages.items)] == [
        "first, from andrew",
        "second, from andrew",
        "third, from bayko",
    ]
    newest = store.list_messages(conversation_uuid=conversation).items[0]
    assert newest == reply
    assert store.list_conversations(user_uuid=bayko_ref.uuid).items[0].last_message == "reply"


def test_starting_an_original_conversation_again_resumes_it(store, andrew_ref, bayko_ref):
    forget_schema_version(store)
    conversation = put_like_the_original(store, andrew_ref, bayko_ref)

    resumed, message = store.create_conversation(
        sender=bayko_ref, recipient=andrew_ref, text="still here?"
    )

    assert resumed == conversation
    assert message.conversation_uuid == conversation
    assert len(store.list_conversations(user_uuid=andrew_ref.uuid).items) == 1
    assert [item["group_uuid"] for item in pair_items(store)] == [conversation]
    # The PAIR item it wrote makes the next lookup one read.
    with track_usage() as usage:
        found = store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid)
    assert found == conversation
    assert within_budget(usage.calls, get_item=1)


def test_a_current_table_skips_the_fallback(store, andrew_ref, bayko_ref, londo_ref):
    store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=londo_ref.uuid)  # warm

    with track_usage() as usage:
        found = store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid)

    assert found is None
    assert within_budget(usage.calls, get_item=1)  # the PAIR read alone


def test_a_legacy_table_looks_through_the_inbox_only_on_a_miss(store, andrew_ref, londo_ref):
    forget_schema_version(store)

    with track_usage() as usage:
        found = store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=londo_ref.uuid)

    assert found is None
    # The PAIR read, the schema version (once per process), the user's own entries.
    assert within_budget(usage.calls, get_item=2, query=1)


def test_both_people_resuming_an_original_conversation_at_once_end_with_it(
    server_store, andrew_ref, bayko_ref
):
    store = server_store
    forget_schema_version(store)
    conversation = put_like_the_original(store, andrew_ref, bayko_ref)
    people = [(andrew_ref, bayko_ref), (bayko_ref, andrew_ref)] * 4
    started = start_at_once(store, people)

    assert {found for found, _ in started} == {conversation}
    assert len(store.list_conversations(user_uuid=andrew_ref.uuid).items) == 1
    assert len(store.list_conversations(user_uuid=bayko_ref.uuid).items) == 1
    assert [item["group_uuid"] for item in pair_items(store)] == [conversation]
    texts = [m.text for m in store.list_messages(conversation_uuid=conversation, limit=100).items]
    assert len(texts) == 3 + len(people)


def test_both_people_starting_a_new_conversation_on_a_legacy_table_end_with_one(
    server_store, andrew_ref, bayko_ref
):
    store = server_store
    forget_schema_version(store)
    people = [(andrew_ref, bayko_ref), (bayko_ref, andrew_ref)] * 4
    started = start_at_once(store, people)

    assert len({found for found, _ in started}) == 1
    assert len(pair_items(store)) == 1
    assert len(store.list_conversations(user_uuid=andrew_ref.uuid).items) == 1
