"""`ddb_repair_unread` through call_command against moto's HTTP server."""

import io
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from django.core.management import CommandError, call_command

from messaging.domain import UserRef, format_sort_key
from messaging.dynamo import DynamoStore, get_dynamo_store, jobs, schema
from messaging.dynamo.table import Table
from tests.helpers import read_position

pytestmark = pytest.mark.django_db


def run(*args, **options):
    out = io.StringIO()
    call_command("ddb_repair_unread", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def store(server_store):  # the commands talk to the emulator's HTTP server
    return server_store


@pytest.fixture
def people(make_user):
    users = {
        handle: make_user(handle, display_name=name)
        for handle, name in [
            ("andrewbrown", "Andrew Brown"),
            ("bayko", "Andrew Bayko"),
            ("londo", "Londo Mollari"),
        ]
    }
    return {handle: ref(user) for handle, user in users.items()}


def ref(user):
    return UserRef(uuid=str(user.uuid), handle=user.handle, display_name=user.display_name)


def items(store):
    return sorted(schema.scan(store.table), key=lambda item: (item["pk"], item["sk"]))


def row(store, owner, group_uuid):
    [found] = [
        item
        for item in schema.scan(store.table)
        if item["pk"] == f"GRP#{owner.uuid}" and item.get("message_group_uuid") == group_uuid
    ]
    return found


def counter(store, owner):
    found = [
        item.get("conversations")
        for item in schema.scan(store.table)
        if item["pk"] == f"GRP#{owner.uuid}" and item["sk"] == "UNREAD"
    ]
    return found[0] if found else None


def put_legacy_conversation(store, group_uuid, first, second, senders, *, start):
    """Items as the original wrote them: local-offset keys, no `unread`, no counter items.

    `senders` is a string like "abb": who wrote each message, oldest first. Both rows point
    at the newest message, as the original's stream Lambda left them.
    """
    people = {"a": first, "b": second}
    local = timezone(timedelta(hours=10))
    times = [(start + timedelta(minutes=i)).astimezone(local) for i in range(len(senders))]
    for i, (who, moment) in enumerate(zip(senders, times, strict=True)):
        sender = people[who]
        put(
            store,
            {
                "pk": f"MSG#{group_uuid}",
                "sk": moment.isoformat(),
                "message_uuid": f"{group_uuid}-{i}",
                "message": f"legacy {i}",
                "user_uuid": sender.uuid,
                "user_display_name": sender.display_name,
                "user_handle": sender.handle,
            },
        )
    for owner, other in ((first, second), (second, first)):
        put(
            store,
            {
                "pk": f"GRP#{owner.uuid}",
                "sk": times[-1].isoformat(),
                "message_group_uuid": group_uuid,
                "message": f"legacy {len(senders) - 1}",
                "user_uuid": other.uuid,
                "user_display_name": other.display_name,
                "user_handle": other.handle,
            },
        )


def put(store, item):
    store.table.client.put_item(
        TableName=store.table.name, Item={name: {"S": value} for name, value in item.items()}
    )


START = datetime(2023, 3, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def legacy(store, people):
    andrew, bayko, londo = people["andrewbrown"], people["bayko"], people["londo"]
    # andrew wrote, then bayko twice: andrew has 2 unread, bayko none.
    put_legacy_conversation(store, "g-bayko", andrew, bayko, "abb", start=START)
    # londo never got an answer: andrew has 3 unread.
    put_legacy_conversation(
        store, "g-londo", londo, andrew, "aaa", start=START + timedelta(hours=1)
    )
    # bayko and londo: londo answered last, so bayko has 1 unread.
    put_legacy_conversation(
        store, "g-other", bayko, londo, "abab", start=START + timedelta(hours=2)
    )
    return store


def test_legacy_counts_are_recomputed_from_the_messages(legacy, people):
    andrew, bayko, londo = people["andrewbrown"], people["bayko"], people["londo"]

    out = run()

    assert row(legacy, andrew, "g-bayko")["unread"] == 2
    assert row(legacy, andrew, "g-londo")["unread"] == 3
    assert row(legacy, bayko, "g-other")["unread"] == 1
    assert "unread" not in row(legacy, bayko, "g-bayko")  # already right: not written
    assert (counter(legacy, andrew), counter(legacy, bayko), counter(legacy, londo)) == (2, 1, None)
    # What the app reads now.
    page = legacy.list_conversations(user_uuid=andrew.uuid)
    assert page.unread_conversations == 2
    assert {g.conversation_uuid: g.unread for g in page.items} == {"g-bayko": 2, "g-londo": 3}
    assert f"{andrew.uuid}  conversation g-bayko: 0 -> 2" in out
    assert f"{andrew.uuid}  conversation g-londo: 0 -> 3" in out
    assert "Checked 6 conversation rows in 3 inboxes; fixed 3 counts." in out


def test_running_it_twice_changes_nothing(legacy):
    run()
    once = items(legacy)

    out = run()

    assert items(legacy) == once
    assert "fixed 0 counts" in out


def test_the_read_marker_counts_as_read(store, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    group_uuid, _ = store.create_conversation(sender=bayko, recipient=andrew, text="1")
    store.create_message(conversation_uuid=group_uuid, sender=bayko, text="2")
    [seen] = store.list_conversations(user_uuid=andrew.uuid).items
    store.mark_read(**read_position(seen))  # andrew read 1 and 2 without answering
    store.create_message(conversation_uuid=group_uuid, sender=bayko, text="3")
    before = items(store)

    out = run()

    assert items(store) == before  # the app's own counts are right: nothing to fix
    assert row(store, andrew, group_uuid)["unread"] == 1
    assert "fixed 0 counts" in out


def test_a_message_its_row_has_not_moved_to_yet_is_left_to_the_move(store, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    group_uuid, first = store.create_conversation(sender=bayko, recipient=andrew, text="1")
    # Written by another writer (the original API), the Streams handler not run yet.
    later = first.created_at + timedelta(minutes=1)
    put(
        store,
        {
            "pk": f"MSG#{group_uuid}",
            "sk": format_sort_key(later),
            "message_uuid": "pending",
            "message": "2",
            "user_uuid": bayko.uuid,
            "user_display_name": bayko.display_name,
            "user_handle": bayko.handle,
        },
    )

    assert "fixed 0 counts" in run()
    assert row(store, andrew, group_uuid)["unread"] == 1

    # The handler's move then counts it, once.
    pending = store.list_messages(conversation_uuid=group_uuid).items[0]  # newest first
    assert pending.message_uuid == "pending"
    store.advance_inboxes(message=pending)
    assert row(store, andrew, group_uuid)["unread"] == 2
    assert "fixed 0 counts" in run()


def test_drifted_counts_and_counters_are_put_right(store, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    group_uuid, _ = store.create_conversation(sender=bayko, recipient=andrew, text="1")
    [seen] = store.list_conversations(user_uuid=andrew.uuid).items
    store.mark_read(**read_position(seen))
    store.create_message(conversation_uuid=group_uuid, sender=bayko, text="2")
    # Break them: a wrong row count, a counter that went below zero, a counter for nobody.
    key = row(store, andrew, group_uuid)
    set_number(store, key["pk"], key["sk"], "unread", 7)
    set_number(store, f"GRP#{andrew.uuid}", "UNREAD", "conversations", 5)
    set_number(store, f"GRP#{bayko.uuid}", "UNREAD", "conversations", -3)

    out = run()

    assert row(store, andrew, group_uuid)["unread"] == 1  # after the read marker: "2" only
    assert (counter(store, andrew), counter(store, bayko)) == (1, 0)
    assert f"{andrew.uuid}  conversation {group_uuid}: 7 -> 1" in out
    assert f"{andrew.uuid}  counter: 5 -> 1" in out
    assert f"{bayko.uuid}  counter: -3 -> 0" in out


def test_a_send_and_a_read_while_the_counter_is_repaired_leave_it_right(
    store, people, on, moto_endpoint
):
    """The counter is read, then the entries, then written. A send between the two reads and
    a read before the write put the counter back to the value read, while the entry counted
    is read again: the write must fail on the entry, not only hold on the counter."""
    andrew, bayko = people["andrewbrown"], people["bayko"]
    group_uuid, _ = store.create_conversation(sender=bayko, recipient=andrew, text="1")
    [seen] = store.list_conversations(user_uuid=andrew.uuid).items
    store.mark_read(**read_position(seen))  # andrew: entry 0, counter 0
    other_client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    others = DynamoStore(Table(client=other_client, name=store.table.name))  # the app, elsewhere
    steps = []

    def counter_read(params, **kwargs):
        if params["Key"]["sk"]["S"] == "UNREAD" and not steps:
            steps.append("counter read")

    def send_before_the_entries_are_read(**kwargs):
        if steps == ["counter read"]:
            steps.append("sent")
            others.create_message(conversation_uuid=group_uuid, sender=bayko, text="2")

    def read_before_the_write(**kwargs):
        if steps == ["counter read", "sent"]:
            steps.append("read")
            [entry] = others.list_conversations(user_uuid=andrew.uuid).items
            others.mark_read(**read_position(entry))

    on(store, "before-parameter-build.dynamodb.GetItem", counter_read)
    on(store, "before-call.dynamodb.Query", send_before_the_entries_are_read)
    on(store, "before-call.dynamodb.TransactWriteItems", read_before_the_write)

    jobs.repair_unread(store.table, owner_uuids=[andrew.uuid])

    assert steps == ["counter read", "sent", "read"]
    assert row(store, andrew, group_uuid)["unread"] == 0
    assert counter(store, andrew) == 0
    assert jobs.repair_unread(store.table, dry_run=True).fixes == ()


def set_number(store, pk, sk, name, value):
    store.table.client.update_item(
        TableName=store.table.name,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


def test_dry_run_reports_without_writing(legacy, people):
    andrew = people["andrewbrown"]
    before = items(legacy)

    out = run("--dry-run")

    assert items(legacy) == before
    assert f"{andrew.uuid}  conversation g-londo: 0 -> 3" in out
    assert "would fix 3 counts" in out
    # The counters follow the rows' fixes, as the real run's writes do: nothing more to report.
    assert "counter" not in out
    assert "fixed 3 counts" in run()


def test_handles_limit_the_repair_to_those_inboxes(legacy, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]

    out = run("@BAYKO")

    assert row(legacy, bayko, "g-other")["unread"] == 1
    assert "unread" not in row(legacy, andrew, "g-bayko")
    assert "Checked 2 conversation rows in 1 inbox; fixed 1 count." in out


def test_an_unknown_handle_is_an_error(legacy):
    with pytest.raises(CommandError, match="No user @nobody"):
        run("nobody")


def test_a_missing_table_is_a_command_error(moto_endpoint):
    with pytest.raises(CommandError, match="ddb_schema_load"):
        run()


def test_help_states_the_rule_and_the_flags(capsys):
    with pytest.raises(SystemExit):
        call_command("ddb_repair_unread", "--help")

    out = capsys.readouterr().out
    assert "--prod" in out
    assert "--dry-run" in out
    assert "last_read_sk" in out
    assert "own newest message" in out


def test_prod_ignores_the_emulator_endpoint(aws_in_process, settings, people):
    # Under mock_aws, "real AWS" is moto in-process; the endpoint below is unreachable.
    schema.create(get_dynamo_store(prod=True).table)
    put_legacy_conversation(
        get_dynamo_store(prod=True),
        "g-bayko",
        people["andrewbrown"],
        people["bayko"],
        "ab",
        start=START,
    )
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"

    assert "fixed 1 count." in run("--prod")  # andrew's row: bayko answered last
    with pytest.raises(CommandError, match="make run"):
        run()


def test_a_hidden_entry_counts_from_its_time_and_stays_hidden(store, people):
    andrew, bayko = people["andrewbrown"], people["bayko"]
    group_uuid, _ = store.create_conversation(sender=bayko, recipient=andrew, text="1")
    store.create_message(conversation_uuid=group_uuid, sender=bayko, text="2")
    store.hide_conversation(user_uuid=andrew.uuid, conversation_uuid=group_uuid)
    hidden = row(store, andrew, group_uuid)
    assert hidden["sk"].startswith("#HIDDEN#")
    assert "fixed 0 counts" in run()  # hiding marked it read: the repair agrees
    set_number(store, hidden["pk"], hidden["sk"], "unread", 4)
    set_number(store, f"GRP#{andrew.uuid}", "UNREAD", "conversations", 1)

    out = run()

    assert f"{andrew.uuid}  conversation {group_uuid}: 4 -> 0" in out
    assert row(store, andrew, group_uuid)["sk"] == hidden["sk"]  # still hidden
    assert row(store, andrew, group_uuid)["unread"] == 0
    assert counter(store, andrew) == 0
    # The next message brings it back, counted once.
    store.create_message(conversation_uuid=group_uuid, sender=bayko, text="3")
    assert row(store, andrew, group_uuid)["unread"] == 1
    assert "fixed 0 counts" in run()
