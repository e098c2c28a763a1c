"""Groups in the DynamoDB jobs and commands, against moto's HTTP server: the unread repair,
the migration, the purge of a deleted person, and the commands that print conversations."""

import io
from dataclasses import dataclass

import boto3
import pytest
from django.core.management import call_command
from django.utils import timezone

from messaging.domain import Message
from messaging.dynamo import DynamoStore, jobs, schema
from messaging.dynamo.migrate import migrate
from messaging.dynamo.table import Table
from tests.helpers import read_position, ref

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def scan(store):
    return {(item["pk"], item["sk"]): item for item in schema.scan(store.table)}


def entry(store, person, conversation_uuid):
    """A person's inbox entry item for a conversation, or None."""
    found = [
        item
        for item in schema.scan(store.table)
        if item["pk"] == f"GRP#{person.uuid}"
        and item.get("message_group_uuid") == conversation_uuid
    ]
    assert len(found) <= 1
    return found[0] if found else None


def counter(store, person):
    item = store.table.get(f"GRP#{person.uuid}", "UNREAD")
    return item["conversations"] if item else None


def set_unread(store, item, value):
    store.table.client.update_item(
        TableName=store.table.name,
        Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
        UpdateExpression="SET unread = :value",
        ExpressionAttributeValues={":value": {"N": str(value)}},
    )


@pytest.fixture
def store(server_store):  # the commands talk to the emulator's HTTP server
    return server_store


@pytest.fixture
def users(make_user):
    return {
        handle: make_user(handle, display_name=name)
        for handle, name in [
            ("andrewbrown", "Andrew Brown"),
            ("bayko", "Andrew Bayko"),
            ("londo", "Londo Mollari"),
            ("altbrown", "Alt Brown"),
        ]
    }


@pytest.fixture
def people(users):
    return {handle: ref(user) for handle, user in users.items()}


@dataclass(frozen=True)
class Council:
    uuid: str
    added: Message  # the line that added altbrown
    pair: str  # andrewbrown and bayko's own conversation


@pytest.fixture
def council(store, people):
    """A group with every kind of history: andrewbrown starts it with bayko and londo, londo
    reads without answering, andrewbrown adds altbrown and names it "Council", bayko leaves,
    andrewbrown writes last; beside it, andrewbrown and bayko's pair.

    Unread as the app counts it: andrewbrown 0 (wrote last); londo 5 (after the read
    marker: "bayko again" and the four after it); altbrown 4 (from the line that added
    them: that line, the rename, bayko's leaving, "welcome"); bayko, in the pair, 1.
    """
    andrew, bayko, londo, alt = (people[h] for h in ("andrewbrown", "bayko", "londo", "altbrown"))
    group, _ = store.create_group(sender=andrew, members=[bayko, londo], name="", text="hello all")
    store.create_message(conversation_uuid=group, sender=bayko, text="from bayko")
    store.create_message(conversation_uuid=group, sender=andrew, text="andrew answers")
    [seen] = store.list_conversations(user_uuid=londo.uuid).items
    store.mark_read(**read_position(seen))
    store.create_message(conversation_uuid=group, sender=bayko, text="bayko again")
    added = store.add_members(actor=andrew, conversation_uuid=group, people=[alt], max_members=10)
    store.rename_group(actor=andrew, conversation_uuid=group, name="Council")
    store.leave_group(user=bayko, conversation_uuid=group)
    store.create_message(conversation_uuid=group, sender=andrew, text="welcome")
    pair, _ = store.create_conversation(sender=andrew, recipient=bayko, text="just us")
    return Council(uuid=group, added=added, pair=pair)


def unread_counts(store, people, council):
    return {
        handle: (entry(store, people[handle], council.uuid) or {}).get("unread")
        for handle in ("andrewbrown", "londo", "altbrown", "bayko")
    }


EXPECTED_UNREAD = {"andrewbrown": 0, "londo": 5, "altbrown": 4, "bayko": None}


# --- the unread repair ---


def test_the_repair_finds_a_groups_counts_right(store, people, council):
    assert unread_counts(store, people, council) == EXPECTED_UNREAD
    before = scan(store)

    out = run("ddb_repair_unread")

    assert scan(store) == before
    assert "fixed 0 counts" in out


def test_the_repair_puts_a_wrong_group_count_right(store, people, council):
    alt, londo = people["altbrown"], people["londo"]
    set_unread(store, entry(store, alt, council.uuid), 9)
    set_unread(store, entry(store, londo, council.uuid), 0)  # its counter still says 1

    out = run("ddb_repair_unread")

    assert f"{alt.uuid}  conversation {council.uuid}: 9 -> 4" in out
    assert f"{londo.uuid}  conversation {council.uuid}: 0 -> 5" in out
    assert unread_counts(store, people, council) == EXPECTED_UNREAD
    assert (counter(store, alt), counter(store, londo)) == (1, 1)
    assert "fixed 0 counts" in run("ddb_repair_unread")


