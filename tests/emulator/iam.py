"""IAM as AWS enforces it, for the functions under test.

Each function process signs its calls with an access key of its own. The test bed registers that
key with the policy statements of the function's role, resolved from template.yaml for the test
stack (POST /_datero/iam/principal). Every call signed with a registered key is then authorized
here before moto sees it, against the resource ARNs and condition keys that AWS evaluates for that
action (Service Authorization Reference, docs.aws.amazon.com/service-authorization/latest/
reference/list_<service>.html), including what AWS authorizes implicitly:
- tags sent on a create call need `ecs:TagResource` on the new resource, with `ecs:CreateAction`
  in the context (ECS guide, "Grant permission to tag resources on creation");
- a role handed to ECS (a task definition's execution and task roles, on RegisterTaskDefinition
  and RunTask) needs `iam:PassRole` with `iam:PassedToService` (IAM guide, "Grant a user
  permissions to pass a role to an AWS service").
Calls signed with any other key (the tests playing CloudFormation, EC2 or the ECS agent) are not
checked. An action this module does not know is denied: the test bed must learn how AWS
authorizes it before a function may use it.

moto ships an evaluator (moto.iam.access_control), but in server mode it checks these services
against resource "*", treats an Allow whose condition fails as an explicit Deny, and ignores every
condition operator but StringEquals. The evaluation below is the documented one (IAM guide,
"Policy evaluation logic"): an explicit Deny wins, else an Allow whose action, resource and every
condition match, else the implicit deny.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

import cloudwatch_cbor
import sar

_lock = threading.Lock()
# access key id -> Principal
_principals: dict[str, "Principal"] = {}
_denials: list[dict[str, Any]] = []
_decisions: list[dict[str, Any]] = []


@dataclass
class Principal:
    name: str
    role: str
    statements: list[dict[str, Any]]


@dataclass
class Check:
    """One authorization AWS makes for a call: an IAM action on a resource, with its context."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


