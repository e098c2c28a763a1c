"""The DynamoDB store against in-process moto: every access pattern, paging, time, errors."""

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import botocore.retries.standard
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from cruddur.request_cost import track_usage
from messaging.domain import NewMessage, UserRef, format_sort_key, parse_sort_key
from messaging.dynamo import get_dynamo_store as get_store
from messaging.dynamo import reset_dynamo_stores, schema
from messaging.dynamo import store as store_module
from messaging.dynamo import table as table_module
from messaging.dynamo.items import GSI_NAME
from messaging.errors import (
    Conflict,
    InvalidCursor,
    NotFound,
    StoreError,
    TableNotFound,
    Throttled,
    Unavailable,
)
from tests.helpers import after_first_call, fake_response, read_position, within_budget

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


# --- helpers ---


def freeze_clock(monkeypatch, *moments):
    """The store's clock returns `moments` in turn, then keeps returning the last one."""
    values = iter(moments)
    last = [moments[-1]]

    def clock():
        last[0] = next(values, last[0])
        return last[0]

    monkeypatch.setattr(store_module, "utcnow", clock)


def import_messages(store, group_uuid, first, second, count, *, start=START):
    messages = [
        NewMessage(
            message_uuid=f"{group_uuid}-{i}",
            sender=(first, second)[i % 2],
            text=f"message {i}",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    store.import_conversation(
        conversation_uuid=group_uuid, participants=(first, second), messages=messages
    )
    return messages


def all_pages(fetch):
    """Follow cursors to the end; returns the list of pages (each a tuple of items)."""
    pages, cursor = [], None
    while True:
        page = fetch(cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 100, "paging never ends"


def raw_items(store):
    return sorted(schema.scan(store.table), key=lambda item: (item["pk"], item["sk"]))


def group_items(store, owner_uuid):
    return [
        item
        for item in raw_items(store)
        if item["pk"] == f"GRP#{owner_uuid}" and item["sk"] != "UNREAD"
    ]


def counter(store, owner_uuid):
    return store.list_conversations(user_uuid=owner_uuid).unread_conversations


def user(handle):
    return UserRef(uuid=f"uuid-{handle}", handle=handle, display_name=handle.title())


@pytest.fixture(params=["moto", "aws"])
def paging(request, store, on):
    """Run paging tests as moto pages and as AWS pages.

    moto omits LastEvaluatedKey when a page ends exactly on the last item; AWS returns one and
    the next page is empty. The "aws" variant adds the key to such responses, like AWS.
    """
    if request.param == "aws":

        def remember_limit(params, context, **kwargs):
            context["limit"] = params.get("Limit")

        def add_last_key(parsed, context, **kwargs):
            items = parsed.get("Items", [])
            if items and "LastEvaluatedKey" not in parsed and len(items) == context.get("limit"):
                parsed["LastEvaluatedKey"] = {"pk": items[-1]["pk"], "sk": items[-1]["sk"]}

        on(store, "provide-client-params.dynamodb.Query", remember_limit)
        on(store, "after-call.dynamodb.Query", add_last_key)
    return request.param


# --- sort keys ---


def test_format_sort_key_is_utc_fixed_width_with_microseconds():
    tokyo = datetime(2027, 1, 1, 8, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert format_sort_key(tokyo) == "2026-12-31T23:30:00.000000+00:00"
    assert format_sort_key(datetime(2026, 11, 21, 13, 5, 9, 7, tzinfo=UTC)) == (
        "2026-11-21T13:05:09.000007+00:00"
    )
    keys = [format_sort_key(START + timedelta(microseconds=n)) for n in (0, 1, 999999)]
    assert {len(key) for key in keys} == {32}


def test_format_sort_key_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_sort_key(datetime(2026, 11, 21, 13, 5, 9))


@pytest.mark.parametrize(
    "legacy",
    [
        "2026-11-21T13:05:09+00:00",  # isoformat() when microseconds are 0
        "2026-11-21T23:05:09.000000+10:00",  # the original's local offsets
        "2026-11-21T08:05:09.000000-05:00",
        "2026-11-21T13:05:09Z",
        "2026-11-21T13:05:09.000000+00:00",
    ],
)
def test_parse_sort_key_reads_ours_and_the_originals_forms(legacy):
    assert parse_sort_key(legacy) == datetime(2026, 11, 21, 13, 5, 9, tzinfo=UTC)
    assert parse_sort_key(legacy).utcoffset() == timedelta(0)


@pytest.mark.parametrize("garbage", ["", "UNREAD", "PAIR", "2026-11-21T13:05:09", "yesterday"])
def test_parse_sort_key_rejects_what_is_not_a_time(garbage):
    with pytest.raises(ValueError):
        parse_sort_key(garbage)


def test_sort_keys_sort_like_the_times_they_encode():
    moments = [
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 31, 19, 0, tzinfo=ZoneInfo("America/New_York")),  # 2027-01-01 00:00Z
        datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2027, 1, 1, 9, 0, 0, 2, tzinfo=ZoneInfo("Asia/Tokyo")),  # 00:00:00.000002Z
        datetime(2027, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=-10))),
    ]
    keys = [format_sort_key(moment) for moment in moments]
    assert sorted(keys) == keys
    assert [parse_sort_key(key) for key in keys] == moments


# --- patterns: conversations, messages, participants ---


