"""While DynamoDB refuses writes, what only reads still works, and a send says so.

The faults are injected at the DynamoDB client: a `before-send` handler answers every
TransactWriteItems the way AWS answers a table short of write capacity (or a write that keeps
losing a race), instead of moto's HTTP server, which never sees them; reads still reach it.
(In-process moto would apply the write as well: it answers from a `before-send` handler too,
and botocore calls every one.) Budgets are counted in requests sent, not measured in time:
botocore's back-off and the store's are set to no wait.
"""

import logging

import botocore.retries.standard
import pytest

from cruddur import aws
from messaging import services
from messaging.dynamo import table as table_module
from tests.helpers import conversation_url, fake_response, signed_in, token
from tests.unit.test_live_views import Thread, thread_answer

pytestmark = pytest.mark.django_db

_DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
THROUGHPUT_EXCEEDED = {
    "__type": f"{_DYNAMODB}ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}
THROTTLING = {
    "__type": f"{_DYNAMODB}ThrottlingException",
    "message": "Rate of requests exceeds the allowed throughput.",
}


def cancelled(*reasons):
    return {
        "__type": f"{_DYNAMODB}TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": [{"Code": reason} for reason in reasons],
    }


# What the mark-read (one TransactWriteItems) meets, and how many times it is sent: botocore
# retries throttling within the interactive budget; a cancelled transaction is not retried
# by botocore, and a lost race is planned again within the same budget.
FAULTS = [
    pytest.param(THROUGHPUT_EXCEEDED, aws.INTERACTIVE_MAX_ATTEMPTS, id="throughput-exceeded"),
    pytest.param(THROTTLING, aws.INTERACTIVE_MAX_ATTEMPTS, id="throttling"),
    pytest.param(cancelled("ThrottlingError", "None"), 1, id="cancelled-throttling"),
    pytest.param(
        cancelled("ConditionalCheckFailed", "None"), aws.INTERACTIVE_MAX_ATTEMPTS, id="lost-race"
    ),
]


class WriteFault:
    """A `before-send` handler for TransactWriteItems: answers `answer` while set, and counts."""

    def __init__(self):
        self.answer = None
        self.sent = 0

    def __call__(self, request, **kwargs):
        if self.answer is None:
            return None  # on to moto
        self.sent += 1
        return fake_response(request, 400, self.answer)


@pytest.fixture
def store(server_store):
    """The DynamoDB store over moto's HTTP server, the one the pages use."""
    return server_store


@pytest.fixture
def writes(on, store, monkeypatch):
    """The store's writes, to be refused by setting `writes.answer`; no back-off waits."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    monkeypatch.setattr(table_module, "backoff", lambda attempt: 0)
    fault = WriteFault()
    on.first(store, "before-send.dynamodb.TransactWriteItems", fault)
    return fault


def unread_of(store, user, conversation_uuid):
    entries = store.list_conversations(user_uuid=str(user.uuid)).items
    return next(e.unread for e in entries if e.conversation_uuid == conversation_uuid)


@pytest.mark.parametrize(("answer", "attempts"), FAULTS)
def test_a_conversation_opens_while_writes_are_refused(
    store, writes, andrew, bayko, caplog, answer, attempts
):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    services.send_message(sender=bayko, conversation_uuid=group, text="the newest one")
    writes.answer = answer

    with caplog.at_level(logging.WARNING, logger="messaging"):
        response = signed_in(andrew).get(conversation_url(group))

    assert response.status_code == 200
    assert "the newest one" in response.content.decode()
    assert writes.sent == attempts  # within the page's budget, not AWS_MAX_ATTEMPTS
    assert unread_of(store, andrew, group) == 2  # stays: the next view marks it read
    [logged] = [r for r in caplog.records if r.name.startswith("messaging")]
    assert (logged.name, logged.levelno, logged.exc_info) == (
        "messaging.services",
        logging.WARNING,
        None,
    )
    assert f"Could not mark conversation {group} read" in logged.getMessage()

    writes.answer = None  # writes are back: the next view marks it read
    assert signed_in(andrew).get(conversation_url(group)).status_code == 200
    assert unread_of(store, andrew, group) == 0


@pytest.mark.parametrize(("answer", "attempts"), FAULTS)
def test_a_live_poll_answers_while_writes_are_refused(
    store, writes, andrew, bayko, answer, attempts
):
    group = services.start_conversation(sender=andrew, recipient=bayko, text="hello")
    thread = Thread(signed_in(andrew), group)
    services.send_message(sender=bayko, conversation_uuid=group, text="are you there?")
    writes.answer = answer

    body = thread_answer(thread.poll(read="1"))

    assert [message["text"] for message in body["messages"]] == ["are you there?"]
    assert body["unread"] == 1  # the next poll asks to mark it again
    assert writes.sent == attempts
    assert unread_of(store, andrew, group) == 1


def test_a_send_while_writes_are_refused_keeps_the_text_and_later_stores_once(
    store, writes, andrew, bayko
):
    group = services.start_conversation(sender=bayko, recipient=andrew, text="hello")
    client = signed_in(andrew)
    form = {"text": "sent once, in the end", "token": token()}
    writes.answer = THROUGHPUT_EXCEEDED

    refused = client.post(conversation_url(group), form)

    html = refused.content.decode()
    assert refused.status_code == 503
    assert "Your message may not have been sent." in html
    assert "\nsent once, in the end</textarea>" in html
    assert f'name="token" value="{form["token"]}"' in html  # the same form, sent again

    writes.answer = None
    answers = [client.post(conversation_url(group), form) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [303, 303]
    page = store.list_messages(conversation_uuid=group)
    assert [message.text for message in reversed(page.items)] == [
        "hello",
        "sent once, in the end",
    ]
