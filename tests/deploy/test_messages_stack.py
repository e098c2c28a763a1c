"""deploy/messages.yaml, the data stack: linted by cfn-lint, created on moto in both modes, and
the facts cfn-lint cannot see (the app's key schema, least privilege). Whether the policies
match the calls the app really makes is checked when the session ends, from the calls the
integration tier made (tests/deploy/dynamodb_calls.py); `test_the_session_check_*` here show
that check can fail."""

import io
import json
import logging
import warnings
import zipfile

import boto3
import pytest
from cfnlint.api import ManualArgs, lint_file
from moto import mock_aws
from moto.cloudformation import parsing

from messaging.dynamo import items, schema
from tests.deploy import dynamodb_calls
from tests.deploy.dynamodb_calls import (
    TEMPLATE,
    allowed,
    as_list,
    grants,
    problems,
    statements,
)

REGION = "us-east-1"
STACK = "cruddur-messages"
CODE_KEY = "stream-handler/0123abcd.zip"
OUTPUTS = {"TableName", "TableArn", "WebPolicyArn", "OpsPolicyArn"}
# IAM statements for these services name no wildcard, in actions or resources.
EXACT_SERVICES = ("dynamodb", "iam", "s3", "sqs")


@pytest.fixture(scope="module")
def resources():
    return dynamodb_calls.template()["Resources"]


def test_cfn_lint_finds_nothing_informational_included():
    matches = lint_file(TEMPLATE, ManualArgs(include_checks=["I"], regions=[REGION]))

    assert [str(match) for match in matches] == []


# --- the table is the app's ---


class _CreateTableCall:
    """A stand-in `Table` that keeps what `schema.create` asks DynamoDB to create."""

    name = "cruddur-messages"

    def __init__(self):
        self.params = {}

    def call(self, operation, **params):
        if operation == "create_table":
            self.params = params
        return {}

    def wait(self, *args):
        pass

    def get(self, *key):
        return None


def test_the_table_has_the_keys_and_index_the_app_creates(resources):
    app = _CreateTableCall()
    schema.create(app)
    table = resources["Table"]["Properties"]
    (index,) = table["GlobalSecondaryIndexes"]

    assert table["KeySchema"] == app.params["KeySchema"]
    assert table["AttributeDefinitions"] == app.params["AttributeDefinitions"]
    (app_index,) = app.params["GlobalSecondaryIndexes"]
    assert {key: index[key] for key in ("IndexName", "KeySchema", "Projection")} == app_index
    assert table["TimeToLiveSpecification"] == {"AttributeName": items.EXPIRES_AT, "Enabled": True}


def test_the_table_is_kept_recoverable_and_encrypted(resources):
    table = resources["Table"]
    properties = table["Properties"]

    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True


# --- least privilege ---


def _permission_statements(resources):
    for name, resource in resources.items():
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
            for statement in statements(resource):
                yield name, statement


def test_no_statement_names_a_wildcard(resources):
    found = list(_permission_statements(resources))
    assert len(found) >= 8  # the policies and the role were read

    for name, statement in found:
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), (name, statement)
        if any(action.partition(":")[0] in EXACT_SERVICES for action in actions):
            assert "*" not in repr(statement["Resource"]), (name, statement)
        assert "NotAction" not in statement and "NotResource" not in statement


def table_grants(resource):
    """What a policy grants on the table and its index (not on the stream, queue, logs)."""
    return {grant for grant in grants(resource) if grant[1] in ("table", "index")}


def test_ops_may_do_whatever_the_web_app_may(resources):
    web, ops = grants(resources["WebPolicy"]), grants(resources["OpsPolicy"])

    assert web
    assert [grant for grant in sorted(web) if not allowed(ops, grant)] == []


def test_the_session_check_passes_calls_that_match_the_policies(resources):
    web = grants(resources["WebPolicy"])
    role = table_grants(resources["StreamHandlerRole"])
    ops = {grant for grant in grants(resources["OpsPolicy"]) if grant[2] == ""}

    recorded = {"web": web, "stream": role, "command:ddb_migrate": ops}

    assert problems(recorded, resources) == []


def test_the_session_check_fails_on_calls_the_policies_do_not_match(resources):
    web = grants(resources["WebPolicy"])
    role = table_grants(resources["StreamHandlerRole"])
    recorded = {
        # The web app never deletes outside a transaction, and never scans.
        "web": web - {("dynamodb:Query", "index", "")}
        | {("dynamodb:DeleteItem", "table", ""), ("dynamodb:Scan", "table", "")},
        "stream": role,
        "command:ddb_migrate": {("dynamodb:UpdateTable", "table", "")},
        "command:ddb_schema_load": {("dynamodb:CreateTable", "table", "")},  # the stack's job
    }

    assert problems(recorded, resources) == [
        "WebPolicy grants, the web app never called: dynamodb:Query on the index",
        "the web app called, WebPolicy does not grant: dynamodb:Scan on the table",
        "WebPolicy does not allow dynamodb:DeleteItem on the table outside a transaction",
        "WebPolicy does not allow dynamodb:Scan on the table outside a transaction",
        "OpsPolicy (for ddb_migrate) does not allow dynamodb:UpdateTable on the table "
        "outside a transaction",
    ]


