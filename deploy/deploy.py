"""Deploy Cruddur Messages to AWS in one command: `make deploy` (`python -m deploy.deploy`).

Steps, in this order, each reported as one plain line:

1. build the stream handler's zip (`make lambda-zip`'s own builder, deploy/lambda_zip.py);
2. upload it to the artifact bucket under `stream-handler/<sha256>.zip`. The key is the zip's
   content, so an unchanged handler is neither uploaded nor redeployed, and the key a stack
   points at never changes under it: a rollback finds its code again. The bucket is made on
   the first deploy, private (public access blocked) and encrypted with S3's own keys (the code
   is no secret, and Lambda reads it with the deployer's rights, which a KMS key of ours would
   have to grant too). Versioning stays off: no key is ever written twice, so versions would
   only ever hold one copy;
3. the data stack (`cruddur-messages`, deploy/messages.yaml) through a change set: created,
   waited for, described, then executed and waited for. "No changes" is success. A failure
   prints the change set's reason, or the stack's first failed resources;
4. the image, tagged with the commit (`git rev-parse --short=12 HEAD`; a dirty tree is refused,
   so that a tag always names what it holds), built and pushed to the app stack's ECR
   repository unless that tag is there already (tags are immutable);
5. the app stack (`cruddur-app`, deploy/app.yaml), the same way as 3, with `MigrateImageTag`
   set to the new image and `ImageTag` as it was: only the migrate task definition takes the
   new image, the services keep running the code they run;
6. the one-off migrate task, which must exit 0. Otherwise the deploy stops there, with its exit
   code and log stream: the services still run the previous code;
7. the app stack again, with `ImageTag` set to the new image: the services roll to the new code,
   on a schema that is already the new one;
8. the services, waited for until stable; then the site's URL.

Migrations therefore run before any task runs the code that needs them, and while the previous
release still serves: a migration must keep that release working (add first, remove a release
later), which rolling deploys need anyway. Step 5 also applies every other change of
deploy/app.yaml, with the previous code running: the same rule holds for the template (what the
new code needs is added before it runs; what the old code needs goes a release later).
The migrate task runs on every deploy, also when steps 5 and 7 find no changes: migrations are
idempotent and the task takes about a minute, whereas an unchanged stack does not prove that
the databases have this image's schema (a restored snapshot, a recreated table, a failed
migrate of an earlier deploy).

`--dry-run` creates and describes the change sets and executes none (the zip is uploaded all
the same: a change set names it). For the app stack that is step 5's change set only: step 7's
is made once the migrate task has run.

The image and its repository, which belongs to the app stack (deploy/app.yaml) whose services
need the image: the app stack's first create runs with `ImageTag` empty, which makes the
repository (and everything else) with both services at 0 tasks and the chores' schedule off.
Then the image is pushed, and steps 5-8 follow as on every later deploy, which pushes first
(the repository exists): no task definition ever points at an image that is not in ECR, and the
repository stays in the template, with its immutable tags, scanning and lifecycle rule, rather
than in this script.

`--endpoint-url` (moto's server) runs steps 1-3 and says that it skips the rest. moto 5.2.5
cannot stand in for the app stack: its CloudFormation skips AWS::ElastiCache::ServerlessCache,
AWS::SecretsManager::Secret, AWS::Scheduler::Schedule and AWS::EC2::SecurityGroupEgress,
refuses `Fn::GetAtt Database.MasterUserSecret.SecretArn`, and gives a stack made through a
change set neither outputs nor exports, so the app stack's `Fn::ImportValue` of the data stack
cannot resolve. Nor can it build, pull or run an image.

Every AWS call retries in botocore's `standard` mode; every wait is a botocore waiter.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    WaiterError,
)

from deploy import lambda_zip

ROOT = Path(__file__).resolve().parent.parent
DATA_TEMPLATE = ROOT / "deploy" / "messages.yaml"
APP_TEMPLATE = ROOT / "deploy" / "app.yaml"

# Both stacks make IAM roles and policies, some of them named.
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# A template body is sent inline up to this size; a larger one goes through the bucket.
TEMPLATE_BODY_LIMIT = 51_200
# "Nothing to do", as CloudFormation words it: a change set that FAILED with the first reason
# (AWS); moto refuses CreateChangeSet itself with the second (UpdateStack's words).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# Statuses a stack cannot be updated from, and what a person does about each.
STUCK = {
    "ROLLBACK_COMPLETE": "its first create failed and it cannot be updated: delete it",
    "ROLLBACK_FAILED": "its first create failed and so did the cleanup: delete it",
    "CREATE_FAILED": "its create failed: delete it",
    "DELETE_FAILED": "a delete failed: delete it again",
    "UPDATE_ROLLBACK_FAILED": "an update's rollback failed: run "
    "`aws cloudformation continue-update-rollback` on it",
}
FAILED_EVENTS_SHOWN = 5
# What the emulator cannot stand in for (see the module's docstring).
EMULATOR_SKIPS = "the app stack, the image, the migrate task and the services"
# The app stack's parameters without a default, and the options that give them.
REQUIRED_FIRST = {"DomainName": "--domain", "CertificateArn": "--certificate-arn"}
# The app stack's outputs this script reads (deploy/app.yaml).
OUT_CLUSTER = "ClusterName"
OUT_MIGRATE_TASK = "MigrateTaskDefinitionArn"
OUT_SUBNETS = "PrivateSubnets"
OUT_TASK_SECURITY_GROUP = "TaskSecurityGroup"
OUT_SERVICES = ("WebServiceName", "EventsServiceName", "NotifyServiceName")
OUT_REPOSITORY = "RepositoryUri"
OUT_URL = "SiteUrl"
OUT_LOAD_BALANCER = "LoadBalancerDnsName"
# The app stack's parameters naming the image: the services' and the migrate task's.
PARAM_IMAGE_TAG = "ImageTag"
PARAM_MIGRATE_IMAGE_TAG = "MigrateImageTag"


class DeployError(Exception):
    """A failure a person can act on; its message says what to do."""


def say(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Target:
    """Where the deploy goes and what it changes."""

    region: str
    endpoint_url: str | None
    data_stack: str
    app_stack: str
    artifact_bucket: str | None
    dry_run: bool
    data_parameters: dict[str, str | None] = field(default_factory=dict)
    app_parameters: dict[str, str | None] = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        return self.endpoint_url is not None


class Aws:
    """The clients of one deploy: one region, standard retries, the emulator's endpoint if any."""

    def __init__(self, target: Target):
        if target.emulated:
            # The emulator takes any key; a person's real credentials never go to it.
            session = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=target.region,
            )
        else:
            session = boto3.session.Session(region_name=target.region)
        self._session = session
        self._endpoint_url = target.endpoint_url
        self._config = Config(retries={"mode": "standard", "max_attempts": 5})
        self._clients = {}

    @property
    def region(self) -> str:
        return self._session.region_name

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, endpoint_url=self._endpoint_url, config=self._config
            )
        return self._clients[service]


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", str(error))


