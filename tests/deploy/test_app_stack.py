"""deploy/app.yaml, the platform stack, checked offline.

cfn-lint checks the template against CloudFormation's resource schemas. The rest are facts it
cannot see because they join the template to other files: the servers' keep-alive and graceful
stop (deploy/gunicorn.conf.py, deploy/entrypoint.sh), the routes to the two servers, the data
stack's exports (deploy/messages.yaml), the settings the app reads, the outputs deploy.py reads.
Each number is read from the file that owns it, never copied here.

moto cannot create this stack (see the platform report of issue 23): it skips the serverless
cache, the secret, the schedule and the security group egress rule, and rejects
`Database.MasterUserSecret.SecretArn`, so these checks read the template instead.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode
from django.conf import settings
from django.core.management import load_command_class

from deploy import deploy
from messaging.event_views import HEARTBEAT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
APP_TEMPLATE = ROOT / "deploy" / "app.yaml"
DATA_TEMPLATE = ROOT / "deploy" / "messages.yaml"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
SETTINGS = ROOT / "cruddur" / "settings.py"
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))  # the venv's, pinned

EVENTS_PATH = "/messages/events/*"
LIVENESS_PATH = "/health/live"  # the process answers, no I/O (tests/deploy/test_health_checks.py)
APP_PORT = 8000
# Services whose actions must never be granted with a wildcard, nor on a wildcard resource.
GUARDED_SERVICES = {"dynamodb", "iam", "s3", "secretsmanager"}
# What every container must be told (the values that are facts, not references).
REQUIRED_ENVIRONMENT = {
    "DEBUG": "false",
    "BEHIND_TLS_PROXY": "true",
    "LOG_FORMAT": "json",
    "ALLOWED_HOSTS": None,
    "DATABASE_URL": None,
    "DATABASE_SECRET_ARN": None,
    "REDIS_URL": None,
    "DDB_MESSAGE_TABLE": None,
    "AWS_DEFAULT_REGION": None,
    "SITE_URL": None,
    "DEFAULT_FROM_EMAIL": None,
}
REQUIRED_SECRETS = {"SECRET_KEY", "DATABASE_PASSWORD"}
# Secrets given only when a parameter names them: the secret's name, its condition, its parameter.
OPTIONAL_SECRETS = {"EMAIL_URL": ("HasEmailUrl", "EmailUrlSecretArn")}
# Variables the containers are given that the app does not read yet, each with why. An entry
# the app starts reading fails test_the_app_reads_every_variable_it_is_given: remove it then.
NOT_READ_YET: dict[str, str] = {}


@pytest.fixture(scope="module")
def template() -> dict:
    loaded, problems = decode(str(APP_TEMPLATE))
    assert not problems, problems
    return loaded


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def ref(value) -> str:
    assert isinstance(value, dict) and set(value) == {"Ref"}, value
    return value["Ref"]


def attribute(resource: dict, key: str) -> str:
    """A load balancer's or target group's attribute, as written (a string)."""
    properties = resource["Properties"]
    attributes = properties.get("LoadBalancerAttributes", []) + properties.get(
        "TargetGroupAttributes", []
    )
    (value,) = [a["Value"] for a in attributes if a["Key"] == key]
    return value


def containers(template: dict) -> dict[str, dict]:
    return {
        container["Name"]: container
        for definition in resources_of(template, "AWS::ECS::TaskDefinition").values()
        for container in definition["Properties"]["ContainerDefinitions"]
    }


def present(items: list) -> list:
    """A list's items as CloudFormation may make them: an item written
    `Fn::If [condition, item, AWS::NoValue]` is there when its condition holds, taken here as
    the item."""
    found = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            _, when_true, when_false = item["Fn::If"]
            assert when_false == {"Ref": "AWS::NoValue"}, item
            item = when_true
        found.append(item)
    return found


def uvicorn_option(name: str) -> int:
    (value,) = re.findall(rf"--{name}[ =](\d+)", ENTRYPOINT.read_text())
    return int(value)


def test_cfn_lint_finds_nothing():
    # The command line, from the repository's root, so that a committed .cfnlintrc would apply
    # here as it does for a person running cfn-lint by hand. The one warning app.yaml silences
    # is silenced beside the resource it concerns, with why (Database's Metadata).
    done = subprocess.run(
        [CFN_LINT, "--format", "parseable", str(APP_TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_load_balancer_closes_idle_connections_before_either_server(template):
    (balancer,) = resources_of(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    idle_timeout = int(attribute(balancer, "idle_timeout.timeout_seconds"))
    gunicorn_keepalive = runpy.run_path(str(GUNICORN_CONF))["keepalive"]
    uvicorn_keepalive = uvicorn_option("timeout-keep-alive")
    assert idle_timeout < gunicorn_keepalive
    assert idle_timeout < uvicorn_keepalive
    # An open event stream is never idle for longer than its heartbeat.
    assert idle_timeout > HEARTBEAT_SECONDS
    assert attribute(balancer, "routing.http.drop_invalid_header_fields.enabled") == "true"


def test_every_target_group_checks_the_tasks_liveness(template):
    # Not readiness: a dependency's outage is every task's, and replacing them all mends nothing.
    groups = resources_of(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(groups) == 2
    for properties in (group["Properties"] for group in groups.values()):
        assert properties["HealthCheckPath"] == LIVENESS_PATH
        assert int(properties["HealthCheckPort"]) == APP_PORT
        assert int(properties["Port"]) == APP_PORT
        assert properties["Matcher"]["HttpCode"] == "200"


def test_event_streams_go_to_the_events_service_and_pages_to_gunicorn(template):
    services = resources_of(template, "AWS::ECS::Service")
    definitions = resources_of(template, "AWS::ECS::TaskDefinition")

    def command_behind(target_group: str) -> list[str] | None:
        (service,) = [
            s
            for s in services.values()
            if s["Properties"].get("LoadBalancers")
            and ref(s["Properties"]["LoadBalancers"][0]["TargetGroupArn"]) == target_group
        ]
        definition = definitions[ref(service["Properties"]["TaskDefinition"])]
        (container,) = definition["Properties"]["ContainerDefinitions"]
        return container.get("Command")

    (https,) = [
        listener
        for listener in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").values()
        if listener["Properties"]["Protocol"] == "HTTPS"
    ]
    (https_name,) = [n for n, r in template["Resources"].items() if r is https]
    (default,) = https["Properties"]["DefaultActions"]
    assert command_behind(ref(default["TargetGroupArn"])) is None  # the image's CMD: gunicorn

    (rule,) = resources_of(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert ref(rule["Properties"]["ListenerArn"]) == https_name
    (condition,) = rule["Properties"]["Conditions"]
    assert condition["Field"] == "path-pattern"
    assert condition["PathPatternConfig"]["Values"] == [EVENTS_PATH]
    (action,) = rule["Properties"]["Actions"]
    assert command_behind(ref(action["TargetGroupArn"])) == ["events"]


def test_containers_are_killed_only_after_the_servers_stop_gracefully(template):
    graceful = max(
        runpy.run_path(str(GUNICORN_CONF))["graceful_timeout"],
        uvicorn_option("timeout-graceful-shutdown"),
    )
    for name, container in containers(template).items():
        assert container["StopTimeout"] > graceful, name


def test_deregistration_is_shorter_than_the_stop_timeout(template):
    # ECS waits out the delay before SIGTERM: a long one only slows deploys (app.yaml says why).
    stop_timeout = min(c["StopTimeout"] for c in containers(template).values())
    for name, group in resources_of(template, "AWS::ElasticLoadBalancingV2::TargetGroup").items():
        delay = int(attribute(group, "deregistration_delay.timeout_seconds"))
        assert 0 < delay < stop_timeout, name


def test_services_roll_out_beside_the_old_tasks_and_roll_back_by_themselves(template):
    for name, service in resources_of(template, "AWS::ECS::Service").items():
        configuration = service["Properties"]["DeploymentConfiguration"]
        assert configuration["MinimumHealthyPercent"] == 100, name
        assert configuration["MaximumPercent"] == 200, name
        assert configuration["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED", name


def test_the_database_is_private_encrypted_and_kept(template):
    (name,) = resources_of(template, "AWS::RDS::DBInstance")
    database = template["Resources"][name]
    properties = database["Properties"]
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert properties["ManageMasterUserPassword"] is True
    assert properties["DeletionProtection"] is True
    assert properties["BackupRetentionPeriod"] >= 1
    assert database["DeletionPolicy"] == "Snapshot"
    (subnet_group,) = resources_of(template, "AWS::RDS::DBSubnetGroup").values()
    assert all(ref(s).startswith("Private") for s in subnet_group["Properties"]["SubnetIds"])


def test_each_tier_is_reachable_from_the_one_in_front_only(template):
    def ingress(group: str) -> set[tuple[int, str]]:
        rules = template["Resources"][group]["Properties"]["SecurityGroupIngress"]
        assert all(rule["FromPort"] == rule["ToPort"] for rule in rules), group  # single ports
        return {
            (rule["FromPort"], rule.get("CidrIp") or ref(rule["SourceSecurityGroupId"]))
            for rule in rules
        }

    assert ingress("LoadBalancerSecurityGroup") == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    assert ingress("TaskSecurityGroup") == {(APP_PORT, "LoadBalancerSecurityGroup")}
    assert ingress("DatabaseSecurityGroup") == {(5432, "TaskSecurityGroup")}
    assert ingress("CacheSecurityGroup") == {(6379, "TaskSecurityGroup")}
    resources = template["Resources"]
    assert [ref(g) for g in resources["Database"]["Properties"]["VPCSecurityGroups"]] == [
        "DatabaseSecurityGroup"
    ]
    assert [ref(g) for g in resources["Cache"]["Properties"]["SecurityGroupIds"]] == [
        "CacheSecurityGroup"
    ]


def policy_statements(template: dict):
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_no_policy_grants_a_wildcard_for_data_identity_or_secrets(template):
    statements = list(policy_statements(template))
    assert statements
    for name, statement in statements:
        guarded = [
            action
            for action in as_list(statement["Action"])
            if action == "*" or action.split(":")[0] in GUARDED_SERVICES
        ]
        for action in guarded:
            assert "*" not in action, (name, action)
        if guarded:
            for resource in as_list(statement["Resource"]):
                assert "*" not in json.dumps(resource), (name, guarded, resource)


def test_the_execution_role_reads_exactly_the_secrets_the_containers_get(template):
    def secret(value) -> str:
        """The secret's resource, as `Name` or `Name.Attribute`, whatever way it is written."""
        if "Fn::Sub" in value:  # "${Database.MasterUserSecret.SecretArn}:password::"
            return re.fullmatch(r"\$\{([^}]+)\}(:.*)?", value["Fn::Sub"]).group(1)
        if "Fn::GetAtt" in value:
            return ".".join(value["Fn::GetAtt"])
        return ref(value)

    injected = {
        secret(s["ValueFrom"])
        for c in containers(template).values()
        for s in present(c.get("Secrets", []))
    }
    readable = {
        secret(resource)
        for name, statement in policy_statements(template)
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        for resource in present(as_list(statement["Resource"]))
    }
    optional = {parameter for _, parameter in OPTIONAL_SECRETS.values()}
    assert injected == readable == {"SecretKey", "Database.MasterUserSecret.SecretArn"} | optional


