"""`ddb_purge_user` through call_command against moto's HTTP server."""

import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from messaging.domain import NewMessage, UserRef
from messaging.dynamo import jobs, purge, schema
from tests.helpers import fake_response, ref

pytestmark = pytest.mark.django_db

START = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
# More messages than fit a page, so the messages are deleted over several pages.
LONG = 2 * purge.PAGE_SIZE + 11


class Interrupted(Exception):
    pass


def run(*args, out=None):
    out = out or io.StringIO()
    call_command("ddb_purge_user", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def scan(store):
    return {(item["pk"], item["sk"]): item for item in schema.scan(store.table)}


def delete_account(user):
    user.deleted_at = timezone.now()
    user.is_active = False
    user.save()


def import_messages(store, conversation, first, second, count, *, start, prefix):
    """`count` messages alternating first, second, first, ... one minute apart."""
    store.import_conversation(
        conversation_uuid=conversation,
        participants=(first, second),
        messages=[
            NewMessage(
                message_uuid=str(uuid.uuid4()),
                sender=(first, second)[i % 2],
                text=f"{prefix} {i}",
                created_at=start + timedelta(minutes=i),
            )
            for i in range(count)
        ],
    )


@dataclass(frozen=True)
class Talked:
    conversations: dict[str, str]  # the other person's handle -> the conversation
    sent: int  # messages andrewbrown sent in them


# What a purge writes on the other person's entry; everything else stays.
UPDATED = ("message", "user_handle", "user_display_name", "unread")


def without(item, names):
    return {name: value for name, value in item.items() if name not in names}


@pytest.fixture
def store(server_store):  # the commands talk to the emulator's HTTP server
    return server_store


@pytest.fixture
def people(make_user):
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
def talked(store, people):
    """andrewbrown's three conversations, and one between two others; then andrewbrown deletes
    their account."""
    andrew, bayko, londo, alt = (
        ref(people[h]) for h in ("andrewbrown", "bayko", "londo", "altbrown")
    )
    # andrewbrown and bayko: longer than two pages; andrewbrown wrote last, and once more
    # unread by bayko.
    import_messages(store, "g-bayko", andrew, bayko, LONG, start=START, prefix="ab")
    store.create_message(conversation_uuid="g-bayko", sender=andrew, text="are you there?")
    # andrewbrown and londo: londo wrote last, unread by andrewbrown.
    import_messages(
        store, "g-londo", andrew, londo, 5, start=START + timedelta(days=1), prefix="al"
    )
    store.create_message(conversation_uuid="g-londo", sender=londo, text="londo last")
    # altbrown never answered: two messages unread, nothing of altbrown's.
    g_alt, _ = store.create_conversation(sender=andrew, recipient=alt, text="anyone there?")
    store.create_message(conversation_uuid=g_alt, sender=andrew, text="hello?")
    # bayko and londo, without andrewbrown.
    import_messages(store, "g-other", bayko, londo, 3, start=START, prefix="bl")
    delete_account(people["andrewbrown"])
    return Talked(
        conversations={"bayko": "g-bayko", "londo": "g-londo", "altbrown": g_alt},
        sent=(LONG + 1) // 2 + 1 + 3 + 2,
    )


def assert_purged(store, people, talked, before):
    """The table as a purge of andrewbrown leaves it, from the table `before` it."""
    gone = str(people["andrewbrown"].uuid)
    after = scan(store)
    mine = {
        key
        for key, item in before.items()
        if key[0].startswith("MSG#") and item["user_uuid"] == gone
    }
    assert len(mine) == talked.sent
    # Their messages gone, every other message exactly as it was.
    messages = {key: item for key, item in before.items() if key[0].startswith("MSG#")}
    assert {key: item for key, item in after.items() if key[0].startswith("MSG#")} == {
        key: item for key, item in messages.items() if key not in mine
    }
    # Their inbox entries and their unread counter gone.
    assert [key for key in after if key[0] == f"GRP#{gone}"] == []
    assert (f"GRP#{gone}", "UNREAD") in before
    # PAIR items and the conversation without them untouched.
    for key, item in before.items():
        if key[0].startswith("PAIR#") or item.get("message_group_uuid") == "g-other":
            assert after[key] == item
    # The other people's entries: same keys, the newest remaining message, names blanked.
    expected_text = {"bayko": f"ab {LONG - 2}", "londo": "londo last", "altbrown": ""}
    for handle, conversation in talked.conversations.items():
        owner = f"GRP#{people[handle].uuid}"
        [(key, old)] = [
            (key, item)
            for key, item in before.items()
            if key[0] == owner and item.get("message_group_uuid") == conversation
        ]
        new = after[key]  # not moved: the sort key is the one it had
        assert new["message"] == expected_text[handle]
        assert (new["user_uuid"], new["user_handle"], new["user_display_name"]) == (gone, "", "")
        assert new["unread"] == 0
        assert without(new, UPDATED) == without(old, UPDATED)
    # The counters of the people andrewbrown left unread messages with follow.
    for handle in ("bayko", "altbrown"):
        assert before[(f"GRP#{people[handle].uuid}", "UNREAD")]["conversations"] == 1
        assert after[(f"GRP#{people[handle].uuid}", "UNREAD")]["conversations"] == 0
    # What the app shows, and the unread repair agrees with every count.
    bayko_inbox = store.list_conversations(user_uuid=str(people["bayko"].uuid))
    assert bayko_inbox.unread_conversations == 0
    assert {e.conversation_uuid: e.last_message for e in bayko_inbox.items} == {
        "g-bayko": f"ab {LONG - 2}",
        "g-other": "bl 2",
    }
    page = store.list_messages(conversation_uuid="g-bayko", limit=1000)
    assert {m.sender.uuid for m in page.items} == {str(people["bayko"].uuid)}
    assert jobs.repair_unread(store.table, dry_run=True).fixes == ()


@pytest.mark.parametrize("page_size", [purge.PAGE_SIZE, 2], ids=["page-size", "pages-of-2"])
def test_purge_removes_their_messages_and_inbox_entries_only(
    store, people, talked, monkeypatch, page_size
):
    monkeypatch.setattr(purge, "PAGE_SIZE", page_size)
    before = scan(store)
    assert len([key for key in before if key[0] == "MSG#g-bayko"]) > 2 * purge.PAGE_SIZE

    out = run("andrewbrown", "--no-input")

    assert_purged(store, people, talked, before)
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        f"conversation {n}/3 {conversation}"
        # The inbox's order: newest first.
        for n, conversation in enumerate(
            [talked.conversations["altbrown"], "g-londo", "g-bayko"], start=1
        )
    ]
    assert lines[2].endswith(
        f": {(LONG + 1) // 2 + 1} messages removed, the other person's inbox entry updated"
    )
    assert lines[3].startswith(
        f"Purged @andrewbrown ({people['andrewbrown'].uuid}), 3 conversations: "
        f"{talked.sent} messages removed, 3 inbox entries of the other people updated, "
        "3 own inbox entries and the unread counter removed. Cost: "
    )

    # Again: nothing left to do.
    assert f"Nothing of @andrewbrown ({people['andrewbrown'].uuid}) in the table" in run(
        "@AndrewBrown", "--no-input"
    )
    assert_purged(store, people, talked, before)


