"""Groups under real concurrency: threads against the emulator's HTTP server (each request
isolated, as on AWS; races between requests remain). Sends, adds, leaves and renames commit
in whatever order they race to; the roster's version and the entries' conditions must leave
one entry per member and none for anyone else, each at the newest message with the roster's
name and members, and unread counts the repair finds nothing to fix in. Two windows the
threads hit only now and then are also forced, one writer landing inside another's plan."""

import time

import pytest

from messaging.domain import ADDED, LEFT, RENAMED, Message, preview
from messaging.dynamo import items, jobs, schema
from messaging.dynamo.store import DynamoStore
from messaging.errors import GroupFull, NotFound
from tests.helpers import after_first_call, at_once
from tests.integration.test_store_contract import person

from .test_unread_concurrency import all_messages, expected_unread

ROUNDS = 3  # each race is run this many times: the order differs from run to run
rounds = pytest.mark.parametrize("round_", range(ROUNDS))
MAX_MEMBERS = 10


def start(store, sender, *members, name=""):
    conversation, _ = store.create_group(
        sender=sender, members=list(members), name=name, text="hello all"
    )
    return conversation


def entry_items(store, conversation):
    """Every inbox entry item of the conversation, from a scan of the table (not the GSI): a
    doubled or left-behind entry shows here, whatever its key."""
    return [
        item
        for item in schema.scan(store.table)
        if item["pk"].startswith("GRP#") and item.get("message_group_uuid") == conversation
    ]


def assert_consistent(store, conversation, members):
    """The roster is `members`; each has exactly one entry and nobody else has one; every
    entry is at the newest message, with the roster's name and members, and the unread count
    the messages say (only those from the owner's join on); the repair finds nothing to fix."""
    messages = all_messages(store, conversation)
    newest = messages[-1]
    roster = store.get_roster(conversation_uuid=conversation)
    in_roster = sorted(member.uuid for member in roster.members)
    assert in_roster == sorted(member.uuid for member in members)
    found = entry_items(store, conversation)
    assert sorted(items.owner_of(item["pk"]) for item in found) == in_roster
    for item in found:
        entry = items.entry_from_item(item)
        assert entry.sort_key == newest.sort_key
        assert entry.last_message == preview(newest.text)
        assert entry.group.name == roster.name
        assert sorted(member.uuid for member in entry.group.members) == in_roster
        visible = [
            m for m in messages if not entry.visible_from or m.sort_key >= entry.visible_from
        ]
        owner = next(member for member in members if member.uuid == entry.owner_uuid)
        assert entry.unread == expected_unread(visible, owner, entry.read_up_to)
    repair = jobs.repair_unread(store.table, owner_uuids=in_roster, dry_run=True)
    assert repair.fixes == ()


def no_trace_of(store, person, conversation):
    """`person` neither lists the conversation nor counts it unread, and holds no entry of it."""
    page = store.list_conversations(user_uuid=person.uuid)
    assert conversation not in [entry.conversation_uuid for entry in page.items]
    assert page.unread_conversations == 0
    owners = {items.owner_of(item["pk"]) for item in entry_items(store, conversation)}
    assert person.uuid not in owners


@rounds
def test_sends_racing_an_add_reach_every_member_once(
    server_store, andrew_ref, bayko_ref, londo_ref, round_
):
    store = server_store
    alt = person("altbrown")
    founders = [andrew_ref, bayko_ref, londo_ref]
    conversation = start(store, andrew_ref, bayko_ref, londo_ref)

    def act(index):
        if index == 0:  # amid the sends
            time.sleep(0.02)
            return store.add_members(
                actor=londo_ref,
                conversation_uuid=conversation,
                people=[alt],
                max_members=MAX_MEMBERS,
            )
        time.sleep(0.005 * index)
        sender = founders[index % 3]
        return store.create_message(
            conversation_uuid=conversation, sender=sender, text=f"{sender.handle} {index}"
        )

    line, *sent = at_once(10, act)

    messages = all_messages(store, conversation)
    assert line.event == ADDED
    assert {m.message_uuid for m in messages} == {
        m.message_uuid for m in (messages[0], line, *sent)
    }  # none lost: the first, the line and every send, nothing else
    assert len(messages) == 11
    assert_consistent(store, conversation, [*founders, alt])
    [joined] = [
        items.entry_from_item(item)
        for item in entry_items(store, conversation)
        if item["pk"] == items.inbox_pk(alt.uuid)
    ]
    assert joined.visible_from == line.sort_key
    assert joined.unread == len(
        [m for m in messages if m.sort_key >= line.sort_key and m.sender.uuid != alt.uuid]
    )


