"""A form sends once: its token is an idempotency key the send transaction claims.

Concurrent submits (real threads against moto's HTTP server and against Django's live
server), sequential resubmits, and retries after an answer that was lost although the
transaction committed: each stores one message, and every arrival is answered as sent.
"""

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from botocore.exceptions import ReadTimeoutError

from cruddur.request_cost import track_usage
from messaging.dynamo import get_dynamo_store, items, schema
from messaging.errors import Unavailable
from tests.helpers import at_once, within_budget

SUBMITS = 8


def all_texts(store, conversation_uuid):
    page = store.list_messages(conversation_uuid=conversation_uuid, limit=1000)
    return [message.text for message in reversed(page.items)]


# --- the store, threads against moto's HTTP server ---


def test_concurrent_sends_with_one_key_store_one_message(server_store, andrew_ref, bayko_ref):
    store = server_store
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    key = str(uuid.uuid4())

    sent = at_once(
        SUBMITS,
        lambda _: store.create_message(
            conversation_uuid=conversation, sender=andrew_ref, text="once", idempotency_key=key
        ),
    )

    assert all_texts(store, conversation) == ["hi", "once"]
    assert {message.message_uuid for message in sent} == {sent[0].message_uuid}
    bayko_entry = store.list_conversations(user_uuid=bayko_ref.uuid).items[0]
    assert bayko_entry.unread == 2  # "hi" and "once": counted once


def test_concurrent_first_messages_with_one_key_start_one_conversation(
    server_store, andrew_ref, bayko_ref
):
    store = server_store
    key = str(uuid.uuid4())

    started = at_once(
        SUBMITS,
        lambda _: store.create_conversation(
            sender=andrew_ref, recipient=bayko_ref, text="hello", idempotency_key=key
        ),
    )

    conversations = {conversation for conversation, _ in started}
    assert len(conversations) == 1
    (conversation,) = conversations
    assert all_texts(store, conversation) == ["hello"]
    assert {message.message_uuid for _, message in started} == {started[0][1].message_uuid}
    assert len(store.list_conversations(user_uuid=andrew_ref.uuid).items) == 1


def test_sequential_resends_store_one_message(store, andrew_ref, bayko_ref):
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    key = str(uuid.uuid4())

    first = store.create_message(
        conversation_uuid=conversation, sender=andrew_ref, text="once", idempotency_key=key
    )
    again = [
        store.create_message(
            conversation_uuid=conversation, sender=andrew_ref, text="once", idempotency_key=key
        )
        for _ in range(3)
    ]

    assert all_texts(store, conversation) == ["hi", "once"]
    assert all(message == first for message in again)


def test_a_key_belongs_to_its_sender(store, andrew_ref, bayko_ref):
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    key = str(uuid.uuid4())

    store.create_message(
        conversation_uuid=conversation, sender=andrew_ref, text="mine", idempotency_key=key
    )
    store.create_message(
        conversation_uuid=conversation, sender=bayko_ref, text="also mine", idempotency_key=key
    )

    assert all_texts(store, conversation) == ["hi", "mine", "also mine"]


def _answer_lost_after_commit(monkeypatch, store, *, times=1):
    """The next `times` transactions commit, then their answer is lost (a read timeout)."""
    client = store.table.client
    real = client.transact_write_items
    lost = []

    def commit_then_time_out(**params):
        answer = real(**params)
        if len(lost) < times:
            lost.append(params)
            raise ReadTimeoutError(endpoint_url=client.meta.endpoint_url)
        return answer

    monkeypatch.setattr(client, "transact_write_items", commit_then_time_out)
    return lost


def test_a_send_whose_answer_was_lost_is_not_written_again_by_the_retry(
    monkeypatch, store, andrew_ref, bayko_ref
):
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    key = str(uuid.uuid4())
    lost = _answer_lost_after_commit(monkeypatch, store)

    with pytest.raises(Unavailable):  # what the person sees: "may not have been sent"
        store.create_message(
            conversation_uuid=conversation, sender=andrew_ref, text="once", idempotency_key=key
        )
    retried = store.create_message(
        conversation_uuid=conversation, sender=andrew_ref, text="once", idempotency_key=key
    )

    assert len(lost) == 1
    assert all_texts(store, conversation) == ["hi", "once"]
    assert retried.text == "once"
    assert retried.replayed  # stored by the first request, not counted again (services)


def test_a_repeated_request_after_a_commit_is_answered_as_sent(
    monkeypatch, store, andrew_ref, bayko_ref
):
    # What botocore's own retry does after a lost answer: the identical request again. Its
    # conditions fail on the claimed key, and the store answers with the stored message.
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    client = store.table.client
    real = client.transact_write_items
    sent_twice = []

    def send_twice(**params):
        answer = real(**params)
        if not sent_twice:
            sent_twice.append(True)
            return real(**params)  # the repeat: cancelled by the key's condition
        return answer

    monkeypatch.setattr(client, "transact_write_items", send_twice)
    message = store.create_message(
        conversation_uuid=conversation,
        sender=andrew_ref,
        text="once",
        idempotency_key=str(uuid.uuid4()),
    )

    assert sent_twice == [True]
    assert all_texts(store, conversation) == ["hi", "once"]
    assert message.text == "once"
    assert not message.replayed  # this send stored it: its own request, repeated by botocore


