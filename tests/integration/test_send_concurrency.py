"""Real threads against moto's HTTP server: concurrent sends and concurrent starts.

Run with `-s` to see the figures (wall time, transaction attempts).
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from messaging.domain import UserRef
from messaging.dynamo import schema


def _count_transactions(on, store):
    """Which thread made each TransactWriteItems call (every attempt, whatever its outcome)."""
    calls = []

    def count(**kwargs):
        calls.append(threading.get_ident())  # list.append is atomic

    on(store, "before-call.dynamodb.TransactWriteItems", count)
    return calls


def _all_messages(store, group_uuid):
    messages, cursor = [], None
    while True:
        page = store.list_messages(conversation_uuid=group_uuid, cursor=cursor, limit=100)
        messages += page.items
        cursor = page.next_cursor
        if cursor is None:
            return messages


def test_fifty_concurrent_sends_leave_one_consistent_inbox_row_each(
    on, server_store, andrew_ref, bayko_ref
):
    store = server_store
    group_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="start"
    )
    transactions = _count_transactions(on, store)
    senders = [andrew_ref if i % 2 else bayko_ref for i in range(50)]
    barrier = threading.Barrier(50)

    def send(index):
        barrier.wait()
        return store.create_message(
            conversation_uuid=group_uuid, sender=senders[index], text=f"message {index}"
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        sent = list(pool.map(send, range(50)))
    elapsed = time.monotonic() - started

    messages = _all_messages(store, group_uuid)
    assert len(messages) == 51
    assert {m.message_uuid for m in messages} == {m.message_uuid for m in sent} | {
        first.message_uuid
    }
    newest = messages[0]
    groups = store.get_participants(conversation_uuid=group_uuid)
    assert sorted(g.owner_uuid for g in groups) == sorted([andrew_ref.uuid, bayko_ref.uuid])
    for group in groups:
        assert group.sort_key == newest.sort_key
        assert group.last_message == newest.text
    # Unread: messages the other side sent since this owner's own last message.
    oldest_first = list(reversed(messages))
    by_owner = {g.owner_uuid: g for g in groups}
    for owner in (andrew_ref, bayko_ref):
        since_mine = 0
        for message in oldest_first:
            since_mine = 0 if message.sender.uuid == owner.uuid else since_mine + 1
        assert by_owner[owner.uuid].unread == since_mine
        counter = store.list_conversations(user_uuid=owner.uuid).unread_conversations
        assert counter == (1 if since_mine else 0)
    attempts = len(transactions)
    most = max(Counter(transactions).values())
    print(
        f"\n50 concurrent sends: {elapsed:.2f}s wall, {attempts} transaction attempts "
        f"({attempts - 50} retries), at most {most} attempts for one send"
    )


@pytest.mark.parametrize("round_", range(12))
def test_both_starting_the_conversation_at_once_make_one(server_store, round_):
    store = server_store
    alice = UserRef(uuid=f"a-{round_}", handle="alice", display_name="Alice")
    bob = UserRef(uuid=f"b-{round_}", handle="bob", display_name="Bob")
    barrier = threading.Barrier(2)

    def start(sender, recipient):
        barrier.wait()
        return store.create_conversation(
            sender=sender, recipient=recipient, text=f"hello from {sender.handle}"
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(start, (alice, bob), (bob, alice)))

    group_uuids = {group_uuid for group_uuid, _ in results}
    assert len(group_uuids) == 1
    group_uuid = group_uuids.pop()
    pairs = [item for item in schema.scan(store.table) if item["pk"].startswith("PAIR#")]
    assert [p["group_uuid"] for p in pairs] == [group_uuid]
    texts = {m.text for m in _all_messages(store, group_uuid)}
    assert texts == {"hello from alice", "hello from bob"}
    groups = store.get_participants(conversation_uuid=group_uuid)
    assert sorted(g.owner_uuid for g in groups) == [alice.uuid, bob.uuid]
    for owner in (alice, bob):
        rows = store.list_conversations(user_uuid=owner.uuid).items
        assert [row.conversation_uuid for row in rows] == [group_uuid]