def test_a_new_conversation_reaches_both_inboxes(store, andrew_ref, bayko_ref):
    group_uuid, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )

    assert message.sender == andrew_ref
    assert message.text == "hi"
    assert message.sort_key == format_sort_key(message.created_at)
    [mine] = store.list_conversations(user_uuid=andrew_ref.uuid).items
    [theirs] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    assert (mine.conversation_uuid, mine.owner_uuid, mine.other_user) == (
        group_uuid,
        andrew_ref.uuid,
        bayko_ref,
    )
    assert (theirs.owner_uuid, theirs.other_user) == (bayko_ref.uuid, andrew_ref)
    for row in (mine, theirs):
        assert (row.last_message, row.sort_key) == ("hi", message.sort_key)
    assert (mine.unread, theirs.unread) == (0, 1)
    assert store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid) == (
        group_uuid
    )
    assert store.find_conversation(user_uuid=bayko_ref.uuid, other_user_uuid=andrew_ref.uuid) == (
        group_uuid
    )
    [pair] = [item for item in raw_items(store) if item["pk"].startswith("PAIR#")]
    assert pair == {
        "pk": "PAIR#" + "#".join(sorted([andrew_ref.uuid, bayko_ref.uuid])),
        "sk": "PAIR",
        "group_uuid": group_uuid,
    }


def test_find_message_group_is_none_for_strangers(store, andrew_ref, bayko_ref, londo_ref):
    store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    assert (
        store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=londo_ref.uuid) is None
    )


def test_starting_a_conversation_that_exists_continues_it(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    again, message = store.create_conversation(sender=bayko_ref, recipient=andrew_ref, text="hello")

    assert again == group_uuid
    assert [m.text for m in store.list_messages(conversation_uuid=group_uuid).items] == [
        "hello",
        "hi",
    ]
    assert len([i for i in raw_items(store) if i["pk"].startswith("PAIR#")]) == 1
    assert len(store.get_participants(conversation_uuid=group_uuid)) == 2
    assert message.conversation_uuid == group_uuid


def test_a_message_moves_both_inbox_rows_to_it(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    reply = store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="hello")

    groups = store.get_participants(conversation_uuid=group_uuid)
    assert sorted(g.owner_uuid for g in groups) == sorted([andrew_ref.uuid, bayko_ref.uuid])
    for group in groups:
        assert (group.sort_key, group.last_message) == (reply.sort_key, "hello")
    # Exactly one row per owner: the old ones were deleted, not left behind.
    assert len(group_items(store, andrew_ref.uuid)) == 1
    assert len(group_items(store, bayko_ref.uuid)) == 1


def test_a_lagging_index_is_read_again_not_written_against(on, store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    lagging = []

    def drop_a_row_once(parsed, context, **kwargs):
        # The GSI is eventually consistent: a read may miss a participant's row mid-move.
        if context.get("index") and not lagging:
            lagging.append(parsed["Items"].pop())
            parsed["Count"] = len(parsed["Items"])

    on(
        store,
        "provide-client-params.dynamodb.Query",
        lambda params, context, **kw: context.update(index=params.get("IndexName")),
    )
    on(store, "after-call.dynamodb.Query", drop_a_row_once)

    reply = store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="hello")

    assert lagging
    for owner in (andrew_ref, bayko_ref):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"]) == (reply.sort_key, "hello")


def test_a_send_with_the_participants_read_makes_one_request(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="unread")
    participants = store.get_participants(conversation_uuid=group_uuid)
    before = [item for item in raw_items(store) if item["sk"] != "UNREAD"]

    with track_usage() as usage:
        reply = store.create_message(
            conversation_uuid=group_uuid, sender=bayko_ref, text="hello", participants=participants
        )

    assert within_budget(usage.calls, transact_write_items=1)
    # The same items as a send that reads them itself: only the moved fields differ.
    after = {item["pk"]: item for item in group_items(store, andrew_ref.uuid)}
    after |= {item["pk"]: item for item in group_items(store, bayko_ref.uuid)}
    for old in (item for item in before if item["pk"].startswith("GRP#")):
        moved = after[old["pk"]]
        assert {k: v for k, v in moved.items() if k not in ("sk", "message", "unread")} == {
            k: v for k, v in old.items() if k not in ("sk", "message", "unread")
        }
        assert (moved["sk"], moved["message"]) == (reply.sort_key, "hello")
    assert after[f"GRP#{bayko_ref.uuid}"]["unread"] == 0  # sending means reading
    assert after[f"GRP#{andrew_ref.uuid}"]["unread"] == 1
    assert counter(store, bayko_ref.uuid) == 0
    assert counter(store, andrew_ref.uuid) == 1


def test_stale_participants_cost_a_retry_not_a_wrong_write(on, store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    stale = store.get_participants(conversation_uuid=group_uuid)
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="meanwhile")
    sent = []
    on(store, "before-call.dynamodb.*", lambda model, **kw: sent.append(model.name))

    reply = store.create_message(
        conversation_uuid=group_uuid, sender=bayko_ref, text="hello", participants=stale
    )

    # The stale items fail the transaction's conditions; the retry reads them again.
    assert sent == ["TransactWriteItems", "Query", "TransactWriteItems"]
    for owner in (andrew_ref, bayko_ref):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"]) == (reply.sort_key, "hello")
    assert [m.text for m in store.list_messages(conversation_uuid=group_uuid).items] == [
        "hello",
        "meanwhile",
        "hi",
    ]
    assert counter(store, andrew_ref.uuid) == 1  # bayko_ref's two unread were read by replying


def test_sending_into_a_missing_conversation_is_not_found(store, andrew_ref, bayko_ref, londo_ref):
    with pytest.raises(NotFound):
        store.create_message(conversation_uuid="no-such-group", sender=andrew_ref, text="hi")
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    with pytest.raises(NotFound):
        store.create_message(conversation_uuid=group_uuid, sender=londo_ref, text="let me in")
    assert len(store.list_messages(conversation_uuid=group_uuid).items) == 1


def test_participants_of_an_unknown_group_are_none(store):
    assert store.get_participants(conversation_uuid="no-such-group") == ()


def test_messages_list_newest_first_and_after_a_key_oldest_first(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="one"
    )
    second = store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="two")
    third = store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="three")

    page = store.list_messages(conversation_uuid=group_uuid)
    assert [m.text for m in page.items] == ["three", "two", "one"]
    assert page.items[0] == third
    assert page.next_cursor is None
    after = store.list_messages_after(conversation_uuid=group_uuid, after_sort_key=first.sort_key)
    assert after == (second, third)
    assert (
        store.list_messages_after(conversation_uuid=group_uuid, after_sort_key=third.sort_key) == ()
    )