# --- created on moto ---


class _MotoSaid(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setattr(parsing.OutputMap, "exports", property(_exports_of_outputs_made))
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="cruddur-artifacts")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("messaging/stream.py", "def lambda_handler(event, context): ...\n")
        s3.put_object(Bucket="cruddur-artifacts", Key=CODE_KEY, Body=code.getvalue())
        yield


def _exports_of_outputs_made(outputs):
    """moto resolves the export of every output, also of one whose Condition is false (which
    AWS does not make), and fails to resolve StreamArn on a table without a stream: only the
    outputs made (moto's own `outputs[key]` honours the Condition) export."""
    return [
        parsing.Export(
            outputs._stack_id,
            parsing.clean_json(declared["Export"]["Name"], outputs._resource_map),
            output.value,
        )
        for key, declared in (outputs._output_json_map or {}).items()
        if "Export" in declared and (output := outputs[key]) is not None
    ]


def create_stack(mode):
    """The stack on moto; what moto skips or cannot resolve fails the test: its warnings
    (`warnings.warn`: a resource type it does not implement) raise, and its log lines at
    WARNING (an attribute it cannot resolve, a type it has no model for) are asserted."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    moto_said = _MotoSaid()
    logging.getLogger("moto").addHandler(moto_said)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[
                    {"ParameterKey": "CodeBucket", "ParameterValue": "cruddur-artifacts"},
                    {"ParameterKey": "CodeKey", "ParameterValue": CODE_KEY},
                    {"ParameterKey": "StreamHandlerMode", "ParameterValue": mode},
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
    finally:
        logging.getLogger("moto").removeHandler(moto_said)
    assert moto_said.messages == []
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {output["OutputKey"]: output for output in stack["Outputs"]}
    for key, output in outputs.items():
        assert output["ExportName"] == f"{STACK}-{key}"
    return {key: output["OutputValue"] for key, output in outputs.items()}


def test_the_stack_with_the_handler_on_moto(aws, resources):
    outputs = create_stack("enabled")

    assert set(outputs) == OUTPUTS | {"StreamArn"}
    table = boto3.client("dynamodb", region_name=REGION).describe_table(
        TableName=outputs["TableName"]
    )["Table"]
    assert table["TableName"] == "cruddur-messages"
    assert table["TableArn"] == outputs["TableArn"]
    app = _CreateTableCall()
    schema.create(app)
    assert table["KeySchema"] == app.params["KeySchema"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == items.GSI_NAME
    assert index["KeySchema"] == app.params["GlobalSecondaryIndexes"][0]["KeySchema"]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["LatestStreamArn"] == outputs["StreamArn"]

    functions = boto3.client("lambda", region_name=REGION)
    (function,) = functions.list_functions()["Functions"]
    declared = resources["StreamHandler"]["Properties"]
    assert function["Handler"] == declared["Handler"] == "messaging.stream.lambda_handler"
    assert function["Runtime"] == declared["Runtime"]
    assert function["Environment"]["Variables"] == {"DDB_MESSAGE_TABLE": outputs["TableName"]}
    (mapping,) = functions.list_event_source_mappings(FunctionName=function["FunctionName"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == outputs["StreamArn"]
    assert mapping["FunctionArn"] == function["FunctionArn"]
    wanted = resources["StreamHandlerMapping"]["Properties"]
    for setting in (
        "BatchSize",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "StartingPosition",
    ):
        assert mapping[setting] == wanted[setting], setting
    (declared_filter,) = wanted["FilterCriteria"]["Filters"]
    assert json.loads(declared_filter["Pattern"])["dynamodb"]["Keys"] == {
        "pk": {"S": [{"prefix": "MSG#"}]}
    }
    assert mapping["FilterCriteria"] == wanted["FilterCriteria"]
    (queue_url,) = boto3.client("sqs", region_name=REGION).list_queues()["QueueUrls"]
    queue = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": queue["QueueArn"]}}
    assert queue["SqsManagedSseEnabled"] == "true"

    iam = boto3.client("iam", region_name=REGION)
    role_name = function["Role"].rpartition("/")[2]
    assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == function["Role"]
    for policy in ("WebPolicyArn", "OpsPolicyArn"):
        assert iam.get_policy(PolicyArn=outputs[policy])["Policy"]["Arn"] == outputs[policy]


def test_the_stack_without_the_handler_on_moto(aws):
    outputs = create_stack("disabled")

    assert set(outputs) == OUTPUTS
    table = boto3.client("dynamodb", region_name=REGION).describe_table(
        TableName=outputs["TableName"]
    )["Table"]
    assert "LatestStreamArn" not in table
    assert not table.get("StreamSpecification", {}).get("StreamEnabled")
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    assert boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) == []