def test_a_dry_run_writes_nothing_and_counts_what_the_purge_removes(store, people, talked):
    before = scan(store)

    out = run("andrewbrown", "--dry-run")

    assert scan(store) == before
    assert out.splitlines()[0] == "Dry run: reading only, nothing is removed."
    assert f"conversation 3/3 g-bayko: {(LONG + 1) // 2 + 1} messages to remove" in out
    assert (
        f"Dry run, nothing removed: @andrewbrown ({people['andrewbrown'].uuid}), 3 conversations: "
        f"{talked.sent} messages to remove, 3 inbox entries of the other people to update, "
        "3 own inbox entries and the unread counter to remove."
    ) in out
    real = run("andrewbrown", "--no-input")
    assert f"{talked.sent} messages removed, 3 inbox entries of the other people updated" in real


def messages_removed(out):
    return sum(
        int(line.split(": ")[1].split()[0])
        for line in out.splitlines()
        if line.startswith("conversation ")
    )


def test_a_run_interrupted_after_a_conversation_is_finished_by_running_it_again(
    store, people, talked, monkeypatch
):
    before = scan(store)
    done = []
    real = purge.purge_conversation

    def fail_on_the_second(*args, **kwargs):
        if done:
            raise Interrupted
        done.append(real(*args, **kwargs))
        return done[-1]

    monkeypatch.setattr(purge, "purge_conversation", fail_on_the_second)
    first = io.StringIO()
    with pytest.raises(Interrupted):
        run("andrewbrown", "--no-input", out=first)
    assert first.getvalue().startswith(
        f"conversation 1/3 {talked.conversations['altbrown']}: 2 messages removed"
    )
    monkeypatch.setattr(purge, "purge_conversation", real)

    second = run("andrewbrown", "--no-input")

    # The second run found exactly the two conversations the first did not finish.
    assert second.startswith("conversation 1/2 g-londo: 3 messages removed")
    assert f"conversation 2/2 g-bayko: {(LONG + 1) // 2 + 1} messages removed" in second
    assert messages_removed(first.getvalue()) + messages_removed(second) == talked.sent
    assert f"2 conversations: {talked.sent - 2} messages removed" in second
    assert_purged(store, people, talked, before)