# --- 1-2: the stream handler's zip, by its content ---


def build_handler_zip(directory: Path) -> Path:
    """`make lambda-zip`'s build, into a directory of this deploy's own: a deploy never
    uploads a zip that another build is still writing."""
    try:
        return lambda_zip.build(directory / lambda_zip.DEFAULT_OUTPUT.name)
    except lambda_zip.BuildError as error:
        raise DeployError(f"the stream handler's zip cannot be built: {error}") from None


def artifact_key(zip_path: Path) -> str:
    return f"stream-handler/{hashlib.sha256(zip_path.read_bytes()).hexdigest()}.zip"


def account_id(aws: Aws) -> str:
    try:
        return aws.sts.get_caller_identity()["Account"]
    except NoCredentialsError:
        raise DeployError(
            "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
        ) from None
    except ClientError as error:
        raise DeployError(f"AWS refused these credentials: {error_message(error)}") from None


def ensure_bucket(aws: Aws, bucket: str) -> None:
    try:
        aws.s3.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error_code(error) == "403":
            raise DeployError(
                f"bucket {bucket} exists but these credentials cannot use it (another account's?): "
                "pass --artifact-bucket NAME"
            ) from None
        if error_code(error) not in ("404", "NoSuchBucket"):
            raise
    say(f"Creating artifact bucket {bucket} (private, encrypted)")
    # us-east-1 is the one region that takes no location (and refuses its own name as one).
    where = (
        {}
        if aws.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    )
    try:
        aws.s3.create_bucket(Bucket=bucket, **where)
    except ClientError as error:
        if error_code(error) == "BucketAlreadyExists":
            raise DeployError(
                f"bucket name {bucket} is taken by another account: pass --artifact-bucket NAME"
            ) from None
        if error_code(error) != "BucketAlreadyOwnedByYou":
            raise
    aws.s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    aws.s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def upload_once(aws: Aws, *, bucket: str, key: str, path: Path) -> bool:
    """Put the file under key unless it is there already; True if it was uploaded."""
    try:
        aws.s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchKey"):
            raise
    aws.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return True


