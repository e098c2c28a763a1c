"""The messaging services and selectors over the in-memory gateway, and the fake's semantics."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging import selectors, services
from messaging.gateway import InvalidCursor, NewMessage, NotFound
from tests.fakes import ref

pytestmark = pytest.mark.django_db


@pytest.fixture
def andrew(make_user):
    return make_user("andrewbrown", display_name="Andrew Brown")


@pytest.fixture
def bayko(make_user):
    return make_user("bayko", display_name="Andrew Bayko")


@pytest.fixture
def londo(make_user):
    return make_user("londo", display_name="Londo Mollari")


def start(fake, sender, recipient, text="hello") -> str:
    group, _message = fake.create_message_group(
        sender=ref(sender), recipient=ref(recipient), text=text
    )
    return group


def own_group(fake, user, group):
    return fake.groups[str(user.uuid)][group]


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
    fake_gateway, andrew, bayko, londo
):
    group = start(fake_gateway, andrew, bayko, "first")
    newer = start(fake_gateway, bayko, londo, "elsewhere")

    message = services.send_message(
        sender=andrew, group=own_group(fake_gateway, andrew, group), text="  again  "
    )

    assert message.text == "again"
    assert message.sender == ref(andrew)
    bayko_inbox = fake_gateway.list_message_groups(user_uuid=str(bayko.uuid)).items
    assert [g.message_group_uuid for g in bayko_inbox] == [group, newer]
    assert bayko_inbox[0].last_message == "again"
    assert bayko_inbox[0].unread == 2
    assert own_group(fake_gateway, andrew, group).unread == 0
    assert own_group(fake_gateway, andrew, group).sort_key == message.sort_key


def test_send_message_passes_the_participants_read_to_the_gateway(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko)
    participants = selectors.get_participants_for_member(user=andrew, message_group_uuid=group)

    services.send_message(
        sender=andrew, group=participants[0], text="hello", participants=participants
    )

    assert fake_gateway.participants_passed == [participants]
    assert [g.owner_uuid for g in participants] == [str(andrew.uuid), str(bayko.uuid)]


def test_participants_for_a_non_member_are_not_found(fake_gateway, andrew, bayko, londo):
    group = start(fake_gateway, andrew, bayko)

    with pytest.raises(selectors.ConversationNotFound):
        selectors.get_participants_for_member(user=londo, message_group_uuid=group)
    with pytest.raises(selectors.ConversationNotFound):
        selectors.get_participants_for_member(user=andrew, message_group_uuid="not-a-uuid")


def test_send_message_uses_current_names(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko)
    andrew.display_name = "Andy"
    andrew.save()

    message = services.send_message(
        sender=andrew, group=own_group(fake_gateway, andrew, group), text="renamed"
    )

    assert message.sender.display_name == "Andy"


@pytest.mark.parametrize("text", ["", "   ", "x" * 1025])
def test_send_message_rejects_bad_text_without_calling_the_gateway(
    fake_gateway, andrew, bayko, text
):
    group = start(fake_gateway, andrew, bayko)
    fake_gateway.calls.clear()

    with pytest.raises(ValidationError):
        services.send_message(
            sender=andrew, group=own_group(fake_gateway, andrew, group), text=text
        )

    assert fake_gateway.calls == []


def test_send_message_needs_the_senders_own_group(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko)

    with pytest.raises(ValueError):
        services.send_message(sender=andrew, group=own_group(fake_gateway, bayko, group), text="x")


# --- start_conversation ---


def test_start_conversation_creates_one_group_per_pair(fake_gateway, andrew, bayko):
    first = services.start_conversation(sender=andrew, recipient=bayko, text="hi")
    second = services.start_conversation(sender=bayko, recipient=andrew, text="hi back")

    assert first == second
    page = fake_gateway.list_messages(message_group_uuid=first)
    assert [m.text for m in page.items] == ["hi back", "hi"]
    assert own_group(fake_gateway, andrew, first).other_user == ref(bayko)
    assert own_group(fake_gateway, bayko, first).other_user == ref(andrew)


def test_start_conversation_rejects_yourself_and_bad_text(fake_gateway, andrew, bayko):
    with pytest.raises(ValidationError):
        services.start_conversation(sender=andrew, recipient=andrew, text="me")
    with pytest.raises(ValidationError):
        services.start_conversation(sender=andrew, recipient=bayko, text=" ")

    assert fake_gateway.calls == []


def test_mark_read_only_writes_when_something_is_unread(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko)
    fake_gateway.calls.clear()

    services.mark_read(group=own_group(fake_gateway, andrew, group))  # nothing unread
    services.mark_read(group=own_group(fake_gateway, bayko, group))

    assert fake_gateway.calls == ["mark_read"]
    assert own_group(fake_gateway, bayko, group).unread == 0


def test_mark_read_up_to_clears_the_row_the_poll_believes_in(fake_gateway, andrew, bayko):
    group = start(fake_gateway, bayko, andrew, "one")
    message = fake_gateway.create_message(message_group_uuid=group, sender=ref(bayko), text="two")
    fake_gateway.calls.clear()

    services.mark_read_up_to(
        user=andrew, message_group_uuid=group, sort_key=message.sort_key, unread=0
    )
    assert fake_gateway.calls == []  # nothing shown unread: nothing to write

    services.mark_read_up_to(
        user=andrew, message_group_uuid=group, sort_key=message.sort_key, unread=2
    )
    assert fake_gateway.calls == ["mark_read"]
    assert own_group(fake_gateway, andrew, group).unread == 0
    assert own_group(fake_gateway, bayko, group).unread == 0


# --- live updates ---


def test_live_token_proves_membership_of_one_user_in_one_conversation(
    fake_gateway, andrew, bayko, londo
):
    group = start(fake_gateway, andrew, bayko)
    other = start(fake_gateway, andrew, londo)
    token = selectors.live_token(user=andrew, group=own_group(fake_gateway, andrew, group))
    fake_gateway.calls.clear()

    assert selectors.check_live_token(user=andrew, message_group_uuid=group, token=token) == group
    assert (
        selectors.check_live_token(user=andrew, message_group_uuid=group.upper(), token=token)
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
        with pytest.raises(selectors.ConversationNotFound):
            selectors.check_live_token(user=user, message_group_uuid=asked, token=given)
    assert fake_gateway.calls == []  # no DynamoDB read, ever
    with pytest.raises(ValueError):
        selectors.live_token(user=londo, group=own_group(fake_gateway, andrew, group))


def test_inbox_state_changes_with_new_messages_and_reads_only(fake_gateway, andrew, bayko, londo):
    group = start(fake_gateway, andrew, bayko)
    start(fake_gateway, londo, andrew)
    quiet = selectors.inbox_state(user=andrew)
    assert selectors.inbox_state(user=andrew) == quiet
    assert quiet.state == selectors.inbox(user=andrew).live_state  # what the page renders

    fake_gateway.create_message(message_group_uuid=group, sender=ref(bayko), text="new")
    moved = selectors.inbox_state(user=andrew)
    assert moved.state != quiet.state
    assert moved.unread_conversations == 2

    services.mark_read(group=own_group(fake_gateway, andrew, group))
    read = selectors.inbox_state(user=andrew)
    assert read.state not in (quiet.state, moved.state)
    assert read.unread_conversations == 1
    assert fake_gateway.calls.count("list_message_groups") >= 4


def test_new_messages_are_oldest_first_with_names_and_keys(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko, "one")
    after = own_group(fake_gateway, andrew, group).sort_key
    two = fake_gateway.create_message(message_group_uuid=group, sender=ref(bayko), text="two")
    bayko.display_name = "Bayko Now"
    bayko.save()
    three = fake_gateway.create_message(message_group_uuid=group, sender=ref(andrew), text="3")

    rows = selectors.new_messages(user=andrew, message_group_uuid=group, after=after)

    assert [(r.text, r.is_mine, r.sort_key) for r in rows] == [
        ("two", False, two.sort_key),
        ("3", True, three.sort_key),
    ]
    assert rows[0].sender.display_name == "Bayko Now"
    assert selectors.new_messages(user=andrew, message_group_uuid=group, after=three.sort_key) == ()
    with pytest.raises(InvalidCursor):
        selectors.new_messages(user=andrew, message_group_uuid=group, after="yesterday")


# --- get_group_for_member ---


def test_get_group_for_member_returns_the_callers_item(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko)

    mine = selectors.get_group_for_member(user=bayko, message_group_uuid=group.upper())

    assert mine.owner_uuid == str(bayko.uuid)
    assert mine.message_group_uuid == group
    assert mine.other_user == ref(andrew)


@pytest.mark.parametrize("case", ["not a member", "malformed", "missing"])
def test_get_group_for_member_hides_what_you_may_not_see(fake_gateway, andrew, bayko, londo, case):
    group = start(fake_gateway, andrew, bayko)
    asked = {"not a member": group, "malformed": "nope", "missing": str(uuid.uuid4())}[case]

    with pytest.raises(selectors.ConversationNotFound):
        selectors.get_group_for_member(user=londo, message_group_uuid=asked)


def test_get_group_for_member_uses_known_inbox_rows(fake_gateway, andrew, bayko, londo):
    group = start(fake_gateway, andrew, bayko)
    inbox = fake_gateway.list_message_groups(user_uuid=str(andrew.uuid)).items
    fake_gateway.calls.clear()

    mine = selectors.get_group_for_member(user=andrew, message_group_uuid=group, known_groups=inbox)

    assert mine == own_group(fake_gateway, andrew, group)
    assert fake_gateway.calls == []
    # Someone else's rows prove nothing: londo still gets a participants check, and a 404.
    with pytest.raises(selectors.ConversationNotFound):
        selectors.get_group_for_member(user=londo, message_group_uuid=group, known_groups=inbox)
    assert fake_gateway.calls == ["get_participants"]


# --- page selectors ---


def test_inbox_names_come_from_one_query(
    fake_gateway, andrew, make_user, django_assert_num_queries
):
    people = [make_user(f"user{i}", display_name=f"Old {i}") for i in range(5)]
    for person in people:
        start(fake_gateway, person, andrew)
    for i, person in enumerate(people):
        person.display_name = f"New {i}"
        person.save()

    with django_assert_num_queries(1):
        page = selectors.inbox(user=andrew)

    assert sorted(row.other.display_name for row in page.rows) == [f"New {i}" for i in range(5)]


def test_conversation_is_oldest_first_with_own_messages_marked(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko, "one")
    fake_gateway.create_message(message_group_uuid=group, sender=ref(bayko), text="two")
    fake_gateway.create_message(message_group_uuid=group, sender=ref(andrew), text="three")

    view = selectors.conversation(user=andrew, group=own_group(fake_gateway, andrew, group))

    assert [(m.text, m.is_mine) for m in view.messages] == [
        ("one", True),
        ("two", False),
        ("three", True),
    ]
    assert view.other.handle == "bayko"
    assert view.earlier_cursor is None


def test_conversation_page_uses_one_name_query(
    fake_gateway, andrew, bayko, londo, django_assert_num_queries
):
    group = start(fake_gateway, andrew, bayko)
    start(fake_gateway, londo, andrew)
    fake_gateway.calls.clear()

    with django_assert_num_queries(1):
        page = selectors.conversation_page(user=andrew, message_group_uuid=group)

    assert page.conversation.other.display_name == "Andrew Bayko"
    assert [row.other.handle for row in page.inbox.rows] == ["londo", "bayko"]
    assert fake_gateway.calls == ["list_message_groups", "list_messages"]


def test_unknown_uuids_on_items_fall_back_to_stored_names(fake_gateway, andrew):
    ghost = ref(andrew).__class__(uuid="legacy-id", handle="ghost", display_name="Ghost")
    fake_gateway.import_conversation(
        message_group_uuid=str(uuid.uuid4()),
        participants=(ref(andrew), ghost),
        messages=[
            NewMessage(str(uuid.uuid4()), ghost, "boo", timezone.now() - timedelta(minutes=1))
        ],
    )

    page = selectors.inbox(user=andrew)

    assert [(row.other.handle, row.other.display_name) for row in page.rows] == [("ghost", "Ghost")]


def test_find_user_is_case_insensitive_and_ignores_at(andrew, make_user):
    make_user("gone", is_active=False)

    assert selectors.find_user(handle="@AndrewBrown") == andrew
    assert selectors.find_user(handle=" andrewbrown ") == andrew
    assert selectors.find_user(handle="gone") is None
    assert selectors.find_user(handle="@") is None


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
    assert selectors.relative_time(moment, now=NOW) == label


def test_relative_time_uses_the_local_calendar(settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # UTC+9: 20:00 UTC on Mar 3 is Mar 4 there
    with timezone.override("Asia/Tokyo"):
        assert selectors.relative_time(datetime(2026, 3, 3, 20, 0, tzinfo=UTC), now=NOW) == "Mar 4"


# --- the fake behaves like the gateway where the pages depend on it ---


def test_fake_pages_newest_first_with_opaque_cursors(fake_gateway, andrew, bayko, londo):
    group = start(fake_gateway, andrew, bayko, "m0")
    for i in range(1, 5):
        fake_gateway.create_message(message_group_uuid=group, sender=ref(andrew), text=f"m{i}")

    first = fake_gateway.list_messages(message_group_uuid=group, limit=2)
    second = fake_gateway.list_messages(message_group_uuid=group, cursor=first.next_cursor, limit=2)
    last = fake_gateway.list_messages(message_group_uuid=group, cursor=second.next_cursor, limit=2)

    assert [m.text for m in first.items + second.items + last.items] == [
        "m4",
        "m3",
        "m2",
        "m1",
        "m0",
    ]
    assert last.next_cursor is None
    other = start(fake_gateway, andrew, londo)
    with pytest.raises(InvalidCursor):
        fake_gateway.list_messages(message_group_uuid=other, cursor=first.next_cursor)
    with pytest.raises(InvalidCursor):
        fake_gateway.list_message_groups(user_uuid=str(andrew.uuid), cursor=first.next_cursor)
    with pytest.raises(InvalidCursor):
        fake_gateway.list_messages(message_group_uuid=group, cursor="!!")


def test_fake_create_message_in_a_missing_group_is_not_found(fake_gateway, andrew):
    with pytest.raises(NotFound):
        fake_gateway.create_message(
            message_group_uuid=str(uuid.uuid4()), sender=ref(andrew), text="x"
        )


def test_fake_import_never_moves_a_group_back(fake_gateway, andrew, bayko):
    group = start(fake_gateway, andrew, bayko, "live message")
    old = NewMessage(str(uuid.uuid4()), ref(bayko), "seeded", NOW - timedelta(days=400))

    fake_gateway.import_conversation(
        message_group_uuid=group, participants=(ref(andrew), ref(bayko)), messages=[old]
    )
    fake_gateway.import_conversation(  # idempotent
        message_group_uuid=group, participants=(ref(andrew), ref(bayko)), messages=[old]
    )

    assert own_group(fake_gateway, andrew, group).last_message == "live message"
    assert len(fake_gateway.messages[group]) == 2
