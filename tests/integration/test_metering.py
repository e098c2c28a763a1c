"""Capacity accounting: item sizes and capacity units by AWS's published rules."""

import pytest

from cruddur.request_cost import track_usage
from messaging.domain import UserRef
from messaging.dynamo import get_dynamo_store, item_size, metering, schema
from tests.helpers import within_budget


def test_item_size_counts_utf8_names_and_values():
    assert item_size({"pk": {"S": "GRP#1"}}) == 2 + 5
    assert item_size({"m": {"S": "é"}}) == 1 + 2  # two UTF-8 bytes
    assert item_size({"n": {"N": "1"}}) == 1 + 2
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4


@pytest.mark.parametrize(
    ("sizes", "consistent", "expected"),
    [
        ([100], False, 0.5),  # minimum: one 4 KB unit, halved for eventually consistent
        ([100], True, 1.0),
        ([2000, 2000, 200], False, 1.0),  # 4200 B summed, rounded up once: 2 units
        ([4096], False, 0.5),
        ([], False, 0.5),  # an empty Query still costs the minimum
    ],
)
def test_query_read_units_round_the_sum_once(sizes, consistent, expected):
    items = [{"x": {"S": "a" * (size - 1)}} for size in sizes]
    params = {"ConsistentRead": consistent}
    call = metering.measure("query", params, {"Items": items}, on_aws=False)
    assert call.read_units == expected
    assert call.bytes_read == sum(sizes)
    assert call.items == len(sizes)


def test_transaction_write_units_are_doubled():
    small = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    big = {"pk": {"S": "a"}, "sk": {"S": "b"}, "m": {"S": "x" * 1500}}
    params = {"TransactItems": [{"Put": {"Item": small}}, {"Put": {"Item": big}}]}
    call = metering.measure("transact_write_items", params, {}, on_aws=False)
    assert call.write_units == 2 * (1 + 2)


def test_on_aws_the_reported_figure_wins():
    response = {"Items": [], "ConsumedCapacity": {"CapacityUnits": 7.5}}
    assert metering.measure("query", {}, response, on_aws=True).read_units == 7.5


def test_record_adds_the_call_to_the_requests_tally():
    response = {"Items": [], "ConsumedCapacity": {"CapacityUnits": 7.5}}
    with track_usage() as usage:
        metering.record("query", {}, response, on_aws=True)
    assert [call.operation for call in usage.calls] == ["query"]
    assert usage.read_units == 7.5
    assert usage.capacity_source == "reported by AWS"


@pytest.mark.django_db
def test_track_usage_counts_each_call_of_a_page(moto_endpoint):
    store = get_dynamo_store()
    schema.create(store.table)
    andrew = UserRef(uuid="a" * 8, handle="andrew", display_name="Andrew")
    bayko = UserRef(uuid="b" * 8, handle="bayko", display_name="Bayko")
    group_uuid, _ = store.create_conversation(sender=andrew, recipient=bayko, text="hello")
    for number in range(25):
        store.create_message(conversation_uuid=group_uuid, sender=bayko, text=f"m{number}")

    with track_usage() as usage:
        page = store.list_messages(conversation_uuid=group_uuid)
    assert usage.requests == 1
    assert usage.items_read == len(page.items) == 20
    assert 20 * 150 < usage.bytes_read < 20 * 400
    assert usage.read_units == 0.5  # 20 small messages fit in one 4 KB unit
    assert usage.capacity_source.startswith("computed")

    with track_usage() as usage:
        store.create_message(conversation_uuid=group_uuid, sender=andrew, text="reply")
    assert within_budget(usage.calls, query=1, transact_write_items=1)
    assert usage.write_units >= 2 * 5  # message + 2 deletes + 2 puts (+ counter), doubled
