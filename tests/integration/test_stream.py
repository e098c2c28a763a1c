"""The DynamoDB Streams handler, fed with records read from moto's stream of the table."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from messaging.domain import UserRef, format_sort_key
from messaging.dynamo import get_dynamo_store as get_store
from messaging.dynamo import schema
from messaging.stream import StreamBatchError, handle_records, lambda_handler

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(aws_in_process):
    """The store over in-process moto, the table created with its stream on."""
    store = get_store()
    schema.create(store.table, stream=True)
    return store


def read_stream(store, endpoint_url=None):
    """Every record of the table's stream so far, oldest first (TRIM_HORIZON)."""
    # botocore sends stream calls to <account>.streams-ddb.<region>.amazonaws.com, a host
    # moto does not route: ask for the regional endpoint.
    streams = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(account_id_endpoint_mode="disabled"),
    )
    arn = schema.stream_arn(store.table)
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator)
            records += response["Records"]
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return records


def write_like_the_original(store, group_uuid, sender, text, sort_key):
    """The original's create_message: a message item only; its Lambda moved the groups."""
    item = {
        "pk": f"MSG#{group_uuid}",
        "sk": sort_key,
        "message_uuid": f"legacy-{sort_key}",
        "message": text,
        "user_uuid": sender.uuid,
        "user_display_name": sender.display_name,
        "user_handle": sender.handle,
    }
    store.table.client.put_item(
        TableName=store.table.name, Item={key: {"S": value} for key, value in item.items()}
    )


def groups_by_owner(store, group_uuid):
    return {g.owner_uuid: g for g in store.get_participants(conversation_uuid=group_uuid)}


def items(store):
    return sorted(schema.scan(store.table), key=lambda item: (item["pk"], item["sk"]))


def later(message, minutes):
    """A sort key `minutes` after `message`, in the fixed format."""
    return format_sort_key(message.created_at + timedelta(minutes=minutes))


def test_a_group_message_written_without_the_move_reaches_every_member_once(
    store, andrew_ref, bayko_ref, londo_ref
):
    alt = UserRef("alt-brown-uuid", "altbrown", "Alt Brown")
    group_uuid, first = store.create_group(
        sender=andrew_ref, members=[bayko_ref, londo_ref, alt], name="", text="hi all"
    )
    store.leave_group(user=londo_ref, conversation_uuid=group_uuid)
    unread_before = {
        owner: entry.unread for owner, entry in groups_by_owner(store, group_uuid).items()
    }
    write_like_the_original(store, group_uuid, bayko_ref, "from elsewhere", later(first, 5))
    records = read_stream(store)  # the group's start and londo's leaving too

    summary = lambda_handler({"Records": records}, None)

    assert summary["moved"] == 1
    entries = groups_by_owner(store, group_uuid)
    assert set(entries) == {andrew_ref.uuid, bayko_ref.uuid, alt.uuid}  # londo not back
    for owner, entry in entries.items():
        assert (entry.sort_key, entry.last_message) == (later(first, 5), "from elsewhere")
        assert entry.group.last_sender_uuid == bayko_ref.uuid
        # Moved once: one more unread for all but the sender, whose is cleared.
        assert entry.unread == (0 if owner == bayko_ref.uuid else unread_before[owner] + 1)
    left = store.list_conversations(user_uuid=londo_ref.uuid)
    assert (left.items, left.unread_conversations) == ((), 0)
    after = items(store)

    again = lambda_handler({"Records": records}, None)

    assert again["moved"] == 0
    assert items(store) == after