def test_a_conversation_interrupted_halfway_is_finished_by_running_it_again(
    store, people, talked, on
):
    before = scan(store)

    failed = []

    def fail_the_first_update(**kwargs):
        if not failed:
            failed.append(True)
            raise Interrupted

    # The first conversation's messages are deleted; the other person's entry is not updated.
    on(store, "before-call.dynamodb.TransactWriteItems", fail_the_first_update)
    with pytest.raises(Interrupted):
        run("andrewbrown", "--no-input")
    alt_entry = [
        item
        for item in scan(store).values()
        if item["pk"] == f"GRP#{people['altbrown'].uuid}" and item["sk"] != "UNREAD"
    ]
    assert [item["message"] for item in alt_entry] == ["hello?"]  # still andrewbrown's

    out = run("andrewbrown", "--no-input")

    # Its messages are gone already; the entry still shows andrewbrown's, and is fixed.
    assert out.startswith(
        f"conversation 1/3 {talked.conversations['altbrown']}: 0 messages removed, "
        "the other person's inbox entry updated"
    )
    assert_purged(store, people, talked, before)


def test_unprocessed_deletes_are_sent_again(store, people, talked, on):
    batches = []

    def process_nothing_the_first_time(request, **kwargs):
        batches.append(json.loads(request.body)["RequestItems"])
        if len(batches) == 1:
            return fake_response(request, 200, {"UnprocessedItems": batches[0]})
        return None

    before = scan(store)
    on.first(store, "before-send.dynamodb.BatchWriteItem", process_nothing_the_first_time)

    run("andrewbrown", "--no-input")

    assert batches[1] == batches[0]
    assert_purged(store, people, talked, before)


def test_a_person_who_has_not_deleted_their_account_is_refused(store, people, talked):
    before = scan(store)
    with pytest.raises(CommandError, match=r"^@bayko has not deleted their account; only a"):
        run("bayko", "--no-input")
    # Deactivated is not deleted.
    londo = people["londo"]
    londo.is_active = False
    londo.save()
    with pytest.raises(CommandError, match="@londo has not deleted their account"):
        run(str(londo.uuid), "--no-input", "--dry-run")
    assert scan(store) == before


def test_an_unknown_handle_is_refused(store, people):
    with pytest.raises(
        CommandError, match=r"^No user @nobody: check the handle, or give their uuid"
    ):
        run("@nobody", "--no-input")


def test_a_uuid_with_no_user_row_is_purged(store, people):
    # A person whose user row was removed entirely: their uuid is all that names them.
    removed = UserRef(uuid=str(uuid.uuid4()), handle="removed", display_name="Removed")
    bayko = ref(people["bayko"])
    conversation, _ = store.create_conversation(sender=removed, recipient=bayko, text="hi")
    store.create_message(conversation_uuid=conversation, sender=bayko, text="hello")

    out = run(removed.uuid, "--no-input")

    assert f"Purged {removed.uuid} (no user row), 1 conversation: 1 message removed" in out
    assert [m.text for m in store.list_messages(conversation_uuid=conversation).items] == ["hello"]
    [entry] = store.list_conversations(user_uuid=bayko.uuid).items
    assert (entry.last_message, entry.other_user) == ("hello", UserRef(removed.uuid, "", ""))