# --- 3, 5 and 7: stacks through change sets ---


@dataclass(frozen=True)
class StackResult:
    name: str
    outcome: str  # "created", "updated", "no changes", "change set left for review"
    outputs: dict[str, str]


def stack_status(aws: Aws, name: str) -> dict | None:
    try:
        return aws.cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error_message(error):
            return None
        raise


def change_set_type(stack: dict | None, *, region: str) -> str:
    """CREATE for a new stack (or one only ever reviewed), UPDATE otherwise; refuses the
    statuses a change set cannot start from, saying what to do."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"
    name, status = stack["StackName"], stack["StackStatus"]
    if status in STUCK:
        raise DeployError(
            f"stack {name} is {status}: {STUCK[status]} "
            f"(aws cloudformation delete-stack --stack-name {name} --region {region}; a table "
            "kept by its Retain policy stays, to be deleted or imported), then deploy again"
        )
    if status.endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {name} is busy ({status}): deploy again once it is done")
    return "UPDATE"


def stack_parameters(values: dict[str, str | None], *, existing: dict | None) -> list[dict]:
    """The values given (None: not given); every other parameter of an existing stack keeps
    its value. An update that leaves a parameter out resets it to the template's default, and
    an operator's choice (WebDesiredCount, NatGateways...) would be lost without a word."""
    given = {key: value for key, value in values.items() if value is not None}
    kept = [
        p["ParameterKey"]
        for p in (existing or {}).get("Parameters", [])
        if p["ParameterKey"] not in given
    ]
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in given.items()] + [
        {"ParameterKey": key, "UsePreviousValue": True} for key in kept
    ]


def template_source(aws: Aws, template: Path, *, bucket: str) -> dict:
    body = template.read_text()
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"templates/{hashlib.sha256(body.encode()).hexdigest()}.yaml"
    upload_once(aws, bucket=bucket, key=key, path=template)
    host = "s3.amazonaws.com" if aws.region == "us-east-1" else f"s3.{aws.region}.amazonaws.com"
    return {"TemplateURL": f"https://{bucket}.{host}/{key}"}


def describe_changes(change_set: dict) -> list[str]:
    lines = []
    for change in change_set.get("Changes", []):
        resource = change["ResourceChange"]
        replaced = " (replaced)" if resource.get("Replacement") == "True" else ""
        lines.append(
            f"  {resource['Action'].lower()} {resource['LogicalResourceId']} "
            f"{resource['ResourceType']}{replaced}"
        )
    return lines


