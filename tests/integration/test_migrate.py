"""`ddb_migrate` on tables shaped exactly like the original's.

The original's writers are re-enacted here with boto3's low-level client, item for item (see
the seed documents 003 and 004): its schema-load (PROVISIONED, the GSI, no TTL), its seed
script (two group items at `now`, messages put one by one at `now + i minutes`), its
`create_message_group` (one BatchWriteItem: two group items and the first message) and its
`create_message` + stream Lambda (a put, then both group items deleted and put again at the
message's key). Sort keys are `datetime.isoformat()`: UTC or local offsets, with or without
microseconds. No PAIR, unread, counter or schema item.
"""

import contextlib
import io
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from django.conf import settings
from django.core.management import call_command

from messaging.dynamo import get_dynamo_store, get_table, items, jobs, schema
from messaging.dynamo.migrate import PairConflict, migrate
from messaging.dynamo.table import Table
from messaging.errors import Conflict
from tests.helpers import ref

pytestmark = pytest.mark.django_db

SEED_GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
PACIFIC = timezone(timedelta(hours=-7))
SYDNEY = timezone(timedelta(hours=10))

# Every form of `isoformat()` the original wrote.
SEED_AT = datetime(2023, 12, 31, 23, 55, tzinfo=UTC)  # UTC, no microseconds, across New Year
AL_AT = datetime(2024, 1, 2, 9, 30, 15, 123456, tzinfo=PACIFIC)  # local offset, microseconds
BL_FIRST_AT = datetime(2024, 1, 3, 8, 0, tzinfo=SYDNEY)  # local offset, no microseconds
BL_SECOND_AT = datetime(2024, 1, 4, 12, 0, 0, 654321, tzinfo=UTC)  # UTC, microseconds


# --- the original's writers ---


def original_client():
    return boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=settings.AWS_ENDPOINT_URL or None
    )