@rounds
def test_sends_racing_a_leave_never_reach_the_leaver(
    server_store, andrew_ref, bayko_ref, londo_ref, round_
):
    store = server_store
    alt = person("altbrown")
    conversation = start(store, andrew_ref, bayko_ref, londo_ref, alt)
    senders = [andrew_ref, bayko_ref, londo_ref, alt]

    def act(index):
        if index == 0:
            time.sleep(0.02)
            return store.leave_group(user=londo_ref, conversation_uuid=conversation)
        time.sleep(0.005 * index)
        sender = senders[index % 4]
        try:
            return store.create_message(
                conversation_uuid=conversation, sender=sender, text=f"{sender.handle} {index}"
            )
        except NotFound:  # the leaver, once out
            assert sender is londo_ref
            return None

    line, *sent = at_once(12, act)

    assert line.event == LEFT
    messages = all_messages(store, conversation)
    assert {m.message_uuid for m in messages} >= {m.message_uuid for m in sent if m}
    assert len(messages) == 2 + len([m for m in sent if m])
    # Whatever the leaver sent got in before their line; nothing after it is theirs.
    theirs = [m for m in messages if m.sender.uuid == londo_ref.uuid]
    assert max(m.sort_key for m in theirs) == line.sort_key
    no_trace_of(store, londo_ref, conversation)
    assert_consistent(store, conversation, [andrew_ref, bayko_ref, alt])


@rounds
def test_two_adds_racing_for_the_last_place_let_one_in(
    server_store, andrew_ref, bayko_ref, londo_ref, round_
):
    store = server_store
    alt, zed = person("altbrown"), person("zed")
    conversation = start(store, andrew_ref, bayko_ref, londo_ref)

    def add(index):
        actor, newcomer = ((andrew_ref, alt), (bayko_ref, zed))[index]
        try:
            return store.add_members(
                actor=actor, conversation_uuid=conversation, people=[newcomer], max_members=4
            )
        except GroupFull as refused:
            return refused

    outcomes = at_once(2, add)

    [line] = [outcome for outcome in outcomes if isinstance(outcome, Message)]
    [refused] = [outcome for outcome in outcomes if isinstance(outcome, GroupFull)]
    assert refused.max_members == 4
    winner, loser = (alt, zed) if outcomes[0] is line else (zed, alt)
    assert winner.display_name in line.text
    roster = store.get_roster(conversation_uuid=conversation)
    assert len(roster.members) == 4 and roster.has(winner.uuid) and not roster.has(loser.uuid)
    assert roster.version == 2
    no_trace_of(store, loser, conversation)
    assert_consistent(store, conversation, [andrew_ref, bayko_ref, londo_ref, winner])


