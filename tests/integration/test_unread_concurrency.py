"""Unread counts under real concurrency: threads against moto's HTTP server.

Every test ends by checking the stored figures against the messages themselves, with the
repair's rule (`repair_unread`, which must then find nothing to fix), and the raw counter
items, which must never go below zero or out of step with the rows.
"""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from messaging.dynamo import items, jobs, schema
from messaging.errors import Conflict
from tests.helpers import at_once, read_position


def all_messages(store, group_uuid):
    """Every message of the conversation, oldest first."""
    messages, cursor = [], None
    while True:
        page = store.list_messages(conversation_uuid=group_uuid, cursor=cursor, limit=100)
        messages += page.items
        cursor = page.next_cursor
        if cursor is None:
            return list(reversed(messages))


def raw_row(store, owner, group_uuid):
    [row] = [
        item
        for item in schema.scan(store.table)
        if item["pk"] == f"GRP#{owner.uuid}" and item.get("message_group_uuid") == group_uuid
    ]
    return row


def raw_counter(store, owner):
    counters = [
        item["conversations"]
        for item in schema.scan(store.table)
        if item["pk"] == f"GRP#{owner.uuid}" and item["sk"] == "UNREAD"
    ]
    return counters[0] if counters else None


def read(store, row):
    """Mark `row` read as a page does. Losing to sends twice, the store gives up (Conflict, a
    page's small budget) and leaves the count to the next read: that is allowed here, a
    count out of step is not."""
    with contextlib.suppress(Conflict):
        store.mark_read(**read_position(row))


def expected_unread(messages, owner, last_read_sk=None):
    """The other person's messages after the owner's own last one and after the read marker."""
    unread = 0
    for message in messages:
        if message.sender.uuid == owner.uuid or (
            last_read_sk is not None and message.sort_key <= last_read_sk
        ):
            unread = 0
        else:
            unread += 1
    return unread


def assert_consistent(store, group_uuid, *owners):
    messages = all_messages(store, group_uuid)
    for owner in owners:
        row = raw_row(store, owner, group_uuid)
        assert items.entry_time_key(row["sk"]) == messages[-1].sort_key  # hidden or not
        assert row["unread"] == expected_unread(messages, owner, row.get("last_read_sk"))
        counter = raw_counter(store, owner)
        assert counter in (0, 1, None)  # never negative, never counting a row twice
        assert (counter or 0) == (1 if row["unread"] else 0)
    assert jobs.repair_unread(store.table, owner_uuids=[o.uuid for o in owners]).fixes == ()


def test_fifty_concurrent_sends_from_one_side(server_store, andrew_ref, bayko_ref):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hi")

    at_once(
        50,
        lambda i: store.create_message(
            conversation_uuid=group_uuid, sender=andrew_ref, text=f"message {i}"
        ),
    )

    [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    assert row.unread == 50
    assert store.list_conversations(user_uuid=bayko_ref.uuid).unread_conversations == 1
    assert raw_counter(store, bayko_ref) == 1
    [mine] = store.list_conversations(user_uuid=andrew_ref.uuid).items
    assert mine.unread == 0
    assert raw_counter(store, andrew_ref) == 0  # went to 1 with "hi", back to 0 on the first send
    assert len(all_messages(store, group_uuid)) == 51
    assert_consistent(store, group_uuid, andrew_ref, bayko_ref)


def test_fifty_concurrent_sends_from_both_sides(server_store, andrew_ref, bayko_ref):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    senders = [andrew_ref if i % 2 else bayko_ref for i in range(50)]

    at_once(
        50,
        lambda i: store.create_message(
            conversation_uuid=group_uuid, sender=senders[i], text=f"message {i}"
        ),
    )

    messages = all_messages(store, group_uuid)
    assert len(messages) == 51
    # Exactly one side has the newest message; only the other can have unread messages.
    last_sender = messages[-1].sender.uuid
    unread = {
        row.owner_uuid: row.unread
        for owner in (andrew_ref, bayko_ref)
        for row in store.list_conversations(user_uuid=owner.uuid).items
    }
    assert unread[last_sender] == 0
    assert_consistent(store, group_uuid, andrew_ref, bayko_ref)


def test_reads_racing_sends_never_go_negative_or_out_of_step(server_store, andrew_ref, bayko_ref):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hi")
    done = threading.Event()
    reads = []

    def send(index):
        store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text=f"m{index}")

    def keep_reading():
        # Bayko has the conversation open: read the row, mark it read, again and again, with
        # rows that the concurrent sends keep making stale.
        while not done.is_set():
            [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
            read(store, row)
            reads.append(row.unread)

    with ThreadPoolExecutor(max_workers=3) as readers:
        futures = [readers.submit(keep_reading) for _ in range(3)]
        at_once(40, send)
        done.set()
        for future in futures:
            future.result()

    assert any(count > 0 for count in reads)  # the reads did clear something
    assert_consistent(store, group_uuid, andrew_ref, bayko_ref)
    # A last read clears everything.
    [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    store.mark_read(**read_position(row))
    assert raw_row(store, bayko_ref, group_uuid)["unread"] == 0
    assert raw_counter(store, bayko_ref) == 0


@pytest.mark.parametrize("replays", [1, 10])
def test_replaying_a_read_changes_nothing(server_store, andrew_ref, bayko_ref, replays):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="2")
    [stale] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    assert stale.unread == 2
    store.mark_read(**read_position(stale))
    after_first = raw_row(store, bayko_ref, group_uuid)

    # The same read again: one by one, or all at once from several tabs.
    at_once(replays, lambda _: store.mark_read(**read_position(stale)))

    assert raw_row(store, bayko_ref, group_uuid) == after_first
    assert after_first["unread"] == 0
    assert after_first["last_read_sk"] == stale.sort_key
    assert raw_counter(store, bayko_ref) == 0
    # Had a replay decremented the counter, the next unread conversation would not show.
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="3")
    assert raw_counter(store, bayko_ref) == 1
    assert_consistent(store, group_uuid, andrew_ref, bayko_ref)


def test_concurrent_reads_of_one_unread_conversation_decrement_once(
    server_store, andrew_ref, bayko_ref
):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    other_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="x")
    assert other_uuid == group_uuid  # one conversation per pair
    [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items

    at_once(10, lambda _: store.mark_read(**read_position(row)))

    assert raw_counter(store, bayko_ref) == 0
    assert raw_row(store, bayko_ref, group_uuid)["unread"] == 0


def test_repair_while_people_send_and_read_keeps_counts_right(server_store, andrew_ref, bayko_ref):
    store = server_store
    group_uuid, _ = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hi")
    done = threading.Event()

    def keep_repairing():
        while not done.is_set():
            jobs.repair_unread(store.table, owner_uuids=[andrew_ref.uuid, bayko_ref.uuid])

    def work(index):
        if index % 5 == 0:
            [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
            read(store, row)
        else:
            sender = andrew_ref if index % 3 else bayko_ref
            store.create_message(conversation_uuid=group_uuid, sender=sender, text=f"{index}")

    with ThreadPoolExecutor(max_workers=1) as repairer:
        future = repairer.submit(keep_repairing)
        at_once(30, work)
        done.set()
        future.result()

    assert_consistent(store, group_uuid, andrew_ref, bayko_ref)