# --- the migration ---


def put_original_pair(store, conversation_uuid, first, second, sort_key):
    """A pair conversation as the original wrote it: no PAIR item, no unread fields."""
    plain = [
        {
            "pk": f"MSG#{conversation_uuid}",
            "sk": sort_key,
            "message_uuid": f"{conversation_uuid}-0",
            "message": "from the original",
            "user_uuid": first.uuid,
            "user_display_name": first.display_name,
            "user_handle": first.handle,
        }
    ]
    for owner, other in ((first, second), (second, first)):
        plain.append(
            {
                "pk": f"GRP#{owner.uuid}",
                "sk": sort_key,
                "message_group_uuid": conversation_uuid,
                "message": "from the original",
                "user_uuid": other.uuid,
                "user_display_name": other.display_name,
                "user_handle": other.handle,
            }
        )
    for item in plain:
        store.table.client.put_item(
            TableName=store.table.name, Item={name: {"S": value} for name, value in item.items()}
        )


def test_migrate_writes_no_pair_item_for_a_group_and_leaves_it_as_it_is(store, people, council):
    londo, alt = people["londo"], people["altbrown"]
    put_original_pair(store, "g-original", londo, alt, "2023-06-01T10:00:00+10:00")
    before = scan(store)

    report = migrate(store.table)

    after = scan(store)
    new_keys = set(after) - set(before)
    assert [key for key in new_keys if key[0].startswith("PAIR#")] == [
        (f"PAIR#{min(londo.uuid, alt.uuid)}#{max(londo.uuid, alt.uuid)}", "PAIR")
    ]
    assert not any(council.uuid in key[0] for key in new_keys)
    assert report.pairs_written == 1 and report.pair_conflicts == ()
    # The group's entries, roster and lines exactly as they were; its unread counts right.
    for key, item in before.items():
        if council.uuid in key[0] or item.get("message_group_uuid") == council.uuid:
            assert after[key] == item
    assert [fix.conversation_uuid for fix in report.unread_fixes] == ["g-original"]
    assert report.entries == 3 + 2 + 2  # the group's (bayko left), both pairs'

    again = run("ddb_migrate")
    assert "PAIR items: 0 written" in again and "unread counts: 0 fixed" in again


# --- the purge of a deleted person ---


def delete_account(user):
    user.deleted_at = timezone.now()
    user.is_active = False
    user.save()


def assert_andrew_purged(store, people, council, before):
    """The table as a purge of andrewbrown leaves it: out of the group, which goes on."""
    andrew, londo, alt = people["andrewbrown"], people["londo"], people["altbrown"]
    # Their messages and lines gone, the others' kept.
    texts = [m.text for m in store.list_messages(conversation_uuid=council.uuid).items]
    assert texts == ["Andrew Bayko left.", "bayko again", "from bayko"]
    roster = store.get_roster(conversation_uuid=council.uuid)
    roster_before = before[(f"ROSTER#{council.uuid}", "ROSTER")]
    assert [member.handle for member in roster.members] == ["londo", "altbrown"]
    assert roster.version == roster_before["version"] + 1
    assert roster.joined_at == {alt.uuid: council.added.sort_key}
    assert entry(store, andrew, council.uuid) is None
    assert store.table.get(f"GRP#{andrew.uuid}", "UNREAD") is None
    # The others' entries: same keys; the members and names without them; the newest
    # remaining message; the counts without their messages, the counters following.
    for person, handles, unread in (
        (londo, "altbrown", 2),  # after the read marker: "bayko again", the leaving
        (alt, "londo", 1),  # from the line that added them: the leaving
    ):
        item = entry(store, person, council.uuid)
        assert (item["pk"], item["sk"]) in before
        assert [member["handle"] for member in item["members"]] == ["londo", "altbrown"]
        assert (item["user_uuid"], item["user_handle"]) == (council.uuid, handles)
        assert (item["user_display_name"], item["group_name"]) == ("Council", "Council")
        assert item["message"] == "Andrew Bayko left."
        assert item["last_user_uuid"] == people["bayko"].uuid
        assert item["unread"] == unread
        assert counter(store, person) == 1
    assert jobs.repair_unread(store.table, dry_run=True).fixes == ()


def test_purging_a_member_takes_them_out_of_the_group_which_goes_on(store, users, people, council):
    londo, alt = people["londo"], people["altbrown"]
    delete_account(users["andrewbrown"])
    before = scan(store)

    out = run("ddb_purge_user", "andrewbrown", "--no-input")

    assert_andrew_purged(store, people, council, before)
    assert (
        f"conversation 2/2 {council.uuid}: 5 messages removed, taken out of the group, "
        "2 inbox entries of the other members updated"
    ) in out
    assert "(taken out of 1 group)" in out
    # The group goes on for the others.
    store.create_message(conversation_uuid=council.uuid, sender=londo, text="still here")
    assert entry(store, alt, council.uuid)["unread"] == 2
    store.leave_group(user=alt, conversation_uuid=council.uuid)
    assert [e.owner_uuid for e in store.get_participants(conversation_uuid=council.uuid)] == [
        londo.uuid
    ]
    # Again: nothing left to do.
    assert "Nothing of @andrewbrown" in run("ddb_purge_user", "andrewbrown", "--no-input")