def test_list_messages_after_uses_one_small_query(on, store, andrew_ref, bayko_ref):
    group_uuid = "g-poll"
    messages = import_messages(store, group_uuid, andrew_ref, bayko_ref, 30)
    queries = []
    on(store, "provide-client-params.dynamodb.Query", lambda params, **kw: queries.append(params))

    newer = store.list_messages_after(
        conversation_uuid=group_uuid,
        after_sort_key=format_sort_key(messages[26].created_at),
        limit=10,
    )

    assert [m.text for m in newer] == ["message 27", "message 28", "message 29"]
    assert len(queries) == 1
    assert queries[0]["Limit"] == 10


def test_list_messages_after_rejects_a_bad_key(store):
    with pytest.raises(InvalidCursor):
        store.list_messages_after(conversation_uuid="g", after_sort_key="' OR 1=1")


# --- pages and cursors ---


def test_messages_page_20_20_5_then_no_cursor(store, paging, andrew_ref, bayko_ref):
    messages = import_messages(store, "g-45", andrew_ref, bayko_ref, 45)

    pages = all_pages(
        lambda cursor: store.list_messages(conversation_uuid="g-45", cursor=cursor, limit=20)
    )

    assert [len(page) for page in pages] == [20, 20, 5]
    texts = [m.text for page in pages for m in page]
    assert texts == [m.text for m in reversed(messages)]


def test_messages_paging_an_exact_multiple_ends(store, paging, andrew_ref, bayko_ref):
    import_messages(store, "g-40", andrew_ref, bayko_ref, 40)

    pages = all_pages(
        lambda cursor: store.list_messages(conversation_uuid="g-40", cursor=cursor, limit=20)
    )

    # moto ends on the second page; AWS returns a cursor and then an empty last page.
    expected = [[20, 20], [20, 20, 0]][paging == "aws"]
    assert [len(page) for page in pages] == expected
    assert len({m.message_uuid for page in pages for m in page}) == 40


def make_inbox(store, owner, count, *, owner_sends):
    """`count` conversations for `owner`; returns the group uuids, newest first."""
    uuids = []
    for i in range(count):
        other = user(f"friend{i}")
        sender, recipient = (owner, other) if owner_sends else (other, owner)
        group_uuid, _ = store.create_conversation(
            sender=sender, recipient=recipient, text=f"hello {i}"
        )
        uuids.append(group_uuid)
    return list(reversed(uuids))


@pytest.mark.parametrize("owner_sends", [True, False], ids=["no-counter", "with-counter"])
def test_inbox_pages_keep_the_counter_out_of_the_rows(on, store, paging, andrew_ref, owner_sends):
    newest_first = make_inbox(store, andrew_ref, 12, owner_sends=owner_sends)
    queries = []
    on(store, "provide-client-params.dynamodb.Query", lambda params, **kw: queries.append(params))

    pages, cursor, unread = [], None, []
    while True:
        page = store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor, limit=5)
        pages.append(page.items)
        unread.append(page.unread_conversations)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(page) for page in pages] == [5, 5, 2]
    assert [g.conversation_uuid for page in pages for g in page] == newest_first
    assert all(g.sort_key != "UNREAD" for page in pages for g in page)
    assert unread[0] == (0 if owner_sends else 12)
    assert len(queries) == len(pages)  # one request per page, counter included


def test_inbox_paging_an_exact_multiple_ends(store, paging, andrew_ref):
    make_inbox(store, andrew_ref, 10, owner_sends=False)

    pages = all_pages(
        lambda cursor: store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor, limit=5)
    )

    assert sum(len(page) for page in pages) == 10
    assert [len(page) for page in pages][:2] == [5, 5]
    assert all(len(page) == 0 for page in pages[2:])


def test_an_empty_inbox_is_one_empty_page(store, andrew_ref):
    page = store.list_conversations(user_uuid=andrew_ref.uuid)
    assert (page.items, page.next_cursor, page.unread_conversations) == ((), None, 0)


def encode(value):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        "é",
        "a" * 5000,
        encode(b"\xff\xfe not json"),
        encode(["pk", "sk"]),
        encode({"pk": "MSG#g-45"}),
        encode({"pk": "MSG#g-45", "sk": 5}),
        encode({"pk": "MSG#g-45", "sk": "not a time"}),
        encode({"pk": "MSG#g-45", "sk": "2026-03-01T09:00:00.000000+00:00", "x": "y"}),
        encode({"pk": "MSG#another-group", "sk": "2026-03-01T09:00:00.000000+00:00"}),
        encode("[" * 100000),
    ],
)
def test_bad_message_cursors_are_invalid_cursor(store, andrew_ref, bayko_ref, cursor):
    import_messages(store, "g-45", andrew_ref, bayko_ref, 45)
    with pytest.raises(InvalidCursor, match="start again from the first page"):
        store.list_messages(conversation_uuid="g-45", cursor=cursor)