def test_the_tasks_may_read_the_database_secret_again_after_a_rotation(template):
    database_secret = {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    for name, container in containers(template).items():
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["DATABASE_SECRET_ARN"] == database_secret, name
    for role in ("WebTaskRole", "OpsTaskRole"):
        policies = template["Resources"][role]["Properties"]["Policies"]
        statements = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]
        assert statements == [
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": database_secret,
            }
        ], role


def test_every_container_gets_the_same_complete_environment(template):
    everything = containers(template)
    assert set(everything) == {"web", "events", "migrate", "housekeeping", "notify"}
    first, *others = everything.values()
    for container in others:
        assert container["Environment"] == first["Environment"], container["Name"]
        assert container["Secrets"] == first["Secrets"], container["Name"]
    environment = {e["Name"]: e["Value"] for e in first["Environment"]}
    assert set(environment) == set(REQUIRED_ENVIRONMENT)
    for name, value in REQUIRED_ENVIRONMENT.items():
        if value is not None:
            assert environment[name] == value, name
    assert environment["REDIS_URL"]["Fn::Sub"].startswith("rediss://")  # TLS
    database_url = environment["DATABASE_URL"]["Fn::Sub"]
    assert re.fullmatch(
        r"postgres://[a-z]+@[^:/@]+:[^/@]+/[a-z]+(\?.*)?", database_url
    )  # no password
    always = {s["Name"]: s["ValueFrom"] for s in first["Secrets"] if "Name" in s}
    assert set(always) == REQUIRED_SECRETS
    secrets = {s["Name"]: s["ValueFrom"] for s in present(first["Secrets"])}
    assert set(secrets) == REQUIRED_SECRETS | set(OPTIONAL_SECRETS)
    assert secrets["DATABASE_PASSWORD"]["Fn::Sub"].endswith(":password::")  # the JSON key


