"""deploy/deploy.py against the session's moto server (`--endpoint-url`): the data stack is
created, a second run changes nothing, a changed parameter updates it, the handler's zip is
stored by its content; and the failures a person must be told how to fix.

Every test names its own stacks, bucket and table, so that tests on the same server never meet.
moto gives a stack made through a change set no outputs: what the stack made is read from its
resources and from the services themselves.
"""

import datetime
import subprocess
import uuid
import zipfile

import boto3
import pytest
from botocore.stub import Stubber

from deploy import deploy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def names():
    run = uuid.uuid4().hex[:10]
    return {
        "--data-stack": f"messages-{run}",
        "--artifact-bucket": f"artifacts-{run}",
        "--table-name": f"messages-{run}",
    }


@pytest.fixture
def run_deploy(moto_server_url, names, capsys):
    """deploy.py's main against the emulator; its exit status and what it printed."""

    def run(*extra: str) -> tuple[int, str]:
        argv = ["--endpoint-url", moto_server_url, *(a for kv in names.items() for a in kv)]
        status = deploy.main([*argv, *extra])
        return status, capsys.readouterr().out

    return run


@pytest.fixture
def aws(moto_server_url):
    def client(service):
        return boto3.client(
            service,
            endpoint_url=moto_server_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def stack(aws, name):
    return aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]


def resources(aws, name):
    listed = aws("cloudformation").describe_stack_resources(StackName=name)["StackResources"]
    # moto lists a resource whose condition is false as an entry without a name.
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in listed
        if r.get("LogicalResourceId")
    }


def stream_enabled(aws, table):
    description = aws("dynamodb").describe_table(TableName=table)["Table"]
    return description.get("StreamSpecification", {}).get("StreamEnabled", False)


def events(aws, name):
    return aws("cloudformation").describe_stack_events(StackName=name)["StackEvents"]


def test_creates_the_data_stack_with_the_handler_then_changes_nothing(run_deploy, names, aws):
    status, out = run_deploy("--handler", "enabled")

    assert status == 0, out
    name = names["--data-stack"]
    assert f"Stack {name}: created" in out
    assert stack(aws, name)["StackStatus"] == "CREATE_COMPLETE"
    made = resources(aws, name)
    assert made["Table"] == names["--table-name"]
    assert stream_enabled(aws, names["--table-name"])
    function = aws("lambda").get_function(FunctionName=made["StreamHandler"])["Configuration"]
    assert function["Handler"] == "messaging.stream.lambda_handler"
    mappings = aws("lambda").list_event_source_mappings(FunctionName=made["StreamHandler"])
    assert len(mappings["EventSourceMappings"]) == 1
    assert "Skipped: the app stack" in out.splitlines()[-1]  # says what it leaves out

    before = events(aws, name)
    status, out = run_deploy("--handler", "enabled")

    assert status == 0, out
    assert f"Stack {name}: no changes" in out
    assert "not uploaded again" in out
    assert events(aws, name) == before
    assert stack(aws, name)["StackStatus"] == "CREATE_COMPLETE"


def test_creates_the_data_stack_without_the_handler(run_deploy, names, aws):
    status, out = run_deploy("--handler", "disabled")

    assert status == 0, out
    made = resources(aws, names["--data-stack"])
    assert made["Table"] == names["--table-name"]
    assert "StreamHandler" not in made
    assert not stream_enabled(aws, names["--table-name"])


def test_a_changed_parameter_updates_the_stack(run_deploy, names, aws):
    run_deploy("--handler", "enabled")
    name = names["--data-stack"]

    status, out = run_deploy("--handler", "disabled")

    assert status == 0, out
    assert f"Stack {name}: updated" in out
    assert stack(aws, name)["StackStatus"] == "UPDATE_COMPLETE"
    # (moto applies no Condition on an update: what the stack holds is checked on AWS only.)
    assert parameters(aws, name)["StreamHandlerMode"] == "disabled"
    # Without --handler the stack keeps what it has.
    status, out = run_deploy()
    assert f"Stack {name}: no changes" in out
    assert parameters(aws, name)["StreamHandlerMode"] == "disabled"


