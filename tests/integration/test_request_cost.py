"""The cost middleware (cruddur/middleware.py): log line, footer and cost headers, over
moto's HTTP server, under WSGI and ASGI.

moto's server, not in-process moto: in-process moto answers on an amazonaws.com address, so
the gateway would take its hard-coded capacity figures for AWS's.
"""

import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from cruddur.request_cost import Usage, track_usage
from messaging import services
from messaging.dynamo import get_dynamo_store, schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def table(moto_endpoint):
    schema.create(get_dynamo_store().table)


@pytest.fixture
def conversation(table, andrew, make_user):
    """A conversation between andrew and bayko with 25 messages."""
    bayko = make_user("bayko", display_name="Andrew Bayko")
    group_uuid = services.start_conversation(sender=andrew, recipient=bayko, text="hello")
    (mine,) = (
        group
        for group in get_dynamo_store().get_participants(conversation_uuid=group_uuid)
        if group.owner_uuid == str(andrew.uuid)
    )
    for number in range(24):
        services.send_message(sender=andrew, conversation_uuid=group_uuid, text=f"message {number}")
    return group_uuid


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def expected_inbox_usage(user) -> Usage:
    """What the inbox page's one DynamoDB call costs, measured outside any request."""
    with track_usage() as usage:
        get_dynamo_store().list_conversations(user_uuid=str(user.uuid))
    return usage


def test_footer_shows_the_requests_figures(settings, andrew, conversation):
    settings.COST_FOOTER = True
    expected = expected_inbox_usage(andrew)

    response = signed_in(andrew).get("/messages/")

    html = response.content.decode()
    footer = re.search(r'<footer class="cost-footer"[^>]*>(.*?)</footer>\s*</body>', html, re.S)
    assert footer, "the footer sits just before </body>"
    text = footer.group(1)
    assert "DynamoDB: 1 request (" in text
    assert f"{expected.items_read} items" in text
    assert f"{expected.bytes_read:,} bytes read" in text
    assert f"{expected.read_units:g} RCU, 0 WCU" in text
    assert "capacity computed from item sizes by AWS&#x27;s rules" in text
    assert re.search(r"SQL: \d+ quer(y|ies)", text)
    # CommonMiddleware set the length before the footer went in: it must follow the body.
    assert response["Content-Length"] == str(len(response.content))


def test_no_footer_unless_asked_for(settings, andrew, conversation):
    settings.DEBUG = True  # as `make run`
    settings.COST_FOOTER = False
    response = signed_in(andrew).get("/messages/")
    assert response.status_code == 200
    assert b"cost-footer" not in response.content


def test_footer_only_on_html(settings, andrew, table):
    settings.COST_FOOTER = True
    response = Client().get("/health/")
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["dynamodb"] == "ok"  # still valid JSON


def test_footer_on_pages_without_dynamodb_calls(settings, db):
    settings.COST_FOOTER = True
    response = Client().get("/accounts/login/")
    assert b'<footer class="cost-footer"' in response.content
    assert b"DynamoDB: 0 requests" in response.content


def test_cost_headers_match_the_calls_made(settings, andrew, conversation):
    settings.COST_HEADERS = True
    client = signed_in(andrew)
    with track_usage() as usage:
        get_dynamo_store().list_conversations(user_uuid=str(andrew.uuid))
        get_dynamo_store().list_messages(conversation_uuid=conversation)

    response = client.get(f"/messages/{conversation}/")

    assert response.status_code == 200
    assert response["X-DynamoDB-Requests"] == "2"  # the page's budget: inbox + messages
    assert response["X-DynamoDB-Items"] == str(usage.items_read)
    assert response["X-DynamoDB-Bytes"] == str(usage.bytes_read)
    assert response["X-DynamoDB-RCU"] == f"{usage.read_units:g}"
    assert response["X-DynamoDB-WCU"] == "0"
    assert int(response["X-SQL-Queries"]) >= 1


def test_cost_headers_under_asgi(settings, andrew, conversation):
    # The production server is ASGI: the page's sync view runs in a thread asgiref picks, and
    # the store's calls must still reach this request's tally, the queries its counter.
    settings.COST_HEADERS = True
    expected = expected_inbox_usage(andrew)
    client = AsyncClient()
    client.force_login(andrew)

    with CaptureQueriesContext(connection) as captured:
        response = async_to_sync(client.get)("/messages/")

    assert response.status_code == 200
    assert response["X-DynamoDB-Requests"] == "1"
    assert response["X-DynamoDB-Items"] == str(expected.items_read)
    assert response["X-DynamoDB-Bytes"] == str(expected.bytes_read)
    assert response["X-DynamoDB-RCU"] == f"{expected.read_units:g}"
    assert int(response["X-SQL-Queries"]) == len(captured) >= 1