def test_a_deleted_person_can_be_named_by_uuid(store, people, talked):
    before = scan(store)

    run(str(people["andrewbrown"].uuid).upper(), "--no-input")

    assert_purged(store, people, talked, before)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def questions_asked_refusing(monkeypatch, *args) -> list[str]:
    """Run the command without a terminal (refused), then at one answering "no" (cancelled);
    the questions it asked."""
    monkeypatch.setattr("sys.stdin", io.StringIO())
    with pytest.raises(CommandError, match="there is no terminal to ask on"):
        run(*args)
    monkeypatch.setattr("sys.stdin", Terminal())
    questions = []
    monkeypatch.setattr("builtins.input", lambda question: questions.append(question) or "no")
    with pytest.raises(CommandError, match="Cancelled; nothing was removed."):
        run(*args)
    return questions


def test_it_asks_first_and_refuses_without_a_terminal(store, people, talked, monkeypatch):
    before = scan(store)
    questions = questions_asked_refusing(monkeypatch, "andrewbrown")
    assert scan(store) == before
    assert questions[0].startswith(
        "This permanently removes every message @andrewbrown "
        f"({people['andrewbrown'].uuid}) sent, and their inbox entries, from table "
        "cruddur-messages (http://127.0.0.1:"
    )

    monkeypatch.setattr("builtins.input", lambda question: "yes")
    assert "Purged @andrewbrown" in run("andrewbrown")
    assert_purged(store, people, talked, before)


# --- recording purges, and --all-deleted ---


def purged_at(user):
    user.refresh_from_db()
    return user.messages_purged_at


def test_purging_one_person_records_when(store, people, talked):
    andrew = people["andrewbrown"]
    run("andrewbrown", "--dry-run")
    assert purged_at(andrew) is None  # a dry run records nothing

    run("andrewbrown", "--no-input")

    assert purged_at(andrew) is not None
    assert "nothing to do" in run("--all-deleted", "--no-input")


@pytest.fixture
def two_deleted(store, people):
    """andrewbrown and londo wrote to bayko, then deleted their accounts (andrewbrown first);
    altbrown's deleted account was purged before and still has a message, as if written
    after (it cannot be: it shows that a recorded purge is not repeated)."""
    bayko = ref(people["bayko"])
    conversations = {}
    for handle in ("andrewbrown", "londo", "altbrown"):
        conversation, _ = store.create_conversation(
            sender=ref(people[handle]), recipient=bayko, text=f"hello from {handle}"
        )
        store.create_message(conversation_uuid=conversation, sender=bayko, text="hi")
        conversations[handle] = conversation
        delete_account(people[handle])
    alt = people["altbrown"]
    alt.messages_purged_at = timezone.now() - timedelta(days=1)
    alt.save()
    return conversations


def texts(store, conversation):
    return [m.text for m in store.list_messages(conversation_uuid=conversation).items]


def test_all_deleted_purges_every_deleted_account_not_yet_purged_and_records_when(
    store, people, two_deleted
):
    alt_purged_at = people["altbrown"].messages_purged_at

    out = run("--all-deleted", "--no-input")

    lines = out.splitlines()
    andrew, londo = people["andrewbrown"], people["londo"]
    assert lines[0] == f"1/2: @andrewbrown ({andrew.uuid})"
    assert f"2/2: @londo ({londo.uuid})" in lines
    assert lines[-1] == "2 deleted accounts purged and recorded."
    assert texts(store, two_deleted["andrewbrown"]) == ["hi"]
    assert texts(store, two_deleted["londo"]) == ["hi"]
    assert sorted(texts(store, two_deleted["altbrown"])) == ["hello from altbrown", "hi"]
    assert purged_at(andrew) is not None and purged_at(londo) is not None
    assert purged_at(people["altbrown"]) == alt_purged_at
    assert purged_at(people["bayko"]) is None  # not deleted
    before = scan(store)

    again = run("--all-deleted", "--no-input")

    assert again == "Every deleted account's messages are purged already: nothing to do.\n"
    assert scan(store) == before