def test_the_app_reads_every_variable_it_is_given(template):
    source = SETTINGS.read_text()
    given = {
        item["Name"]
        for container in containers(template).values()
        for item in present(container["Environment"] + container["Secrets"])
    }
    unread = {name for name in given if f'"{name}"' not in source}
    assert unread == set(NOT_READ_YET)


def test_the_data_stack_exports_what_this_stack_imports(template):
    data, problems = decode(str(DATA_TEMPLATE))
    assert not problems, problems
    imported = set(
        re.findall(
            r'"Fn::ImportValue": \{"Fn::Sub": "\$\{MessagesStack\}-(\w+)"\}', json.dumps(template)
        )
    )
    assert imported == {"TableName", "WebPolicyArn", "OpsPolicyArn"}
    for name in imported:
        output = data["Outputs"][name]
        assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-" + name}
        assert "Condition" not in output, name  # an export that may be missing breaks this stack


def test_the_outputs_deploy_py_reads_exist(template):
    wanted = set()
    for name, value in vars(deploy).items():
        if name.startswith("OUT_"):
            wanted.update(value if isinstance(value, tuple) else [value])
    assert wanted
    assert wanted <= set(template["Outputs"])


def test_the_parameters_deploy_py_sets_exist(template):
    wanted = {value for name, value in vars(deploy).items() if name.startswith("PARAM_")}
    wanted |= set(deploy.REQUIRED_FIRST)
    assert wanted <= set(template["Parameters"])