def test_every_record_of_a_batch_is_applied(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    for minute in (1, 2, 3):
        write_like_the_original(store, group_uuid, andrew_ref, f"m{minute}", later(first, minute))

    summary = lambda_handler({"Records": read_stream(store)}, None)

    groups = groups_by_owner(store, group_uuid)
    for group in groups.values():
        assert (group.sort_key, group.last_message) == (later(first, 3), "m3")
    assert (groups[andrew_ref.uuid].unread, groups[bayko_ref.uuid].unread) == (0, 4)
    assert store.list_conversations(user_uuid=bayko_ref.uuid).unread_conversations == 1
    assert summary["moved"] == 3
    assert summary["unchanged"] == 1  # the first message: create_conversation moved them
    assert summary["records"] == summary["moved"] + summary["unchanged"] + summary["skipped"]


def test_a_batch_over_several_conversations_moves_each(store, andrew_ref, bayko_ref, londo_ref):
    with_bayko, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="b")
    with_londo, other = store.create_conversation(sender=londo_ref, recipient=andrew_ref, text="l")
    write_like_the_original(store, with_bayko, bayko_ref, "to andrew_ref", later(first, 5))
    write_like_the_original(store, with_londo, andrew_ref, "to londo_ref", later(other, 5))

    lambda_handler({"Records": read_stream(store)}, None)

    assert {g.last_message for g in groups_by_owner(store, with_bayko).values()} == {
        "to andrew_ref"
    }
    assert {g.last_message for g in groups_by_owner(store, with_londo).values()} == {"to londo_ref"}
    inbox = store.list_conversations(user_uuid=andrew_ref.uuid)
    assert [g.conversation_uuid for g in inbox.items] == [with_londo, with_bayko]


def test_a_replayed_batch_changes_nothing(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    write_like_the_original(store, group_uuid, bayko_ref, "reply", later(first, 1))
    records = read_stream(store)
    lambda_handler({"Records": records}, None)
    after_first = items(store)

    summary = lambda_handler({"Records": records}, None)

    assert items(store) == after_first
    assert summary["moved"] == 0


def test_an_older_record_after_a_newer_never_moves_back(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    start = len(read_stream(store))
    write_like_the_original(store, group_uuid, andrew_ref, "older", later(first, 1))
    write_like_the_original(store, group_uuid, andrew_ref, "newer", later(first, 2))
    older, newer = read_stream(store)[start:]

    lambda_handler({"Records": [newer]}, None)
    summary = lambda_handler({"Records": [older]}, None)

    assert summary == {
        "records": 1,
        "moved": 0,
        "unchanged": 1,
        "skipped": 0,
        "invalid": 0,
        "failed": 0,
    }
    groups = groups_by_owner(store, group_uuid)
    assert {g.last_message for g in groups.values()} == {"newer"}
    assert groups[bayko_ref.uuid].unread == 2  # the first message and "newer"; "older" not counted


def test_records_of_synchronous_sends_are_no_ops(store, andrew_ref, bayko_ref):
    group_uuid, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="hello")
    store.create_message(conversation_uuid=group_uuid, sender=andrew_ref, text="again")
    before = items(store)
    records = read_stream(store)
    assert "REMOVE" in {r["eventName"] for r in records}  # the moved group items

    summary = lambda_handler({"Records": records}, None)

    assert items(store) == before
    assert (summary["moved"], summary["unchanged"]) == (0, 3)
    assert summary["skipped"] == len(records) - 3


def test_remove_records_are_skipped(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    start = len(read_stream(store))
    write_like_the_original(store, group_uuid, andrew_ref, "deleted", later(first, 1))
    store.table.client.delete_item(
        TableName=store.table.name,
        Key={"pk": {"S": f"MSG#{group_uuid}"}, "sk": {"S": later(first, 1)}},
    )
    insert, remove = read_stream(store)[start:]
    assert (insert["eventName"], remove["eventName"]) == ("INSERT", "REMOVE")
    before = items(store)

    summary = lambda_handler({"Records": [remove]}, None)

    assert summary["skipped"] == 1
    assert items(store) == before


def test_unreadable_records_are_logged_and_skipped(store, caplog, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    keys_only = {"eventName": "INSERT", "dynamodb": {"Keys": {}, "SequenceNumber": "1"}}
    bad_time = {
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": "2",
            "NewImage": {"pk": {"S": f"MSG#{group_uuid}"}, "sk": {"S": "not a time"}},
        },
    }

    with caplog.at_level("ERROR", logger="messaging.stream"):
        summary = handle_records([keys_only, bad_time], store=store)

    assert summary["invalid"] == 2
    assert len(caplog.records) == 2
    assert {g.last_message for g in groups_by_owner(store, group_uuid).values()} == {"hi"}


def test_a_failure_to_reach_dynamodb_fails_the_batch_for_a_retry(
    store, settings, andrew_ref, bayko_ref
):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    write_like_the_original(store, group_uuid, andrew_ref, "m1", later(first, 1))
    records = read_stream(store)
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"

    with pytest.raises(StreamBatchError, match="retried"):
        lambda_handler({"Records": records}, None)


def test_the_lambda_runs_without_django(moto_endpoint, andrew_ref, bayko_ref):
    """The handler in a fresh interpreter with Django unimportable, configured by env vars."""
    store = get_store()
    schema.create(store.table, stream=True)
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    write_like_the_original(store, group_uuid, andrew_ref, "from the old app", later(first, 1))
    records = read_stream(store, endpoint_url=moto_endpoint)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "AWS_ENDPOINT_URL", "DDB_MESSAGE_TABLE")
    }
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        DDB_MESSAGE_TABLE=store.table.name,
        AWS_REGION="us-east-1",
        PYTHONPATH=str(REPO),
    )
    script = (
        "import json, sys\n"
        "sys.modules['django'] = None  # not in the Lambda zip\n"
        "from messaging.stream import lambda_handler\n"
        "print(json.dumps(lambda_handler(json.load(sys.stdin), None)))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps({"Records": records}, default=str),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["moved"] == 1
    groups = groups_by_owner(store, group_uuid)
    assert {g.last_message for g in groups.values()} == {"from the old app"}
    assert groups[bayko_ref.uuid].unread == 2


def test_edits_and_unsends_of_older_messages_move_nothing(store, andrew_ref, bayko_ref):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    store.create_message(conversation_uuid=group_uuid, sender=bayko_ref, text="hello")
    start = len(read_stream(store))
    store.edit_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=group_uuid,
        message_uuid=first.message_uuid,
        text="hi!",
        now=first.created_at + timedelta(seconds=5),
        sort_key=first.sort_key,
    )
    store.unsend_message(
        user_uuid=andrew_ref.uuid,
        conversation_uuid=group_uuid,
        message_uuid=first.message_uuid,
        sort_key=first.sort_key,
    )
    records = read_stream(store)[start:]
    modified = [r for r in records if r["eventName"] == "MODIFY"]
    assert {r["dynamodb"]["Keys"]["pk"]["S"] for r in modified} == {f"MSG#{group_uuid}"}
    before = items(store)

    summary = lambda_handler({"Records": records}, None)

    assert items(store) == before
    assert summary["moved"] == 0