@rounds
def test_renames_racing_sends_leave_every_entry_with_the_last_name(
    server_store, andrew_ref, bayko_ref, londo_ref, round_
):
    store = server_store
    members = [andrew_ref, bayko_ref, londo_ref]
    conversation = start(store, andrew_ref, bayko_ref, londo_ref)
    names = ["Trip", "Lunch", "Book club"]

    def act(index):
        member = members[index % 3]
        if index < 3:  # all at once, each reading the roster before the others commit
            return store.rename_group(
                actor=member, conversation_uuid=conversation, name=names[index]
            )
        time.sleep(0.004 * index)
        return store.create_message(
            conversation_uuid=conversation, sender=member, text=f"{member.handle} {index}"
        )

    outcomes = at_once(12, act)

    lines = outcomes[:3]
    assert all(line.event == RENAMED for line in lines)
    last_line = max(lines, key=lambda line: line.sort_key)
    roster = store.get_roster(conversation_uuid=conversation)
    assert roster.name in last_line.text and roster.version == 4
    for item in entry_items(store, conversation):
        assert items.entry_from_item(item).other_user.display_name == roster.name
    assert len(all_messages(store, conversation)) == 13
    assert_consistent(store, conversation, members)


def test_an_add_landing_between_a_sends_reads_and_its_write_reaches_the_new_member(
    server_store, monkeypatch, andrew_ref, bayko_ref, londo_ref
):
    """An add commits right after a send has read the entries and the roster. The send must
    not commit against what it read (the entries moved, the roster's version rose): it reads
    again and moves the new member's entry too."""
    store = server_store
    alt = person("altbrown")
    conversation = start(store, andrew_ref, bayko_ref, londo_ref)
    landed = after_first_call(
        monkeypatch,
        DynamoStore,
        "_roster",
        lambda: store.add_members(
            actor=londo_ref, conversation_uuid=conversation, people=[alt], max_members=MAX_MEMBERS
        ),
    )

    sent = store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="hi")

    messages = all_messages(store, conversation)
    assert [m.message_uuid for m in messages[1:]] == [landed[0].message_uuid, sent.message_uuid]
    assert_consistent(store, conversation, [andrew_ref, bayko_ref, londo_ref, alt])


def test_a_rename_landing_between_another_ones_read_and_write_is_kept(
    server_store, monkeypatch, andrew_ref, bayko_ref, londo_ref
):
    """A rename commits right after another has read the roster. The entries that one reads
    next are current, so only the roster's version tells it that its roster is stale."""
    store = server_store
    conversation = start(store, andrew_ref, bayko_ref, londo_ref)
    landed = after_first_call(
        monkeypatch,
        DynamoStore,
        "_roster",
        lambda: store.rename_group(actor=bayko_ref, conversation_uuid=conversation, name="Lunch"),
    )

    line = store.rename_group(actor=andrew_ref, conversation_uuid=conversation, name="Trip")

    roster = store.get_roster(conversation_uuid=conversation)
    assert (roster.name, roster.version) == ("Trip", 3)
    assert [m.text for m in all_messages(store, conversation)] == [
        "hello all",
        landed[0].text,
        line.text,
    ]
    assert_consistent(store, conversation, [andrew_ref, bayko_ref, londo_ref])


@pytest.mark.parametrize("round_", range(5))
def test_the_same_group_started_twice_at_once_with_one_key_is_one_group(
    server_store, andrew_ref, bayko_ref, londo_ref, round_
):
    store = server_store

    def begin(_):
        return store.create_group(
            sender=andrew_ref,
            members=[bayko_ref, londo_ref],
            name="",
            text="once",
            idempotency_key=f"start-{round_}",
        )

    (first, sent), (again, resent) = at_once(2, begin)

    assert first == again and sent.message_uuid == resent.message_uuid
    assert sorted([sent.replayed, resent.replayed]) == [False, True]
    rosters = [item for item in schema.scan(store.table) if item["sk"] == items.ROSTER_SORT_KEY]
    assert [item["group_uuid"] for item in rosters] == [first]
    for member in (andrew_ref, bayko_ref, londo_ref):
        inbox = store.list_conversations(user_uuid=member.uuid).items
        assert [entry.conversation_uuid for entry in inbox] == [first]
    assert [m.text for m in all_messages(store, first)] == ["once"]
    assert_consistent(store, first, [andrew_ref, bayko_ref, londo_ref])