def resolve(template: dict, value, parameters: dict[str, str]):
    """A container property as CloudFormation would make it, for the given parameters: the
    intrinsic functions an image is written with (Ref, Fn::Sub, Fn::If and the conditions),
    with the repository's URI as REPOSITORY."""
    attributes = {"Repository.RepositoryUri": "REPOSITORY"}
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Sub":
        text, names = (argument, {}) if isinstance(argument, str) else argument
        known = {**parameters, **attributes}
        known.update({k: resolve(template, v, parameters) for k, v in names.items()})
        return re.sub(r"\$\{([^}]+)\}", lambda m: known[m.group(1)], text)
    if function == "Fn::If":
        condition, when_true, when_false = argument
        chosen = when_true if holds(template, condition, parameters) else when_false
        return resolve(template, chosen, parameters)
    raise AssertionError(f"not resolved here: {function}")


def holds(template: dict, condition: str, parameters: dict[str, str]) -> bool:
    def truth(expression) -> bool:
        ((function, argument),) = expression.items()
        if function == "Fn::Not":
            return not truth(argument[0])
        if function == "Fn::Equals":
            left, right = (resolve(template, a, parameters) for a in argument)
            return left == right
        if function == "Fn::And":
            return all(truth(a) for a in argument)
        if function == "Condition":
            return holds(template, argument, parameters)
        raise AssertionError(f"not evaluated here: {function}")

    return truth(template["Conditions"][condition])


def test_the_migrate_image_follows_migrate_image_tag_and_nothing_else_does(template):
    def images(**parameters) -> dict[str, str]:
        defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
        values = {**defaults, **parameters}
        return {
            name: resolve(template, container["Image"], values)
            for name, container in containers(template).items()
        }

    # A deploy's first update: the new image for the migrate task only.
    assert images(ImageTag="old", MigrateImageTag="new") == {
        "web": "REPOSITORY:old",
        "events": "REPOSITORY:old",
        "migrate": "REPOSITORY:new",
        "housekeeping": "REPOSITORY:old",
        "notify": "REPOSITORY:old",
    }
    # Not set (a stack made before it existed, or by hand): everything runs ImageTag.
    assert set(images(ImageTag="old").values()) == {"REPOSITORY:old"}
    assert set(images(ImageTag="new", MigrateImageTag="new").values()) == {"REPOSITORY:new"}