def test_cost_headers_count_a_sends_writes(settings, andrew, conversation):
    settings.COST_HEADERS = True
    response = signed_in(andrew).post(
        f"/messages/{conversation}/",
        {"text": "one more", "token": "7d0c6a52-5a43-4c0e-9e55-6f7d7e2a0c11"},
    )
    assert response.status_code == 303
    assert float(response["X-DynamoDB-WCU"]) >= 2 * 5  # message + two group moves, doubled
    assert response["X-DynamoDB-RCU"] != "0"  # the participants query before the write


def test_no_cost_headers_by_default(settings, andrew, conversation):
    settings.COST_HEADERS = False
    response = signed_in(andrew).get("/messages/")
    assert not any(name.startswith("X-DynamoDB") for name in response.headers)
    assert "X-SQL-Queries" not in response.headers


def test_sql_query_count_is_every_query_of_the_request(settings, andrew, conversation):
    settings.COST_HEADERS = True
    client = signed_in(andrew)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/messages/")
    assert int(response["X-SQL-Queries"]) == len(captured)
    # The user, and the names of the people in the inbox (the session is in the cache since
    # the login); then the names are in the cache too.
    assert len(captured) == 2
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/messages/")
    assert int(response["X-SQL-Queries"]) == len(captured) == 1


def test_sql_query_count_is_every_query_of_a_send(settings, andrew, conversation):
    settings.COST_HEADERS = True
    client = signed_in(andrew)
    client.get(f"/messages/{conversation}/")  # both people's profiles, into the cache
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/messages/{conversation}/",
            {"text": "again", "token": "0f6b4a3e-8e36-4d1f-9d6b-1f2e3d4c5b6a"},
        )
    assert response.status_code == 303
    # The user (the session is in the cache), then the two people as the database holds them
    # (a send is never decided on cached profiles); the form's token is claimed in DynamoDB,
    # not the session.
    assert [query["sql"].split()[0] for query in captured] == ["SELECT", "SELECT"]
    assert int(response["X-SQL-Queries"]) == len(captured)


def test_one_log_line_per_request_with_dynamodb_calls(caplog, andrew, conversation):
    expected = expected_inbox_usage(andrew)
    client = signed_in(andrew)
    with caplog.at_level(logging.INFO, logger="cruddur.requests"):
        client.get("/messages/")
        client.get("/accounts/login/")  # no DynamoDB call: a line all the same

    inbox, login = [record for record in caplog.records if record.name == "cruddur.requests"]
    assert (inbox.method, inbox.path, inbox.status) == ("GET", "/messages/", 200)
    assert inbox.dynamodb_requests == 1
    assert (inbox.dynamodb_items, inbox.dynamodb_bytes) == (
        expected.items_read,
        expected.bytes_read,
    )
    assert (inbox.dynamodb_rcu, inbox.dynamodb_wcu) == (expected.read_units, 0)
    assert inbox.dynamodb_capacity == "computed"
    assert inbox.dynamodb_calls == ["query"]
    assert inbox.sql_queries == 2  # the user, the names
    assert inbox.user == str(andrew.uuid)
    assert (login.path, login.dynamodb_requests, login.dynamodb_calls) == (
        "/accounts/login/",
        0,
        [],
    )


def test_log_line_for_an_unavailable_page(caplog, andrew, moto_endpoint):
    # No table: the page is a 503, and the failed call made no usage to log.
    with caplog.at_level(logging.INFO, logger="cruddur.requests"):
        response = signed_in(andrew).get("/messages/")
    assert response.status_code == 503
    [line] = [record for record in caplog.records if record.name == "cruddur.requests"]
    assert (line.status, line.dynamodb_requests) == (503, 0)


def test_an_inbox_of_long_last_messages_stays_at_one_read_unit(settings, andrew, table, make_user):
    # Twenty conversations whose last messages are as long as a message can be, in 2- and
    # 4-byte characters too: the entries keep a bounded preview, so the page is one RCU.
    settings.COST_HEADERS = True
    longest = ["x" * 1024, "é" * 1024, "😀" * 1024, "a b " * 256]
    for number in range(20):
        other = make_user(f"person{number:02d}", display_name=f"Person Number {number:02d}")
        services.start_conversation(
            sender=other, recipient=andrew, text=longest[number % len(longest)]
        )

    response = Client()
    response.force_login(andrew)
    page = response.get("/messages/")

    assert page.status_code == 200
    assert page["X-DynamoDB-Requests"] == "1"
    assert page["X-DynamoDB-Items"] == "21"  # 20 rows and the unread counter
    assert int(page["X-DynamoDB-Bytes"]) <= 8192
    assert page["X-DynamoDB-RCU"] == "1"