def test_a_dry_run_counts_the_group_and_writes_nothing(store, users, people, council):
    delete_account(users["andrewbrown"])
    before = scan(store)

    out = run("ddb_purge_user", "andrewbrown", "--dry-run")

    assert scan(store) == before
    assert (
        f"conversation 2/2 {council.uuid}: 5 messages to remove, taken out of the group, "
        "2 inbox entries of the other members to update"
    ) in out


class Interrupted(Exception):
    pass


def takes_out_of_the_roster(params):
    return any(
        "Put" in action and action["Put"]["Item"]["pk"]["S"].startswith("ROSTER#")
        for action in params.get("TransactItems", [])
    )


def test_a_purge_interrupted_in_the_group_is_finished_by_running_it_again(
    store, users, people, council, on
):
    delete_account(users["andrewbrown"])
    before = scan(store)

    interrupting = [True]

    def interrupt(params, **kwargs):
        if interrupting and takes_out_of_the_roster(params):
            raise Interrupted

    on(store, "before-parameter-build.dynamodb.TransactWriteItems", interrupt)
    with pytest.raises(Interrupted):
        run("ddb_purge_user", "andrewbrown", "--no-input")
    interrupting.clear()
    # Their messages went; the roster, the others' entries and their own did not change.
    assert store.get_roster(conversation_uuid=council.uuid).has(people["andrewbrown"].uuid)
    assert entry(store, people["andrewbrown"], council.uuid) is not None

    out = run("ddb_purge_user", "andrewbrown", "--no-input")

    assert f"conversation 1/1 {council.uuid}: 0 messages removed, taken out of the group" in out
    assert_andrew_purged(store, people, council, before)


def test_a_send_landing_during_the_purge_is_kept_and_never_brings_them_back(
    store, users, people, council, on, moto_endpoint
):
    londo, alt = people["londo"], people["altbrown"]
    delete_account(users["andrewbrown"])
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    others = DynamoStore(Table(client=client, name=store.table.name))  # the app, elsewhere
    sent = []

    def send_first(params, **kwargs):
        if takes_out_of_the_roster(params) and not sent:
            sent.append(
                others.create_message(conversation_uuid=council.uuid, sender=londo, text="hi")
            )

    on(store, "before-parameter-build.dynamodb.TransactWriteItems", send_first)

    run("ddb_purge_user", "andrewbrown", "--no-input")

    assert len(sent) == 1
    roster = store.get_roster(conversation_uuid=council.uuid)
    assert [member.uuid for member in roster.members] == [londo.uuid, alt.uuid]
    for person, unread in ((londo, 0), (alt, 2)):
        item = entry(store, person, council.uuid)
        assert item["sk"] == sent[0].sort_key
        assert (item["message"], item["unread"]) == ("hi", unread)
        assert [member["uuid"] for member in item["members"]] == [londo.uuid, alt.uuid]
    assert entry(store, people["andrewbrown"], council.uuid) is None
    assert jobs.repair_unread(store.table, dry_run=True).fixes == ()


# --- the commands that print conversations ---


def test_get_conversation_shows_the_group_and_its_lines(store, people, council):
    lines = run("ddb_get_conversation", council.uuid).splitlines()

    assert lines[0] == "Group “Council”: @andrewbrown, @londo, @altbrown"
    assert lines[1].startswith("andrewbrown") and lines[1].endswith("hello all")
    events = [line for line in lines if "— " in line]
    assert [line.split("— ")[1] for line in events] == [
        "Andrew Brown added Alt Brown.",
        "Andrew Brown named the group “Council”.",
        "Andrew Bayko left.",
    ]
    assert all(line.startswith(" ") for line in events)  # no sender column: the line says who
    assert lines[-2].startswith("andrewbrown") and lines[-2].endswith("welcome")


def test_list_conversations_shows_a_groups_title_and_members(store, people, council):
    alt_lines = run("ddb_list_conversations", "altbrown").splitlines()
    andrew_lines = run("ddb_list_conversations", "andrewbrown").splitlines()

    assert alt_lines[1].startswith(f"{council.uuid}  Council (@andrewbrown, @londo) ")
    assert alt_lines[1].endswith("welcome  [4 unread]")
    # The pair beside it is shown as before.
    assert andrew_lines[1].startswith(f"{council.pair}  @bayko ")
    assert andrew_lines[2].startswith(f"{council.uuid}  Council (@londo, @altbrown) ")
