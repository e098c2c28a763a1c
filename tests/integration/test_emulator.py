"""devtools/emulator.py: the emulator of `make run` and the benchmark.

Its speed-ups patch moto's internals, so these tests fail loudly when a moto upgrade changes
them: the pinned version, the patched functions' signatures, the same answers with and
without the speed-ups (and the speed-ups actually used), counted, never timed. The rest of
the suite runs stock moto; the tests here that need the speed-ups install them for
themselves (the `speedups` fixture) and take them out again.
"""

import copy
import re
import urllib.request
from importlib import metadata
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from devtools import emulator

ROOT = Path(__file__).resolve().parents[2]
TABLE = "emulator-check"
PARTITIONS = [f"P{n}" for n in range(5)]
TEAMS = ["T0", "T1", "T2"]


@pytest.fixture
def speedups():
    """The emulator's speed-ups, as `make run` and the benchmark run moto, for one test."""
    emulator.install_speedups()
    yield
    emulator.remove_speedups()


# --- the moto the speed-ups were written for ---


def test_moto_is_the_version_pinned():
    pinned = re.search(
        r"^moto\[server\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M
    )
    assert pinned, "requirements-dev.txt must pin moto: the emulator patches its internals"
    assert metadata.version("moto") == pinned.group(1)


def test_the_suite_runs_stock_moto_with_requests_isolated():
    assert not emulator.speedups_installed()
    assert getattr(DynamoHandler.call_action, "isolated", False)


def test_the_functions_patched_are_as_the_speedups_expect(speedups):
    assert emulator.check_moto() == []
    assert emulator.speedups_installed()


def test_a_changed_moto_function_stops_the_speedups():
    def query(self, hash_key, index=None):  # as if moto had renamed index_name
        raise AssertionError("never called")

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Table, "query", query)
            with pytest.raises(RuntimeError, match=r"Table\.query\(self, hash_key, index\)"):
                emulator.install_speedups()
            assert not emulator.speedups_installed()
    finally:
        emulator.remove_speedups()  # had they gone in, the rest of the suite stays stock


# --- the same answers with and without the speed-ups ---


def _answer(call, **params):
    """A response or an error, without what differs between any two runs."""
    try:
        response = call(**params)
    except ClientError as error:
        return {
            "error": error.response["Error"]["Code"],
            "message": error.response["Error"].get("Message"),
            "reasons": error.response.get("CancellationReasons"),
        }
    response.pop("ResponseMetadata", None)
    response.pop("ConsumedCapacity", None)
    return response


def _pages(client, **params):
    """Every page of a Query, following LastEvaluatedKey."""
    pages = [_answer(client.query, **params)]
    while "LastEvaluatedKey" in pages[-1]:
        pages.append(
            _answer(client.query, **params, ExclusiveStartKey=pages[-1]["LastEvaluatedKey"])
        )
    return pages


def _reads(client):
    answers = []
    for pk in [*PARTITIONS, "P5", "P7", "P8", "missing"]:
        key = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        for forward in (True, False):
            answers += _pages(client, TableName=TABLE, **key, ScanIndexForward=forward)
            answers += _pages(client, TableName=TABLE, **key, ScanIndexForward=forward, Limit=5)
        ranged = {**key["ExpressionAttributeValues"], ":a": {"S": "S03"}, ":b": {"S": "S08"}}
        for condition in ("sk BETWEEN :a AND :b", "sk > :a", "begins_with(sk, :a)"):
            answers += _pages(
                client,
                TableName=TABLE,
                KeyConditionExpression=f"pk = :pk AND {condition}",
                ExpressionAttributeValues=ranged,
                Limit=3,
                ScanIndexForward=False,
            )
        over_four = {**key["ExpressionAttributeValues"], ":n": {"N": "4"}}
        answers += _pages(
            client,
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            FilterExpression="n > :n",
            ExpressionAttributeValues=over_four,
            Limit=4,
        )
        answers.append(_answer(client.query, TableName=TABLE, **key, Select="COUNT"))
        answers.append(_answer(client.query, TableName=TABLE, **key, ProjectionExpression="sk"))
    for team in [*TEAMS, "T3", "nobody"]:
        key = {
            "IndexName": "by-team",
            "KeyConditionExpression": "team = :t",
            "ExpressionAttributeValues": {":t": {"S": team}},
        }
        for forward in (True, False):
            answers += _pages(client, TableName=TABLE, **key, ScanIndexForward=forward)
            answers += _pages(client, TableName=TABLE, **key, ScanIndexForward=forward, Limit=2)
        answers += _pages(
            client, TableName=TABLE, IndexName="by-team", Limit=2,
            KeyConditionExpression="team = :t AND sk > :s",
            ExpressionAttributeValues={":t": {"S": team}, ":s": {"S": "S05"}},
        )  # fmt: skip
    items = client.scan(TableName=TABLE)["Items"]
    answers.append(sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"])))
    return answers


def _item(pk, sk, **attrs):
    return {"pk": {"S": pk}, "sk": {"S": sk}, **attrs}


def _put(pk, sk, **attrs):
    return {"Put": {"TableName": TABLE, "Item": _item(pk, sk, **attrs)}}


def _update(pk, sk, expression, **values):
    action = {"TableName": TABLE, "Key": _item(pk, sk), "UpdateExpression": expression}
    if values:
        action["ExpressionAttributeValues"] = {f":{name}": v for name, v in values.items()}
    return action


def _delete(pk, sk):
    return {"Delete": {"TableName": TABLE, "Key": _item(pk, sk)}}


def _check(pk, sk, condition, **extra):
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": _item(pk, sk),
            "ConditionExpression": condition,
            **extra,
        }
    }


