"""Group conversations (issue 27) through the pages, over the in-memory store: started from
the To box, in every member's inbox, replies with the author shown, Add people, Leave,
Rename, the cap, and blocks inside a group."""

import re

import pytest
from django.urls import reverse

from messaging import services
from tests.helpers import conversation_url, ref, signed_in, token
from users import services as user_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def alt(make_user):
    return make_user("altbrown", display_name="Alt Brown")


def start_from_the_to_box(client, typed, text="Hello all", name=""):
    """The inbox's To box, then the group page's form; returns the group's uuid."""
    answer = client.get(reverse("messaging:start"), {"handle": typed})
    assert answer.status_code == 302, answer.content.decode()[:500]
    page = client.get(answer["Location"])
    assert page.status_code == 200
    handles = re.findall(r'name="to" value="([^"]+)"', page.content.decode())
    sent = client.post(
        answer["Location"], {"to": handles, "name": name, "text": text, "token": token()}
    )
    assert sent.status_code == 303, sent.content.decode()[:800]
    return sent["Location"].rstrip("/").rsplit("/", 1)[-1]


def inbox_uuids(store, user):
    page = store.list_conversations(user_uuid=str(user.uuid))
    return [entry.conversation_uuid for entry in page.items]


def entry(store, user, group):
    [found] = [
        e
        for e in store.list_conversations(user_uuid=str(user.uuid)).items
        if e.conversation_uuid == group
    ]
    return found


def test_a_group_of_three_from_the_to_box_is_in_every_inbox(memory_store, andrew, bayko, londo):
    client = signed_in(andrew)
    group = start_from_the_to_box(client, "@bayko, @londo", name="Review")
    for member in (andrew, bayko, londo):
        assert inbox_uuids(memory_store, member) == [group]
        page = signed_in(member).get(reverse("messaging:inbox")).content.decode()
        assert "Review" in page and "Hello all" in page
    assert entry(memory_store, bayko, group).unread == 1
    assert entry(memory_store, andrew, group).unread == 0
    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    assert "Andrew Brown" in page and "Londo Mollari" in page  # the author, and the members
    assert "Add people" in page and "Leave" in page


def test_the_group_page_names_everyone_before_it_exists(memory_store, andrew, bayko, londo):
    answer = signed_in(andrew).get(reverse("messaging:new_group"), {"to": ["bayko", "londo"]})
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "Bayko" in page and "Londo" in page and "Group name (optional)" in page
    assert memory_store.entries == {}  # nothing stored until the first message


def test_the_same_people_again_make_a_new_group(memory_store, andrew, bayko, londo):
    client = signed_in(andrew)
    first = start_from_the_to_box(client, "@bayko, @londo")
    second = start_from_the_to_box(client, "bayko londo")
    assert first != second
    assert set(inbox_uuids(memory_store, londo)) == {first, second}


def test_one_handle_in_the_to_box_is_still_a_pair(memory_store, andrew, bayko):
    answer = signed_in(andrew).get(reverse("messaging:start"), {"handle": "@bayko, @bayko"})
    assert answer["Location"] == reverse("messaging:new", args=["bayko"])


def test_the_to_box_refuses_unknown_handles_and_myself_with_the_text_kept(
    memory_store, andrew, bayko
):
    client = signed_in(andrew)
    page = client.get(reverse("messaging:start"), {"handle": "@bayko, @nobody"})
    assert "No user @nobody." in page.content.decode()
    assert 'value="@bayko, @nobody"' in page.content.decode()
    page = client.get(reverse("messaging:start"), {"handle": "@bayko, @andrewbrown"})
    assert "You can&#x27;t message yourself." in page.content.decode()


def test_replies_reach_everyone_with_the_author_and_unread_counts(
    memory_store, andrew, bayko, londo
):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    reply = signed_in(bayko).post(conversation_url(group), {"text": "From Bayko", "token": token()})
    assert reply.status_code == 303
    assert entry(memory_store, andrew, group).unread == 1
    assert entry(memory_store, londo, group).unread == 2
    assert entry(memory_store, bayko, group).unread == 0
    page = signed_in(londo).get(conversation_url(group)).content.decode()
    assert re.search(r'class="msg-author">Andrew Bayko<', page)
    assert entry(memory_store, londo, group).unread == 0  # read by viewing