def test_a_cursor_of_another_conversation_is_invalid(store, andrew_ref, bayko_ref, londo_ref):
    import_messages(store, "g-ab", andrew_ref, bayko_ref, 30)
    import_messages(store, "g-al", andrew_ref, londo_ref, 30)
    cursor = store.list_messages(conversation_uuid="g-ab", limit=10).next_cursor
    assert cursor

    with pytest.raises(InvalidCursor):
        store.list_messages(conversation_uuid="g-al", cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor)


def test_another_users_inbox_cursor_is_invalid(store, andrew_ref, bayko_ref):
    make_inbox(store, andrew_ref, 5, owner_sends=True)
    cursor = store.list_conversations(user_uuid=andrew_ref.uuid, limit=2).next_cursor
    assert cursor

    with pytest.raises(InvalidCursor):
        store.list_conversations(user_uuid=bayko_ref.uuid, cursor=cursor)
    with pytest.raises(InvalidCursor):
        store.list_conversations(
            user_uuid=andrew_ref.uuid,
            cursor=encode({"pk": f"GRP#{andrew_ref.uuid}", "sk": "UNREAD"}),
        )
    assert len(store.list_conversations(user_uuid=andrew_ref.uuid, cursor=cursor).items) == 3


# --- time: midnight, new year, server time zone, same microsecond ---


def test_new_year_neither_hides_nor_misorders_anything(
    store, monkeypatch, andrew_ref, bayko_ref, londo_ref
):
    freeze_clock(
        monkeypatch,
        datetime(2026, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),  # andrew_ref -> bayko_ref
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # andrew_ref -> londo_ref
        datetime(2027, 1, 1, 0, 0, tzinfo=UTC),  # bayko_ref replies
        datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # andrew_ref replies
    )
    with_bayko, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="2026 a")
    with_londo, _ = store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="2026 b")
    store.create_message(conversation_uuid=with_bayko, sender=bayko_ref, text="2027 a")
    store.create_message(conversation_uuid=with_bayko, sender=andrew_ref, text="2027 b")

    inbox = store.list_conversations(user_uuid=andrew_ref.uuid).items
    assert [g.conversation_uuid for g in inbox] == [with_bayko, with_londo]
    texts = [m.text for m in store.list_messages(conversation_uuid=with_bayko).items]
    assert texts == ["2027 b", "2027 a", "2026 a"]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_order_does_not_depend_on_the_servers_time_zone(
    store, monkeypatch, settings, request, andrew_ref, bayko_ref, zone
):
    settings.TIME_ZONE = zone  # Django sets TZ and calls time.tzset()
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    request.addfinalizer(time.tzset)
    assert datetime.now().astimezone().utcoffset() != timedelta(0)
    # Around local midnight and UTC midnight, as the original's astimezone() clocks gave them.
    local_midnight = datetime(2027, 1, 1, tzinfo=ZoneInfo(zone))
    utc_midnight = datetime(2027, 1, 1, tzinfo=UTC)
    moments = sorted(
        base + timedelta(microseconds=delta)
        for base in (local_midnight, utc_midnight)
        for delta in (-1, 0, 1)
    )
    freeze_clock(monkeypatch, *[moment.astimezone() for moment in moments])

    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="0")
    for i in range(1, len(moments)):
        store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text=str(i))

    listed = store.list_messages(conversation_uuid=group_uuid).items
    assert [m.text for m in listed] == [str(i) for i in reversed(range(len(moments)))]
    assert [m.created_at for m in reversed(listed)] == moments
    assert all(m.sort_key.endswith("+00:00") and len(m.sort_key) == 32 for m in listed)


def test_two_messages_in_the_same_microsecond_both_survive(
    store, monkeypatch, andrew_ref, bayko_ref
):
    frozen = datetime(2026, 11, 21, 13, 5, 9, tzinfo=UTC)
    freeze_clock(monkeypatch, frozen)
    group_uuid, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="one"
    )
    second = store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="two")
    third = store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="three")

    assert first.sort_key == "2026-11-21T13:05:09.000000+00:00"
    assert second.sort_key == "2026-11-21T13:05:09.000001+00:00"
    assert third.sort_key == "2026-11-21T13:05:09.000002+00:00"
    listed = store.list_messages(conversation_uuid=group_uuid).items
    assert [m.text for m in listed] == ["three", "two", "one"]
    for group in store.get_participants(conversation_uuid=group_uuid):
        assert group.sort_key == third.sort_key


def test_two_conversations_of_one_user_in_the_same_microsecond(
    store, monkeypatch, andrew_ref, bayko_ref, londo_ref
):
    freeze_clock(monkeypatch, START)
    with_bayko, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="b")
    with_londo, _ = store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="l")
    store.create_message(conversation_uuid=with_bayko, sender=andrew_ref, text="b2")
    store.create_message(conversation_uuid=with_londo, sender=andrew_ref, text="l2")

    inbox = store.list_conversations(user_uuid=andrew_ref.uuid).items
    assert sorted(g.conversation_uuid for g in inbox) == sorted([with_bayko, with_londo])
    assert len({g.sort_key for g in inbox}) == 2
    assert {g.last_message for g in inbox} == {"b2", "l2"}


# --- legacy items written by the original ---


