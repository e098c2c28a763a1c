"""A group written by our store, read by the original's readers: the queries its `ddb.py`
(`list_message_groups`, `list_messages`) and its list-conversations / get-conversation scripts
made, with the low-level client, reading the attributes they read as strings (`['S']`).

The original lists a group's entry as a conversation with "someone" whose name is the
group's title and whose `user_uuid` is the group's own uuid, and its messages, roster lines
included, as messages from their senders. Only its readers are supported: its writers (its
create_message_group, its Streams Lambda that re-puts every entry copying only `user_*`)
would drop what a group's entry holds beyond the original's fields.
"""

from messaging.domain import ADDED, LEFT, RENAMED
from tests.integration.test_store_contract import person


def original_list_message_groups(client, table, my_user_uuid, year):
    """The original's `Ddb.list_message_groups`: a person's conversations, newest first."""
    response = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk,:year)",
        ScanIndexForward=False,
        Limit=20,
        ExpressionAttributeValues={":year": {"S": year}, ":pk": {"S": f"GRP#{my_user_uuid}"}},
    )
    return [
        {
            "uuid": item["message_group_uuid"]["S"],
            "user_uuid": item["user_uuid"]["S"],
            "display_name": item["user_display_name"]["S"],
            "handle": item["user_handle"]["S"],
            "message": item["message"]["S"],
            "created_at": item["sk"]["S"],
        }
        for item in response["Items"]
    ]


def original_list_messages(client, table, message_group_uuid, year):
    """The original's `Ddb.list_messages`: a conversation's last 20 messages, oldest first."""
    response = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk,:year)",
        ScanIndexForward=False,
        Limit=20,
        ExpressionAttributeValues={":year": {"S": year}, ":pk": {"S": f"MSG#{message_group_uuid}"}},
    )
    found = response["Items"]
    found.reverse()
    return [
        {
            "uuid": item["message_uuid"]["S"],
            "user_uuid": item["user_uuid"]["S"],
            "display_name": item["user_display_name"]["S"],
            "handle": item["user_handle"]["S"],
            "message": item["message"]["S"],
            "created_at": item["sk"]["S"],
        }
        for item in found
    ]


def test_the_original_readers_list_a_group_after_an_add_a_rename_and_a_leave(
    store, andrew_ref, bayko_ref, londo_ref
):
    alt = person("altbrown")
    conversation, first = store.create_group(
        sender=andrew_ref, members=[bayko_ref, londo_ref], name="", text="hello all"
    )
    hi = store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="hi")
    added = store.add_members(
        actor=londo_ref, conversation_uuid=conversation, people=[alt], max_members=10
    )
    renamed = store.rename_group(actor=andrew_ref, conversation_uuid=conversation, name="Trip")
    thanks = store.create_message(conversation_uuid=conversation, sender=alt, text="thanks")
    left = store.leave_group(user=bayko_ref, conversation_uuid=conversation)
    last = store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="bye")
    pair, _ = store.create_conversation(sender=andrew_ref, recipient=londo_ref, text="psst")
    client, table = store.table.client, store.table.name
    year = first.sort_key[:4]  # the original asked for the current year's

    members = (andrew_ref, londo_ref, alt)
    for member in members:
        [row] = [
            row
            for row in original_list_message_groups(client, table, member.uuid, year)
            if row["uuid"] == conversation
        ]
        assert row["display_name"] == "Trip"
        assert isinstance(row["user_uuid"], str) and row["user_uuid"] == conversation
        others = {other.handle for other in members if other is not member}
        assert set(row["handle"].split(",")) == others
        assert (row["message"], row["created_at"]) == ("bye", last.sort_key)
    left_behind = original_list_message_groups(client, table, bayko_ref.uuid, year)
    assert conversation not in [row["uuid"] for row in left_behind]
    # A pair beside the group still lists the other person.
    [pair_row] = [
        row
        for row in original_list_message_groups(client, table, andrew_ref.uuid, year)
        if row["uuid"] == pair
    ]
    assert (pair_row["user_uuid"], pair_row["display_name"]) == (
        londo_ref.uuid,
        londo_ref.display_name,
    )

    messages = original_list_messages(client, table, conversation, year)
    expected = [
        (first, andrew_ref),
        (hi, bayko_ref),
        (added, londo_ref),
        (renamed, andrew_ref),
        (thanks, alt),
        (left, bayko_ref),
        (last, andrew_ref),
    ]
    assert [
        (m["uuid"], m["user_uuid"], m["display_name"], m["handle"], m["message"], m["created_at"])
        for m in messages
    ] == [
        (
            message.message_uuid,
            sender.uuid,
            sender.display_name,
            sender.handle,
            message.text,
            message.sort_key,
        )
        for message, sender in expected
    ]
    assert alt.display_name in added.text and "Trip" in renamed.text
    assert (added.event, renamed.event, left.event) == (ADDED, RENAMED, LEFT)
    # The original readers see what the store's own reader sees.
    ours = store.list_messages(conversation_uuid=conversation).items
    assert [m["uuid"] for m in messages] == [m.message_uuid for m in reversed(ours)]