def first_failures(aws: Aws, *, stack: str, since: datetime.datetime) -> list[str]:
    """The failed resource events of this operation, oldest first: the first is the cause,
    the rest mostly its consequences."""
    events = []
    for page in aws.cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack):
        for event in page["StackEvents"]:  # newest first
            if event["Timestamp"] < since:
                break
            events.append(event)
        else:
            continue
        break
    failed = [e for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED")]
    return [
        f"  {e['LogicalResourceId']} ({e['ResourceType']}) {e['ResourceStatus']}: "
        f"{e.get('ResourceStatusReason', '')}"
        for e in failed[:FAILED_EVENTS_SHOWN]
    ]


def deploy_stack(
    aws: Aws,
    *,
    name: str,
    template: Path,
    parameters: dict[str, str | None],
    bucket: str,
    dry_run: bool = False,
) -> StackResult:
    """Create or update one stack through a change set; "no changes" is a success."""
    cfn = aws.cloudformation
    existing = stack_status(aws, name)
    kind = change_set_type(existing, region=aws.region)
    # When, and a few random characters for two deploys in the same second.
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    change_set_name = f"deploy-{now}-{secrets.token_hex(2)}"
    say(f"Stack {name}: change set {change_set_name} ({kind.lower()}, {template.name})")
    try:
        created = cfn.create_change_set(
            StackName=name,
            ChangeSetName=change_set_name,
            ChangeSetType=kind,
            Capabilities=CAPABILITIES,
            Parameters=stack_parameters(
                parameters, existing=existing if kind == "UPDATE" else None
            ),
            **template_source(aws, template, bucket=bucket),
        )
    except ClientError as error:
        if any(reason in error_message(error) for reason in NO_CHANGES):
            say(f"Stack {name}: no changes")
            return StackResult(name, "no changes", outputs_of(existing))
        raise DeployError(f"stack {name}: change set refused: {error_message(error)}") from None
    change_set_id = created["Id"]
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=change_set_id, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except WaiterError:
        failed = cfn.describe_change_set(ChangeSetName=change_set_id)
        reason = failed.get("StatusReason", "")
        if failed.get("Status") == "FAILED" and any(r in reason for r in NO_CHANGES):
            cfn.delete_change_set(ChangeSetName=change_set_id)
            say(f"Stack {name}: no changes")
            return StackResult(name, "no changes", outputs_of(existing))
        raise DeployError(
            f"stack {name}: change set {change_set_name} is {failed.get('Status')}: {reason}"
        ) from None
    pages = cfn.get_paginator("describe_change_set").paginate(ChangeSetName=change_set_id)
    change_set = {"Changes": [c for page in pages for c in page.get("Changes", [])]}
    for line in describe_changes(change_set):
        say(line)
    if dry_run:
        say(
            f"Stack {name}: change set {change_set_name} left for review, not executed "
            f"(aws cloudformation execute-change-set --stack-name {name} "
            f"--change-set-name {change_set_name})"
        )
        return StackResult(name, "change set left for review", outputs_of(existing))
    started = cfn.describe_change_set(ChangeSetName=change_set_id)["CreationTime"]
    cfn.execute_change_set(ChangeSetName=change_set_id)
    say(f"Stack {name}: executing change set (waiting for {kind.lower()} to complete)")
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        # An app stack with a database takes 15-20 minutes to create; an hour is a failure.
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except WaiterError:
        status = stack_status(aws, name)["StackStatus"]
        for line in first_failures(aws, stack=name, since=started):
            say(line)
        raise DeployError(f"stack {name} is {status}; its first failures are above") from None
    outcome = "created" if kind == "CREATE" else "updated"
    say(f"Stack {name}: {outcome}")
    return StackResult(name, outcome, outputs_of(stack_status(aws, name)))


def outputs_of(stack: dict | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}


# --- 4: the image, tagged with the commit ---


def commit_tag() -> str:
    status = git("status", "--porcelain")
    if status:
        raise DeployError(
            "the working tree has uncommitted changes: commit them first, so that the image's "
            "tag (the commit) says what it holds"
        )
    return git("rev-parse", "--short=12", "HEAD")


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise DeployError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def docker(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], cwd=ROOT, input=stdin, text=True)
    if done.returncode != 0:
        raise DeployError(f"docker {args[0]} failed (exit {done.returncode}); its output is above")