def _writes(client):
    """Writes by every path moto has; transactions that commit, and fail in each way."""
    transact = client.transact_write_items
    t0, t1, t2, t3 = ({"S": team} for team in ("T0", "T1", "T2", "T3"))
    return [
        _answer(client.update_item, **_update("P0", "S01", "SET team = :t", t=t1)),  # gains one
        _answer(client.update_item, **_update("P0", "S00", "REMOVE team")),  # loses it
        _answer(client.put_item, TableName=TABLE, Item=_item("P1", "S03", team=t2)),
        _answer(client.delete_item, TableName=TABLE, Key=_item("P2", "S06")),
        _answer(
            client.batch_write_item,
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": _item("P5", "S00", team=t0)}},
                    {"DeleteRequest": {"Key": _item("P3", "S09")}},
                ]
            },
        ),
        _answer(
            client.execute_statement,
            Statement=f"UPDATE \"{TABLE}\" SET team='T0' WHERE pk='P3' AND sk='S01'",
        ),
        _answer(  # commits
            transact,
            TransactItems=[
                _put("P4", "S20", team=t1, n={"N": "1"}),
                {
                    "Update": _update(
                        "P4", "S00", "SET n = n + :one, team = :t", one={"N": "1"}, t=t2
                    )
                },
                _delete("P4", "S03"),
                _check("P0", "S02", "attribute_exists(pk)"),
            ],
        ),
        _answer(  # applied action by action by moto, then undone: the last condition fails
            transact,
            TransactItems=[
                _put("P0", "S50", team=t0),
                _put("P7", "S00", team=t1),  # a new partition
                {"Update": _update("P1", "S00", "SET team = :t, n = :n", t=t3, n={"N": "99"})},
                {"Update": _update("P1", "S02", "SET n = n + :one", one={"N": "1"})},
                _put("P1", "S30"),
                _delete("P2", "S00"),
                _check("P9", "nothing", "attribute_exists(pk)"),
            ],
        ),
        _answer(  # fails at once, returning the item it found
            transact,
            TransactItems=[
                _check(
                    "P0",
                    "S02",
                    "attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),  # fmt: skip
                _put("P1", "S01", team=t0),
            ],
        ),
        _answer(  # two actions on one item: moto has applied the first ones when it says so
            transact,
            TransactItems=[
                _put("P8", "S00", team=t0),
                {"Update": _update("P0", "S04", "SET team = :t", t=t3)},
                _delete("P0", "S04"),
            ],
        ),
    ]


def _stream(client):
    # botocore's default stream host (<account>.streams-ddb...) is one moto does not route.
    streams = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        config=Config(account_id_endpoint_mode="disabled"),
    )
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [
        (
            record["eventName"],
            record["dynamodb"]["SequenceNumber"],
            record["dynamodb"]["Keys"],
            record["dynamodb"].get("NewImage"),
            record["dynamodb"].get("OldImage"),
        )
        for record in records
    ]