def put_legacy_conversation(store, first, second):
    """Items exactly as the original's scripts wrote them: local offsets, no unread."""
    group_uuid = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
    now = datetime(2023, 3, 20, 9, 0, tzinfo=timezone(timedelta(hours=10)))  # microsecond 0
    items = []
    for owner, other in ((first, second), (second, first)):
        items.append(
            {
                "pk": f"GRP#{owner.uuid}",
                "sk": now.isoformat(),
                "message_group_uuid": group_uuid,
                "message": "this is a filler message",
                "user_uuid": other.uuid,
                "user_display_name": other.display_name,
                "user_handle": other.handle,
            }
        )
    for i in range(3):
        sender = (first, second)[i % 2]
        items.append(
            {
                "pk": f"MSG#{group_uuid}",
                "sk": (now + timedelta(minutes=i)).isoformat(),
                "message_uuid": f"legacy-{i}",
                "message": f"legacy {i}",
                "user_uuid": sender.uuid,
                "user_display_name": sender.display_name,
                "user_handle": sender.handle,
            }
        )
    for item in items:
        store.table.client.put_item(
            TableName=store.table.name, Item={k: {"S": v} for k, v in item.items()}
        )
    return group_uuid


def test_legacy_items_list_and_take_a_new_message(store, andrew_ref, bayko_ref):
    group_uuid = put_legacy_conversation(store, andrew_ref, bayko_ref)

    [row] = store.list_conversations(user_uuid=andrew_ref.uuid).items
    assert (row.unread, row.last_message_at) == (0, datetime(2023, 3, 19, 23, 0, tzinfo=UTC))
    legacy = store.list_messages(conversation_uuid=group_uuid).items
    assert [m.text for m in legacy] == ["legacy 2", "legacy 1", "legacy 0"]

    new = store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="new")

    for owner, unread in ((andrew_ref, 0), (bayko_ref, 1)):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"], item["unread"]) == (new.sort_key, "new", unread)
    assert counter(store, bayko_ref.uuid) == 1
    assert store.list_messages(conversation_uuid=group_uuid).items[0] == new


# --- unread counts ---


def test_unread_counts_follow_sends_and_reads(store, andrew_ref, bayko_ref, londo_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="2")
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="3")
    other, _ = store.create_conversation(sender=londo_ref, recipient=bayko_ref, text="hey")

    page = store.list_conversations(user_uuid=bayko_ref.uuid)
    assert {g.conversation_uuid: g.unread for g in page.items} == {group_uuid: 3, other: 1}
    assert page.unread_conversations == 2

    [row] = [g for g in page.items if g.conversation_uuid == group_uuid]
    store.mark_read(**read_position(row))
    page = store.list_conversations(user_uuid=bayko_ref.uuid)
    assert {g.conversation_uuid: g.unread for g in page.items} == {group_uuid: 0, other: 1}
    assert page.unread_conversations == 1

    store.mark_read(**read_position(row))  # replayed with the stale row: nothing changes
    assert counter(store, bayko_ref.uuid) == 1

    store.create_message(conversation_uuid=other, sender=bayko_ref, text="replying reads it")
    assert counter(store, bayko_ref.uuid) == 0
    [item] = [i for i in group_items(store, bayko_ref.uuid) if i["message_group_uuid"] == other]
    assert item["unread"] == 0
    assert counter(store, londo_ref.uuid) == 1


def test_mark_read_follows_a_row_a_new_message_moved(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    [stale] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="2")

    store.mark_read(**read_position(stale))

    [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    assert (row.unread, row.last_message) == (0, "2")
    assert counter(store, bayko_ref.uuid) == 0
    assert [i["conversations"] for i in raw_items(store) if i["sk"] == "UNREAD"] == [0]


def test_mark_read_of_a_read_conversation_sends_nothing(on, store, andrew_ref, bayko_ref):
    store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    [row] = store.list_conversations(user_uuid=andrew_ref.uuid).items
    calls = []
    on(store, "before-call.dynamodb.*", lambda **kw: calls.append(1))

    store.mark_read(**read_position(row))

    assert row.unread == 0
    assert calls == []


def test_counters_never_go_below_zero_after_repeated_reads(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="1")
    [row] = store.list_conversations(user_uuid=bayko_ref.uuid).items
    for _ in range(3):
        store.mark_read(**read_position(row))
    store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="2")

    assert counter(store, bayko_ref.uuid) == 0
    counters = {i["pk"]: i["conversations"] for i in raw_items(store) if i["sk"] == "UNREAD"}
    assert counters == {f"GRP#{bayko_ref.uuid}": 0, f"GRP#{andrew_ref.uuid}": 1}
    assert counter(store, andrew_ref.uuid) == 1


# --- import (seed) ---


def test_import_twice_leaves_exactly_the_same_items(store, andrew_ref, bayko_ref):
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 60)
    once = raw_items(store)
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 60)

    assert raw_items(store) == once
    assert len([i for i in once if i["pk"] == "MSG#g-seed"]) == 60
    newest = format_sort_key(START + timedelta(minutes=59))
    for owner in (andrew_ref, bayko_ref):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"], item["unread"]) == (newest, "message 59", 0)
    assert store.find_conversation(user_uuid=andrew_ref.uuid, other_user_uuid=bayko_ref.uuid) == (
        "g-seed"
    )


def test_import_never_moves_a_conversation_back(store, andrew_ref, bayko_ref):
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 5)
    newer = store.create_message(conversation_uuid="g-seed", sender=bayko_ref, text="live")

    import_messages(store, "g-seed", andrew_ref, bayko_ref, 5)

    for owner in (andrew_ref, bayko_ref):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"]) == (newer.sort_key, "live")