def parameters(aws, name):
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack(aws, name)["Parameters"]}


def test_a_new_zip_updates_the_function(run_deploy, names, aws, monkeypatch):
    run_deploy("--handler", "enabled")
    function = resources(aws, names["--data-stack"])["StreamHandler"]
    first = aws("lambda").get_function(FunctionName=function)["Configuration"]["CodeSha256"]
    build = deploy.build_handler_zip

    def build_changed(directory):
        path = build(directory)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("messaging/changed.py", "")
        return path

    monkeypatch.setattr(deploy, "build_handler_zip", build_changed)
    status, out = run_deploy()

    assert status == 0, out
    assert "Uploaded the zip" in out
    assert f"Stack {names['--data-stack']}: updated" in out
    assert aws("lambda").get_function(FunctionName=function)["Configuration"]["CodeSha256"] != first


def test_the_zip_is_stored_once_under_its_content_hash(run_deploy, names, aws, tmp_path):
    run_deploy()
    run_deploy()

    listed = aws("s3").list_objects_v2(Bucket=names["--artifact-bucket"])["Contents"]
    assert [o["Key"] for o in listed] == [deploy.artifact_key(deploy.build_handler_zip(tmp_path))]
    one, other = tmp_path / "one.zip", tmp_path / "other.zip"
    one.write_bytes(b"same")
    other.write_bytes(b"same")
    assert deploy.artifact_key(one) == deploy.artifact_key(other)
    other.write_bytes(b"changed")
    assert deploy.artifact_key(one) != deploy.artifact_key(other)


