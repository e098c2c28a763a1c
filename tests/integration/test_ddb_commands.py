"""The DynamoDB commands through call_command against moto's HTTP server."""

import io
import os
import subprocess
import sys
from datetime import timedelta

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from messaging import services
from messaging.seed import SEED_CONVERSATION_UUID, SEED_LINES
from messaging.store import get_store

pytestmark = pytest.mark.django_db


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture(autouse=True)
def debug_on(settings):
    """The commands as `make run` runs them (pytest-django turns DEBUG off)."""
    settings.DEBUG = True


@pytest.fixture
def table(moto_endpoint):
    run("ddb_schema_load")
    return moto_endpoint


@pytest.fixture
def seeded(table):
    run("seed_users")
    run("ddb_seed")
    return table


def dynamodb(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def test_schema_load_creates_table_and_gsi_as_designed(moto_endpoint):
    assert "Created table cruddur-messages" in run("ddb_schema_load")
    table = dynamodb(moto_endpoint).describe_table(TableName="cruddur-messages")["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("pk", "HASH"),
        ("sk", "RANGE"),
    }
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "message-group-sk-index"
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        ("message_group_uuid", "HASH"),
        ("sk", "RANGE"),
    ]
    assert index["Projection"]["ProjectionType"] == "ALL"
    assert "StreamSpecification" not in table or not table["StreamSpecification"]["StreamEnabled"]


def test_schema_load_twice_says_so_and_succeeds(table):
    assert "already exists" in run("ddb_schema_load")


