"""The benchmark's machinery: a tiny end-to-end run, and its emulator answering like moto.

`make bench` itself is not part of the test run; this runs the same command at the `smoke`
size (a few hundred messages, fractions of a second per scenario) and checks what it wrote.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bench import emulator, seed
from messaging.dynamo import get_dynamo_store as get_store
from messaging.dynamo import schema

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"floor", "inbox", "conversation", "conversation_page3", "send"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--database", "sqlite", "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_smoke_run_measures_every_scenario_on_both_gateways(smoke_run):
    results = json.loads((smoke_run / "bench-results.json").read_text())
    rows = {
        (row["backend"], row["scenario"]): row for row in results["sizes"]["smoke"]["scenarios"]
    }
    assert set(rows) == {(backend, name) for backend in ("moto", "memory") for name in SCENARIOS}
    for row in rows.values():
        assert row["samples"] > 0
        assert row["errors"] == 0, row["error_examples"]
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["cost"]["sql_queries"]["median"] >= 2  # at least the session and the user


def test_smoke_run_reads_the_page_costs_from_the_server(smoke_run):
    results = json.loads((smoke_run / "bench-results.json").read_text())
    rows = {
        (row["backend"], row["scenario"]): row for row in results["sizes"]["smoke"]["scenarios"]
    }

    def dynamodb(backend, name, field="dynamodb_requests"):
        return rows[(backend, name)]["cost"][field]["median"]

    assert dynamodb("moto", "floor") == 0
    assert dynamodb("moto", "inbox") == 1
    assert dynamodb("moto", "inbox", "items") == 21  # a page of 20, plus one to see if more
    assert dynamodb("moto", "conversation") == 2  # the inbox sidebar and the messages
    assert dynamodb("moto", "conversation_page3") == 2
    assert dynamodb("moto", "send", "wcu") > 0
    assert dynamodb("memory", "inbox") == 0  # the fake is not DynamoDB: nothing to count


def test_smoke_run_writes_the_report(smoke_run):
    document = (smoke_run / "BENCHMARKS.md").read_text()
    assert "| smoke | DynamoDB (moto) | inbox |" in document
    assert "| smoke | in-memory | inbox |" in document
    assert "## Targets" in document and "## How to read these numbers" in document
    assert "| inbox ≤ 1 RCU per page of 20 (size smoke) |" in document
    assert {path.name for path in smoke_run.iterdir()} == {"BENCHMARKS.md", "bench-results.json"}


def test_the_dataset_is_the_same_every_time():
    first = seed.build(seed.SIZES["smoke"], clients=2)
    second = seed.build(seed.SIZES["smoke"], clients=2)
    assert first == second
    assert first.message_count == seed.SIZES["smoke"].messages
    assert [user.handle for user in first.users[:2]] == ["bench0", "bench1"]
    inbox = [c for c in first.conversations if first.users[0] in c.participants]
    assert len(inbox) == seed.SIZES["smoke"].inbox
    main = max(inbox, key=lambda c: c.messages[-1].created_at)
    assert main.group_uuid == first.main_conversations[0]
    assert len(main.messages) == seed.SIZES["smoke"].long


# --- bench/emulator.py: the scale fixes change the time, not the answers ---


@pytest.fixture
def scale_fixes():
    emulator.install_scale_fixes()
    yield
    emulator.set_scaled(True)
    emulator.remove_scale_fixes()


@pytest.fixture
def seeded(aws_in_process, scale_fixes):
    gateway = get_store()
    schema.create(gateway.table)
    dataset = seed.build(seed.SIZES["smoke"], clients=2)
    seed.load_into(gateway, dataset)
    return gateway, dataset


def _reads(gateway, dataset):
    answers = []
    for user in dataset.users[:6]:
        page = gateway.list_conversations(user_uuid=user.uuid, limit=5)
        answers += [page, gateway.list_conversations(user_uuid=user.uuid, cursor=page.next_cursor)]
    for conversation in dataset.conversations[:12]:
        group = conversation.group_uuid
        page = gateway.list_messages(conversation_uuid=group, limit=7)
        answers.append(page)
        if page.next_cursor:
            answers.append(gateway.list_messages(conversation_uuid=group, cursor=page.next_cursor))
        answers.append(gateway.get_participants(conversation_uuid=group))
    return answers


def test_scaled_queries_answer_like_stock_moto(seeded):
    gateway, dataset = seeded
    emulator.set_scaled(True)
    scaled = _reads(gateway, dataset)
    emulator.set_scaled(False)
    stock = _reads(gateway, dataset)
    assert scaled == stock
    assert any(page.next_cursor for page in scaled if hasattr(page, "next_cursor"))


@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "stock"])
def test_a_cancelled_transaction_leaves_the_table_as_it_was(seeded, scaled):
    gateway, dataset = seeded
    emulator.set_scaled(scaled)
    me, group_uuid = dataset.users[0], dataset.main_conversations[0]
    (mine,) = [
        g for g in gateway.get_participants(conversation_uuid=group_uuid) if g.owner_uuid == me.uuid
    ]
    table = gateway.table.name

    def snapshot():
        return sorted(schema.scan(gateway.table), key=lambda item: (item["pk"], item["sk"]))

    before = snapshot()
    with pytest.raises(ClientError, match="TransactionCanceled"):
        gateway.table.client.transact_write_items(
            TransactItems=[
                # Applied by moto first (a new item, and one changed in place), then undone...
                {
                    "Put": {
                        "TableName": table,
                        "Item": {
                            "pk": {"S": f"MSG#{group_uuid}"},
                            "sk": {"S": "2030-01-01T00:00:00.000000+00:00"},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": f"GRP#{me.uuid}"}, "sk": {"S": mine.sort_key}},
                        "UpdateExpression": "SET unread = :n",
                        "ExpressionAttributeValues": {":n": {"N": "7"}},
                    }
                },
                # ...because this condition fails.
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "nobody"}, "sk": {"S": "x"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert snapshot() == before


def test_a_send_writes_the_same_items_scaled_or_stock(seeded):
    gateway, dataset = seeded
    me = dataset.users[0]
    written = {}
    for scaled, group_uuid in (
        (True, dataset.main_conversations[0]),
        (False, dataset.main_conversations[1]),
    ):
        emulator.set_scaled(scaled)
        sender = me if scaled else dataset.users[1]
        message = gateway.create_message(conversation_uuid=group_uuid, sender=sender, text="hi")
        groups = gateway.get_participants(conversation_uuid=group_uuid)
        written[scaled] = (
            [g.sort_key == message.sort_key for g in groups],
            gateway.list_messages(conversation_uuid=group_uuid, limit=1).items[0].message_uuid
            == message.message_uuid,
        )
    assert written[True] == written[False] == ([True, True], True)