def test_the_artifact_bucket_is_private_and_encrypted(run_deploy, names, aws):
    run_deploy()

    s3 = aws("s3")
    bucket = names["--artifact-bucket"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_a_dry_run_describes_the_change_and_executes_nothing(run_deploy, names, aws):
    run_deploy("--handler", "disabled")
    name = names["--data-stack"]

    status, out = run_deploy("--handler", "enabled", "--dry-run")

    assert status == 0, out
    assert "left for review, not executed" in out
    assert "StreamHandler" not in resources(aws, name)
    assert stack(aws, name)["StackStatus"] == "CREATE_COMPLETE"


def test_a_template_too_large_to_send_goes_through_the_bucket(run_deploy, names, aws, monkeypatch):
    monkeypatch.setattr(deploy, "TEMPLATE_BODY_LIMIT", 0)

    status, out = run_deploy()

    assert status == 0, out
    assert resources(aws, names["--data-stack"])["Table"] == names["--table-name"]
    listed = aws("s3").list_objects_v2(Bucket=names["--artifact-bucket"], Prefix="templates/")
    assert len(listed["Contents"]) == 1


# --- what a person is told when they must act ---


def test_no_changes_is_a_failed_change_set_that_is_deleted(aws, moto_server_url, tmp_path, capsys):
    # AWS's way of saying "nothing to do" (moto says it this way for a stack without parameters).
    template = tmp_path / "queue.yaml"
    template.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    target = deploy.Target(
        region="us-east-1",
        endpoint_url=moto_server_url,
        data_stack="unused",
        app_stack="unused",
        artifact_bucket=None,
        dry_run=False,
    )
    name = f"queue-{uuid.uuid4().hex[:10]}"
    kwargs = {"name": name, "template": template, "parameters": {}, "bucket": "unused"}

    created = deploy.deploy_stack(deploy.Aws(target), **kwargs)
    again = deploy.deploy_stack(deploy.Aws(target), **kwargs)

    assert (created.outcome, again.outcome) == ("created", "no changes")
    summaries = aws("cloudformation").list_change_sets(StackName=name)["Summaries"]
    # moto lists every stack's change sets: this stack's executed one, and no FAILED one.
    assert [s["Status"] for s in summaries if s["StackName"] == name] == ["CREATE_COMPLETE"]
    assert f"Stack {name}: no changes" in capsys.readouterr().out


def test_a_change_set_that_failed_for_a_reason_says_it(tmp_path):
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    template = tmp_path / "app.yaml"
    template.write_text("Resources: {}\n")
    change_set = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/deploy-x/1"
    failed = {
        "ChangeSetName": "deploy-x",
        "Status": "FAILED",
        "StatusReason": "Parameters: [CertificateArn] must have values",
    }
    existing = {
        "StackName": "cruddur-app",
        "StackStatus": "UPDATE_COMPLETE",
        "CreationTime": datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
    }
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", {"Stacks": [existing]})
        stub.add_response("create_change_set", {"Id": change_set})
        stub.add_response("describe_change_set", failed)  # the waiter's
        stub.add_response("describe_change_set", failed)
        with pytest.raises(deploy.DeployError) as refused:
            deploy.deploy_stack(
                _Clients(cloudformation=cfn, region="eu-west-1"),
                name="cruddur-app",
                template=template,
                parameters={},
                bucket="unused",
            )

    assert "is FAILED: Parameters: [CertificateArn] must have values" in str(refused.value)


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"])
def test_a_stack_that_cannot_be_updated_is_refused_with_what_to_do(status):
    with pytest.raises(deploy.DeployError) as refused:
        deploy.change_set_type(
            {"StackName": "cruddur-app", "StackStatus": status}, region="eu-west-1"
        )

    assert status in str(refused.value)
    assert ("delete-stack" if status == "ROLLBACK_COMPLETE" else "continue-update-rollback") in str(
        refused.value
    )


def test_a_busy_stack_is_refused():
    with pytest.raises(deploy.DeployError, match="busy"):
        deploy.change_set_type(
            {"StackName": "cruddur-app", "StackStatus": "UPDATE_IN_PROGRESS"}, region="eu-west-1"
        )


def test_a_failed_stack_shows_its_first_failed_resources_oldest_first():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    start = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)

    def event(minute, logical_id, status, reason=""):
        return {
            "StackId": "id",
            "EventId": f"{minute}",
            "StackName": "cruddur-app",
            "LogicalResourceId": logical_id,
            "ResourceType": "AWS::ECS::Service",
            "Timestamp": start + datetime.timedelta(minutes=minute),
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }

    newest_first = [
        event(5, "cruddur-app", "ROLLBACK_COMPLETE"),
        event(4, "Events", "CREATE_FAILED", "Resource creation cancelled"),
        event(3, "Web", "CREATE_FAILED", "Circuit breaker triggered"),
        event(2, "Web", "CREATE_IN_PROGRESS"),
        event(-60, "Old", "UPDATE_FAILED", "an earlier deploy's failure"),
    ]
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": newest_first})
        lines = deploy.first_failures(
            _Clients(cloudformation=cfn), stack="cruddur-app", since=start
        )

    assert lines == [
        "  Web (AWS::ECS::Service) CREATE_FAILED: Circuit breaker triggered",
        "  Events (AWS::ECS::Service) CREATE_FAILED: Resource creation cancelled",
    ]


class _Clients:
    def __init__(self, **clients):
        self.__dict__.update(clients)


def test_a_failed_migrate_task_names_its_exit_code_and_log_stream():
    ecs = boto3.client("ecs", region_name="us-east-1")
    task_arn = "arn:aws:ecs:us-east-1:123456789012:task/cruddur/0123abcd"
    stopped = {
        "tasks": [
            {
                "taskArn": task_arn,
                "lastStatus": "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "app", "exitCode": 3}],
            }
        ]
    }
    definition = {
        "taskDefinition": {
            "containerDefinitions": [
                {
                    "name": "app",
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/cruddur/app",
                            "awslogs-stream-prefix": "migrate",
                        },
                    },
                }
            ]
        }
    }
    outputs = {
        deploy.OUT_CLUSTER: "cruddur",
        deploy.OUT_MIGRATE_TASK: "arn:aws:ecs:us-east-1:123456789012:task-definition/migrate:7",
        deploy.OUT_SUBNETS: "subnet-1,subnet-2",
        deploy.OUT_TASK_SECURITY_GROUP: "sg-1",
    }
    with Stubber(ecs) as stub:
        stub.add_response("run_task", {"tasks": [{"taskArn": task_arn}], "failures": []})
        stub.add_response("describe_tasks", stopped)  # the waiter's
        stub.add_response("describe_tasks", stopped)
        stub.add_response("describe_task_definition", definition)
        with pytest.raises(deploy.DeployError) as failed:
            deploy.run_migrate_task(_Clients(ecs=ecs), outputs=outputs)

    assert "exit 3" in str(failed.value)
    assert "log group /cruddur/app, stream migrate/app/0123abcd" in str(failed.value)