def test_a_lost_first_message_is_not_sent_twice(monkeypatch, store, andrew_ref, bayko_ref):
    key = str(uuid.uuid4())
    _answer_lost_after_commit(monkeypatch, store)

    with pytest.raises(Unavailable):
        store.create_conversation(
            sender=andrew_ref, recipient=bayko_ref, text="hello", idempotency_key=key
        )
    conversation, message = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hello", idempotency_key=key
    )

    assert all_texts(store, conversation) == ["hello"]
    assert message.text == "hello"
    assert message.replayed


def test_an_expired_key_can_be_used_again(store, andrew_ref, bayko_ref):
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    key = str(uuid.uuid4())
    store.create_message(
        conversation_uuid=conversation, sender=andrew_ref, text="first", idempotency_key=key
    )
    # TTL deletes lazily: an expired key still in the table must not block a send.
    store.table.client.update_item(
        TableName=store.table.name,
        Key=items.typed_key(items.sent_pk(andrew_ref.uuid, key), items.SENT_SORT_KEY),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    store.create_message(
        conversation_uuid=conversation, sender=andrew_ref, text="second", idempotency_key=key
    )

    assert all_texts(store, conversation) == ["hi", "first", "second"]


def test_the_key_costs_one_small_write_in_the_transaction(server_store, andrew_ref, bayko_ref):
    store = server_store  # over HTTP, capacity is computed from the items (in-process moto: 0)
    conversation, _ = store.create_conversation(sender=andrew_ref, recipient=bayko_ref, text="hi")
    store.create_message(conversation_uuid=conversation, sender=bayko_ref, text="hello")

    with track_usage() as without_key:
        store.create_message(conversation_uuid=conversation, sender=andrew_ref, text="a")
    with track_usage() as with_key:
        store.create_message(
            conversation_uuid=conversation,
            sender=bayko_ref,
            text="b",
            idempotency_key=str(uuid.uuid4()),
        )

    print(
        f"\nWCU per send: {without_key.write_units:g} without a key, {with_key.write_units:g} with"
    )
    assert with_key.write_units == without_key.write_units + 2  # 1 KB, doubled by the transaction
    assert within_budget(with_key.calls, query=1, transact_write_items=1)


def test_the_table_expires_keys():
    # schema.create turns DynamoDB's TTL on for `expires_at` (checked on moto in-process).
    from moto import mock_aws

    with mock_aws():
        store = get_dynamo_store(prod=True)
        schema.create(store.table)
        ttl = store.table.client.describe_time_to_live(TableName=store.table.name)

    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


# --- the page, threads against Django's live server ---


def _signed_in_opener(live_server, user, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects)
    login = f"{live_server.url}/accounts/login/"
    opener.open(login, timeout=10).read()
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    body = urllib.parse.urlencode(
        {"username": user.handle, "password": password, "csrfmiddlewaretoken": csrf}
    ).encode()
    request = urllib.request.Request(login, data=body, headers={"Referer": login})
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as redirect:  # 302 to the inbox: signed in
        assert redirect.code == 302, redirect.read()
    return opener, jar


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(opener, jar, url, form):
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    body = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": csrf}).encode()
    request = urllib.request.Request(url, data=body, headers={"Referer": url})
    try:
        response = opener.open(request, timeout=30)
        return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Location")


@pytest.fixture
def site(transactional_db, live_server, server_store, make_user):
    andrew = make_user("andrewbrown", display_name="Andrew Brown", password="pw-andrew-1")
    bayko = make_user("bayko", display_name="Andrew Bayko")
    opener, jar = _signed_in_opener(live_server, andrew, "pw-andrew-1")
    return live_server.url, server_store, andrew, bayko, opener, jar


def test_one_form_posted_eight_times_at_once_stores_one_message(site):
    url, store, andrew, bayko, opener, jar = site
    from messaging import services

    conversation = services.start_conversation(sender=bayko, recipient=andrew, text="hi")
    page = f"{url}/messages/{conversation}/"
    form = {"text": "sent once", "token": str(uuid.uuid4())}

    answers = at_once(SUBMITS, lambda _: _post(opener, jar, page, form))

    print(f"\n{SUBMITS} submits of one form at once: {answers}")
    assert answers == [(303, f"/messages/{conversation}/")] * SUBMITS
    assert all_texts(store, conversation) == ["hi", "sent once"]


def test_one_first_message_posted_eight_times_at_once_starts_one_conversation(site):
    url, store, andrew, bayko, opener, jar = site
    form = {"text": "hello once", "token": str(uuid.uuid4())}

    answers = at_once(SUBMITS, lambda _: _post(opener, jar, f"{url}/messages/new/bayko/", form))

    statuses = {status for status, _ in answers}
    locations = {location for _, location in answers}
    assert statuses == {303} and len(locations) == 1
    conversation = locations.pop().strip("/").split("/")[-1]
    assert all_texts(store, conversation) == ["hello once"]
    assert len(store.list_conversations(user_uuid=str(andrew.uuid)).items) == 1