class Denied(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def register(body: dict[str, Any]) -> None:
    statements = []
    for document in body.get("policies", []):
        found = document.get("Statement", [])
        statements.extend(found if isinstance(found, list) else [found])
    with _lock:
        _principals[body["accessKeyId"]] = Principal(body["name"], body.get("role", body["name"]), statements)


def denials(reset: bool = False) -> list[dict[str, Any]]:
    with _lock:
        found = list(_denials)
        if reset:
            _denials.clear()
        return found


def decisions(reset: bool) -> list[dict[str, Any]]:
    """Every authorized call, for the permissions table: principal, action, resource, statement."""
    with _lock:
        found = list(_decisions)
        if reset:
            _decisions.clear()
        return found


def access_key(authorization: str) -> str | None:
    match = re.search(r"Credential=([^/]+)/", authorization or "")
    return match.group(1) if match else None


def principal_for(authorization: str) -> Principal | None:
    key = access_key(authorization)
    with _lock:
        return _principals.get(key) if key else None


# --- Evaluation -------------------------------------------------------------------------------


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    # IAM wildcards: * any run of characters, ? one character (nothing else is special).
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _operator_matches(operator: str, expected: list[str], actual: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual in expected
    if operator in ("StringEqualsIgnoreCase",):
        return actual.lower() in [e.lower() for e in expected]
    if operator in ("StringLike", "ArnLike"):
        return any(_glob(e, actual) for e in expected)
    if operator == "Bool":
        return actual.lower() in [str(e).lower() for e in expected]
    raise Denied(f"condition operator {operator} is not known to the test bed (tests/emulator/iam.py)")


def _negated(operator: str) -> tuple[str, bool]:
    for positive, negative in (
        ("StringEquals", "StringNotEquals"),
        ("StringLike", "StringNotLike"),
        ("ArnEquals", "ArnNotEquals"),
        ("ArnLike", "ArnNotLike"),
    ):
        if operator == negative:
            return positive, True
    return operator, False


def _condition_fails(conditions: dict[str, Any], context: dict[str, Any]) -> str | None:
    """The first condition the context does not satisfy, described; None when all hold."""
    for raw_operator, keys in conditions.items():
        operator = raw_operator
        qualifier = None
        if ":" in operator:
            qualifier, operator = operator.split(":", 1)
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        base, negated = _negated(operator)
        for key, expected in keys.items():
            expected = [str(e) for e in _as_list(expected)]
            actual = context.get(key)
            if actual is None:
                if if_exists or qualifier == "ForAllValues" or negated:
                    continue
                return f"{raw_operator} {key} {expected}: the request has no {key}"
            values = [str(a) for a in _as_list(actual)]
            if qualifier == "ForAllValues":
                ok = all(_operator_matches(base, expected, v) for v in values)
            elif qualifier == "ForAnyValue":
                ok = any(_operator_matches(base, expected, v) for v in values)
            else:
                ok = any(_operator_matches(base, expected, v) for v in values)
            if negated:
                ok = not ok
            if not ok:
                return f"{raw_operator} {key} {expected}: the request has {key}={actual}"
    return None


def _statement_matches(statement: dict[str, Any], check: Check) -> tuple[bool, bool, str | None]:
    """(action matches, resource matches, failing condition)."""
    if "NotAction" in statement:
        action_ok = not any(_glob(a, check.action, False) for a in _as_list(statement["NotAction"]))
    else:
        action_ok = any(_glob(a, check.action, False) for a in _as_list(statement.get("Action", [])))
    if "NotResource" in statement:
        resource_ok = not any(_glob(r, check.resource) for r in _as_list(statement["NotResource"]))
    else:
        resource_ok = any(_glob(r, check.resource) for r in _as_list(statement.get("Resource", [])))
    failing = _condition_fails(statement.get("Condition", {}), check.context) if action_ok and resource_ok else None
    return action_ok, resource_ok, failing


def authorize(principal: Principal, check: Check) -> int:
    """Index of the statement that allows `check`; raises Denied saying what is missing."""
    allowed = None
    near: list[str] = []
    for index, statement in enumerate(principal.statements):
        action_ok, resource_ok, failing = _statement_matches(statement, check)
        if not (action_ok and resource_ok):
            if action_ok:
                near.append(f"statement {index} allows {check.action} on {_as_list(statement.get('Resource'))}, not on this resource")
            continue
        if failing is not None:
            near.append(f"statement {index} allows {check.action} but its condition fails: {failing}")
            continue
        if statement.get("Effect") == "Deny":
            raise Denied(_message(principal, check, f"explicitly denied by statement {index}"))
        if allowed is None:
            allowed = index
    if allowed is None:
        why = "; ".join(near) if near else f"no statement of the role allows {check.action}"
        raise Denied(_message(principal, check, why))
    return allowed


def _message(principal: Principal, check: Check, why: str) -> str:
    return (
        f"User: arn:aws:sts::123456789012:assumed-role/{principal.role}/{principal.name} is not "
        f"authorized to perform: {check.action} on resource: {check.resource} ({why})"
    )


def authorize_call(
    principal: Principal, service: str, operation: str, params: Params, region: str, account: str, backends: Any
) -> None:
    """Authorizes one call as AWS would; raises Denied (and records it) when AWS would refuse."""
    checks_for = CHECKS.get(service)
    try:
        if checks_for is None:
            raise Denied(f"the test bed does not know how AWS authorizes {service} calls (tests/emulator/iam.py)")
        checks = checks_for(operation, params, region, account, backends)
    except Denied as denied:
        _record_denial(principal, f"{service}:{operation}", Check(f"{service}:{operation}", "?"), denied.message)
        raise
    enforce(principal, service, operation, checks)


def _record_denial(principal: Principal, operation: str, check: Check, message: str) -> None:
    with _lock:
        _denials.append(
            {
                "function": principal.name,
                "operation": operation,
                "action": check.action,
                "resource": check.resource,
                "context": check.context,
                "message": message,
            }
        )


def record_refusal(principal: Principal | None, operation: str, message: str) -> None:
    """A call refused before IAM was asked (a bad signature): listed with the denials, so the
    test that made it fails naming it."""
    with _lock:
        _denials.append(
            {
                "function": principal.name if principal else "the test process",
                "operation": operation,
                "action": "-",
                "resource": "-",
                "context": {},
                "message": message,
            }
        )


def as_evaluated(check: Check) -> Check:
    """`check` as IAM evaluates it, by the Service Authorization Reference's data (sar.py)."""
    try:
        resource, context, _dropped = sar.evaluated(check.action, check.resource, check.context)
    except (sar.UnknownAction, ValueError) as wrong:
        raise Denied(f"{wrong} (tests/emulator/sar.py)") from wrong
    return Check(check.action, resource, context)


def enforce(principal: Principal, service: str, operation: str, checks: list[Check]) -> None:
    for derived in checks:
        try:
            check = as_evaluated(derived)
            index = authorize(principal, check)
        except Denied as denied:
            _record_denial(principal, f"{service}:{operation}", derived, denied.message)
            raise
        with _lock:
            _decisions.append(
                {
                    "function": principal.name,
                    "operation": f"{service}:{operation}",
                    "action": check.action,
                    "resource": check.resource,
                    "statement": principal.statements[index],
                }
            )


# --- What AWS checks for each call ------------------------------------------------------------

Params = dict[str, Any]
Backends = Any  # the launcher's accessor for moto's backends


def _arn(service: str, region: str, account: str, rest: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{rest}"


def _name(arn_or_name: str, marker: str) -> str:
    return arn_or_name.split(marker)[-1] if marker in arn_or_name else arn_or_name


def _cluster_arn(params: Params, region: str, account: str) -> str:
    cluster = params.get("cluster") or "default"
    return _arn("ecs", region, account, f"cluster/{_name(cluster, 'cluster/')}")


def _request_tags(tags: list[dict[str, str]] | None, key: str = "key", value: str = "value") -> dict[str, Any]:
    context: dict[str, Any] = {}
    for tag in tags or []:
        context[f"aws:RequestTag/{tag[key]}"] = tag[value]
    if tags:
        context["aws:TagKeys"] = [tag[key] for tag in tags]
    return context


def _tag_on_create(operation: str, resource: str, tags: list[dict[str, str]] | None) -> list[Check]:
    # ECS guide, "Grant permission to tag resources on creation": evaluated only when tags are sent.
    if not tags:
        return []
    context = {"ecs:CreateAction": operation, **_request_tags(tags)}
    return [Check("ecs:TagResource", resource, context)]


def _pass_roles(*roles: str | None) -> list[Check]:
    return [
        Check("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
        for role in roles
        if role
    ]


def ecs_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    cluster = _cluster_arn(params, region, account)
    cluster_name = cluster.split("cluster/")[-1]
    on_cluster = {"ecs:cluster": cluster}

    def task(arn: str) -> str:
        return _arn("ecs", region, account, f"task/{cluster_name}/{arn.split('/')[-1]}")

    def container_instance(arn: str) -> str:
        return _arn("ecs", region, account, f"container-instance/{cluster_name}/{arn.split('/')[-1]}")

    def task_definition(name: str) -> str:
        return _arn("ecs", region, account, f"task-definition/{_name(name, 'task-definition/')}")

    def provider(name: str) -> str:
        return _arn("ecs", region, account, f"capacity-provider/{_name(name, 'capacity-provider/')}")

    # Actions whose only resource type is the cluster.
    on_cluster_only = {
        "DeleteCluster",
        "UpdateCluster",
        "PutClusterCapacityProviders",
        "DeregisterContainerInstance",
        "ListContainerInstances",
    }
    if operation == "DescribeClusters":
        return [
            Check("ecs:DescribeClusters", _arn("ecs", region, account, f"cluster/{_name(c, 'cluster/')}"))
            for c in params.get("clusters") or ["default"]
        ]
    if operation == "TagResource":
        return [Check("ecs:TagResource", params["resourceArn"], _request_tags(params.get("tags")))]
    if operation == "UntagResource":
        return [Check("ecs:UntagResource", params["resourceArn"], {"aws:TagKeys": list(params.get("tagKeys") or [])})]
    if operation in on_cluster_only:
        return [Check(f"ecs:{operation}", cluster)]
    if operation == "CreateCluster":
        arn = _arn("ecs", region, account, f"cluster/{params.get('clusterName', 'default')}")
        return [Check("ecs:CreateCluster", arn, _request_tags(params.get("tags")))] + _tag_on_create(
            "CreateCluster", arn, params.get("tags")
        )
    if operation == "CreateCapacityProvider":
        arn = provider(params["name"])
        # ECS tags the group AmazonECSManaged with the caller's rights: CloudFormation's schema of
        # AWS::ECS::CapacityProvider lists autoscaling:CreateOrUpdateTags among its create
        # permissions (cfnlint/data/schemas), and ECS's service-linked role cannot do it.
        group = (params.get("autoScalingGroupProvider") or {}).get("autoScalingGroupArn", "")
        tagging = Check(
            "autoscaling:CreateOrUpdateTags",
            backends.group_arn(group.split("autoScalingGroupName/")[-1]),
            _request_tags([{"key": "AmazonECSManaged", "value": ""}]),
        )
        return (
            [Check("ecs:CreateCapacityProvider", arn, _request_tags(params.get("tags")))]
            + _tag_on_create("CreateCapacityProvider", arn, params.get("tags"))
            + [tagging]
        )
    if operation in ("UpdateCapacityProvider",):
        return [Check("ecs:UpdateCapacityProvider", provider(params["name"]))]
    if operation == "DeleteCapacityProvider":
        return [Check("ecs:DeleteCapacityProvider", provider(params["capacityProvider"]))]
    if operation == "DescribeCapacityProviders":
        names = params.get("capacityProviders") or []
        return [Check("ecs:DescribeCapacityProviders", provider(n)) for n in names] or [
            Check("ecs:DescribeCapacityProviders", "*")
        ]
    if operation in ("DescribeTasks", "StopTask"):
        arns = params.get("tasks") or [params.get("task", "")]
        return [Check(f"ecs:{operation}", task(arn), dict(on_cluster)) for arn in arns]
    if operation == "ListTasks":
        # Resource type container-instance, condition key ecs:cluster.
        return [Check("ecs:ListTasks", container_instance("*"), dict(on_cluster))]
    if operation == "UpdateContainerInstancesState":
        return [
            Check("ecs:UpdateContainerInstancesState", container_instance(arn), dict(on_cluster))
            for arn in params.get("containerInstances") or []
        ]
    if operation == "DescribeContainerInstances":
        return [
            Check("ecs:DescribeContainerInstances", container_instance(arn), dict(on_cluster))
            for arn in params.get("containerInstances") or []
        ]
    if operation == "DescribeTaskDefinition":
        return [Check("ecs:DescribeTaskDefinition", task_definition(params["taskDefinition"]))]
    if operation == "RegisterTaskDefinition":
        family = params["family"]
        revision = backends.next_revision(family)
        arn = task_definition(f"{family}:{revision}")
        return (
            [Check("ecs:RegisterTaskDefinition", arn, _request_tags(params.get("tags")))]
            + _tag_on_create("RegisterTaskDefinition", arn, params.get("tags"))
            + _pass_roles(params.get("executionRoleArn"), params.get("taskRoleArn"))
        )
    if operation == "DeregisterTaskDefinition":
        return [Check("ecs:DeregisterTaskDefinition", task_definition(params["taskDefinition"]))]
    if operation == "RunTask":
        definition = params["taskDefinition"]
        roles = backends.task_definition_roles(definition)
        strategy = params.get("capacityProviderStrategy") or []
        context: dict[str, Any] = dict(on_cluster)
        if strategy:
            context["ecs:capacity-provider"] = [
                provider(item["capacityProvider"]) for item in strategy
            ]
        context.update(_request_tags(params.get("tags")))
        # "the task definition revision [is resolved] before authorization" (RunTask, ECS API
        # Reference): a family alone is authorized as its latest ACTIVE revision's ARN.
        resolved = backends.task_definition_arn(definition) or task_definition(definition)
        # The new task's ARN is not known before the call; AWS authorizes the tag against it.
        return (
            [Check("ecs:RunTask", resolved, context)]
            + _tag_on_create("RunTask", task("*"), params.get("tags"))
            + _pass_roles(*roles)
        )
    raise Denied(f"the test bed does not know how AWS authorizes ecs:{operation} (tests/emulator/iam.py)")


def autoscaling_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation == "DescribeAutoScalingGroups":
        return [Check("autoscaling:DescribeAutoScalingGroups", "*")]
    if operation in ("UpdateAutoScalingGroup", "SetInstanceProtection"):
        name = params["AutoScalingGroupName"][0]
        return [Check(f"autoscaling:{operation}", backends.group_arn(name))]
    if operation == "TerminateInstanceInAutoScalingGroup":
        group = backends.group_of_instance(params["InstanceId"][0])
        return [Check("autoscaling:TerminateInstanceInAutoScalingGroup", backends.group_arn(group or "?"))]
    raise Denied(f"the test bed does not know how AWS authorizes autoscaling:{operation} (tests/emulator/iam.py)")


def ec2_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation in ("DescribeInstances", "DescribeAddresses", "DescribeManagedPrefixLists", "DescribeVpcAttribute"):
        return [Check(f"ec2:{operation}", "*")]
    if operation == "AssociateAddress":
        checks = []
        allocation = params.get("AllocationId", [""])[0]
        checks.append(Check("ec2:AssociateAddress", _arn("ec2", region, account, f"elastic-ip/{allocation}")))
        instance = params.get("InstanceId", [""])[0]
        if instance:
            tags = {f"aws:ResourceTag/{k}": v for k, v in backends.instance_tags(instance).items()}
            checks.append(Check("ec2:AssociateAddress", _arn("ec2", region, account, f"instance/{instance}"), tags))
            # The address lands on the instance's primary network interface, a resource type the
            # SAR lists for AssociateAddress: authorized too, with its VPC and subnet.
            interface = backends.primary_interface(instance)
            if interface is not None:
                eni, vpc, subnet = interface
                context = {
                    "ec2:Vpc": _arn("ec2", region, account, f"vpc/{vpc}"),
                    "ec2:Subnet": _arn("ec2", region, account, f"subnet/{subnet}"),
                }
                checks.append(Check("ec2:AssociateAddress", _arn("ec2", region, account, f"network-interface/{eni}"), context))
        return checks
    raise Denied(f"the test bed does not know how AWS authorizes ec2:{operation} (tests/emulator/iam.py)")


def efs_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    # EFS authorizes on the file system, and makes the mount target's network interface with
    # the caller's permissions: CreateMountTarget "also requires permissions for ...
    # ec2:DescribeSubnets, ec2:DescribeNetworkInterfaces, ec2:CreateNetworkInterface", and
    # DeleteMountTarget for ec2:DeleteNetworkInterface on the mount target's interface (EFS
    # API Reference).
    def file_system(file_system_id: str) -> str:
        return _arn("elasticfilesystem", region, account, f"file-system/{file_system_id}")

    if operation == "CreateMountTarget":
        checks = [
            Check("elasticfilesystem:CreateMountTarget", file_system(params.get("FileSystemId", ""))),
            Check("ec2:DescribeSubnets", "*"),
            Check("ec2:DescribeNetworkInterfaces", "*"),
            Check("ec2:CreateNetworkInterface", _arn("ec2", region, account, "network-interface/*")),
            Check("ec2:CreateNetworkInterface", _arn("ec2", region, account, f"subnet/{params.get('SubnetId', '')}")),
        ]
        for group in params.get("SecurityGroups") or []:
            checks.append(Check("ec2:CreateNetworkInterface", _arn("ec2", region, account, f"security-group/{group}")))
        return checks
    if operation == "DeleteMountTarget":
        found = backends.mount_target(params.get("MountTargetId", ""))
        if found is None:  # unknown: EFS answers MountTargetNotFound to a caller allowed on "*"
            return [Check("elasticfilesystem:DeleteMountTarget", file_system("*"))]
        file_system_id, interface = found
        return [
            Check("elasticfilesystem:DeleteMountTarget", file_system(file_system_id)),
            Check("ec2:DeleteNetworkInterface", _arn("ec2", region, account, f"network-interface/{interface}")),
        ]
    if operation == "DescribeMountTargets":
        file_system_id = params.get("FileSystemId")
        if not file_system_id:
            found = backends.mount_target(params.get("MountTargetId", ""))
            file_system_id = found[0] if found else "*"
        return [Check("elasticfilesystem:DescribeMountTargets", file_system(file_system_id))]
    raise Denied(f"the test bed does not know how AWS authorizes elasticfilesystem:{operation} (tests/emulator/iam.py)")


def sqs_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation in ("SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"):
        name = params.get("QueueUrl", "").rstrip("/").split("/")[-1]
        return [Check(f"sqs:{operation}", _arn("sqs", region, account, name))]
    raise Denied(f"the test bed does not know how AWS authorizes sqs:{operation} (tests/emulator/iam.py)")


def s3_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    # Object operations are authorized on the object's ARN (S3 guide, "Actions, resources and
    # condition keys for Amazon S3"); HEAD is authorized as s3:GetObject, and a multipart
    # upload's parts as s3:PutObject. Bucket-level calls are not used by the product's roles.
    bucket, key = params.get("bucket", ""), params.get("key", "")
    if not key:
        raise Denied(f"the test bed does not know how AWS authorizes s3:{operation} on a bucket (tests/emulator/iam.py)")
    action = {
        "GetObject": "s3:GetObject",
        "HeadObject": "s3:GetObject",
        "PutObject": "s3:PutObject",
        "MultipartUpload": "s3:PutObject",
        "DeleteObject": "s3:DeleteObject",
    }.get(operation)
    if action is None:
        raise Denied(f"the test bed does not know how AWS authorizes s3 {operation} on an object (tests/emulator/iam.py)")
    return [Check(action, f"arn:aws:s3:::{bucket}/{key}")]


def cloudwatch_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation == "PutMetricData":
        # No resource type: "*", narrowed by the cloudwatch:namespace condition key (CloudWatch
        # guide, "Using condition keys to limit access to CloudWatch namespaces").
        namespace = params.get("Namespace")
        namespace = namespace[0] if isinstance(namespace, list) else namespace
        return [Check("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace or ""})]
    if operation in ("SetAlarmState", "EnableAlarmActions", "DisableAlarmActions"):
        names = params.get("AlarmNames") or [params.get("AlarmName", "")]
        return [Check(f"cloudwatch:{operation}", _arn("cloudwatch", region, account, f"alarm:{name}")) for name in names]
    if operation == "DescribeAlarms":
        # Each alarm asked for by name; without names, every alarm (composite alarms need "*":
        # CloudWatch guide, "CloudWatch permissions reference").
        names = params.get("AlarmNames") or ["*"]
        return [Check("cloudwatch:DescribeAlarms", _arn("cloudwatch", region, account, f"alarm:{name}")) for name in names]
    raise Denied(f"the test bed does not know how AWS authorizes cloudwatch:{operation} (tests/emulator/iam.py)")


def bucket_policy_denial(
    policy: dict[str, Any], service: str, operation: str, params: Params, context: dict[str, Any]
) -> str | None:
    """Why a bucket policy's explicit Deny refuses this object call (for every caller), or None."""
    for check in s3_checks(operation, params, "", "", None):
        check.context.update(context)
        for index, statement in enumerate(_as_list(policy.get("Statement", []))):
            if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
                continue
            action_ok, resource_ok, failing = _statement_matches(statement, check)
            if action_ok and resource_ok and failing is None:
                return f"{check.action} on {check.resource} is explicitly denied by the bucket policy (statement {index})"
    return None


def secretsmanager_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation in ("GetSecretValue", "PutSecretValue"):
        # Authorized on the secret's ARN; a secret named without its ARN is found under it.
        secret = str(params.get("SecretId", ""))
        if not secret.startswith("arn:"):
            secret = _arn("secretsmanager", region, account, f"secret:{secret}")
        return [Check(f"secretsmanager:{operation}", secret)]
    if operation == "GetRandomPassword":
        # No resource type in the Service Authorization Reference.
        return [Check("secretsmanager:GetRandomPassword", "*")]
    raise Denied(f"the test bed does not know how AWS authorizes secretsmanager:{operation} (tests/emulator/iam.py)")


def logs_checks(operation: str, params: Params, region: str, account: str, backends: Backends) -> list[Check]:
    if operation == "GetLogEvents":
        # Authorized on the log stream (Service Authorization Reference: resource type
        # log-stream); the group is named, or given as its ARN (logGroupIdentifier).
        group = str(params.get("logGroupName") or params.get("logGroupIdentifier") or "")
        if group.startswith("arn:"):
            group = group.split(":log-group:", 1)[1].removesuffix(":*")
        stream = str(params.get("logStreamName", ""))
        return [Check("logs:GetLogEvents", _arn("logs", region, account, f"log-group:{group}:log-stream:{stream}"))]
    raise Denied(f"the test bed does not know how AWS authorizes logs:{operation} (tests/emulator/iam.py)")


CHECKS: dict[str, Callable[..., list[Check]]] = {
    "s3": s3_checks,
    # CloudWatch's signing name.
    "monitoring": cloudwatch_checks,
    "ecs": ecs_checks,
    "autoscaling": autoscaling_checks,
    "ec2": ec2_checks,
    "sqs": sqs_checks,
    "elasticfilesystem": efs_checks,
    "secretsmanager": secretsmanager_checks,
    "logs": logs_checks,
}


def _efs_call(method: str, path: str, body: bytes, query: Any) -> tuple[str, Params]:
    # EFS's REST paths (EFS API Reference): /2015-02-01/mount-targets[/<id>].
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[1] == "mount-targets":
        if method == "POST" and len(parts) == 2:
            return "CreateMountTarget", json.loads(body or b"{}")
        if method == "DELETE" and len(parts) == 3:
            return "DeleteMountTarget", {"MountTargetId": parts[2]}
        if method == "GET" and len(parts) == 2:
            return "DescribeMountTargets", {key: query.get(key) for key in ("FileSystemId", "MountTargetId") if query.get(key)}
    return f"{method} {path}", {}


def parse_call(
    headers: Any, body: bytes, method: str = "POST", path: str = "/", query: Any = None
) -> tuple[str, str, Params, str]:
    """(service, operation, parameters, region) of a signed AWS request. For S3 (REST, path
    style), the operation is the HTTP method and the parameters are the bucket and the key."""
    authorization = headers.get("Authorization", "")
    scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", authorization)
    region, service = (scope.group(1), scope.group(2)) if scope else ("us-east-1", "")
    if service == "s3":
        bucket, _, key = path.lstrip("/").partition("/")
        operation = {
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "PUT": "PutObject",
            "POST": "MultipartUpload",
            "DELETE": "DeleteObject",
        }.get(method, method)
        return service, operation, {"bucket": bucket, "key": key}, region
    if cloudwatch_cbor.is_cbor_call(path):
        return service, cloudwatch_cbor.operation_of(path), cloudwatch_cbor.params_of(body), region
    if service == "elasticfilesystem":
        operation, params = _efs_call(method, path, body, query or {})
        return service, operation, params, region
    target = headers.get("X-Amz-Target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        params = json.loads(body or b"{}")
    else:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        operation = params.get("Action", [""])[0]
    return service, operation, params, region


def error_response(service: str, message: str, code: str = "UnauthorizedOperation") -> tuple[int, str, str]:
    """(status, content type, body) of AWS's AccessDenied answer in the service's protocol; for
    EC2, `code` may say why otherwise (SignatureDoesNotMatch)."""
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{_xml(message)}</Message></Error></Errors><RequestID>denied</RequestID></Response>"
        )
        return 403, "text/xml", body
    if service == "autoscaling":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{_xml(message)}</Message></Error><RequestId>denied</RequestId></ErrorResponse>"
        )
        return 403, "text/xml", body
    if service == "s3":
        body = f"<Error><Code>AccessDenied</Code><Message>{_xml(message)}</Message></Error>"
        return 403, "application/xml", body
    code = "AccessDenied" if service == "sqs" else "AccessDeniedException"
    return 400, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message})


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["Check", "Denied", "Principal", "CHECKS", "register", "denials", "decisions", "record_refusal", "enforce", "authorize_call", "parse_call", "error_response", "principal_for"]