@pytest.mark.parametrize("change", ["edit", "unsend"])
def test_a_message_changed_before_its_record_is_handled_shows_as_it_is_now(
    store, andrew_ref, bayko_ref, change
):
    group_uuid, first = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    start = len(read_stream(store))
    sort_key = later(first, 1)
    write_like_the_original(store, group_uuid, andrew_ref, "s3cret typo", sort_key)
    # The app changes it before the handler has moved the inboxes to it.
    if change == "edit":
        store.edit_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=group_uuid,
            message_uuid=f"legacy-{sort_key}",
            text="fixed",
            now=first.created_at + timedelta(minutes=1, seconds=5),
            sort_key=sort_key,
        )
    else:
        store.unsend_message(
            user_uuid=andrew_ref.uuid,
            conversation_uuid=group_uuid,
            message_uuid=f"legacy-{sort_key}",
            sort_key=sort_key,
        )

    summary = lambda_handler({"Records": read_stream(store)[start:]}, None)

    assert summary["moved"] == 1
    for entry in groups_by_owner(store, group_uuid).values():
        assert entry.sort_key == sort_key
        if change == "edit":
            assert (entry.last_message, entry.last_message_unsent) == ("fixed", False)
        else:
            assert (entry.last_message, entry.last_message_unsent) == ("", True)
    assert "s3cret" not in json.dumps(items(store))