def _create_table(client, *, index_keys, **extra):
    """TABLE: keys pk and sk, and the index "by-team" with `index_keys`."""
    client.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "team")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-team",
                "KeySchema": index_keys,
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def _scenario():
    """One table with several partitions and a GSI: reads, writes, reads, the stream."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(
            client,
            index_keys=[
                {"AttributeName": "team", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for number, pk in enumerate(PARTITIONS):
            for n in range(12):
                item = _item(pk, f"S{n:02d}", n={"N": str(n)}, text={"S": f"{pk} {n}"})
                if n % 3 != 1:  # a sparse index: some items are not in it
                    item["team"] = {"S": TEAMS[(number + n) % len(TEAMS)]}
                client.put_item(TableName=TABLE, Item=item)
        return [*_reads(client), *_writes(client), *_reads(client), *_stream(client)]


def test_the_speedups_answer_as_stock_moto_does():
    before = emulator.stats.copy()
    stock = _scenario()
    assert emulator.stats == before  # stock moto ran: nothing counted
    emulator.install_speedups()
    try:
        fast = _scenario()
    finally:
        emulator.remove_speedups()
    used = emulator.stats - before

    assert len(fast) == len(stock)
    for number, (answer, expected) in enumerate(zip(fast, stock, strict=True)):
        assert answer == expected, f"answer {number}"
    # The scenario covers what it means to: pages, both orders, failed transactions.
    assert any("LastEvaluatedKey" in answer for answer in stock if isinstance(answer, dict))
    reasons = [a["reasons"] for a in stock if isinstance(a, dict) and a.get("reasons")]
    assert [[r["Code"] for r in each] for each in reasons] == [
        ["None", "None", "None", "None", "None", "None", "ConditionalCheckFailed"],
        ["ConditionalCheckFailed", "None"],
    ]
    assert reasons[1][0]["Item"]["sk"] == {"S": "S02"}
    assert any(a.get("error") == "ValidationException" for a in stock if isinstance(a, dict))
    # ...and ran with the speed-ups: table and index queries, and one backup per transaction.
    assert used["partition_queries"] > 100 and used["index_queries"] > 50
    assert used["partial_backups"] == 4
    assert 0 < used["conditions_parsed"] < used["conditions_met"]


# --- the fast path is the one taken (counted, not timed) ---


@pytest.fixture
def wide_table(speedups, aws_in_process):
    """20 partitions of 10 items; every fifth item of each in team T<partition % 4>."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    _create_table(client, index_keys=[{"AttributeName": "team", "KeyType": "HASH"}])
    for partition in range(20):
        for n in range(10):
            team = {"team": {"S": f"T{partition % 4}"}} if n % 5 == 0 else {}
            client.put_item(TableName=TABLE, Item=_item(f"P{partition}", f"S{n:02d}", **team))
    return client


def test_a_query_reads_its_partition_only(wide_table):
    before = emulator.stats.copy()
    found = wide_table.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "P7"}},
        Limit=4,
    )
    read = emulator.stats - before
    assert found["Count"] == 4
    assert read["partition_queries"] == read["view_reads"] == 1
    assert read["items_read"] == 10  # the partition, not the 200 items of the table


def test_an_index_query_reads_the_items_holding_its_key_only(wide_table):
    before = emulator.stats.copy()
    for _ in range(2):
        found = wide_table.query(
            TableName=TABLE,
            IndexName="by-team",
            KeyConditionExpression="team = :t",
            ExpressionAttributeValues={":t": {"S": "T3"}},
        )
    read = emulator.stats - before
    assert found["Count"] == 5 * 2  # five partitions with T3, two items each
    assert read["index_queries"] == 2
    assert read["index_builds"] == 1  # built once, then kept up to date by the writes
    assert read["items_read"] == 2 * 10


def test_a_transaction_copies_the_items_it_names_not_the_table(wide_table, monkeypatch):
    tables_copied = []
    deepcopy = copy.deepcopy

    def spy(value, memo=None):
        if isinstance(value, Table):
            tables_copied.append(value.name)
        return deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)
    before = emulator.stats.copy()
    wide_table.transact_write_items(
        TransactItems=[
            _put("P1", "S99"),
            _delete("P2", "S00"),
            {"Update": _update("P3", "S01", "SET n = :n", n={"N": "1"})},
        ]
    )
    assert (emulator.stats - before)["partial_backups"] == 1  # stock moto: 3 whole tables
    assert tables_copied == []


def test_a_condition_is_parsed_once(wide_table):
    before = emulator.stats.copy()
    for sk in ("S97", "S98", "S99"):  # the same condition, in a write and in a transaction
        wide_table.put_item(
            TableName=TABLE, Item=_item("P0", sk), ConditionExpression="attribute_not_exists(pk)"
        )
        wide_table.transact_write_items(
            TransactItems=[_check("P0", sk, "attribute_exists(pk)"), _put("P1", sk)]
        )
    assert (emulator.stats - before)["conditions_parsed"] == 2  # stock moto: 3 + 3 * 2


# --- the server: isolated, fast, and a ping that never touches moto's state ---


def test_the_server_isolates_requests_and_takes_the_speedups_when_installed(
    moto_endpoint, speedups
):
    assert getattr(DynamoHandler.call_action, "isolated", False)
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = emulator.stats.copy()
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "a"}},
    )
    assert (emulator.stats - before)["partition_queries"] == 1


def test_ping_answers_ok(moto_server_url):
    with urllib.request.urlopen(f"{moto_server_url}{emulator.PING_PATH}", timeout=5) as answer:
        assert (answer.status, answer.read()) == (200, b"ok\n")