def test_leave_is_a_404_afterwards_and_nothing_more_arrives(memory_store, andrew, bayko, londo):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    client = signed_in(londo)
    left = client.post(reverse("messaging:leave", args=[group]))
    assert left.status_code == 303 and left["Location"] == reverse("messaging:inbox")
    assert client.get(conversation_url(group)).status_code == 404
    signed_in(andrew).post(conversation_url(group), {"text": "after", "token": token()})
    assert inbox_uuids(memory_store, londo) == []
    assert client.post(conversation_url(group), {"text": "x", "token": token()}).status_code == 404
    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    assert "Londo Mollari left." in page


def test_leave_sent_twice_ends_at_the_inbox_both_times(memory_store, andrew, bayko, londo):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    client = signed_in(londo)
    first = client.post(reverse("messaging:leave", args=[group]))
    again = client.post(reverse("messaging:leave", args=[group]), follow=True)
    assert first["Location"] == reverse("messaging:inbox")
    assert again.redirect_chain == [(reverse("messaging:inbox"), 303)]
    assert [m.text for m in memory_store.messages[group]].count("Londo Mollari left.") == 1


def test_added_people_see_only_what_came_after(memory_store, andrew, bayko, londo, alt):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo", text="Before you came")
    added = signed_in(bayko).post(
        reverse("messaging:add_people", args=[group]), {"handles": "@altbrown"}
    )
    assert added.status_code == 303
    signed_in(londo).post(conversation_url(group), {"text": "After you came", "token": token()})
    page = signed_in(alt).get(conversation_url(group)).content.decode()
    assert "Andrew Bayko added Alt Brown." in page and "After you came" in page
    assert "Before you came" not in page
    assert entry(memory_store, alt, group).unread == 0  # read by viewing


def test_the_cap_refuses_with_the_number(settings, memory_store, andrew, bayko, londo, alt):
    settings.GROUP_MAX_MEMBERS = 3
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    answer = signed_in(andrew).post(
        reverse("messaging:add_people", args=[group]), {"handles": "@altbrown"}
    )
    page = answer.content.decode()
    assert answer.status_code == 403
    assert "A group can have at most 3 people, you included." in page
    assert 'value="@altbrown"' in page  # the box as typed
    box = signed_in(andrew).get(reverse("messaging:start"), {"handle": "bayko londo altbrown"})
    assert "at most 3 people" in box.content.decode()


def test_nobody_adds_someone_who_blocked_them(memory_store, andrew, bayko, londo, alt):
    user_services.block(user=alt, other=bayko)
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    answer = signed_in(bayko).post(
        reverse("messaging:add_people", args=[group]), {"handles": "altbrown"}
    )
    assert answer.status_code == 403
    assert "not accepting messages from you" in answer.content.decode()
    assert inbox_uuids(memory_store, alt) == []
    # Someone else in the group may add them.
    assert (
        signed_in(londo)
        .post(reverse("messaging:add_people", args=[group]), {"handles": "altbrown"})
        .status_code
        == 303
    )


def test_a_blocked_members_messages_are_not_shown_to_the_blocker(
    memory_store, andrew, bayko, londo
):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    user_services.block(user=andrew, other=londo)
    signed_in(londo).post(conversation_url(group), {"text": "Secret words", "token": token()})
    inbox = signed_in(andrew).get(reverse("messaging:inbox")).content.decode()
    assert "Secret words" not in inbox and "Message from someone you blocked" in inbox
    page = signed_in(andrew).get(conversation_url(group)).content.decode()
    assert "Secret words" not in page and "Message from someone you blocked" in page
    assert "Secret words" in signed_in(bayko).get(conversation_url(group)).content.decode()


def test_rename_is_a_line_and_the_title(memory_store, andrew, bayko, londo):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    renamed = signed_in(londo).post(
        reverse("messaging:rename", args=[group]), {"name": " Trip  2027 "}
    )
    assert renamed.status_code == 303
    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    assert "Londo Mollari named the group “Trip 2027”." in page
    assert "<title>Trip 2027" in page


