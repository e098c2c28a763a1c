"""The messaging services and selectors over the in-memory store (which behaves like DynamoDB:
tests/integration/test_store_contract.py runs the same tests against both)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging import access, domain, selectors, services, timestamps, view_models
from messaging.access import ConversationNotFound
from messaging.domain import NewMessage
from messaging.errors import InvalidCursor
from messaging.live_tokens import check_live_token, live_token
from tests.helpers import ref, within_budget

pytestmark = pytest.mark.django_db


def start(fake, sender, recipient, text="hello") -> str:
    group, _message = fake.create_conversation(
        sender=ref(sender), recipient=ref(recipient), text=text
    )
    return group


def own_group(fake, user, group):
    return fake.entries[str(user.uuid)][group]


# --- message text rules ---


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hi", "hi"),
        ("  padded \n", "padded"),
        ("line one\r\nline two", "line one\nline two"),
        ("z" * 1024, "z" * 1024),
        ("  " + "z" * 1024 + "  ", "z" * 1024),
        ("a\r\n" * 341 + "a", "a\n" * 341 + "a"),  # 1024 characters once CRLF counts as one
    ],
)
def test_clean_message_text_accepts(raw, clean):
    assert services.clean_message_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "required"), (None, "required"), (" \t\r\n ", "required"), ("z" * 1025, "max_length")],
)
def test_clean_message_text_rejects(raw, code):
    with pytest.raises(ValidationError) as caught:
        services.clean_message_text(raw)

    assert caught.value.code == code


# --- send_message ---


def test_send_message_moves_both_inboxes_and_raises_recipient_unread(
    memory_store, andrew, bayko, londo
):
    group = start(memory_store, andrew, bayko, "first")
    newer = start(memory_store, bayko, londo, "elsewhere")

    message = services.send_message(sender=andrew, conversation_uuid=group, text="  again  ")

    assert message.text == "again"
    assert message.sender == ref(andrew)
    bayko_inbox = memory_store.list_conversations(user_uuid=str(bayko.uuid)).items
    assert [g.conversation_uuid for g in bayko_inbox] == [group, newer]
    assert bayko_inbox[0].last_message == "again"
    assert bayko_inbox[0].unread == 2
    assert own_group(memory_store, andrew, group).unread == 0
    assert own_group(memory_store, andrew, group).sort_key == message.sort_key


def test_send_message_passes_the_participants_read_to_the_gateway(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko)
    participants = access.get_participants_for_member(user=andrew, conversation_uuid=group)

    services.send_message(sender=andrew, conversation_uuid=group, text="hello")

    assert memory_store.participants_passed == [participants]
    assert [g.owner_uuid for g in participants] == [str(andrew.uuid), str(bayko.uuid)]


def test_participants_for_a_non_member_are_not_found(memory_store, andrew, bayko, londo):
    group = start(memory_store, andrew, bayko)

    with pytest.raises(ConversationNotFound):
        access.get_participants_for_member(user=londo, conversation_uuid=group)
    with pytest.raises(ConversationNotFound):
        access.get_participants_for_member(user=andrew, conversation_uuid="not-a-uuid")


def test_send_message_uses_current_names(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko)
    andrew.display_name = "Andy"
    andrew.save()

    message = services.send_message(sender=andrew, conversation_uuid=group, text="renamed")

    assert message.sender.display_name == "Andy"


@pytest.mark.parametrize("text", ["", "   ", "x" * 1025])
def test_send_message_rejects_bad_text_without_calling_the_gateway(
    memory_store, andrew, bayko, text
):
    group = start(memory_store, andrew, bayko)
    memory_store.calls.clear()

    with pytest.raises(ValidationError):
        services.send_message(sender=andrew, conversation_uuid=group, text=text)

    assert memory_store.calls == []


def test_send_message_needs_a_participant(memory_store, andrew, bayko, londo):
    group = start(memory_store, andrew, bayko)
    memory_store.calls.clear()

    with pytest.raises(ConversationNotFound):
        services.send_message(sender=londo, conversation_uuid=group, text="x")
    assert within_budget(memory_store.calls, get_participants=1)


# --- start_conversation ---


def test_start_conversation_creates_one_group_per_pair(memory_store, andrew, bayko):
    first = services.start_conversation(sender=andrew, recipient=bayko, text="hi")
    second = services.start_conversation(sender=bayko, recipient=andrew, text="hi back")

    assert first == second
    page = memory_store.list_messages(conversation_uuid=first)
    assert [m.text for m in page.items] == ["hi back", "hi"]
    assert own_group(memory_store, andrew, first).other_user == ref(bayko)
    assert own_group(memory_store, bayko, first).other_user == ref(andrew)


def test_start_conversation_rejects_yourself_and_bad_text(memory_store, andrew, bayko):
    with pytest.raises(services.SendRefused, match="You can't message yourself."):
        services.start_conversation(sender=andrew, recipient=andrew, text="me")
    with pytest.raises(ValidationError):
        services.start_conversation(sender=andrew, recipient=bayko, text=" ")

    assert memory_store.calls == []


def test_mark_read_only_writes_when_something_is_unread(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko)
    memory_store.calls.clear()

    services.mark_read(entry=own_group(memory_store, andrew, group))  # nothing unread
    services.mark_read(entry=own_group(memory_store, bayko, group))

    assert within_budget(memory_store.calls, mark_read=1)
    assert own_group(memory_store, bayko, group).unread == 0


def test_mark_read_up_to_clears_the_row_the_poll_believes_in(memory_store, andrew, bayko):
    group = start(memory_store, bayko, andrew, "one")
    message = memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="two")
    memory_store.calls.clear()

    services.mark_read_up_to(
        user=andrew, conversation_uuid=group, sort_key=message.sort_key, unread=0
    )
    assert memory_store.calls == []  # nothing shown unread: nothing to write

    services.mark_read_up_to(
        user=andrew, conversation_uuid=group, sort_key=message.sort_key, unread=2
    )
    assert within_budget(memory_store.calls, mark_read=1)
    assert own_group(memory_store, andrew, group).unread == 0
    assert own_group(memory_store, bayko, group).unread == 0


# --- live updates ---


def test_live_token_proves_membership_of_one_user_in_one_conversation(
    memory_store, andrew, bayko, londo
):
    group = start(memory_store, andrew, bayko)
    other = start(memory_store, andrew, londo)
    token = live_token(user=andrew, entry=own_group(memory_store, andrew, group))
    memory_store.calls.clear()

    assert (
        check_live_token(user=andrew, conversation_uuid=group, token=token).conversation_uuid
        == group
    )
    assert (
        check_live_token(
            user=andrew, conversation_uuid=group.upper(), token=token
        ).conversation_uuid
        == group
    )
    for user, asked, given in [
        (bayko, group, token),  # the other member: their own page gives them their own token
        (londo, group, token),
        (andrew, other, token),
        (andrew, "not-a-uuid", token),
        (andrew, group, token[:-2] + "xx"),
        (andrew, group, ""),
    ]:
        with pytest.raises(ConversationNotFound):
            check_live_token(user=user, conversation_uuid=asked, token=given)
    assert memory_store.calls == []  # no DynamoDB read, ever
    with pytest.raises(ValueError):
        live_token(user=londo, entry=own_group(memory_store, andrew, group))


def test_inbox_state_changes_with_new_messages_and_reads_only(memory_store, andrew, bayko, londo):
    group = start(memory_store, andrew, bayko)
    start(memory_store, londo, andrew)
    quiet = selectors.inbox_state(user=andrew)
    assert selectors.inbox_state(user=andrew) == quiet
    assert quiet.state == view_models.inbox(user=andrew).live_state  # what the page renders

    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="new")
    moved = selectors.inbox_state(user=andrew)
    assert moved.state != quiet.state
    assert moved.unread_conversations == 2

    services.mark_read(entry=own_group(memory_store, andrew, group))
    read = selectors.inbox_state(user=andrew)
    assert read.state not in (quiet.state, moved.state)
    assert read.unread_conversations == 1
    assert memory_store.calls.count("list_conversations") >= 4


def test_new_messages_are_oldest_first_with_names_and_keys(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko, "one")
    after = own_group(memory_store, andrew, group).sort_key
    two = memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="two")
    bayko.display_name = "Bayko Now"
    bayko.save()
    three = memory_store.create_message(conversation_uuid=group, sender=ref(andrew), text="3")

    rows = view_models.new_messages(user=andrew, conversation_uuid=group, after=after)

    assert [(r.text, r.is_mine, r.sort_key) for r in rows] == [
        ("two", False, two.sort_key),
        ("3", True, three.sort_key),
    ]
    assert rows[0].sender.display_name == "Bayko Now"
    assert (
        view_models.new_messages(user=andrew, conversation_uuid=group, after=three.sort_key) == ()
    )
    with pytest.raises(InvalidCursor):
        view_models.new_messages(user=andrew, conversation_uuid=group, after="yesterday")


# --- get_entry_for_member ---


def test_get_group_for_member_returns_the_callers_item(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko)

    mine = access.get_entry_for_member(user=bayko, conversation_uuid=group.upper())

    assert mine.owner_uuid == str(bayko.uuid)
    assert mine.conversation_uuid == group
    assert mine.other_user == ref(andrew)


@pytest.mark.parametrize("case", ["not a member", "malformed", "missing"])
def test_get_group_for_member_hides_what_you_may_not_see(memory_store, andrew, bayko, londo, case):
    group = start(memory_store, andrew, bayko)
    asked = {"not a member": group, "malformed": "nope", "missing": str(uuid.uuid4())}[case]

    with pytest.raises(ConversationNotFound):
        access.get_entry_for_member(user=londo, conversation_uuid=asked)


def test_get_group_for_member_uses_known_inbox_rows(memory_store, andrew, bayko, londo):
    group = start(memory_store, andrew, bayko)
    inbox = memory_store.list_conversations(user_uuid=str(andrew.uuid)).items
    memory_store.calls.clear()

    mine = access.get_entry_for_member(user=andrew, conversation_uuid=group, known_entries=inbox)

    assert mine == own_group(memory_store, andrew, group)
    assert memory_store.calls == []
    # Someone else's rows prove nothing: londo still gets a participants check, and a 404.
    with pytest.raises(ConversationNotFound):
        access.get_entry_for_member(user=londo, conversation_uuid=group, known_entries=inbox)
    assert within_budget(memory_store.calls, get_participants=1)


# --- page selectors ---


def test_inbox_names_come_from_one_query(
    memory_store, andrew, make_user, django_assert_num_queries
):
    people = [make_user(f"user{i}", display_name=f"Old {i}") for i in range(5)]
    for person in people:
        start(memory_store, person, andrew)
    for i, person in enumerate(people):
        person.display_name = f"New {i}"
        person.save()

    with django_assert_num_queries(1):
        page = view_models.inbox(user=andrew)

    assert sorted(row.other.display_name for row in page.rows) == [f"New {i}" for i in range(5)]


def test_conversation_is_oldest_first_with_own_messages_marked(memory_store, andrew, bayko):
    group = start(memory_store, andrew, bayko, "one")
    memory_store.create_message(conversation_uuid=group, sender=ref(bayko), text="two")
    memory_store.create_message(conversation_uuid=group, sender=ref(andrew), text="three")

    view = view_models.conversation_page(user=andrew, conversation_uuid=group).conversation

    assert [(m.text, m.is_mine) for m in view.messages] == [
        ("one", True),
        ("two", False),
        ("three", True),
    ]
    assert view.other.handle == "bayko"
    assert view.earlier_cursor is None


def test_conversation_page_uses_one_name_query(
    memory_store, andrew, bayko, londo, django_assert_num_queries
):
    group = start(memory_store, andrew, bayko)
    start(memory_store, londo, andrew)
    memory_store.calls.clear()

    with django_assert_num_queries(1):
        page = view_models.conversation_page(user=andrew, conversation_uuid=group)

    assert page.conversation.other.display_name == "Andrew Bayko"
    assert [row.other.handle for row in page.inbox.rows] == ["londo", "bayko"]
    assert within_budget(memory_store.calls, list_conversations=1, list_messages=1)


def test_unknown_uuids_on_items_show_as_deleted_users(memory_store, andrew):
    ghost = ref(andrew).__class__(uuid="legacy-id", handle="ghost", display_name="Ghost")
    memory_store.import_conversation(
        conversation_uuid=str(uuid.uuid4()),
        participants=(ref(andrew), ghost),
        messages=[
            NewMessage(str(uuid.uuid4()), ghost, "boo", timezone.now() - timedelta(minutes=1))
        ],
    )

    page = view_models.inbox(user=andrew)

    # Never the stored handle: someone may have taken it since.
    assert [(row.other.handle, row.other.display_name, row.other.state) for row in page.rows] == [
        ("", "Deleted user", "deleted")
    ]


# --- relative_time ---

NOW = datetime(2026, 11, 21, 13, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "label"),
    [
        (NOW, "now"),
        (NOW - timedelta(seconds=59), "now"),
        (NOW + timedelta(seconds=30), "now"),  # a clock slightly ahead
        (NOW - timedelta(minutes=1), "1m"),
        (NOW - timedelta(minutes=59, seconds=59), "59m"),
        (NOW - timedelta(hours=1), "1h"),
        (NOW - timedelta(hours=23, minutes=59), "23h"),
        (NOW - timedelta(days=1), "Nov 20"),
        (datetime(2026, 3, 3, 9, 0, tzinfo=UTC), "Mar 3"),
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), "Dec 31, 2025"),
    ],
)
def test_relative_time(moment, label):
    assert timestamps.relative_time(moment, now=NOW) == label


def test_relative_time_uses_the_local_calendar(settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # UTC+9: 20:00 UTC on Mar 3 is Mar 4 there
    with timezone.override("Asia/Tokyo"):
        assert timestamps.relative_time(datetime(2026, 3, 3, 20, 0, tzinfo=UTC), now=NOW) == "Mar 4"


# --- the preview an inbox entry keeps (messaging.domain.preview) ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short", "short"),
        ("x" * 64, "x" * 64),  # exactly the budget: kept whole
        ("x" * 65, "x" * 61 + "…"),
        ("é" * 40, "é" * 30 + "…"),  # 2-byte characters never cut in half
        ("a" + "😀" * 20, "a" + "😀" * 15 + "…"),  # 4-byte ones neither
        ("x" * 60 + " and more", "x" * 60 + "…"),  # no space before the ellipsis
    ],
)
def test_preview_is_bounded_in_utf8_bytes_on_a_character_boundary(text, expected):
    cut = domain.preview(text)

    assert cut == expected
    assert len(cut.encode()) <= domain.PREVIEW_BYTES
