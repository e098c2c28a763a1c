"""The DynamoDB operations the app really calls, recorded while the tests run and checked, when
the session ends, against the policies of deploy/messages.yaml (a pytest plugin, loaded by
tests/conftest.py).

Recording: every boto3 session made in a test process gets a `provide-client-params.dynamodb`
handler (clients copy their session's handlers), so every DynamoDB call of the app's clients
(messaging/dynamo/factory.py makes a session per store) is seen with its parameters, once per
call whatever botocore retries. Each call becomes the IAM actions it needs, on the table or
its index; a transaction's parts are `PutItem`... with `dynamodb:EnclosingOperation`
TransactWriteItems, as IAM authorises them. Who made the call is read from the stack:

- `command:<name>`: inside a management command (`BaseCommand.execute`: call_command,
  manage.py);
- `stream`: inside the stream handler (`messaging.stream.handle_records`);
- `web`: inside a request (Django's handlers, or the thread an ASGI request runs sync code
  in, asgiref's);
- none: the test itself (fixtures creating tables, store-level tests): not recorded.

Checking: only when the whole integration tier ran (every tests/integration file, nothing
deselected): a partial run has not exercised every operation, and says the check was skipped
rather than passing or failing. Why at the session's end and not in a test: under xdist no test
is guaranteed to run after the other worker's integration tests; the controller's
`pytest_sessionfinish` runs after every worker has finished. Each process writes what it
recorded to a file of its own in a run directory the controller makes (passed to the workers
in `workerinput`); the controller, or the single process without xdist, reads them all, and a
mismatch fails the session (exit status 1, the reasons in the terminal summary).

The checks: the web policy grants exactly what the web app called (no more, no less); the
ops policy allows every call of the commands the stack does not replace; the stream handler's
role grants exactly what the handler called on the table.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "messages.yaml"
INTEGRATION = ROOT / "tests" / "integration"
INDEX_NAME = "message-group-sk-index"
RUN_DIR_KEY = "dynamodb_calls_dir"

# Commands whose work the stack does instead, not granted to operators: the stack creates the
# table, and deletion protection and Retain keep it; ListTables cannot be granted on one table.
STACK_COMMANDS = frozenset({"ddb_schema_load", "ddb_drop", "ddb_list_tables"})
TRANSACTION_PARTS = {
    "TransactWriteItems": {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
    },
    "TransactGetItems": {"Get": "GetItem"},
}
ACCOUNT_WIDE = frozenset({"ListTables", "ListBackups", "DescribeLimits"})

# (IAM action, "table" | "index" | "stream" | "*", enclosing operation or "")
Call = tuple[str, str, str]


# --- a call, as IAM sees it ---


def iam_calls(operation: str, params: dict[str, Any]) -> set[Call]:
    """The IAM actions one DynamoDB API call needs, with what they act on."""
    if operation in TRANSACTION_PARTS:
        parts = TRANSACTION_PARTS[operation]
        return {
            (f"dynamodb:{parts[kind]}", "table", operation)
            for item in params.get("TransactItems", [])
            for kind in item
        }
    if operation in ACCOUNT_WIDE:
        return {(f"dynamodb:{operation}", "*", "")}
    return {(f"dynamodb:{operation}", "index" if params.get("IndexName") else "table", "")}


def caller() -> str | None:
    """Who is calling DynamoDB, from the stack (see the module docstring)."""
    codes = _entry_codes()
    web = False
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code is codes["command"]:
            command = frame.f_locals.get("self")
            return f"command:{type(command).__module__.rpartition('.')[2]}"
        if code is codes["stream"]:
            return "stream"
        web = web or code.co_filename.startswith(codes["web_paths"])
        frame = frame.f_back
    return "web" if web else None


_codes: dict[str, Any] = {}


def _entry_codes() -> dict[str, Any]:
    if not _codes:
        import asgiref.sync
        import django.core.handlers
        from django.core.management.base import BaseCommand

        from messaging.stream import handle_records

        _codes.update(
            command=BaseCommand.execute.__code__,
            stream=handle_records.__code__,
            web_paths=(
                os.path.dirname(django.core.handlers.__file__) + os.sep,
                asgiref.sync.__file__,
            ),
        )
    return _codes


# --- what a policy of the template grants ---


def template() -> dict[str, Any]:
    from cfnlint.decode import decode

    decoded, problems = decode(str(TEMPLATE))
    if problems:
        raise AssertionError(f"{TEMPLATE} does not parse: {problems}")
    return decoded


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a managed policy or of a role's inline policies."""
    properties = resource["Properties"]
    if "PolicyDocument" in properties:
        return properties["PolicyDocument"]["Statement"]
    return [
        statement
        for policy in properties.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def resource_kind(resource: Any) -> str:
    """What a statement's Resource names: the table, its index, its stream, or other."""
    if resource == {"Fn::GetAtt": ["Table", "Arn"]}:
        return "table"
    if resource == {"Fn::Sub": f"${{Table.Arn}}/index/{INDEX_NAME}"}:
        return "index"
    if resource == {"Fn::GetAtt": ["Table", "StreamArn"]}:
        return "stream"
    return json.dumps(resource, sort_keys=True)


def grants(resource: dict[str, Any]) -> set[Call]:
    """(action, resource kind, enclosing operation or "" for any) of every Allow statement."""
    granted = set()
    for statement in statements(resource):
        assert statement["Effect"] == "Allow", statement
        actions = as_list(statement["Action"])
        kinds = [resource_kind(item) for item in as_list(statement["Resource"])]
        enclosing = _enclosing_operations(statement.get("Condition"))
        granted |= {(a, k, e) for a in actions for k in kinds for e in enclosing}
    return granted


def _enclosing_operations(condition: dict[str, Any] | None) -> list[str]:
    if not condition:
        return [""]
    (operator, keys), *others = condition.items()
    assert not others and operator == "ForAnyValue:StringEquals", condition
    assert list(keys) == ["dynamodb:EnclosingOperation"], condition
    return as_list(keys["dynamodb:EnclosingOperation"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(granted: set[Call], call: Call) -> bool:
    action, kind, enclosing = call
    return (action, kind, "") in granted or (enclosing and call in granted)


def actions_on(calls: set[Call], kinds: tuple[str, ...] = ("table", "index")) -> set[tuple]:
    return {(action, kind) for action, kind, _ in calls if kind in kinds}


# --- the comparison ---


def problems(recorded: dict[str, set[Call]], resources: dict[str, Any]) -> list[str]:
    """What is wrong between the calls recorded and the template's policies (empty: fine)."""
    found = []
    web, ops, role = (
        grants(resources[name]) for name in ("WebPolicy", "OpsPolicy", "StreamHandlerRole")
    )
    web_calls = recorded.get("web", set())
    found += _difference("WebPolicy grants, the web app never called", web, web_calls)
    found += _difference("the web app called, WebPolicy does not grant", web_calls, web)
    found += _not_allowed("WebPolicy", web, web_calls)
    role_calls = recorded.get("stream", set())
    found += _difference("the handler's role grants, the handler never called", role, role_calls)
    found += _difference("the handler called, its role does not grant", role_calls, role)
    found += _not_allowed("StreamHandlerRole", role, role_calls)
    for origin, calls in sorted(recorded.items()):
        command = origin.removeprefix("command:")
        if origin.startswith("command:") and command not in STACK_COMMANDS:
            found += _not_allowed(f"OpsPolicy (for {command})", ops, calls)
    return found


def _difference(what: str, these: set[Call], those: set[Call]) -> list[str]:
    missing = sorted(actions_on(these) - actions_on(those))
    return [f"{what}: {action} on the {kind}" for action, kind in missing]


def _not_allowed(policy: str, granted: set[Call], calls: set[Call]) -> list[str]:
    return [
        f"{policy} does not allow {action} on the {kind}"
        + (f" within {enclosing}" if enclosing else " outside a transaction")
        for action, kind, enclosing in sorted(calls)
        if not allowed(granted, (action, kind, enclosing))
    ]


# --- the plugin ---


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, set[Call]] = defaultdict(set)
        self.lock = threading.Lock()

    def __call__(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        origin = caller()
        if origin is not None:
            calls = iam_calls(model.name, params)
            with self.lock:
                self.calls[origin] |= calls


class DynamoDBCalls:
    """The plugin's state in one process: a worker, the controller, or the only process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.worker = getattr(config, "workerinput", {}).get("workerid")
        self.controller = self.worker is None and getattr(config.option, "dist", "no") != "no"
        self.recorder = Recorder()
        self.integration_files: set[str] = set()
        self.deselected = 0
        self.outcome: tuple[str, list[str]] | None = None
        if self.worker:
            self.run_dir = Path(config.workerinput[RUN_DIR_KEY])
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="cruddur-dynamodb-calls-"))
        self._original_init = None

    def start_recording(self) -> None:
        import boto3.session

        original = self._original_init = boto3.session.Session.__init__
        recorder = self.recorder

        def __init__(session, *args, **kwargs):
            original(session, *args, **kwargs)
            session.events.register("provide-client-params.dynamodb", recorder)

        boto3.session.Session.__init__ = __init__

    def stop_recording(self) -> None:
        if self._original_init is not None:
            import boto3.session

            boto3.session.Session.__init__ = self._original_init

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput[RUN_DIR_KEY] = str(self.run_dir)

    def pytest_deselected(self, items) -> None:
        self.deselected += sum(1 for item in items if _in_integration(item.path))

    def pytest_runtest_logreport(self, report) -> None:
        if self.controller or (report.when != "call" and not report.skipped):
            return
        path = ROOT / report.nodeid.partition("::")[0]
        if _in_integration(path):
            self.integration_files.add(path.name)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session) -> None:
        if not self.controller:
            self._write()
        if self.worker is None:
            self.outcome = self._check()
            if self.outcome[0] == "failed":
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            else:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.outcome is None:
            return
        status, lines = self.outcome
        terminalreporter.section("DynamoDB calls against deploy/messages.yaml's policies")
        for line in lines:
            terminalreporter.write_line(line, red=status == "failed", yellow=status == "skipped")

    def _write(self) -> None:
        name = f"calls-{self.worker or 'main'}.json"
        data = {
            "integration_files": sorted(self.integration_files),
            "deselected": self.deselected,
            "calls": {origin: sorted(calls) for origin, calls in self.recorder.calls.items()},
        }
        (self.run_dir / name).write_text(json.dumps(data, indent=1))

    def _check(self) -> tuple[str, list[str]]:
        recorded: dict[str, set[Call]] = defaultdict(set)
        ran: set[str] = set()
        deselected = 0
        for path in sorted(self.run_dir.glob("calls-*.json")):
            data = json.loads(path.read_text())
            ran |= set(data["integration_files"])
            deselected += data["deselected"]
            for origin, calls in data["calls"].items():
                recorded[origin] |= {tuple(call) for call in calls}
        tier = {path.name for path in INTEGRATION.glob("test_*.py")}
        if ran != tier or deselected:
            return "skipped", [
                "SKIPPED: the integration tier did not run in full "
                f"({len(ran & tier)} of {len(tier)} files, {deselected} tests deselected), so "
                "the calls recorded do not show every operation the app makes."
            ]
        found = problems(recorded, template()["Resources"])
        summary = ", ".join(f"{origin}: {len(calls)}" for origin, calls in sorted(recorded.items()))
        if found:
            return "failed", [
                "FAILED:",
                *(f"  {line}" for line in found),
                f"Recorded calls (by caller: {summary}) are in {self.run_dir}.",
            ]
        return "passed", [f"passed: the policies match the calls recorded ({summary})."]


def _in_integration(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(INTEGRATION)


def pytest_configure(config: pytest.Config) -> None:
    plugin = DynamoDBCalls(config)
    config.pluginmanager.register(plugin, "dynamodb_calls")
    if not plugin.controller:
        plugin.start_recording()


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("dynamodb_calls")
    if plugin is not None:
        plugin.stop_recording()
