"""The stream handler's zip (`make lambda-zip`, deploy/lambda_zip.py): what it holds, that it
is the same bytes for the same code, and that it runs as Lambda runs it: from its own folder,
the handler named by deploy/messages.yaml, Django out of reach, against the emulator."""

import json
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploy import lambda_zip
from messaging.domain import Message, format_sort_key
from messaging.dynamo import get_dynamo_store, items, schema
from tests.deploy.dynamodb_calls import template

ROOT = Path(__file__).resolve().parents[2]

# Runs the handler as Lambda's Python runtime does: the task folder first on the path, the
# handler imported by name. With -I the checkout is not on the path and PYTHONPATH is ignored;
# a finder refuses Django (the venv has it, the Lambda runtime does not).
RUN_AS_LAMBDA = """
import importlib, importlib.abc, json, sys

class NoDjango(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "django":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoDjango())
task, handler = sys.argv[1:]
sys.path.insert(0, task)
module, _, function = handler.rpartition(".")
result = getattr(importlib.import_module(module), function)(json.load(sys.stdin), None)
ours = {
    name: getattr(loaded, "__file__", None)
    for name, loaded in sys.modules.items()
    if name.partition(".")[0] in ("messaging", "cruddur")
}
print(json.dumps({"summary": result, "project_modules": ours}))
"""


def build_with_the_script(output: Path) -> Path:
    """As `make lambda-zip` builds it."""
    subprocess.run(
        [sys.executable, "deploy/lambda_zip.py", "--output", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return output


@pytest.fixture(scope="module")
def handler_zip(tmp_path_factory):
    return build_with_the_script(tmp_path_factory.mktemp("zip") / "stream-handler.zip")


def test_the_zip_holds_the_handlers_modules_and_nothing_else(handler_zip):
    with zipfile.ZipFile(handler_zip) as archive:
        names = archive.namelist()

    assert names == sorted(names)
    assert "messaging/stream.py" in names
    assert "messaging/dynamo/store.py" in names and "cruddur/aws.py" in names
    # Modules of the site, and messaging/store.py (it imports Django), stay out.
    assert not {"messaging/views.py", "messaging/store.py", "cruddur/settings.py"} & set(names)
    assert all(name.endswith(".py") for name in names)


def test_the_same_code_makes_the_same_bytes(handler_zip, tmp_path):
    again = build_with_the_script(tmp_path / "again.zip")

    assert again.read_bytes() == handler_zip.read_bytes()
    with zipfile.ZipFile(again) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_an_import_the_runtime_does_not_provide_fails_the_build(tmp_path, monkeypatch):
    (tmp_path / "messaging").mkdir()
    (tmp_path / "messaging" / "__init__.py").write_text("")
    (tmp_path / "messaging" / "stream.py").write_text(
        "import json\n"
        "try:\n    import django\nexcept ImportError:\n    django = None\n"
        "import requests\n"
    )
    monkeypatch.setattr(lambda_zip, "ROOT", tmp_path)

    with pytest.raises(lambda_zip.BuildError, match="imports requests"):
        lambda_zip.build(tmp_path / "out.zip")


def insert_record(message: Message) -> dict:
    """A Lambda event record for a new message item, as DynamoDB Streams sends it (NEW_IMAGE)."""
    image = items.to_typed(items.message_item(message))
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": int(message.created_at.timestamp()),
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 260,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": (
            "arn:aws:dynamodb:us-east-1:123456789012:table/cruddur-messages/stream/"
            "2026-12-03T00:00:00.000"
        ),
    }


def run_as_lambda(task: Path, event: dict, moto_endpoint: str, table_name: str) -> dict:
    handler = template()["Resources"]["StreamHandler"]["Properties"]["Handler"]
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",  # Lambda sets it; the stack sets DDB_MESSAGE_TABLE
        "DDB_MESSAGE_TABLE": table_name,
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUN_AS_LAMBDA, str(task), handler],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        cwd=task,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def table_items(store) -> list[dict]:
    return sorted(schema.scan(store.table), key=lambda item: (item["pk"], item["sk"]))


def test_the_zip_moves_both_inbox_entries_once(
    handler_zip, tmp_path, moto_endpoint, andrew_ref, bayko_ref
):
    store = get_dynamo_store()
    schema.create(store.table)
    conversation, first = store.create_conversation(
        sender=andrew_ref, recipient=bayko_ref, text="hi"
    )
    # A message stored the original's way: the item only, its inbox entries left behind.
    at = max(first.created_at, datetime.now(UTC)) + timedelta(minutes=1)
    message = Message(
        message_uuid=str(uuid.uuid4()),
        conversation_uuid=conversation,
        sender=bayko_ref,
        text="from the old API",
        created_at=at,
        sort_key=format_sort_key(at),
    )
    store.table.call(
        "put_item", TableName=store.table.name, Item=items.to_typed(items.message_item(message))
    )
    task = tmp_path / "task"
    with zipfile.ZipFile(handler_zip) as archive:
        archive.extractall(task)
    event = {"Records": [insert_record(message)]}

    first_run = run_as_lambda(task, event, moto_endpoint, store.table.name)

    assert first_run["summary"]["moved"] == 1
    for name, path in first_run["project_modules"].items():
        assert path is None or Path(path).is_relative_to(task), (name, path)
    entries = store.get_participants(conversation_uuid=conversation)
    assert {entry.owner_uuid for entry in entries} == {andrew_ref.uuid, bayko_ref.uuid}
    for entry in entries:
        assert (entry.sort_key, entry.last_message) == (message.sort_key, message.text)
    after_first = table_items(store)

    replay = run_as_lambda(task, event, moto_endpoint, store.table.name)

    assert replay["summary"]["unchanged"] == 1
    assert table_items(store) == after_first