def test_import_of_newer_messages_moves_the_conversation_forward(store, andrew_ref, bayko_ref):
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 5)
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 8)

    for owner in (andrew_ref, bayko_ref):
        [item] = group_items(store, owner.uuid)
        assert (item["sk"], item["message"]) == (
            format_sort_key(START + timedelta(minutes=7)),
            "message 7",
        )


def test_import_refuses_two_messages_at_the_same_time(store, andrew_ref, bayko_ref):
    same = [NewMessage(f"m{i}", andrew_ref, f"text {i}", START) for i in range(2)]
    with pytest.raises(ValueError, match="share the time"):
        store.import_conversation(
            conversation_uuid="g", participants=(andrew_ref, bayko_ref), messages=same
        )


def test_import_into_a_pair_that_has_another_conversation_conflicts(store, andrew_ref, bayko_ref):
    existing, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    with pytest.raises(Conflict, match=existing):
        import_messages(store, "g-other", andrew_ref, bayko_ref, 3)


def test_import_sends_unprocessed_items_again(on, store, andrew_ref, bayko_ref):
    requests = []

    def process_nothing_the_first_time(request, **kwargs):
        requests.append(json.loads(request.body))
        if len(requests) == 1:
            return fake_response(request, 200, {"UnprocessedItems": requests[0]["RequestItems"]})
        return None

    on.first(store, "before-send.dynamodb.BatchWriteItem", process_nothing_the_first_time)
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 30)

    assert [len(r["RequestItems"][store.table.name]) for r in requests] == [25, 25, 5]
    assert len([i for i in raw_items(store) if i["pk"] == "MSG#g-seed"]) == 30


def test_import_gives_up_on_items_that_stay_unprocessed(
    on, store, monkeypatch, andrew_ref, bayko_ref
):
    monkeypatch.setattr(table_module, "backoff", lambda attempt: 0)

    def process_nothing(request, **kwargs):
        body = json.loads(request.body)
        return fake_response(request, 200, {"UnprocessedItems": body["RequestItems"]})

    on.first(store, "before-send.dynamodb.BatchWriteItem", process_nothing)
    with pytest.raises(Throttled, match="unprocessed"):
        import_messages(store, "g-seed", andrew_ref, bayko_ref, 3)


# --- schema and operations ---


def describe(store):
    return store.table.client.describe_table(TableName=store.table.name)["Table"]


def test_schema_is_created_once_as_designed(aws_in_process):
    store = get_store()
    assert schema.create(store.table) is True
    assert schema.create(store.table) is False

    table = describe(store)
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == GSI_NAME == "message-group-sk-index"
    assert index["KeySchema"] == [
        {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert "StreamSpecification" not in table or not table["StreamSpecification"]["StreamEnabled"]
    assert schema.stream_arn(store.table) is None


def test_provisioned_schema_with_a_stream(aws_in_process):
    store = get_store()
    schema.create(store.table, billing_mode="PROVISIONED", stream=True)

    table = describe(store)
    five = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert {k: table["ProvisionedThroughput"][k] for k in five} == five
    index = table["GlobalSecondaryIndexes"][0]
    assert {k: index["ProvisionedThroughput"][k] for k in five} == five
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert schema.stream_arn(store.table) == table["LatestStreamArn"]


def test_an_unknown_billing_mode_is_refused(aws_in_process):
    with pytest.raises(ValueError):
        schema.create(get_store().table, billing_mode="ON_DEMAND")


def test_drop_schema_deletes_and_a_missing_table_is_table_not_found(store):
    schema.drop(store.table)
    assert store.table.name not in schema.list_tables(store.table)
    with pytest.raises(TableNotFound, match="ddb_schema_load"):
        schema.drop(store.table)
    with pytest.raises(TableNotFound, match="'elsewhere'"):
        schema.drop(store.table, table_name="elsewhere")


def test_list_tables_follows_every_page(on, store, settings):
    for i in range(4):
        settings.DDB_MESSAGE_TABLE = f"extra-{i}"
        schema.create(get_store().table)
    calls = []
    on(store, "before-call.dynamodb.ListTables", lambda **kw: calls.append(1))

    names = schema.list_tables(store.table, page_size=2)

    assert sorted(names) == sorted(["cruddur-messages"] + [f"extra-{i}" for i in range(4)])
    assert len(calls) == 3


def test_scan_follows_every_page_and_gives_plain_values(on, store, andrew_ref, bayko_ref):
    import_messages(store, "g-scan", andrew_ref, bayko_ref, 23)
    store.table.client.put_item(
        TableName=store.table.name,
        Item={"pk": {"S": "X"}, "sk": {"S": "Y"}, "ratio": {"N": "1.5"}, "n": {"N": "7"}},
    )
    calls = []
    on(store, "before-call.dynamodb.Scan", lambda **kw: calls.append(1))

    items = list(schema.scan(store.table, page_size=10))

    # Messages, two inbox entries, the pair, the schema version, the extra.
    assert len(items) == 23 + 2 + 1 + 1 + 1
    assert len(calls) == 3
    [odd] = [i for i in items if i["pk"] == "X"]
    assert odd == {"pk": "X", "sk": "Y", "ratio": 1.5, "n": 7}
    assert type(odd["n"]) is int
    assert {type(i["unread"]) for i in items if "unread" in i} == {int}


def test_ping(store):
    store.ping()


# --- errors ---


def test_an_unreachable_endpoint_is_unavailable_after_the_configured_attempts(on, settings):
    # The autouse fixture points AWS_ENDPOINT_URL at port 1: nothing listens there.
    store = get_store()
    attempts = []
    on(store, "before-send.dynamodb", lambda request, **kwargs: attempts.append(request.url))
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1:1.*make run"):
        store.ping()
    assert 1 <= len(attempts) <= settings.AWS_MAX_ATTEMPTS  # not botocore's legacy retries


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
        ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
    ],
)
def test_network_failures_on_real_aws_are_unavailable(on, settings, monkeypatch, error):
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    settings.AWS_DEFAULT_REGION = "eu-west-1"
    store = get_store(prod=True)

    def fail(**kwargs):
        raise error

    on.first(store, "before-send.dynamodb.GetItem", fail)  # ping reads the schema item
    with pytest.raises(Unavailable, match="region eu-west-1"):
        store.ping()


