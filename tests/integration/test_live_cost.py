"""What a live poll costs on DynamoDB, measured over moto's HTTP server: idle polls must stay
one small read whatever the inbox and conversation hold."""

from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from django.urls import resolve, reverse

from messaging import services
from messaging.dynamo import get_dynamo_store, schema, track_usage
from tests.unit.test_live_views import (
    Thread,
    attribute,
    inbox_answer,
    signed_in,
    thread_answer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dynamodb(moto_endpoint):
    schema.create(get_dynamo_store().table)
    return get_dynamo_store()


def measured(user, url, params, read):
    """Call the view behind `url` as `user` inside `track_usage()`; its answer as `read` reads it.

    Straight to the view (RequestFactory): the project's cost middleware opens its own
    `track_usage()` per request, which would hide the calls from this one.
    """
    path, _, query = url.partition("?")
    request = RequestFactory().get(f"{path}?{'&'.join(filter(None, [query, urlencode(params)]))}")
    request.user = user
    match = resolve(path)
    with track_usage() as usage:
        response = match.func(request, *match.args, **match.kwargs)
    return read(response), usage


def figures(usage) -> str:
    return (
        f"{usage.requests} requests ({', '.join(c.operation for c in usage.calls)}), "
        f"{usage.items_read} items, {usage.bytes_read} B read, {usage.read_units:g} RCU, "
        f"{usage.write_units:g} WCU"
    )


def test_poll_costs_idle_and_busy_on_dynamodb(dynamodb, andrew, bayko, make_user, settings):
    # A full inbox (25 conversations) and a long conversation: the idle cost must not grow
    # with either. Made faster than the sending limits allow a person.
    settings.NEW_CONVERSATION_LIMIT_PER_HOUR = settings.SEND_LIMIT_PER_MINUTE = 1000
    for i in range(24):
        services.start_conversation(
            sender=andrew, recipient=make_user(f"user{i:02d}"), text=f"hello {i}"
        )
    group = services.start_conversation(sender=bayko, recipient=andrew, text="first")
    for i in range(60):
        services.send_message(
            sender=andrew, conversation_uuid=group, text=f"message {i} " + "x" * 60
        )
    client = signed_in(andrew)
    thread = Thread(client, group)
    thread_url, inbox_url = thread.url, reverse("messaging:poll")
    inbox_state = attribute(client.get("/messages/").content.decode(), "data-state")
    report = []

    body, idle_inbox = measured(
        andrew, inbox_url, {"since": inbox_state, "rows": "1"}, inbox_answer
    )
    assert body["changed"] is False
    assert (idle_inbox.requests, idle_inbox.items_read) == (1, 2)  # counter + newest row
    assert idle_inbox.bytes_read < 600
    assert idle_inbox.read_units == 0.5
    report.append(f"inbox poll, idle:         {figures(idle_inbox)}")

    body, idle_thread = measured(
        andrew, thread_url, {"after": thread.after, "read": "1"}, thread_answer
    )
    assert body["messages"] == []
    assert (idle_thread.requests, idle_thread.items_read, idle_thread.bytes_read) == (1, 0, 0)
    assert idle_thread.read_units == 0.5
    report.append(f"conversation poll, idle:  {figures(idle_thread)}")

    services.send_message(sender=bayko, conversation_uuid=group, text="Are you there?")

    body, busy_inbox = measured(
        andrew,
        inbox_url,
        {"since": inbox_state, "rows": "1", "current": group, "reading": group},
        inbox_answer,
    )
    assert body["changed"] is True and body["rows"][0]["uuid"] == group
    assert [c.operation for c in busy_inbox.calls] == ["query", "query"]
    state_after_busy = body["state"]  # as it will be once this tab marks the message read
    report.append(f"inbox poll, busy:         {figures(busy_inbox)}")

    body, busy_thread = measured(
        andrew, thread_url, {"after": thread.after, "read": "1"}, thread_answer
    )
    assert [m["text"] for m in body["messages"]] == ["Are you there?"]
    assert body["read"] is True
    assert [c.operation for c in busy_thread.calls] == ["query", "transact_write_items"]
    assert busy_thread.items_read == 1
    report.append(f"conversation poll, busy:  {figures(busy_thread)}")

    # The read reached DynamoDB: the row, its read marker and the counter.
    [row] = [
        g
        for g in dynamodb.list_conversations(user_uuid=str(andrew.uuid)).items
        if g.conversation_uuid == group
    ]
    assert row.unread == 0
    assert dynamodb.list_conversations(user_uuid=str(andrew.uuid)).unread_conversations == 0
    stored = [
        i
        for i in schema.scan(dynamodb.table)
        if i["pk"] == f"GRP#{andrew.uuid}" and i["sk"] == row.sort_key
    ]
    assert stored[0]["last_read_sk"] == row.sort_key

    # ... and the next poll is idle again, at the state the busy poll promised.
    body, after_busy = measured(
        andrew, inbox_url, {"since": state_after_busy, "rows": "1"}, inbox_answer
    )
    assert body["changed"] is False and after_busy.requests == 1
    print("\nDynamoDB cost per poll (capacity computed from item sizes by AWS's rules):")
    print("\n".join(report))