def original_schema_load(client):
    """bin/ddb/schema-load (004): PROVISIONED, the GSI, nothing else."""
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    client.create_table(
        TableName="cruddur-messages",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("message_group_uuid", "pk", "sk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput=throughput,
        GlobalSecondaryIndexes=[
            {
                "IndexName": "message-group-sk-index",
                "KeySchema": [
                    {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": throughput,
            }
        ],
    )


def group_record(group_uuid, owner, other, last_message_at, message):
    return {
        "pk": {"S": f"GRP#{owner.uuid}"},
        "sk": {"S": last_message_at},
        "message_group_uuid": {"S": group_uuid},
        "message": {"S": message},
        "user_uuid": {"S": other.uuid},
        "user_display_name": {"S": other.display_name},
        "user_handle": {"S": other.handle},
    }


def message_record(group_uuid, created_at, message, sender):
    return {
        "pk": {"S": f"MSG#{group_uuid}"},
        "sk": {"S": created_at},
        "message_uuid": {"S": str(uuid.uuid4())},
        "message": {"S": message},
        "user_uuid": {"S": sender.uuid},
        "user_display_name": {"S": sender.display_name},
        "user_handle": {"S": sender.handle},
    }


def original_seed(client, group_uuid, me, other, now, lines):
    """bin/ddb/seed: both group items at `now`, then each message put at `now + i minutes`
    (the group items are left at the first message's time)."""
    for owner, them in ((me, other), (other, me)):
        client.put_item(
            TableName="cruddur-messages",
            Item=group_record(group_uuid, owner, them, now.isoformat(), "this is a filler message"),
        )
    for i, line in enumerate(lines):
        sender = me if i % 2 == 0 else other
        created_at = (now + timedelta(minutes=i)).isoformat()
        client.put_item(
            TableName="cruddur-messages", Item=message_record(group_uuid, created_at, line, sender)
        )


def original_create_message_group(client, message, me, other, now):
    """lib/ddb.py create_message_group: one BatchWriteItem of two group items and a message."""
    group_uuid = str(uuid.uuid4())
    last_message_at = now.isoformat()
    client.batch_write_item(
        RequestItems={
            "cruddur-messages": [
                {
                    "PutRequest": {
                        "Item": group_record(group_uuid, me, other, last_message_at, message)
                    }
                },
                {
                    "PutRequest": {
                        "Item": group_record(group_uuid, other, me, last_message_at, message)
                    }
                },
                {"PutRequest": {"Item": message_record(group_uuid, last_message_at, message, me)}},
            ]
        }
    )
    return group_uuid


def original_create_message(client, group_uuid, message, sender, now):
    """lib/ddb.py create_message, then the stream Lambda moving both group items."""
    created_at = now.isoformat()
    client.put_item(
        TableName="cruddur-messages", Item=message_record(group_uuid, created_at, message, sender)
    )
    found = client.query(
        TableName="cruddur-messages",
        IndexName="message-group-sk-index",
        KeyConditionExpression="message_group_uuid = :g",
        ExpressionAttributeValues={":g": {"S": group_uuid}},
    )["Items"]
    for item in found:
        client.delete_item(TableName="cruddur-messages", Key={"pk": item["pk"], "sk": item["sk"]})
        client.put_item(
            TableName="cruddur-messages",
            Item={**item, "sk": {"S": created_at}, "message": {"S": message}},
        )


# --- fixtures and reading helpers ---


@pytest.fixture
def people(make_user):
    return {
        handle: ref(make_user(handle, display_name=name))
        for handle, name in [
            ("andrewbrown", "Andrew Brown"),
            ("bayko", "Andrew Bayko"),
            ("londo", "Londo Mollari"),
            ("altbrown", "Alt Brown"),
        ]
    }


def write_original_table(people):
    """The original's table: the seed conversation, one more, and a pair it gave two."""
    andrew, bayko, londo = people["andrewbrown"], people["bayko"], people["londo"]
    client = original_client()
    original_schema_load(client)
    original_seed(client, SEED_GROUP, andrew, bayko, SEED_AT, [f"seed {i}" for i in range(10)])
    al = original_create_message_group(client, "hello londo", andrew, londo, AL_AT)
    original_create_message(
        client, al, "hello andrew", londo, AL_AT.replace(microsecond=0) + timedelta(minutes=2)
    )
    original_create_message(client, al, "still there?", londo, AL_AT + timedelta(minutes=3))
    bl_first = original_create_message_group(client, "first", bayko, londo, BL_FIRST_AT)
    bl_second = original_create_message_group(client, "second", londo, bayko, BL_SECOND_AT)
    return {"seed": SEED_GROUP, "al": al, "bl_first": bl_first, "bl_second": bl_second}


@pytest.fixture
def original(aws_in_process, people):
    return write_original_table(people)


def run(*args):
    out = io.StringIO()
    call_command("ddb_migrate", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def scan():
    return sorted(schema.scan(get_table()), key=lambda item: (item["pk"], item["sk"]))


def keys(prefix):
    return {(item["pk"], item["sk"]) for item in scan() if item["pk"].startswith(prefix)}


def pair_items():
    return {item["pk"]: item["group_uuid"] for item in scan() if item["pk"].startswith("PAIR#")}


def ttl_status():
    return original_client().describe_time_to_live(TableName="cruddur-messages")[
        "TimeToLiveDescription"
    ]


def unread_by_conversation(store, owner):
    return {
        e.conversation_uuid: e.unread for e in store.list_conversations(user_uuid=owner.uuid).items
    }


def all_messages(store, conversation_uuid):
    messages, cursor = [], None
    while True:
        page = store.list_messages(conversation_uuid=conversation_uuid, cursor=cursor, limit=50)
        messages += page.items
        cursor = page.next_cursor
        if cursor is None:
            return messages


def expected_pairs(people, groups, *, bayko_londo):
    andrew, bayko, londo = people["andrewbrown"], people["bayko"], people["londo"]
    return {
        items.pair_pk(andrew.uuid, bayko.uuid): groups["seed"],
        items.pair_pk(andrew.uuid, londo.uuid): groups["al"],
        items.pair_pk(bayko.uuid, londo.uuid): bayko_londo,
    }


# --- before migrating: the app works on the original's table ---


def test_the_table_is_shaped_like_the_originals(original):
    found = scan()
    assert {item["pk"].split("#")[0] for item in found} == {"GRP", "MSG"}
    assert not any("unread" in item or item["sk"] == "UNREAD" for item in found)
    sort_keys = {item["sk"] for item in found}
    assert "2023-12-31T23:55:00+00:00" in sort_keys  # UTC, no microseconds
    assert AL_AT.isoformat() == "2024-01-02T09:30:15.123456-07:00"
    assert "2024-01-02T09:32:15-07:00" in sort_keys  # local offset, no microseconds
    assert "2024-01-02T09:33:15.123456-07:00" in sort_keys  # where the Lambda left the entries
    assert "2024-01-03T08:00:00+10:00" in sort_keys
    assert "2024-01-04T12:00:00.654321+00:00" in sort_keys
    assert schema.version(get_table()) == 1
    assert ttl_status()["TimeToLiveStatus"] == "DISABLED"


def test_the_app_reads_the_originals_table(original, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    store = get_dynamo_store()

    inbox = store.list_conversations(user_uuid=bayko.uuid).items
    assert {e.conversation_uuid for e in inbox} == {
        original["seed"],
        original["bl_first"],
        original["bl_second"],
    }
    messages = all_messages(store, original["seed"])
    assert [m.text for m in reversed(messages)] == [f"seed {i}" for i in range(10)]
    # Read as stored: the keys are the original's strings, across New Year.
    assert messages[-1].sort_key == "2023-12-31T23:55:00+00:00"
    assert messages[0].sort_key == "2024-01-01T00:04:00+00:00"
    [al] = [
        e
        for e in store.list_conversations(user_uuid=andrew.uuid).items
        if e.other_user.handle == "londo"
    ]
    assert al.sort_key == "2024-01-02T09:33:15.123456-07:00"
    assert al.last_message == "still there?"
    assert [m.text for m in all_messages(store, original["al"])] == [
        "still there?",
        "hello andrew",
        "hello londo",
    ]


def test_the_app_replies_into_the_originals_table(original, people):
    andrew, londo = people["andrewbrown"], people["londo"]
    store = get_dynamo_store()
    before = keys("MSG#")

    reply = store.create_message(conversation_uuid=original["al"], sender=andrew, text="here")

    assert keys("MSG#") == before | {(f"MSG#{original['al']}", reply.sort_key)}
    assert reply.created_at > (AL_AT + timedelta(minutes=3)).astimezone(UTC)
    assert all_messages(store, original["al"])[0].message_uuid == reply.message_uuid
    for owner in (andrew, londo):
        [entry] = [
            e
            for e in store.list_conversations(user_uuid=owner.uuid).items
            if e.conversation_uuid == original["al"]
        ]
        assert (entry.sort_key, entry.last_message) == (reply.sort_key, "here")


# --- migrating ---


def test_migrate_brings_the_originals_table_up_to_date(original, people):
    andrew, bayko, londo = people["andrewbrown"], people["bayko"], people["londo"]
    table = get_table()
    assert jobs.repair_unread(table, dry_run=True).fixes != ()
    messages_before, entries_before = keys("MSG#"), keys("GRP#")

    out = run()

    assert pair_items() == expected_pairs(people, original, bayko_londo=original["bl_second"])
    assert jobs.repair_unread(table, dry_run=True).fixes == ()
    # By the rule (ddb_repair_unread): the other person's messages the owner has not answered,
    # up to the entry (the seed left its entries at its first message).
    store = get_dynamo_store()
    assert unread_by_conversation(store, andrew) == {original["seed"]: 0, original["al"]: 2}
    assert unread_by_conversation(store, bayko) == {
        original["seed"]: 1,
        original["bl_first"]: 0,
        original["bl_second"]: 1,
    }
    assert unread_by_conversation(store, londo) == {
        original["al"]: 0,
        original["bl_first"]: 1,
        original["bl_second"]: 0,
    }
    assert [
        store.list_conversations(user_uuid=p.uuid).unread_conversations
        for p in (andrew, bayko, londo)
    ] == [1, 2, 1]
    assert schema.version(table) == items.CURRENT_SCHEMA == 2
    assert ttl_status() == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    # Keys are keys: not one message or entry moved.
    assert keys("MSG#") == messages_before
    assert keys("GRP#") - {(pk, sk) for pk, sk in keys("GRP#") if sk == "UNREAD"} == entries_before
    assert "3 people, 8 inbox entries" in out
    assert "PAIR items: 3 written, 0 already there, 1 conflict" in out
    assert "unread counts: 4 fixed" in out
    assert "Migrated table 'cruddur-messages'" in out and "9 changes" in out
    # Progress: a line per person with something to do, in sorted order.
    owners = sorted(p.uuid for p in (andrew, bayko, londo))
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == [f"{uuid}:" for uuid in owners]
    assert lines[0].startswith("[1/3]") and lines[2].startswith("[3/3]")


def test_after_migrating_starting_a_conversation_resumes_the_originals(original, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    run()
    store = get_dynamo_store()

    assert store.find_conversation(user_uuid=bayko.uuid, other_user_uuid=andrew.uuid) == SEED_GROUP
    resumed, message = store.create_conversation(sender=bayko, recipient=andrew, text="again")

    assert resumed == SEED_GROUP
    assert all_messages(store, SEED_GROUP)[0].message_uuid == message.message_uuid


def test_running_it_twice_changes_nothing(original):
    run()
    once = scan()

    out = run()

    assert scan() == once
    assert "PAIR items: 0 written, 3 already there, 1 conflict" in out
    assert "unread counts: 0 fixed" in out
    assert "0 changes" in out
    assert "[1/3]" not in out  # nobody had anything to do


def test_a_dry_run_writes_nothing_and_reports_what_the_run_will_do(original):
    before = scan()

    out = run("--dry-run")
    dry = migrate(get_table(), dry_run=True)

    assert scan() == before
    assert schema.version(get_table()) == 1
    assert ttl_status()["TimeToLiveStatus"] == "DISABLED"
    assert "Dry run, nothing written" in out
    assert "PAIR items: 3 to write" in out and "9 changes to make" in out
    real = migrate(get_table())
    assert (dry.pairs_written, dry.pair_conflicts, dry.unread_fixes, dry.changes) == (
        real.pairs_written,
        real.pair_conflicts,
        real.unread_fixes,
        real.changes,
    )


def test_a_pair_with_two_conversations_is_reported_and_nothing_is_deleted(original, people):
    bayko, londo = people["bayko"], people["londo"]
    before = scan()

    report = migrate(get_table())

    pair = tuple(sorted((bayko.uuid, londo.uuid)))
    # The PAIR item goes to the pair's most recently active conversation.
    assert report.pair_conflicts == (
        PairConflict(pair, kept=original["bl_second"], others=(original["bl_first"],)),
    )
    after = {(item["pk"], item["sk"]): item for item in scan()}
    for item in before:  # every item still there; messages exactly as they were
        assert (item["pk"], item["sk"]) in after
        if item["pk"].startswith("MSG#"):
            assert after[(item["pk"], item["sk"])] == item
    inbox = get_dynamo_store().list_conversations(user_uuid=bayko.uuid).items
    assert {original["bl_first"], original["bl_second"]} <= {e.conversation_uuid for e in inbox}
    assert "Conflict: " in run()  # and the command says so, on every run


def test_an_existing_pair_item_is_kept(original, people):
    bayko, londo = people["bayko"], people["londo"]
    # The pair already has a PAIR item (written by the app) for its older conversation.
    original_client().put_item(
        TableName="cruddur-messages",
        Item=items.to_typed(items.pair_item(bayko.uuid, londo.uuid, original["bl_first"])),
    )

    report = migrate(get_table())

    assert pair_items()[items.pair_pk(bayko.uuid, londo.uuid)] == original["bl_first"]
    assert (report.pairs_written, report.pairs_present) == (2, 1)
    [conflict] = report.pair_conflicts
    assert (conflict.kept, conflict.others) == (original["bl_first"], (original["bl_second"],))


def test_a_pair_item_the_app_writes_meanwhile_is_kept(original, people, on):
    bayko, londo = people["bayko"], people["londo"]
    store = get_dynamo_store()
    # The app elsewhere (its legacy lookup, say) points the pair at their older conversation
    # between the migration's read of the PAIR item and its write.
    elsewhere = Table(client=original_client(), name="cruddur-messages")
    pair_pk = items.pair_pk(bayko.uuid, londo.uuid)

    def app_writes_it_first(params, **kwargs):
        if params["Item"]["pk"]["S"] == pair_pk and not pair_items().get(pair_pk):
            jobs.claim_pair(elsewhere, bayko.uuid, londo.uuid, original["bl_first"])

    on(store, "before-parameter-build.dynamodb.PutItem", app_writes_it_first)

    report = migrate(get_table())

    assert pair_items()[pair_pk] == original["bl_first"]
    assert (report.pairs_written, report.pairs_present) == (2, 1)
    [conflict] = report.pair_conflicts
    assert (conflict.kept, conflict.others) == (original["bl_first"], (original["bl_second"],))


class Interrupted(Exception):
    pass


def test_an_interrupted_run_is_finished_by_running_it_again(original, people, on):
    store = get_dynamo_store()
    puts = []

    def interrupt_the_second_pair(params, **kwargs):
        if params["Item"]["pk"]["S"].startswith("PAIR#"):
            puts.append(params["Item"]["pk"]["S"])
            if len(puts) == 2:
                raise Interrupted

    on(store, "before-parameter-build.dynamodb.PutItem", interrupt_the_second_pair)
    with pytest.raises(Interrupted):
        run()
    assert len(pair_items()) == 1
    assert schema.version(get_table()) == 1  # not marked: the run did not get through

    out = run()

    assert pair_items() == expected_pairs(people, original, bayko_londo=original["bl_second"])
    assert "PAIR items: 2 written, 1 already there" in out
    assert jobs.repair_unread(get_table(), dry_run=True).fixes == ()
    assert schema.version(get_table()) == 2


def test_a_migrated_table_is_left_alone(aws_in_process, andrew_ref, bayko_ref):
    store = get_dynamo_store()
    schema.create(store.table)  # the app's own table: current, with TTL
    store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    before = scan()

    out = run()

    assert scan() == before
    assert "PAIR items: 0 written, 1 already there, 0 conflicts" in out
    assert "0 changes" in out


def test_a_table_without_the_index_is_refused_with_what_to_do(aws_in_process):
    # The original's first schema-load (003) made no GSI.
    original_client().create_table(
        TableName="cruddur-messages",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )

    with pytest.raises(Exception, match="has no index 'message-group-sk-index'") as raised:
        run()
    assert type(raised.value).__name__ == "CommandError"


# --- while people send ---


def test_migrating_while_people_send_loses_nothing_and_ends_consistent(moto_endpoint, people):
    andrew, bayko, londo, alt = (people[h] for h in ("andrewbrown", "bayko", "londo", "altbrown"))
    groups = write_original_table(people)
    store = get_dynamo_store()
    writers = {
        "seed": (andrew, bayko),
        "al": (londo, andrew),
        "bl_first": (bayko, londo),
        "bl_second": (londo, bayko),
    }
    messages_before = len(keys("MSG#"))
    sent: list[tuple[str, str]] = []  # (conversation, message uuid); list.append is atomic
    sent_during: list[int] = []
    migrating = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []
    started = threading.Barrier(len(writers) + 2)

    def send(name):
        try:
            started.wait()
            for i in range(40):  # bounded, and on until the migration is over
                if done.is_set() and i >= 3:
                    return
                sender = writers[name][i % 2]
                message = store.create_message(
                    conversation_uuid=groups[name], sender=sender, text=f"{name} {i}"
                )
                sent.append((groups[name], message.message_uuid))
                if migrating.is_set() and not done.is_set():
                    sent_during.append(1)
        except BaseException as error:  # noqa: BLE001 (reported by the main thread)
            errors.append(error)

    def read():
        try:
            started.wait()
            for _ in range(40):
                if done.is_set():
                    return
                for entry in store.list_conversations(user_uuid=bayko.uuid).items:
                    # Losing to the sends twice, a mark-read gives up (a page's budget) and
                    # leaves the count to the next read: allowed, a wrong count is not.
                    with contextlib.suppress(Conflict):
                        store.mark_read(
                            owner_uuid=bayko.uuid,
                            conversation_uuid=entry.conversation_uuid,
                            sort_key=entry.sort_key,
                            unread=entry.unread,
                        )
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=send, args=(name,)) for name in writers]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    started.wait()
    migrating.set()
    # A pair that starts talking during the migration: the app writes its own PAIR item.
    new_group, first = store.create_conversation(sender=alt, recipient=andrew, text="new")
    sent.append((new_group, first.message_uuid))
    try:
        report = migrate(get_table())
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert sent_during, "no message was sent while the migration ran"
    assert report.schema_version == 2

    # Nothing lost: every message there, and only those.
    conversations = {*groups.values(), new_group}
    found = {c: {m.message_uuid for m in all_messages(store, c)} for c in conversations}
    for conversation, message_uuid in sent:
        assert message_uuid in found[conversation]
    assert sum(len(uuids) for uuids in found.values()) == messages_before + len(sent)
    # Consistent: both entries of each conversation at its newest message.
    for conversation in conversations:
        newest = all_messages(store, conversation)[0]
        entries = store.get_participants(conversation_uuid=conversation)
        assert len(entries) == 2
        assert {e.sort_key for e in entries} == {newest.sort_key}
    assert jobs.repair_unread(get_table(), dry_run=True).fixes == ()
    # bayko and londo's PAIR item goes to whichever of their two conversations was the more
    # recently active when it was written: both get messages during the run.
    bayko_londo = pair_items()[items.pair_pk(bayko.uuid, londo.uuid)]
    assert bayko_londo in (groups["bl_first"], groups["bl_second"])
    assert pair_items() == {
        **expected_pairs(people, groups, bayko_londo=bayko_londo),
        items.pair_pk(alt.uuid, andrew.uuid): new_group,
    }
    [conflict] = report.pair_conflicts
    assert conflict.kept == bayko_londo
    assert schema.version(get_table()) == 2
    # And a second run finds nothing to do.
    assert migrate(get_table()).changes == 0


def test_a_hidden_conversation_counts_by_the_time_of_its_last_message(original, people):
    bayko, londo = people["bayko"], people["londo"]
    store = get_dynamo_store()
    # Both hid the pair's most recently active conversation (the app works on the table
    # before it is migrated); its entries' keys now embed their time.
    for owner in (bayko, londo):
        store.hide_conversation(user_uuid=owner.uuid, conversation_uuid=original["bl_second"])
    hidden = [item for item in scan() if items.is_hidden(item["sk"])]
    assert len(hidden) == 2

    report = migrate(get_table())

    pair = tuple(sorted((bayko.uuid, londo.uuid)))
    assert report.pair_conflicts == (
        PairConflict(pair, kept=original["bl_second"], others=(original["bl_first"],)),
    )
    assert [item for item in scan() if items.is_hidden(item["sk"])] == hidden