def require_docker() -> None:
    if shutil.which("docker") is None:
        raise DeployError("Docker is needed to build the image: install it (docs.docker.com)")
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise DeployError("Docker is installed but its daemon does not answer: start Docker")


def image_in_registry(aws: Aws, *, repository: str, tag: str) -> bool:
    try:
        aws.ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        return True
    except ClientError as error:
        if error_code(error) == "ImageNotFoundException":
            return False
        raise


def image_pushed(aws: Aws, *, app_stack: str, tag: str) -> bool:
    repository_uri = outputs_of(stack_status(aws, app_stack)).get(OUT_REPOSITORY)
    return repository_uri is not None and image_in_registry(
        aws, repository=repository_uri.split("/", 1)[1], tag=tag
    )


def push_image(aws: Aws, *, repository_uri: str, tag: str) -> None:
    """Build and push the image once per commit: tags are immutable, so a tag already in the
    repository is the same commit's image, and pushing it again would fail."""
    repository = repository_uri.split("/", 1)[1]
    if image_in_registry(aws, repository=repository, tag=tag):
        say(f"Image {repository}:{tag} is already in ECR: not built again")
        return
    require_docker()
    image = f"{repository_uri}:{tag}"
    say(f"Building image {image}")
    # The task definitions run X86_64, whatever machine builds the image.
    docker("build", "--platform", "linux/amd64", "--tag", image, ".")
    token = aws.ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    docker("login", "--username", user, "--password-stdin", token["proxyEndpoint"], stdin=password)
    say(f"Pushing image {image}")
    docker("push", image)


# --- 6 and 8: the migrate task, the services, the URL ---


def run_migrate_task(aws: Aws, *, outputs: dict[str, str]) -> None:
    """Run the one-off migrate task to its end; a non-zero exit fails the deploy and says
    which log stream to read."""
    cluster = outputs[OUT_CLUSTER]
    task_definition = outputs[OUT_MIGRATE_TASK]
    say(f"Running the migrate task ({task_definition.rsplit('/', 1)[-1]})")
    started = aws.ecs.run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        launchType="FARGATE",
        count=1,
        startedBy="deploy.py",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": outputs[OUT_SUBNETS].split(","),
                "securityGroups": [outputs[OUT_TASK_SECURITY_GROUP]],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if started.get("failures"):
        reasons = "; ".join(
            f"{f.get('arn', '')} {f.get('reason', '')}" for f in started["failures"]
        )
        raise DeployError(f"the migrate task did not start: {reasons}")
    task_arn = started["tasks"][0]["taskArn"]
    try:
        aws.ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=[task_arn], WaiterConfig={"Delay": 6, "MaxAttempts": 100}
        )
    except WaiterError:
        raise DeployError(f"the migrate task {task_arn} has not stopped after 10 minutes") from None
    task = aws.ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    container = task["containers"][0]
    if container.get("exitCode") == 0:
        say("Migrate task: done (exit 0)")
        return
    if container.get("exitCode") is None:  # e.g. the image could not be pulled
        raise DeployError(
            f"the migrate task stopped before it ran: {task.get('stoppedReason', 'no reason')}"
        )
    where = migrate_log(
        aws, task_definition=task_definition, container=container["name"], task_arn=task_arn
    )
    raise DeployError(
        f"the migrate task failed: exit {container.get('exitCode')} "
        f"({container.get('reason') or task.get('stoppedReason', 'no reason')}); {where}"
    )