def test_a_missing_table_is_table_not_found(aws_in_process, andrew_ref):
    store = get_store()
    with pytest.raises(TableNotFound, match="Table 'cruddur-messages' does not exist.*ddb_schema"):
        store.list_conversations(user_uuid=andrew_ref.uuid)
    with pytest.raises(TableNotFound):
        store.ping()


def test_persistent_throttling_is_throttled_after_bounded_retries(
    on, store, settings, monkeypatch, andrew_ref, bayko_ref
):
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    settings.AWS_MAX_ATTEMPTS = 3
    throttled = get_store()
    assert throttled is not store
    sent = []

    def throttle(request, **kwargs):
        sent.append(request)
        return fake_response(
            request,
            400,
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput was exceeded",
            },
        )

    on.first(throttled, "before-send.dynamodb.Query", throttle)
    on.first(throttled, "before-send.dynamodb.TransactWriteItems", throttle)
    with pytest.raises(Throttled, match="throttling"):
        throttled.list_messages(conversation_uuid="g")
    assert len(sent) == 2  # a read: the interactive budget (cruddur/aws.py)
    sent.clear()
    with pytest.raises(Throttled, match="throttling"):
        throttled.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    assert len(sent) == 3  # a send: AWS_MAX_ATTEMPTS


def test_a_transaction_cancelled_by_throttling_is_throttled_not_retried(
    on, store, andrew_ref, bayko_ref
):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    sent = []

    def cancel(request, **kwargs):
        sent.append(request)
        return fake_response(
            request,
            400,
            {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons",
                "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}],
            },
        )

    on.first(store, "before-send.dynamodb.TransactWriteItems", cancel)
    with pytest.raises(Throttled):
        store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="again")
    assert len(sent) == 1


def test_other_aws_errors_keep_the_aws_message(on, store):
    def invalid(request, **kwargs):
        return fake_response(
            request,
            400,
            {
                "__type": "com.amazon.coral.validate#ValidationException",
                "message": "One or more parameter values were invalid: bad thing",
            },
        )

    on.first(store, "before-send.dynamodb.Query", invalid)
    with pytest.raises(StoreError, match="bad thing") as raised:
        store.list_messages(conversation_uuid="g")
    assert not isinstance(raised.value, (Unavailable, NotFound, Conflict))


def test_no_credentials_is_unavailable(monkeypatch, tmp_path, request):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    reset_dynamo_stores()  # a cached client keeps the credentials it was built with
    request.addfinalizer(reset_dynamo_stores)

    with pytest.raises(Unavailable, match="No AWS credentials found"):
        # Real AWS: the local emulator on this machine gets stand-in credentials instead.
        get_store(prod=True).ping()


def test_every_request_asks_for_capacity_and_is_logged(on, store, caplog, andrew_ref, bayko_ref):
    sent = []
    on(
        store,
        "provide-client-params.dynamodb.*",
        lambda params, model, **kw: sent.append((model.name, params.get("ReturnConsumedCapacity"))),
    )
    with caplog.at_level("DEBUG", logger="messaging.dynamo"):
        group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
        store.list_messages(conversation_uuid=group_uuid)

    assert sent and all(capacity == "TOTAL" for _, capacity in sent)
    assert {"TransactWriteItems", "Query", "GetItem"} <= {name for name, _ in sent}
    logged = [r.getMessage() for r in caplog.records if r.name == "messaging.dynamo"]
    assert any(m.startswith("dynamodb query") and "rcu=" in m for m in logged)
    assert any(m.startswith("dynamodb transact_write_items") for m in logged)


# --- get_store ---