def test_no_credentials_says_how_to_get_them(monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)

    assert deploy.main(["--region", "eu-west-1"]) == 1

    assert "no AWS credentials" in capsys.readouterr().err


def test_without_docker_the_image_step_says_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "")

    with pytest.raises(deploy.DeployError, match="install it"):
        deploy.require_docker()


def test_a_dirty_tree_is_refused_for_a_real_deploy(monkeypatch, tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    monkeypatch.setattr(deploy, "ROOT", tmp_path)
    assert len(deploy.commit_tag()) == 12

    (tmp_path / "new.txt").write_text("not committed")

    with pytest.raises(deploy.DeployError, match="uncommitted"):
        deploy.commit_tag()


# --- the app stack and the image: the order (AWS only, so its steps are stood in for) ---

IMAGE_PARAMETERS = (deploy.PARAM_IMAGE_TAG, deploy.PARAM_MIGRATE_IMAGE_TAG)


@pytest.fixture
def app_steps(monkeypatch):
    """deploy_app with its AWS steps recorded in order; `stacks` holds what describe_stacks
    would say of the app stack, its parameters kept as CloudFormation keeps them (a parameter
    not given keeps its value). The migrate task definition is named after its image, as the
    template makes it (MigrateImageTag if given, else ImageTag)."""
    steps, stacks = [], {}

    def outputs(values):
        image = values.get(deploy.PARAM_MIGRATE_IMAGE_TAG) or values[deploy.PARAM_IMAGE_TAG]
        return {
            deploy.OUT_REPOSITORY: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cruddur",
            deploy.OUT_MIGRATE_TASK: f"migrate-{image}",
            deploy.OUT_URL: "https://messages.example.com",
            deploy.OUT_LOAD_BALANCER: "cruddur-123.eu-west-1.elb.amazonaws.com",
        }

    def deploy_stack(aws, *, name, parameters, dry_run=False, **_):
        steps.append(("stack", {k: parameters[k] for k in IMAGE_PARAMETERS if k in parameters}))
        given = {k: v for k, v in parameters.items() if v is not None}
        values = {**parameter_values(stacks.get(name)), **given}
        if not dry_run:
            stacks[name] = {
                "StackName": name,
                "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs(values).items()],
            }
        return deploy.StackResult(name, "updated", deploy.outputs_of(stacks.get(name)))

    monkeypatch.setattr(deploy, "deploy_stack", deploy_stack)
    monkeypatch.setattr(deploy, "stack_status", lambda aws, name: stacks.get(name))
    monkeypatch.setattr(
        deploy, "push_image", lambda aws, *, repository_uri, tag: steps.append(("push", tag))
    )
    monkeypatch.setattr(
        deploy,
        "run_migrate_task",
        lambda aws, *, outputs: steps.append(("migrate", outputs[deploy.OUT_MIGRATE_TASK])),
    )
    monkeypatch.setattr(deploy, "wait_for_services", lambda aws, *, outputs: steps.append("stable"))
    return steps, stacks


def parameter_values(stack):
    return {p["ParameterKey"]: p["ParameterValue"] for p in (stack or {}).get("Parameters", [])}


def app_target(*extra):
    return deploy.parse_target(["--region", "eu-west-1", *extra])


def first_deploy(tag="0123456789ab"):
    target = app_target("--domain", "messages.example.com", "--certificate-arn", "arn:cert")
    deploy.deploy_app(None, target=target, tag=tag, bucket="b")


def test_a_first_deploy_makes_the_repository_then_migrates_before_any_task_runs(app_steps, capsys):
    steps, _ = app_steps

    first_deploy("0123456789ab")

    assert steps == [
        ("stack", {"ImageTag": ""}),  # the repository, with no task running
        ("push", "0123456789ab"),
        ("stack", {"MigrateImageTag": "0123456789ab"}),  # ImageTag kept: still no task
        ("migrate", "migrate-0123456789ab"),
        ("stack", {"ImageTag": "0123456789ab", "MigrateImageTag": "0123456789ab"}),
        "stable",
    ]
    assert "Site: https://messages.example.com" in capsys.readouterr().out


def test_a_later_deploy_migrates_on_the_new_image_before_the_services_move(app_steps):
    steps, stacks = app_steps
    first_deploy("old")
    steps.clear()

    deploy.deploy_app(None, target=app_target(), tag="new", bucket="b")

    assert steps == [
        ("push", "new"),
        ("stack", {"MigrateImageTag": "new"}),  # the services keep "old"
        ("migrate", "migrate-new"),
        ("stack", {"ImageTag": "new", "MigrateImageTag": "new"}),
        "stable",
    ]
    assert parameter_values(stacks["cruddur-app"])["DomainName"] == "messages.example.com"


def test_a_failed_migration_leaves_the_services_on_the_previous_image(app_steps, monkeypatch):
    steps, stacks = app_steps
    first_deploy("old")
    steps.clear()

    def migrate_fails(aws, *, outputs):
        steps.append(("migrate", outputs[deploy.OUT_MIGRATE_TASK]))
        raise deploy.DeployError("the migrate task failed: exit 1")

    monkeypatch.setattr(deploy, "run_migrate_task", migrate_fails)

    with pytest.raises(deploy.DeployError) as failed:
        deploy.deploy_app(None, target=app_target(), tag="new", bucket="b")

    assert steps[-1] == ("migrate", "migrate-new")
    assert parameter_values(stacks["cruddur-app"])["ImageTag"] == "old"
    assert "exit 1" in str(failed.value)
    assert "still run image old" in str(failed.value)


def test_a_first_deploy_needs_a_domain_and_a_certificate(app_steps):
    with pytest.raises(deploy.DeployError, match="--domain and --certificate-arn"):
        deploy.deploy_app(None, target=app_target(), tag="0123456789ab", bucket="b")

    assert app_steps[0] == []


def test_a_dry_run_changes_no_image_task_or_service(app_steps):
    steps, stacks = app_steps
    target = app_target("--domain", "d", "--certificate-arn", "c", "--dry-run")

    deploy.deploy_app(None, target=target, tag="0123456789ab", bucket="b")

    assert steps == [("stack", {"ImageTag": ""})]
    first_deploy("old")
    steps.clear()

    deploy.deploy_app(None, target=app_target("--dry-run"), tag="new", bucket="b")

    # Only the migrate image's change set, which is safe to execute by hand.
    assert steps == [("stack", {"MigrateImageTag": "new"})]
    assert parameter_values(stacks["cruddur-app"])["ImageTag"] == "old"


def test_only_the_given_parameters_change_on_an_update():
    existing = {
        "Parameters": [
            {"ParameterKey": "ImageTag", "ParameterValue": "old"},
            {"ParameterKey": "WebDesiredCount", "ParameterValue": "3"},
        ]
    }

    sent = deploy.stack_parameters(
        {"MigrateImageTag": "new", "DomainName": None}, existing=existing
    )

    assert sent == [
        {"ParameterKey": "MigrateImageTag", "ParameterValue": "new"},
        {"ParameterKey": "ImageTag", "UsePreviousValue": True},
        {"ParameterKey": "WebDesiredCount", "UsePreviousValue": True},
    ]