def migrate_log(aws: Aws, *, task_definition: str, container: str, task_arn: str) -> str:
    definition = aws.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    for candidate in definition["containerDefinitions"]:
        options = (candidate.get("logConfiguration") or {}).get("options", {})
        if candidate["name"] == container and "awslogs-group" in options:
            # The awslogs driver names the stream prefix/container/task-id.
            stream = (
                f"{options.get('awslogs-stream-prefix')}/{container}/{task_arn.rsplit('/', 1)[-1]}"
            )
            return f"read log group {options['awslogs-group']}, stream {stream}"
    return "its task definition names no awslogs log group"


def wait_for_services(aws: Aws, *, outputs: dict[str, str]) -> None:
    services = [outputs[key] for key in OUT_SERVICES]
    cluster = outputs[OUT_CLUSTER]
    say(f"Waiting for the services to be stable: {', '.join(services)}")
    try:
        aws.ecs.get_waiter("services_stable").wait(
            cluster=cluster,
            services=services,
            WaiterConfig={"Delay": 15, "MaxAttempts": 60},
        )
    except WaiterError:
        raise DeployError(
            "the services are not stable after 15 minutes: see their events "
            f"(aws ecs describe-services --cluster {cluster} --services {' '.join(services)})"
        ) from None


# --- the whole deploy ---


def deploy(target: Target) -> None:
    aws = Aws(target)
    account = account_id(aws)
    where = f"the emulator at {target.endpoint_url}" if target.emulated else f"account {account}"
    say(f"Deploying to {where}, region {aws.region}")
    # Checked before anything changes: a dirty tree, or an image to build without Docker,
    # stops a real deploy at once rather than after a stack has changed.
    tag = None if target.emulated else commit_tag()
    if tag and not target.dry_run and not image_pushed(aws, app_stack=target.app_stack, tag=tag):
        require_docker()
    bucket = target.artifact_bucket or f"cruddur-artifacts-{account}-{aws.region}"

    say("Building the stream handler zip")
    with tempfile.TemporaryDirectory(prefix="cruddur-deploy-") as directory:
        zip_path = build_handler_zip(Path(directory))
        key = artifact_key(zip_path)
        ensure_bucket(aws, bucket)
        if upload_once(aws, bucket=bucket, key=key, path=zip_path):
            say(f"Uploaded the zip to s3://{bucket}/{key}")
        else:
            say(f"The zip is already at s3://{bucket}/{key}: not uploaded again")

    deploy_stack(
        aws,
        name=target.data_stack,
        template=DATA_TEMPLATE,
        parameters={"CodeBucket": bucket, "CodeKey": key, **target.data_parameters},
        bucket=bucket,
        dry_run=target.dry_run,
    )
    if target.emulated:
        say(f"Emulator: the data stack only. Skipped: {EMULATOR_SKIPS}")
        return
    deploy_app(aws, target=target, tag=tag, bucket=bucket)