def test_get_gateway_is_cached_per_settings(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    first = get_store()
    assert get_store() is first
    client = first.table.client
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert client.meta.config.connect_timeout <= 5
    assert client.meta.config.read_timeout <= 10

    settings.DDB_MESSAGE_TABLE = "other-table"
    other = get_store()
    assert other is not first
    assert other.table.name == "other-table"
    settings.AWS_DEFAULT_REGION = "eu-west-1"
    assert get_store().table.client.meta.region_name == "eu-west-1"


def test_reads_and_mark_read_have_the_interactive_retry_budget(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    store = get_store()
    patient, interactive = store.table, store.interactive

    assert patient.client.meta.config.retries["total_max_attempts"] == 4
    assert interactive.client.meta.config.retries["total_max_attempts"] == 2
    assert (patient.write_attempts, interactive.write_attempts) == (25, 2)
    assert interactive.client.meta.endpoint_url == patient.client.meta.endpoint_url
    assert interactive.name == patient.name

    settings.AWS_MAX_ATTEMPTS = 1  # no retries at all: none for pages either
    assert get_store().interactive.client.meta.config.retries["total_max_attempts"] == 1


def test_prod_ignores_the_local_endpoint_from_settings_and_environment(settings, monkeypatch):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    prod = get_store(prod=True)
    assert prod.table.client.meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    assert get_store().table.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_get_gateway_from_many_threads_builds_one(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    barrier = threading.Barrier(16)
    built = []

    def build():
        barrier.wait()
        built.append(get_store())

    threads = [threading.Thread(target=build) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(g) for g in built}) == 1


# --- hidden entries, unsent and edited messages: the items themselves ---


def test_import_into_a_hidden_conversation_keeps_it_hidden_until_a_newer_message(
    store, andrew_ref, bayko_ref
):
    import_messages(store, "g-seed", andrew_ref, bayko_ref, 5)
    store.hide_conversation(user_uuid=andrew_ref.uuid, conversation_uuid="g-seed")
    [hidden] = group_items(store, andrew_ref.uuid)
    assert hidden["sk"].startswith("#HIDDEN#")

    import_messages(store, "g-seed", andrew_ref, bayko_ref, 5)  # nothing newer: stays hidden
    assert group_items(store, andrew_ref.uuid) == [hidden]

    import_messages(store, "g-seed", andrew_ref, bayko_ref, 8)  # newer: back in the inbox
    [item] = group_items(store, andrew_ref.uuid)
    assert (item["sk"], item["message"]) == (
        format_sort_key(START + timedelta(minutes=7)),
        "message 7",
    )
    assert [e.conversation_uuid for e in store.list_conversations(user_uuid=andrew_ref.uuid).items]


def stored_message(store, message):
    """The message's item read raw with boto3, every attribute as stored."""
    response = store.table.client.get_item(
        TableName=store.table.name,
        Key={"pk": {"S": f"MSG#{message.conversation_uuid}"}, "sk": {"S": message.sort_key}},
        ConsistentRead=True,
    )
    return response["Item"]


def test_an_unsent_message_keeps_no_text_anywhere(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    secret = store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="s3cret")
    store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=group_uuid,
        message_uuid=secret.message_uuid,
        text="s3cret edited",
        now=secret.created_at + timedelta(seconds=5),
        sort_key=secret.sort_key,
    )
    store.unsend_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=group_uuid,
        message_uuid=secret.message_uuid,
        sort_key=secret.sort_key,
    )

    item = stored_message(store, secret)
    # The text is gone; the attribute stays, empty, so the original's readers
    # (`item['message']['S']`) still read every message item.
    assert item["message"] == {"S": ""}
    assert {"unsent_at", "edited_at", "message_uuid", "user_uuid"} <= set(item)
    assert item["message_uuid"] == {"S": secret.message_uuid}
    # No other item holds the text: not a change record, not an inbox entry.
    everything = raw_items(store)
    changes = [i for i in everything if i["pk"] == f"CHG#{group_uuid}"]
    assert len(changes) == 2  # the edit and the unsend
    for change in changes:
        assert set(change) == {"pk", "sk", "message_sk", "expires_at"}
    assert not [i for i in everything if "s3cret" in json.dumps(i, default=str)]
    for owner in (andrew_ref, bayko_ref):
        [entry] = group_items(store, owner.uuid)
        assert (entry["message"], entry["last_message_unsent"]) == ("", True)


def test_a_send_between_an_unsends_reads_and_its_write_leaves_no_stray_preview(
    store, andrew_ref, bayko_ref, monkeypatch
):
    """The unsend found the entries showing the message; a send then moved them to its new
    key. The unsend's preview updates must be conditioned on the entries still being there:
    an update of a key that is gone would write a stray item of preview fields there."""
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="oops"
    )
    sent = after_first_call(
        monkeypatch,
        type(store),
        "_entries_showing",
        lambda: store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="new"),
    )
    store.unsend_message(
        user_uuid=andrew_ref.uuid, conversation_uuid=conversation, message_uuid=message.message_uuid
    )

    inbox_items = [item for item in schema.scan(store.table) if item["pk"].startswith("GRP#")]
    entries = [item for item in inbox_items if item["sk"] != "UNREAD"]
    assert sorted(item["sk"] for item in entries) == [sent[0].sort_key] * 2
    assert all(item["message"] == "new" and "last_message_unsent" not in item for item in entries)


def test_hide_unsend_and_edit_keep_to_their_request_budgets(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    last = store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="one")
    with track_usage() as usage:
        store.hide_conversation(user_uuid=bayko_ref.uuid, conversation_uuid=group_uuid)
    # The GSI query for the entry, one transaction (delete + put [+ the counter]).
    assert within_budget(usage.calls, query=1, transact_write_items=1)

    with track_usage() as usage:
        store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=group_uuid,
            message_uuid=last.message_uuid,
            text="one, edited",
            now=last.created_at + timedelta(seconds=5),
            sort_key=last.sort_key,
        )
    # The message, the GSI query, each entry at its time key and its hidden key, one write.
    assert within_budget(usage.calls, get_item=5, query=1, transact_write_items=1)

    with track_usage() as usage:
        store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=group_uuid,
            message_uuid=last.message_uuid,
            sort_key=last.sort_key,
        )
    assert within_budget(usage.calls, get_item=5, query=1, transact_write_items=1)

    with track_usage() as usage:  # again: the message is read, found unsent, nothing written
        store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=group_uuid,
            message_uuid=last.message_uuid,
            sort_key=last.sort_key,
        )
    assert within_budget(usage.calls, get_item=1)