def test_schema_load_provisioned_with_stream(moto_endpoint):
    run("ddb_schema_load", "--billing-mode", "PROVISIONED", "--stream")
    table = dynamodb(moto_endpoint).describe_table(TableName="cruddur-messages")["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_list_tables(moto_endpoint):
    assert "No tables" in run("ddb_list_tables")
    run("ddb_schema_load")
    assert run("ddb_list_tables").splitlines() == ["cruddur-messages"]


def test_seed_then_scan_every_item(seeded):
    out = run("ddb_scan")
    lines = out.splitlines()
    messages = [line for line in lines if line.startswith(f"MSG#{SEED_CONVERSATION_UUID}")]
    groups = [line for line in lines if line.startswith("GRP#")]
    assert len(messages) == len(SEED_LINES) >= 45
    assert len(groups) == 2
    assert lines[-1] == f"{len(lines) - 1} items."


def test_seed_and_the_unread_repair_agree(seeded, django_user_model):
    # The seed conversation starts read on both sides; the repair's rule counts the same,
    # also after sends, which keep each entry's read marker as they move it.
    assert "would fix 0 counts" in run("ddb_repair_unread", "--dry-run")
    andrew = django_user_model.objects.get(handle="andrewbrown")
    for text in ("still up?", "hello?"):
        services.send_message(sender=andrew, conversation_uuid=SEED_CONVERSATION_UUID, text=text)
    assert "would fix 0 counts" in run("ddb_repair_unread", "--dry-run")


def test_seed_twice_leaves_the_same_items(seeded):
    before = run("ddb_scan")
    assert "Seeded" in run("ddb_seed")
    assert run("ddb_scan") == before


def test_seed_without_seed_users_is_a_clear_error(table):
    with pytest.raises(CommandError, match="seed_users"):
        run("ddb_seed")


def test_seed_with_debug_off_asks_for_force(table, settings):
    run("seed_users")
    settings.DEBUG = False
    before = run("ddb_scan")
    with pytest.raises(CommandError, match="may be the production table: .* when given --force"):
        run("ddb_seed")
    assert run("ddb_scan") == before

    assert "Seeded" in run("ddb_seed", force=True)
    assert run("ddb_scan") != before


def test_get_conversation_pages_and_capacity(seeded):
    out = run("ddb_get_conversation")
    lines = out.splitlines()
    assert len(lines) == 21  # 20 newest messages + the summary
    assert "use --all" in lines[-1]
    assert "RCU" in lines[-1]
    assert lines[-2].split()[0] in {"andrewbrown", "bayko"}
    assert SEED_LINES[-1][1] in lines[-2]

    everything = run("ddb_get_conversation", SEED_CONVERSATION_UUID, "--all").splitlines()
    assert len(everything) == len(SEED_LINES) + 1
    assert SEED_LINES[0][1] in everything[0]
    # The conversation straddles New Year: last year's messages come first.
    assert everything[0].split()[1].startswith("2025-12-31")
    assert everything[-2].split()[1].startswith("2026-01-01")


def test_get_conversation_unknown_group(seeded):
    with pytest.raises(CommandError, match="No messages"):
        run("ddb_get_conversation", "00000000-0000-0000-0000-000000000000")


def test_list_conversations(seeded):
    out = run("ddb_list_conversations", "andrewbrown")
    assert SEED_CONVERSATION_UUID in out
    assert "@bayko" in out
    assert "1 conversation;" in out
    assert "@andrewbrown" in run("ddb_list_conversations", "@BAYKO")


def test_list_conversations_unknown_handle(seeded):
    with pytest.raises(CommandError, match="No user @nobody"):
        run("ddb_list_conversations", "nobody")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_drop_asks_first(table, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Cancelled"):
        run("ddb_drop")
    assert run("ddb_list_tables").splitlines() == ["cruddur-messages"]

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert "Deleted table cruddur-messages" in run("ddb_drop")
    assert "No tables" in run("ddb_list_tables")


def test_drop_without_a_terminal_refuses_in_one_sentence(table, moto_endpoint):
    # A real process with nothing on stdin (cron, CI, a pipe): no prompt, no traceback.
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint}
    done = subprocess.run(
        [sys.executable, "manage.py", "ddb_drop"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "CommandError: This command asks before it deletes anything, and there is no terminal "
        "to ask on: run it in a terminal, or pass --no-input to confirm."
    ]
    assert run("ddb_list_tables").splitlines() == ["cruddur-messages"]


def test_drop_no_input_and_unknown_table(table):
    with pytest.raises(CommandError, match="does not exist"):
        run("ddb_drop", "no-such-table", "--no-input")
    run("ddb_drop", "--no-input")
    assert "No tables" in run("ddb_list_tables")


@pytest.mark.parametrize(
    "command",
    ["ddb_scan", "ddb_seed", "ddb_get_conversation", "ddb_list_conversations"],
)
def test_missing_table_says_what_to_do(moto_endpoint, command):
    run("seed_users")
    with pytest.raises(CommandError, match="ddb_schema_load"):
        run(command)


@pytest.mark.parametrize("command", ["ddb_list_tables", "ddb_schema_load", "ddb_scan"])
def test_emulator_not_running_is_one_clear_sentence(command, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError, match="make run") as error:
        run(command)
    assert "Traceback" not in str(error.value)


def test_no_credentials_is_a_clear_error(moto_endpoint, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CommandError, match="credentials"):
        run("ddb_list_tables", "--prod")


def test_local_emulator_needs_no_credentials(moto_endpoint, monkeypatch, tmp_path):
    # A fresh shell next to `make run`: no AWS keys anywhere, and the commands still work.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert "Created table" in run("ddb_schema_load")
    assert run("ddb_list_tables").splitlines() == ["cruddur-messages"]


def test_prod_ignores_the_emulator_endpoint(aws_in_process, settings):
    # Under mock_aws, "real AWS" is moto in-process; the endpoint below is unreachable.
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    assert "Created table" in run("ddb_schema_load", "--prod")
    assert run("ddb_list_tables", "--prod").splitlines() == ["cruddur-messages"]
    with pytest.raises(CommandError, match="make run"):
        run("ddb_list_tables")


def test_get_conversation_shows_unsent_and_edited_messages_as_the_pages_do(seeded):
    store = get_store()
    older, newest = store.list_messages(conversation_uuid=SEED_CONVERSATION_UUID, limit=2).items[
        ::-1
    ]
    edited_at = older.created_at + timedelta(seconds=30)
    for message in (older, newest):
        store.edit_message(
            user_uuid=message.sender.uuid,
            conversation_uuid=SEED_CONVERSATION_UUID,
            message_uuid=message.message_uuid,
            text=f"{message.text} (fixed)",
            now=message.created_at + timedelta(seconds=30),
            sort_key=message.sort_key,
        )
    store.unsend_message(
        user_uuid=newest.sender.uuid,
        conversation_uuid=SEED_CONVERSATION_UUID,
        message_uuid=newest.message_uuid,
        sort_key=newest.sort_key,
    )

    lines = run("ddb_get_conversation").splitlines()

    assert lines[-3].endswith(f"{older.text} (fixed) (edited {edited_at:%H:%M:%S})")
    assert lines[-2].endswith("Message unsent")
    assert newest.text not in lines[-2]
    # The inbox listing shows the unsent last message the same way.
    assert run("ddb_list_conversations", "andrewbrown").splitlines()[1].endswith("Message unsent")