def deploy_app(aws: Aws, *, target: Target, tag: str, bucket: str) -> None:
    name = target.app_stack
    existing = stack_status(aws, name)
    parameters = {"MessagesStack": target.data_stack, **target.app_parameters}
    if OUT_REPOSITORY not in outputs_of(existing):
        missing = [key for key in REQUIRED_FIRST if parameters.get(key) is None]
        if missing:
            raise DeployError(
                f"stack {name} is new: pass {' and '.join(REQUIRED_FIRST[key] for key in missing)}"
            )
        say(f"Stack {name}: first deploy, made without an image (no task runs yet)")
        deploy_stack(
            aws,
            name=name,
            template=APP_TEMPLATE,
            parameters={**parameters, PARAM_IMAGE_TAG: ""},
            bucket=bucket,
            dry_run=target.dry_run,
        )
        if target.dry_run:
            say(f"Dry run: the image ({tag}) and the second pass come after this change set")
            return
        existing = stack_status(aws, name)
    repository_uri = outputs_of(existing)[OUT_REPOSITORY]
    if target.dry_run:
        say(f"Dry run: image {repository_uri}:{tag} not built")
    else:
        push_image(aws, repository_uri=repository_uri, tag=tag)
    running = parameter_of(existing, PARAM_IMAGE_TAG)
    say(f"Stack {name}: the migrate task to image {tag}, the services kept on {running or 'none'}")
    # ImageTag is not given, so it keeps its value (stack_parameters): the services do not move.
    migrate_ready = deploy_stack(
        aws,
        name=name,
        template=APP_TEMPLATE,
        parameters={**parameters, PARAM_MIGRATE_IMAGE_TAG: tag},
        bucket=bucket,
        dry_run=target.dry_run,
    )
    if target.dry_run:
        say(
            f"Dry run: the migrate task, the services' move to {tag} (a change set made after "
            "the migrate task) and the services are left as they are"
        )
        return
    try:
        run_migrate_task(aws, outputs=migrate_ready.outputs)
    except DeployError as error:
        still = f"still run image {running}" if running else "run no task yet"
        raise DeployError(
            f"{error}. Stopped before the services moved: they {still} "
            f"(the stack's {PARAM_IMAGE_TAG} is unchanged)"
        ) from None
    say(f"Stack {name}: the services to image {tag}")
    app = deploy_stack(
        aws,
        name=name,
        template=APP_TEMPLATE,
        parameters={**parameters, PARAM_IMAGE_TAG: tag, PARAM_MIGRATE_IMAGE_TAG: tag},
        bucket=bucket,
    )
    wait_for_services(aws, outputs=app.outputs)
    say(f"Site: {app.outputs[OUT_URL]} (its DNS name points at {app.outputs[OUT_LOAD_BALANCER]})")


def parameter_of(stack: dict | None, key: str) -> str | None:
    for parameter in (stack or {}).get("Parameters", []):
        if parameter["ParameterKey"] == key:
            return parameter.get("ParameterValue")
    return None


def parse_target(argv: list[str] | None) -> Target:
    parser = argparse.ArgumentParser(
        prog="deploy.py",
        description="Deploy Cruddur Messages: the handler's zip, the data and app stacks, "
        "the image, the migrate task.",
    )
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument(
        "--endpoint-url",
        help="a local emulator (moto's server): deploys the data stack only, to check it",
    )
    parser.add_argument("--data-stack", default="cruddur-messages", help="data stack name")
    parser.add_argument("--app-stack", default="cruddur-app", help="app stack name")
    parser.add_argument(
        "--artifact-bucket",
        help="bucket for the handler's zip (default: cruddur-artifacts-<account>-<region>)",
    )
    parser.add_argument(
        "--table-name", help="the DynamoDB table (default: the stack's, or cruddur-messages)"
    )
    parser.add_argument(
        "--handler",
        choices=["enabled", "disabled"],
        help="the stream handler (default: as the stack has it; disabled on a new stack)",
    )
    parser.add_argument("--domain", help="the site's host name (default: as the stack has it)")
    parser.add_argument(
        "--certificate-arn",
        help="ACM certificate for the domain, in the region (default: as the stack has it)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="create and describe the change sets, execute none (the zip is still uploaded)",
    )
    args = parser.parse_args(argv)
    region = args.region or boto3.session.Session().region_name
    if region is None:
        if args.endpoint_url is None:
            parser.error("no AWS region: pass --region or set AWS_DEFAULT_REGION")
        region = "us-east-1"
    return Target(
        region=region,
        endpoint_url=args.endpoint_url,
        data_stack=args.data_stack,
        app_stack=args.app_stack,
        artifact_bucket=args.artifact_bucket,
        dry_run=args.dry_run,
        data_parameters={"TableName": args.table_name, "StreamHandlerMode": args.handler},
        app_parameters={"DomainName": args.domain, "CertificateArn": args.certificate_arn},
    )


def main(argv: list[str] | None = None) -> int:
    target = parse_target(argv)
    try:
        deploy(target)
    except DeployError as error:
        print(f"Deploy failed: {error}", file=sys.stderr)
        return 1
    except EndpointConnectionError as error:
        print(f"Deploy failed: cannot reach {error.kwargs.get('endpoint_url')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