def test_all_deleted_dry_run_writes_and_records_nothing(store, people, two_deleted):
    before = scan(store)

    out = run("--all-deleted", "--dry-run")

    assert out.startswith("Dry run: reading only, nothing is removed (2 deleted accounts).")
    assert out.endswith("2 deleted accounts to purge.\n")
    assert scan(store) == before
    assert purged_at(people["andrewbrown"]) is None and purged_at(people["londo"]) is None


def test_all_deleted_asks_first(store, people, two_deleted, monkeypatch):
    before = scan(store)
    questions = questions_asked_refusing(monkeypatch, "--all-deleted")
    assert questions[0].startswith(
        "This permanently removes every message the 2 deleted accounts not yet purged sent"
    )
    assert scan(store) == before
    assert purged_at(people["andrewbrown"]) is None


def test_all_deleted_stops_at_a_failure_keeping_what_is_done(store, people, two_deleted, on):
    londo_inbox = f"GRP#{people['londo'].uuid}"

    def throttle_londo(request, **kwargs):
        if londo_inbox in request.body.decode():
            return fake_response(
                request,
                400,
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#"
                    "ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput was exceeded",
                },
            )
        return None

    on.first(store, "before-send.dynamodb.Query", throttle_londo)

    with pytest.raises(CommandError) as raised:
        run("--all-deleted", "--no-input")

    assert str(raised.value).startswith(
        f"Purging @londo ({people['londo'].uuid}) failed (1 of 2 purged and recorded before "
        "it): DynamoDB is throttling"
    )
    assert str(raised.value).endswith("Run the command again to finish the rest.")
    assert purged_at(people["andrewbrown"]) is not None and purged_at(people["londo"]) is None


@pytest.mark.parametrize("args", [[], ["andrewbrown", "--all-deleted"]], ids=["none", "both"])
def test_one_person_or_all_deleted(args, store, people):
    with pytest.raises(CommandError, match=r"^Give either a handle or uuid, or --all-deleted"):
        run(*args, "--no-input")


def test_a_hidden_entry_whose_newest_remaining_message_was_unsent_stays_hidden_and_unsent(
    store, people
):
    andrew, londo = ref(people["andrewbrown"]), ref(people["londo"])
    conversation, _ = store.create_conversation(sender=andrew, recipient=londo, text="hi")
    kept = store.create_message(conversation_uuid=conversation, sender=londo, text="secret")
    store.unsend_message(
        user_uuid=londo.uuid,
        conversation_uuid=conversation,
        message_uuid=kept.message_uuid,
        sort_key=kept.sort_key,
    )
    store.create_message(conversation_uuid=conversation, sender=andrew, text="andrew last")
    store.hide_conversation(user_uuid=londo.uuid, conversation_uuid=conversation)
    [hidden_key] = [key for key in scan(store) if key[1].startswith("#HIDDEN#")]
    delete_account(people["andrewbrown"])

    run("andrewbrown", "--no-input")

    # londo's entry: still hidden at the same key, showing the unsent message (no text).
    entry = scan(store)[hidden_key]
    assert entry["message"] == ""
    assert entry["last_message_unsent"] is True
    [participant] = store.get_participants(conversation_uuid=conversation)
    assert participant.hidden and participant.last_message_unsent
    assert store.list_conversations(user_uuid=londo.uuid).items == ()


def test_an_entry_showing_their_unsent_message_shows_the_newest_remaining_one(store, people):
    andrew, londo = ref(people["andrewbrown"]), ref(people["londo"])
    conversation, _ = store.create_conversation(sender=londo, recipient=andrew, text="londo")
    theirs = store.create_message(conversation_uuid=conversation, sender=andrew, text="oops")
    store.unsend_message(
        user_uuid=andrew.uuid,
        conversation_uuid=conversation,
        message_uuid=theirs.message_uuid,
        sort_key=theirs.sort_key,
    )
    delete_account(people["andrewbrown"])

    run("andrewbrown", "--no-input")

    [entry] = store.list_conversations(user_uuid=londo.uuid).items
    assert (entry.last_message, entry.last_message_unsent) == ("londo", False)