def test_group_controls_on_a_pair_change_nothing(memory_store, andrew, bayko, londo):
    pair = services.start_conversation(sender=andrew, recipient=bayko, text="hi")
    client = signed_in(andrew)
    left = client.post(reverse("messaging:leave", args=[pair]), follow=True)
    assert left.redirect_chain == [(reverse("messaging:inbox"), 303)]
    assert "You left" not in left.content.decode()
    assert inbox_uuids(memory_store, andrew) == [pair]
    add = client.post(reverse("messaging:add_people", args=[pair]), {"handles": "londo"})
    assert add.status_code == 404
    assert memory_store.get_roster(conversation_uuid=pair) is None


def test_strangers_change_nothing_with_a_group_control(memory_store, andrew, bayko, londo, alt):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    client = signed_in(alt)
    assert client.get(conversation_url(group)).status_code == 404
    # Leave ends at the inbox whatever the uuid: a stranger learns nothing from it.
    left = client.post(reverse("messaging:leave", args=[group]))
    assert left["Location"] == reverse("messaging:inbox")
    assert memory_store.get_roster(conversation_uuid=group).version == 1
    assert client.post(reverse("messaging:rename", args=[group]), {"name": "x"}).status_code == 404
    add = client.post(reverse("messaging:add_people", args=[group]), {"handles": "altbrown"})
    assert add.status_code == 404


def test_edit_and_unsend_in_a_group(memory_store, andrew, bayko, londo):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo", text="Typo hrere")
    [message] = memory_store.messages[group]
    client = signed_in(andrew)
    edited = client.post(
        reverse("messaging:edit", args=[group, message.message_uuid]), {"text": "Typo here"}
    )
    assert edited.status_code == 303
    assert "Typo here" in signed_in(londo).get(conversation_url(group)).content.decode()
    client.post(reverse("messaging:unsend", args=[group, message.message_uuid]))
    assert "Message unsent" in signed_in(bayko).get(conversation_url(group)).content.decode()


def test_a_left_members_live_poll_is_404(memory_store, andrew, bayko, londo):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    client = signed_in(londo)
    page = client.get(conversation_url(group)).content.decode()
    live_token = re.search(r'name="token" value="([^"]+)"', page.split('id="live"')[-1])
    assert live_token
    client.post(reverse("messaging:leave", args=[group]))
    signed_in(andrew).post(conversation_url(group), {"text": "after", "token": token()})
    poll = client.get(
        reverse("messaging:poll"),
        {
            "conversation": group,
            "token": live_token.group(1),
            "after": "2000-01-01T00:00:00.000000+00:00",
            "row": "2000-01-01T00:00:00.000000+00:00",
        },
    )
    assert poll.status_code == 404
    assert "after" not in poll.content.decode()


def test_start_group_is_counted_once_and_resubmitted_forms_send_once(
    memory_store, andrew, bayko, londo
):
    client = signed_in(andrew)
    form = {"to": ["bayko", "londo"], "text": "once", "token": token()}
    first = client.post(reverse("messaging:new_group"), form)
    again = client.post(reverse("messaging:new_group"), form)
    assert first["Location"] == again["Location"]
    assert len(inbox_uuids(memory_store, bayko)) == 1
    assert ref(andrew).uuid == str(andrew.uuid)


def live_form(page: str) -> dict:
    """The live form's fields of a page (templates/messaging/_live_fields.html)."""
    form = page.split('id="live"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))


def test_an_open_page_learns_of_new_members_from_the_live_poll(
    memory_store, andrew, bayko, londo, alt
):
    group = start_from_the_to_box(signed_in(andrew), "@bayko, @londo")
    client = signed_in(bayko)
    fields = live_form(client.get(conversation_url(group)).content.decode())
    quiet = client.get(reverse("messaging:poll"), {**fields, "read": "1"}).content.decode()
    assert "group-members" not in quiet  # nothing changed: no redraw
    signed_in(londo).post(reverse("messaging:add_people", args=[group]), {"handles": "altbrown"})
    fields["row"] = memory_store.entries[str(bayko.uuid)][group].sort_key
    answer = client.get(reverse("messaging:poll"), {**fields, "read": "1"}).content.decode()
    assert "Londo Mollari added Alt Brown." in answer
    members = answer.split('id="group-members"', 1)[1].split("</p>", 1)[0]
    assert 'hx-swap-oob="true"' in members and "Alt Brown" in members and "4 people" in members
