"""What a live poll costs on DynamoDB, measured over moto's HTTP server: an idle poll must stay
one small read whatever the inbox and conversation hold, and a change costs one request of
the browser's, whose reads are the inbox's state and page and the conversation's news."""

from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from django.urls import resolve, reverse

from cruddur.request_cost import track_usage
from messaging import services
from messaging.dynamo import get_dynamo_store, schema
from tests.helpers import within_budget
from tests.unit.test_live_views import (
    Thread,
    inbox_answer,
    live_fields,
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
    response.wsgi_request = request  # as the test client's answers carry it
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
    thread = Thread(signed_in(andrew), group)
    poll = reverse("messaging:poll")
    report = []

    def both(response):
        return {**inbox_answer(response), **thread_answer(response), "response": response}

    body, idle = measured(andrew, poll, {**thread.fields, "read": "1"}, both)
    assert body["changed"] is False and body["messages"] == []
    assert (idle.requests, idle.items_read) == (1, 2)  # counter + newest row
    assert idle.bytes_read < 600
    assert idle.read_units == 0.5
    report.append(f"poll, idle:  {figures(idle)}")

    services.send_message(sender=bayko, conversation_uuid=group, text="Are you there?")

    body, busy = measured(andrew, poll, {**thread.fields, "read": "1"}, both)
    assert body["changed"] is True and body["rows"][0]["uuid"] == group
    assert body["rows"][0]["unread"] == 0  # shown read: this poll marks it
    assert [m["text"] for m in body["messages"]] == ["Are you there?"]
    assert body["unread"] == 0
    # The inbox's state and first page, the conversation's one new message, the read.
    assert within_budget(busy.calls, query=3, transact_write_items=1)
    next_fields = live_fields(body["response"].content.decode())
    report.append(f"poll, busy:  {figures(busy)}")

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
    body, after_busy = measured(andrew, poll, {**next_fields, "read": "1"}, both)
    assert body["changed"] is False and body["messages"] == [] and after_busy.requests == 1
    print("\nDynamoDB cost per poll (capacity computed from item sizes by AWS's rules):")
    print("\n".join(report))