def test_housekeeping_runs_every_15_minutes_with_the_ops_role(template):
    (schedule,) = resources_of(template, "AWS::Scheduler::Schedule").values()
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == "rate(15 minutes)"
    task = template["Resources"][ref(properties["Target"]["EcsParameters"]["TaskDefinitionArn"])]
    assert task["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": ["OpsTaskRole", "Arn"]}
    (container,) = task["Properties"]["ContainerDefinitions"]
    python, manage, name, *arguments = container["Command"]
    assert (python, manage, name) == ("python", "manage.py", "housekeeping")
    # The command and its flags as manage.py would parse them; the scheduler may start
    # exactly this task.
    command = load_command_class("messaging", name)
    options = command.create_parser("manage.py", name).parse_args(arguments)
    assert options.prod and not options.dry_run
    runs = [
        statement["Resource"]
        for _, statement in policy_statements(template)
        if "ecs:RunTask" in as_list(statement["Action"])
    ]
    assert runs == [properties["Target"]["EcsParameters"]["TaskDefinitionArn"]]


def test_the_email_workers_run_notify_emails_with_the_web_role(template):
    (name,) = [
        n
        for n, s in resources_of(template, "AWS::ECS::Service").items()
        if s["Properties"]["ServiceName"] == "notify"
    ]
    properties = template["Resources"][name]["Properties"]
    assert "LoadBalancers" not in properties  # a worker: no port, no target group
    network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert [ref(g) for g in network["SecurityGroups"]] == ["TaskSecurityGroup"]  # database, cache
    assert all(ref(s).startswith("Private") for s in network["Subnets"])
    task = template["Resources"][ref(properties["TaskDefinition"])]["Properties"]
    # The pages' DynamoDB reads are all it needs (Query on the table and its index): not Ops.
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["WebTaskRole", "Arn"]}
    (container,) = task["ContainerDefinitions"]
    assert container["Name"] == "notify"
    assert "PortMappings" not in container
    python, manage, command_name, *arguments = container["Command"]
    assert (python, manage, command_name) == ("python", "manage.py", "notify_emails")
    command = load_command_class("notifications", command_name)
    options = command.create_parser("manage.py", command_name).parse_args(arguments)
    assert options.prod and not options.once  # a worker, on real AWS
    # SIGTERM is obeyed between two emails: one never waits longer than the mail server's
    # timeout, which must end before ECS kills the container.
    assert container["StopTimeout"] > settings.EMAIL_TIMEOUT
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["SITE_URL"] == {"Fn::Sub": "https://${DomainName}"}
    logs = container["LogConfiguration"]["Options"]
    assert logs["awslogs-stream-prefix"] == "notify"
    assert template["Outputs"]["NotifyServiceName"]["Value"] == {"Fn::GetAtt": [name, "Name"]}


def test_the_email_workers_run_only_with_an_image_and_somewhere_to_send(template):
    (service,) = [
        s
        for s in resources_of(template, "AWS::ECS::Service").values()
        if s["Properties"]["ServiceName"] == "notify"
    ]
    workers = template["Parameters"]["NotifyWorkers"]
    assert workers["Type"] == "Number"
    assert (workers["Default"], workers["MinValue"], workers["MaxValue"]) == (1, 0, 4)
    condition, when_true, when_false = service["Properties"]["DesiredCount"]["Fn::If"]
    assert (ref(when_true), when_false) == ("NotifyWorkers", 0)
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cruddur/email-AbCdEf"
    assert re.fullmatch(template["Parameters"]["EmailUrlSecretArn"]["AllowedPattern"], secret)
    assert holds(template, condition, {**defaults, "ImageTag": "abc", "EmailUrlSecretArn": secret})
    assert not holds(template, condition, {**defaults, "EmailUrlSecretArn": secret})
    assert not holds(template, condition, {**defaults, "ImageTag": "abc"})  # console only


def test_every_site_url_is_the_site_the_load_balancer_serves(template):
    # The links in emails are built from SITE_URL outside a request: the stack's own address.
    site = template["Outputs"]["SiteUrl"]["Value"]
    assert site == {"Fn::Sub": "https://${DomainName}"}
    for name, container in containers(template).items():
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["SITE_URL"] == site, name
        assert environment["DEFAULT_FROM_EMAIL"] == {"Ref": "FromEmail"}, name


def test_email_url_is_given_only_when_its_secret_is_named(template):
    for secret, (condition, parameter) in OPTIONAL_SECRETS.items():
        defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
        assert defaults[parameter] == ""  # optional: the stack works without it
        assert not holds(template, condition, defaults)
        for name, container in containers(template).items():
            (optional,) = [s for s in container["Secrets"] if "Name" not in s]
            assert optional == {
                "Fn::If": [
                    condition,
                    {"Name": secret, "ValueFrom": {"Ref": parameter}},
                    {"Ref": "AWS::NoValue"},
                ]
            }, name
