"""Start moto's server with ECS and Auto Scaling made as strict as AWS where datero-ecs relies on it.

moto is lenient in ways that would let our teardown and idempotency bugs pass silently. Each rule
below names the AWS behaviour it restores (ECS API Reference, "APIReference/API_<Action>.html").
The launcher binds 127.0.0.1 on the given port (0 = any free port), prints the port on its first
line of stdout, and serves until it is killed.

EC2 calls are refused with SignatureDoesNotMatch unless their SigV4 signature is the one AWS
would compute (sigv4.py): the functions sign those with their own code.

Test-only controls (never part of AWS):
- POST /_datero/stop-task {"cluster", "task", "stopCode", "reason", "exitCode", "ranForSeconds"}
  stops a task as if its container crashed (optionally after having run that long).
- GET /_datero/stats answers {"requests": [{"action", "arrived", "seconds"}]}: each AWS call
  served since the last POST /_datero/stats (which resets the list), with its action, arrival
  (epoch seconds) and the time from its request line read to its response written; for
  benchmarks.
- POST /_datero/task-start {"mode": "running" | "pending" | "fail", "reason", "taskDefinition"}
  sets how tasks started from now on behave (only those of `taskDefinition`, when given): run
  at once (default), stay PENDING, or stop before running.
- POST /_datero/settings {"stopSeconds", "consistencySeconds", "serviceLinkedRoleSeconds"}: how
  AWS's timing is played.
  stopSeconds: a task stopped by StopTask stays STOPPING that long before it is STOPPED (the
  container's stop timeout), and keeps its capacity provider "in use" until then.
  consistencySeconds: a task just started is missing from DescribeTasks that long, and a cluster or
  capacity provider just created stays PROVISIONING that long (eventual consistency).
  serviceLinkedRoleSeconds: a new account: the first CreateCluster creates ECS's service-linked
  role; CreateCluster is refused for half that long after it, CreateCapacityProvider for all of it.
  mountTargetSeconds: a new EFS mount target is `creating` that long (nothing mounts through it),
  and a deleted one stays listed as `deleting` that long, holding its zone and its address.
  healthSeconds: a running task whose containers have a health check reports healthStatus
  UNKNOWN that long, then HEALTHY (or what its start mode says).
- POST /_datero/one-off {"family", "role": "dump" | "restore", "exitCodes", "lines"}: tasks of
  that family finish after healthSeconds, each container with its exit code (default 0) and
  log lines; a dump copies the running Datero's data to its BACKUP_KEY, a restore copies a
  dumped key into the running Datero's data directory.
- GET /_datero/postgres-data: each data directory's major and contents ("<source>:<folder>"),
  and each dump; POST {"contents": {"<source>:<folder>": text}} writes contents.
- POST /_datero/task-start modes also "unhealthy" (RUNNING, then UNHEALTHY) and "exits"
  (RUNNING, then STOPPED after healthSeconds: its essential container exited with code 1 and
  `reason`, as PostgreSQL does on a data directory of another major).
- POST /_datero/iam/principal {"accessKeyId", "name", "role", "policies"}: calls signed with that
  key are authorized against those policy documents as AWS would (see iam.py);
  GET (POST resets) /_datero/iam/denials lists the calls refused; GET (POST resets) /_datero/iam/decisions
  lists the calls allowed and the statement that allowed each.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

import io

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import AutoscalingClientError
from moto.ecs import models as ecs
from moto.ecs import exceptions as ecs_exceptions
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import ECSException, EcsClientException, InvalidParameterException
from moto.efs import exceptions as efs_exceptions
from moto.efs import models as efs_models
from moto.iam.access_control import PermissionResult
from moto.moto_api import state_manager
from moto.s3 import models as s3_models
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

import cloudfront
import cloudwatch_cbor
import iam
import public_dns
import sigv4

Backend = ecs.EC2ContainerServiceBackend
# One lock for every change of state made outside moto's own handlers (werkzeug serves each
# request on a thread of its own).
_lock = threading.RLock()
_settings: dict[str, float] = {
    "stopSeconds": 0.0,
    "consistencySeconds": 0.0,
    "serviceLinkedRoleSeconds": 0.0,
    "mountTargetSeconds": 0.0,
    "healthSeconds": 0.0,
}
# When the first CreateCluster made the account's ECS service-linked role (epoch seconds);
# empty before.
_service_linked_role_usable_at: list[float] = []
# The function (iam.Principal) whose call this thread serves, or None for the tests' own calls.
_caller = threading.local()
# (due, kind, subject): transitions AWS makes by itself, applied when due by _settle().
_pending: list[tuple[float, str, Any]] = []


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ClusterContainsTasks(ECSException):
    def __init__(self) -> None:
        super().__init__("ClusterContainsTasksException", "The cluster contains active tasks.")


class ClusterContainsContainerInstances(ECSException):
    def __init__(self) -> None:
        super().__init__(
            "ClusterContainsContainerInstancesException",
            "The cluster contains registered container instances; deregister them first.",
        )


# --- Clusters -------------------------------------------------------------------------------

_original_create_cluster = Backend.create_cluster
_original_delete_cluster = Backend.delete_cluster


def _service_linked_role_refusal(message: str, exception: type, share: float) -> None:
    # "Using service-linked roles for Amazon ECS": the account's first CreateCluster creates
    # AWSServiceRoleForECS, and IAM takes a few seconds to make it usable; until then ECS refuses
    # the calls that need it (reported: CreateCluster with InvalidParameterException "Unable to
    # assume the service linked role", CreateCapacityProvider with ClientException "ECS Service
    # Linked Role does not exist"). Played when serviceLinkedRoleSeconds > 0 (a new account):
    # each call is refused for its `share` of that time after the first CreateCluster.
    if _settings["serviceLinkedRoleSeconds"] <= 0:
        return
    with _lock:
        if not _service_linked_role_usable_at:
            _service_linked_role_usable_at.append(time.time())
        made_at = _service_linked_role_usable_at[0]
    if time.time() < made_at + share * _settings["serviceLinkedRoleSeconds"]:
        raise exception(message)


def create_cluster(self: Backend, cluster_name: str, *args: Any, **kwargs: Any) -> Any:
    _service_linked_role_refusal(
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
        InvalidParameterException,
        0.5,
    )
    # API_CreateCluster: creating an ACTIVE cluster that exists returns it unchanged; moto
    # replaced it and dropped its capacity providers.
    existing = self.clusters.get(cluster_name)
    if existing is not None and existing.status in ("ACTIVE", "PROVISIONING"):
        return existing
    cluster = _original_create_cluster(self, cluster_name, *args, **kwargs)
    _provision(cluster)
    return cluster


def _provision(resource: Any) -> None:
    # Eventual consistency: a new cluster or provider is PROVISIONING for a moment
    # (hashicorp/terraform-provider-aws#11285: "Cluster was not ACTIVE"; #45693: "is not in an
    # ACTIVE state").
    if _settings["consistencySeconds"] > 0:
        resource.status = "PROVISIONING"
        with _lock:
            _pending.append((time.time() + _settings["consistencySeconds"], "activate", resource))


def delete_cluster(self: Backend, cluster_str: str) -> Any:
    # API_DeleteCluster: "You must deregister all container instances from this cluster before
    # you may delete it" (ClusterContainsContainerInstancesException); a cluster with active
    # tasks is refused with ClusterContainsTasksException.
    cluster = self._get_cluster(cluster_str)
    if cluster.status != "ACTIVE":
        raise ecs.ClusterNotFoundException()
    instances = self.container_instances.get(cluster.name, {})
    if any(ci.status == "ACTIVE" for ci in instances.values()):
        raise ClusterContainsContainerInstances()
    tasks = self.tasks.get(cluster.name, {})
    # A task that is still stopping counts: it is not STOPPED yet.
    if any(t.last_status != "STOPPED" for t in tasks.values()):
        raise ClusterContainsTasks()
    return _original_delete_cluster(self, cluster_str)


# --- Capacity providers ---------------------------------------------------------------------

_original_create_capacity_provider = Backend.create_capacity_provider


def _asg_name(asg_arn_or_name: str) -> str:
    return asg_arn_or_name.split("autoScalingGroupName/")[-1]


def create_capacity_provider(self: Backend, name: str, asg_details: dict, tags: Any) -> Any:
    _service_linked_role_refusal("ECS Service Linked Role does not exist", EcsClientException, 1.0)
    # API_CreateCapacityProvider: names are unique per account and Region; names starting with
    # "aws", "ecs" or "fargate" are reserved (ClientException).
    if self._get_provider(name) is not None:
        raise EcsClientException(f"The specified capacity provider already exists: {name}")
    if name.lower().startswith(("aws", "ecs", "fargate")):
        raise EcsClientException("Capacity provider names can't start with aws, ecs or fargate.")
    # Managed termination protection requires the group's scale-in protection for new instances.
    if asg_details.get("managedTerminationProtection") == "ENABLED":
        group = _find_group(self, asg_details.get("autoScalingGroupArn", ""))
        if group is None or not group.new_instances_protected_from_scale_in:
            raise EcsClientException(
                "The managed termination protection setting for the capacity provider is invalid. "
                "To enable managed termination protection for a capacity provider, the Auto Scaling "
                "group must have instance protection from scale in enabled."
            )
    # API_AutoScalingGroupProvider: managedDraining defaults to ENABLED (moto left it out).
    asg_details.setdefault("managedDraining", "ENABLED")
    provider = _original_create_capacity_provider(self, name, asg_details, tags)
    _provision(provider)
    return provider


def _find_group(self: Backend, arn_or_name: str) -> Any:
    backend = asg_models.autoscaling_backends[self.account_id][self.region_name]
    return backend.autoscaling_groups.get(_asg_name(arn_or_name))


def _provider_in_use(self: Backend, provider: Any) -> bool:
    return any(
        c.status == "ACTIVE"
        and (provider.name in (c.capacity_providers or []) or provider.capacity_provider_arn in (c.capacity_providers or []))
        for c in self.clusters.values()
    )


def delete_capacity_provider(self: Backend, name_or_arn: str) -> Any:
    # API_DeleteCapacityProvider: "Only capacity providers that aren't associated with a cluster
    # can be deleted." An unknown provider is a ClientException (moto answered HTTP 500).
    provider = self._get_provider(name_or_arn)
    if provider is None:
        raise EcsClientException("The specified capacity provider does not exist.")
    if _provider_in_use(self, provider):
        raise EcsClientException(
            "The specified capacity provider is in use and cannot be removed. "
            "Remove it from the cluster with PutClusterCapacityProviders first."
        )
    self.capacity_providers.pop(provider.name)
    provider.status = "INACTIVE"
    return provider


def describe_capacity_providers(self: Backend, names: list[str] | None) -> Any:
    # API_DescribeCapacityProviders: with no names, every provider is described (moto: HTTP 500).
    if not names:
        return list(self.capacity_providers.values()), []
    return _original_describe_capacity_providers(self, names)


_original_describe_capacity_providers = Backend.describe_capacity_providers


_original_put_cluster_capacity_providers = Backend.put_cluster_capacity_providers


def put_cluster_capacity_providers(
    self: Backend, cluster_name: str, capacity_providers: list[str] | None, strategy: Any
) -> Any:
    # API_PutClusterCapacityProviders: refused while the cluster or a named provider is not
    # ACTIVE yet, and a provider still used by a task that is not STOPPED cannot be removed
    # (ResourceInUseException).
    cluster = self._get_cluster(cluster_name)
    if cluster.status != "ACTIVE":
        raise EcsClientException("Cluster was not ACTIVE.")
    for name in capacity_providers or []:
        provider = self._get_provider(name)
        if provider is not None and provider.status != "ACTIVE":
            raise InvalidParameterException(
                f"The specified capacity provider '{name}' is not in an ACTIVE state. "
                "Specify a valid capacity provider and try again."
            )
    if capacity_providers is not None:
        removed = set(cluster.capacity_providers or []) - set(capacity_providers)
        busy = [
            t
            for t in self.tasks.get(cluster.name, {}).values()
            if t.last_status != "STOPPED" and t.capacity_provider_name in removed
        ]
        if busy:
            raise ECSException(
                "ResourceInUseException",
                "The specified capacity provider is in use and cannot be removed.",
            )
    return _original_put_cluster_capacity_providers(self, cluster_name, capacity_providers, strategy)


_original_describe_tasks = Backend.describe_tasks


def describe_tasks(self: Backend, cluster_str: str, tasks: list[str]) -> Any:
    # API_RunTask: a task just started may not be visible to DescribeTasks at once (eventual
    # consistency). Played for the functions' calls; the tests' own reads see the truth.
    found = _original_describe_tasks(self, cluster_str, tasks)
    if getattr(_caller, "principal", None) is None:
        return found
    # A task that has stopped since has been seen by ECS's event stream: visible.
    now = time.time()
    return [t for t in found if getattr(t, "visible_at", 0) <= now or t.last_status == "STOPPED"]


# --- Tasks ----------------------------------------------------------------------------------

_original_task_init = ecs.Task.__init__
_original_container_init = ecs.Container.__init__


def task_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_task_init(self, *args, **kwargs)
    now = _now()
    # API_Task: createdAt/startedAt are set by ECS; stop fields are filled when the task stops.
    self.created_at = now
    self.started_at = now
    self.pull_started_at = now
    self.pull_stopped_at = now
    self.stopping_at = None
    self.stopped_at = None
    self.execution_stopped_at = None
    self.stop_code = None
    self.capacity_provider_name = None
    # API_Task: one container per container definition (moto makes one, from the first), and
    # API_Container: no exitCode until the container has exited (moto says 0 from the start).
    task_definition = kwargs.get("task_definition") or next(
        (arg for arg in args if isinstance(arg, ecs.TaskDefinition)), None
    )
    definitions = getattr(task_definition, "container_definitions", None) or []
    if len(definitions) > 1 and len(self.containers) == 1:
        containers = []
        for definition in definitions:
            container = ecs.Container(task_definition)
            container.name = definition.get("name")
            container.image = definition.get("image")
            container.cpu = None if definition.get("cpu") is None else str(definition.get("cpu"))
            container.memory = None if definition.get("memory") is None else str(definition.get("memory"))
            container.environment = definition.get("environment")
            container.command = definition.get("command")
            containers.append(container)
        self.containers = containers
    for container in self.containers:
        container.exitCode = None


def container_init(self: Any, task_def: Any) -> None:
    _original_container_init(self, task_def)
    # API_Container: cpu and memory are strings in ECS responses; moto sent numbers, which the
    # AWS SDK for Rust rejects as a response error.
    self.cpu = None if self.cpu is None else str(self.cpu)
    self.memory = None if self.memory is None else str(self.memory)


def _mark_stopped(task: Any, stop_code: str, reason: str, exit_code: int | None) -> None:
    now = _now()
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.stopping_at = now
    task.stopped_at = now
    task.execution_stopped_at = now
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = exit_code


def _find_task(self: Backend, cluster_name: str, task_str: str) -> Any:
    task_id = task_str.split("/")[-1]
    for arn, task in self.tasks.get(cluster_name, {}).items():
        if arn.split("/")[-1] == task_id:
            return task
    return None


def stop_task(self: Backend, cluster_str: str, task_str: str, reason: str) -> Any:
    # API_StopTask: an unknown task is an InvalidParameterException (moto: HTTP 500); stopping a
    # task that is already stopped returns it unchanged. A stop by the API has stopCode
    # UserInitiated and stoppedAt set (moto left both empty).
    cluster = self._get_cluster(cluster_str)
    task = _find_task(self, cluster.name, task_str)
    if task is None:
        raise InvalidParameterException("The referenced task was not found.")
    if task.desired_status == "STOPPED":
        return task
    reason = reason or "Task stopped by user"
    if _settings["stopSeconds"] > 0:
        # The container gets SIGTERM, then its stop timeout: STOPPING until then, still holding
        # its instance and its capacity provider.
        task.desired_status = "STOPPED"
        task.last_status = "STOPPING"
        task.stopped_reason = reason
        task.stop_code = "UserInitiated"
        task.stopping_at = _now()
        with _lock:
            _pending.append((time.time() + _settings["stopSeconds"], "stop", (self, cluster, task)))
        return task
    _release(self, cluster, task)
    _mark_stopped(task, "UserInitiated", reason, 143)
    return task


def _settle() -> None:
    """Applies every transition that is due; called before each request is served."""
    now = time.time()
    with _lock:
        due = [entry for entry in _pending if entry[0] <= now]
        _pending[:] = [entry for entry in _pending if entry[0] > now]
        for _, kind, subject in due:
            if kind == "activate":
                if subject.status == "PROVISIONING":
                    subject.status = "ACTIVE"
            elif kind == "mount-available":
                if subject.life_cycle_state == "creating":
                    subject.life_cycle_state = "available"
            elif kind == "mount-deleted":
                efs_backend, mount_target_id = subject
                if mount_target_id in efs_backend.mount_targets_by_id:
                    _original_delete_mount_target(efs_backend, mount_target_id)
            elif kind == "health":
                _settle_health(*subject)
            elif kind == "one-off":
                _finish_one_off(*subject)
            elif kind == "stop":
                backend, cluster, task = subject
                if task.last_status != "STOPPED":
                    _release(backend, cluster, task)
                    _mark_stopped(task, task.stop_code or "UserInitiated", task.stopped_reason, 143)
        _protect_busy_instances()


def _protect_busy_instances() -> None:
    # Managed termination protection: while a provider with it ENABLED exists, ECS turns
    # scale-in protection on for the group's instances that run tasks (ECS guide, "Managed
    # termination protection"); deleting the provider does not turn it off again
    # (aws/containers-roadmap#2862).
    for account, regions in list(ecs.ecs_backends.items()):
        for region, backend in list(regions.items()):
            for provider in backend.capacity_providers.values():
                details = provider.auto_scaling_group_provider or {}
                if details.get("managedTerminationProtection") != "ENABLED":
                    continue
                group = _find_group(backend, details.get("autoScalingGroupArn", ""))
                if group is None:
                    continue
                busy = _instances_running_tasks(backend)
                for state in group.instance_states:
                    if state.instance.id in busy:
                        state.protected_from_scale_in = True


def _instances_running_tasks(backend: Backend) -> set[str]:
    busy = set()
    for cluster_name, tasks in backend.tasks.items():
        instances = backend.container_instances.get(cluster_name, {})
        for task in tasks.values():
            if task.last_status == "STOPPED" or not task.container_instance_arn:
                continue
            instance = instances.get(task.container_instance_arn.split("/")[-1])
            if instance is not None:
                busy.add(instance.ec2_instance_id)
    return busy


def _release(self: Backend, cluster: Any, task: Any) -> None:
    if task.container_instance_arn:
        instance = self.container_instances[cluster.name].get(task.container_instance_arn.split("/")[-1])
        if instance is not None:
            self.update_container_instance_resources(instance, task.resource_requirements, removing=True)
        self.update_cluster_resources(cluster, -1, task_state="RUNNING")


def deregister_container_instance(self: Backend, cluster_str: str, container_instance_str: str, force: bool) -> Any:
    # API_DeregisterContainerInstance: without force, an instance with running tasks is refused;
    # with force, its tasks are orphaned (we mark them stopped, as the agent would on shutdown).
    cluster = self._get_cluster(cluster_str)
    instance_id = container_instance_str.split("/")[-1]
    instance = self.container_instances.get(cluster.name, {}).get(instance_id)
    if instance is None:
        raise InvalidParameterException("Container instance not found.")
    running = [
        t
        for t in self.tasks.get(cluster.name, {}).values()
        if t.desired_status != "STOPPED" and (t.container_instance_arn or "").endswith(instance_id)
    ]
    if running and not force:
        raise InvalidParameterException("Found running tasks on the instance.")
    for task in running:
        _release(self, cluster, task)
        _mark_stopped(task, "TaskFailedToStart", "Container instance deregistered", None)
    return _original_deregister_container_instance(self, cluster_str, container_instance_str, force)


_original_deregister_container_instance = Backend.deregister_container_instance


_client_tokens: dict[tuple[str, str], dict[str, Any]] = {}
_task_start: dict[str, str] = {"mode": "running", "reason": "", "taskDefinition": ""}


# PostgreSQL's majors, for the data-directory check below: image -> major (a test sets them),
# and (volume, folder) -> the major that initialised it.
_postgres_majors: dict[str, int] = {}
_data_majors: dict[tuple[str, str], int] = {}


def _environment(definition: Any, task: Any, container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as it runs: the task definition's, then the run-task
    overrides' (API_ContainerOverride: "environment ... overrides the existing environment
    variables from the Docker image or the task definition")."""
    env = {pair["name"]: pair["value"] for pair in container.get("environment") or []}
    for override in (getattr(task, "overrides", None) or {}).get("containerOverrides") or []:
        if override.get("name") == container.get("name"):
            env.update({pair["name"]: pair["value"] for pair in override.get("environment") or []})
    return env


def _data_directory(backend: Any, task: Any) -> tuple[tuple[str, str], int] | None:
    """Where a task of an image whose major a test named keeps its PostgreSQL data: (volume
    source, folder under the mount) and the image's major; None for any other task."""
    definition = backend.describe_task_definition(task.task_definition_arn)
    volumes = {volume["name"]: volume for volume in definition.volumes or []}
    for container in definition.container_definitions or []:
        major = _postgres_majors.get(container.get("image", ""))
        if major is None:
            continue
        pgdata = _environment(definition, task, container).get("PGDATA", "/var/lib/postgresql/data")
        for mount in container.get("mountPoints") or []:
            path = mount["containerPath"].rstrip("/")
            if pgdata != path and not pgdata.startswith(path + "/"):
                continue
            volume = volumes.get(mount["sourceVolume"], {})
            efs = volume.get("efsVolumeConfiguration") or {}
            source = efs.get("fileSystemId") or (volume.get("host") or {}).get("sourcePath")
            if source:
                return (source, pgdata[len(path):]), major
    return None


def _postgres_check(backend: Backend, task: Any) -> list[str] | None:
    """PostgreSQL's check of its data directory, played for images whose major a test named:
    a directory with no data takes the image's major; one of another major is refused with
    PostgreSQL's own two lines ("database files are incompatible with server", miscinit.c's
    ValidatePgVersion), and the container exits without touching it. None: it starts."""
    found = _data_directory(backend, task)
    if found is None:
        return None
    key, major = found
    with _lock:
        data = _data_majors.setdefault(key, major)
    if data == major:
        return None
    return [
        f"{_now():%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC [1] FATAL:  database files are incompatible with server",
        f"{_now():%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f" UTC [1] DETAIL:  The data directory was initialized by PostgreSQL version {data},"
        + f" which is not compatible with this version {major}.1.",
    ]


# One-off tasks (the backup and restore tasks), played by family: after healthSeconds every
# container exits with its code (0 unless a test says otherwise), writing its lines to its
# log. A "dump" copies what the running Datero's data directory holds to the key its upload
# container's BACKUP_KEY names; a "restore" copies the key its fetch container's BACKUP_KEY
# names into the running Datero's directory (a key never dumped: the fetch exits 1).
_one_off: dict[str, dict[str, Any]] = {}
# What each data directory holds (a test writes it), and each dump's copy.
_data_contents: dict[tuple[str, str], str] = {}
_dumps: dict[str, str] = {}


def _family(task: Any) -> str:
    return task.task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _running_datero(backend: Any, task: Any) -> tuple[str, str] | None:
    """The data directory of the Datero task RUNNING beside `task` on its cluster."""
    cluster = task.cluster_arn.rsplit("/", 1)[-1]
    for other in backend.tasks.get(cluster, {}).values():
        if other is task or other.last_status != "RUNNING":
            continue
        found = _data_directory(backend, other)
        if found is not None:
            return found[0]
    return None


def _finish_one_off(backend: Any, task: Any, play: dict[str, Any]) -> None:
    if task.last_status != "RUNNING":
        return
    definition = backend.describe_task_definition(task.task_definition_arn)
    containers = {c["name"]: c for c in definition.container_definitions or []}
    codes = dict(play.get("exitCodes") or {})
    lines = dict(play.get("lines") or {})
    datero = _running_datero(backend, task)
    if play.get("role") == "dump":
        key = _environment(definition, task, containers.get("upload", {})).get("BACKUP_KEY", "")
        if datero is None:
            codes.setdefault("dump", 2)
            lines.setdefault("dump", ["pg_dumpall: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused"])
        elif codes.get("dump", 0) == 0 and codes.get("upload", 0) == 0 and key:
            _dumps[key] = _data_contents.get(datero, "")
    elif play.get("role") == "restore":
        key = _environment(definition, task, containers.get("fetch", {})).get("BACKUP_KEY", "")
        if key not in _dumps:
            codes.setdefault("fetch", 1)
            lines.setdefault("fetch", [f"fatal error: An error occurred (404) when calling the HeadObject operation: Key \"{key}\" does not exist"])
        elif datero is not None and all(codes.get(name, 0) == 0 for name in containers):
            _data_contents[datero] = _dumps[key]
    # Containers run in task-definition order, each once its dependencies allow (ECS guide,
    # "Container dependency": COMPLETE once exited, SUCCESS once exited 0); one that never
    # runs has no exit code and writes nothing.
    exits: dict[str, int | None] = {}
    for name, container in containers.items():
        runs = all(
            exits.get(dep["containerName"]) is not None
            and (dep.get("condition") != "SUCCESS" or exits.get(dep["containerName"]) == 0)
            for dep in container.get("dependsOn") or []
        )
        exits[name] = codes.get(name, 0) if runs else None
        if runs and lines.get(name):
            _write_container_log(task, name, lines[name])
    task.release_resources()
    _mark_stopped(task, "EssentialContainerExited", "Essential container in task exited", None)
    for container in task.containers:
        container.exitCode = exits.get(container.name)


def _apply_start_mode(backend: Backend, task: Any) -> None:
    only = _task_start["taskDefinition"]
    mode = _task_start["mode"] if not only or task.task_definition_arn == only else "running"
    # PostgreSQL checks its data directory before anything else: a refusal comes before any
    # health check, whatever the test asked of the task's health.
    if mode in ("running", "unhealthy"):
        refusal = _postgres_check(backend, task)
        if refusal:
            task.last_words = refusal
            mode = "exits"
    _start_health(backend, task, mode)
    if mode == "pending":
        task.last_status = "PENDING"
        task.started_at = None
    elif mode == "fail":
        _mark_stopped(task, "TaskFailedToStart", _task_start["reason"] or "CannotPullContainerError", None)
        task.started_at = None


def _start_health(backend: Backend, task: Any, mode: str) -> None:
    # API_Task healthStatus: UNKNOWN until the containers' health checks have run (and for
    # ever without one: "If a task has no health checks, its health status is UNKNOWN"); ECS
    # reports it for a task RunTask started but acts on it for services only.
    task.health_status = "UNKNOWN"
    for container in task.containers:
        container.health_status = "UNKNOWN"
    definition = backend.describe_task_definition(task.task_definition_arn)
    checked = any(c.get("healthCheck") for c in definition.container_definitions or [])
    task.awslogs_streams = _awslogs_streams(backend, definition, task)
    cluster = backend._get_cluster(task.cluster_arn.rsplit("/", 1)[-1])
    task.release_resources = lambda: _release(backend, cluster, task)
    if mode in ("running", "unhealthy", "exits") and (checked or mode == "exits"):
        with _lock:
            _pending.append((time.time() + _settings["healthSeconds"], "health", (task, mode, checked)))
    play = _one_off.get(_family(task))
    if mode == "running" and play is not None:
        with _lock:
            _pending.append((time.time() + _settings["healthSeconds"], "one-off", (backend, task, play)))


def _settle_health(task: Any, mode: str, checked: bool) -> None:
    if task.last_status != "RUNNING":
        return
    if mode == "exits":
        # The container prints its last words and exits 1. ECS's own container `reason` stays
        # empty (it is for the agent's errors); the words are in the container's log.
        _write_log(task, getattr(task, "last_words", None) or _task_start["reason"].split("\n"))
        # A stopped task gives its instance's memory and CPU back, as any stop does.
        task.release_resources()
        _mark_stopped(task, "EssentialContainerExited", "Essential container in task exited", None)
        for container in task.containers:
            container.exitCode = 1
            container.reason = None
        return
    if checked:
        task.health_status = "UNHEALTHY" if mode == "unhealthy" else "HEALTHY"
        for container in task.containers:
            container.health_status = task.health_status


def _awslogs_streams(backend: Backend, definition: Any, task: Any) -> list[tuple[Any, str, str]]:
    """Where the awslogs driver writes each container of `task`: the stream
    `<awslogs-stream-prefix>/<container name>/<task id>` of `awslogs-group` (ECS Developer Guide,
    "Send Amazon ECS logs to CloudWatch"), in a group that exists."""
    from moto.logs.models import logs_backends

    logs = logs_backends[backend.account_id][backend.region_name]
    task_id = task.task_arn.rsplit("/", 1)[-1]
    streams = []
    for container in definition.container_definitions or []:
        config = container.get("logConfiguration") or {}
        options = config.get("options") or {}
        group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
        if config.get("logDriver") == "awslogs" and group in logs.groups and prefix:
            streams.append((logs, group, f"{prefix}/{container['name']}/{task_id}"))
    return streams


def _write_container_log(task: Any, name: str, lines: list[str]) -> None:
    now = int(time.time() * 1000)
    for logs, group, stream in getattr(task, "awslogs_streams", []):
        if stream.split("/")[-2] == name:
            if stream not in logs.groups[group].streams:
                logs.create_log_stream(group, stream)
            logs.put_log_events(group, stream, [{"timestamp": now, "message": line} for line in lines if line])


def _write_log(task: Any, lines: list[str]) -> None:
    now = int(time.time() * 1000)
    for logs, group, stream in getattr(task, "awslogs_streams", []):
        if stream not in logs.groups[group].streams:
            logs.create_log_stream(group, stream)
        logs.put_log_events(group, stream, [{"timestamp": now, "message": line} for line in lines if line])


def _mount_efs(backend: Backend, cluster: Any, task: Any) -> None:
    # An EFS volume is mounted through the mount target of the instance's Availability Zone;
    # without one the task never starts: "At a minimum, you should create a mount target in each
    # Availability Zone from which you want to access the file system" (EFS guide, "Creating
    # mount targets"); efs-utils then cannot resolve the zone's mount target (aws/efs-utils#308).
    # Checked for file systems the emulator knows (a test that only names one is not affected).
    from moto.ec2.models import ec2_backends
    from moto.efs.models import efs_backends

    if task.last_status == "STOPPED":
        return
    definition = backend.describe_task_definition(task.task_definition_arn)
    efs = efs_backends[backend.account_id][backend.region_name]
    for volume in getattr(definition, "volumes", None) or []:
        file_system_id = (volume.get("efsVolumeConfiguration") or {}).get("fileSystemId")
        file_system = efs.file_systems_by_id.get(file_system_id or "")
        if file_system is None:
            continue
        instance_id = task.container_instance_arn.split("/")[-1]
        container_instance = backend.container_instances.get(cluster.name, {}).get(instance_id)
        if container_instance is None:
            continue
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        instance = ec2.get_instance(container_instance.ec2_instance_id)
        # The zone of the instance's subnet (moto's `placement` of a group's instance is a random
        # zone of the group's, whatever its subnet).
        zone = ec2.get_subnet(instance.subnet_id).availability_zone if instance.subnet_id else instance.placement
        if any(
            target.availability_zone_name == zone and target.life_cycle_state == "available"
            for target in file_system.iter_mount_targets()
        ):
            continue
        _release(backend, cluster, task)
        _mark_stopped(
            task,
            "TaskFailedToStart",
            "ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: "
            f'stderr: Failed to resolve "{file_system_id}.efs.{backend.region_name}.amazonaws.com" - check that '
            "your file system ID is correct, and ensure that the VPC has an EFS mount target for this file "
            f"system ID (no mount target in {zone})",
            None,
        )
        task.started_at = None
        return


_original_run_task_response = ecs_responses.EC2ContainerServiceResponse.run_task


def run_task_response(self: Any) -> Any:
    # API_RunTask: clientToken makes the call idempotent (moto ignored it). With no container
    # instance, or none with room, ECS answers 200 with `failures` (moto: HTTP 500, or nothing).
    from moto.core.responses import ActionResult

    token = self._get_param("clientToken")
    key = (self.current_account, token or "")
    with _lock:
        if token and key in _client_tokens:
            return ActionResult(_client_tokens[key])
        cluster_str = self._get_param("cluster", "default")
        backend = self.ecs_backend
        cluster = backend._get_cluster(cluster_str)
        launch_type = self._get_param("launchType")
        strategy = self._get_param("capacityProviderStrategy")
        if launch_type and strategy:
            raise InvalidParameterException(
                "Specifying both a launch type and capacity provider strategy is not supported."
            )
        instances = [
            ci for ci in backend.container_instances.get(cluster.name, {}).values() if ci.status == "ACTIVE"
        ]
        if launch_type != "FARGATE" and not instances:
            result = {"tasks": [], "failures": [{"reason": "No Container Instances were found in your cluster."}]}
        else:
            result = _original_run_task_response(self).result
            if not result["tasks"]:
                result = {"tasks": [], "failures": [{"arn": instances[0].container_instance_arn, "reason": "RESOURCE:MEMORY"}]}
            # Neither a launch type nor a strategy: the cluster's default strategy (API_RunTask).
            if not launch_type and not strategy:
                strategy = cluster.default_capacity_provider_strategy or []
            for task in result["tasks"]:
                task.capacity_provider_name = (strategy or [{}])[0].get("capacityProvider")
                task.visible_at = time.time() + _settings["consistencySeconds"]
                _apply_start_mode(backend, task)
                _mount_efs(backend, cluster, task)
        if token:
            _client_tokens[key] = result
        return ActionResult(result)


# --- Auto Scaling ---------------------------------------------------------------------------

class GroupInUse(AutoscalingClientError):
    code = "ResourceInUse"
    message = "The group has instances protected from scale-in; it cannot be deleted."


_original_delete_asg = asg_models.AutoScalingBackend.delete_auto_scaling_group


def delete_auto_scaling_group(self: Any, group_name: str) -> Any:
    # Instances protected from scale-in are never terminated by the group, so a stack's
    # deletion of the group waits for ever (aws-cdk#14732, #18179). Refuse while any is left.
    group = self.autoscaling_groups.get(group_name)
    if group is not None and any(s.protected_from_scale_in for s in group.instance_states):
        raise GroupInUse()
    return _original_delete_asg(self, group_name)


def validate_container_defs(memory: str | None, container_definitions: list[dict[str, Any]], requires_compatibilities: Any) -> None:
    # As AWS validates (ContainerDefinition.memoryReservation, ECS API reference): without a
    # task-level memory, every container needs memory or memoryReservation. moto also demanded
    # a hard `memory` of EC2 tasks, which AWS does not; the backup tasks reserve memory softly.
    for cd in container_definitions:
        if "name" not in cd and "Name" not in cd:
            raise ecs_exceptions.TaskDefinitionMissingPropertyError("name")
        if "image" not in cd and "Image" not in cd:
            raise ecs_exceptions.TaskDefinitionMissingPropertyError("image")
        sizes = ("memory", "Memory", "memoryReservation", "MemoryReservation")
        if not memory and not any(cd.get(key) for key in sizes):
            raise ecs_exceptions.TaskDefinitionMemoryError(cd.get("name", cd.get("Name")))


# --- Auto Scaling: instances keep the settings they were launched with ------------------------

_original_instance_state_init = asg_models.InstanceState.__init__
_original_terminate_instance = asg_models.AutoScalingBackend.terminate_instance


def instance_state_init(self: Any, instance: Any, *args: Any, **kwargs: Any) -> None:
    _original_instance_state_init(self, instance, *args, **kwargs)
    # "Existing instances continue to run with the configuration that they were originally
    # launched with" (UpdateAutoScalingGroup): an instance reports the launch template version it
    # was launched from (moto reported the template's default version now).
    group = getattr(instance, "autoscaling_group", None)
    template = getattr(group, "ec2_launch_template", None)
    self.launched_version = None
    if template is not None:
        try:
            self.launched_version = str(template.get_version(group.launch_template_version).number)
        except Exception:
            self.launched_version = str(template.default_version_number)


def instance_launch_template(self: Any) -> dict[str, Any] | None:
    group = self.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    return {
        "LaunchTemplateId": group.ec2_launch_template.id,
        "LaunchTemplateName": group.ec2_launch_template.name,
        "Version": getattr(self, "launched_version", None) or group.ec2_launch_template.default_version_number,
    }


def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
    activity = _original_terminate_instance(self, instance_id, should_decrement)
    with _lock:
        for account, regions in list(ecs.ecs_backends.items()):
            for region, backend in list(regions.items()):
                _container_instance_gone(backend, instance_id, "Host EC2 instance terminated")
    return activity


# --- EFS mount targets -------------------------------------------------------------------------

_original_create_mount_target = efs_models.EFSBackend.create_mount_target
_original_delete_mount_target = efs_models.EFSBackend.delete_mount_target


def create_mount_target(self: Any, *args: Any, **kwargs: Any) -> Any:
    # CreateMountTarget answers while the mount target is still `creating`; DescribeMountTargets
    # tells when it is `available` (EFS API Reference, CreateMountTarget).
    made = _original_create_mount_target(self, *args, **kwargs)
    if _settings["mountTargetSeconds"] > 0:
        made.life_cycle_state = "creating"
        with _lock:
            _pending.append((time.time() + _settings["mountTargetSeconds"], "mount-available", made))
    return made


def delete_mount_target(self: Any, mount_target_id: str) -> None:
    # DeleteMountTarget answers while the mount target is `deleting`: it stays listed, in its
    # zone and with its network interface's address, until it is gone (EFS API Reference,
    # DeleteMountTarget: "check ... by calling DescribeMountTargets").
    if _settings["mountTargetSeconds"] <= 0:
        _original_delete_mount_target(self, mount_target_id)
        return
    if mount_target_id not in self.mount_targets_by_id:
        raise efs_exceptions.MountTargetNotFound(mount_target_id)
    target = self.mount_targets_by_id[mount_target_id]
    if target.life_cycle_state != "deleting":
        target.life_cycle_state = "deleting"
        with _lock:
            _pending.append(
                (time.time() + _settings["mountTargetSeconds"], "mount-deleted", (self, mount_target_id))
            )


def tighten() -> None:
    efs_models.EFSBackend.create_mount_target = create_mount_target
    efs_models.EFSBackend.delete_mount_target = delete_mount_target
    Backend._validate_container_defs = staticmethod(validate_container_defs)
    # Bucket policies are evaluated in _bucket_policy, with their conditions.
    s3_models.FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL
    Backend.create_cluster = create_cluster
    Backend.delete_cluster = delete_cluster
    Backend.create_capacity_provider = create_capacity_provider
    Backend.delete_capacity_provider = delete_capacity_provider
    Backend.describe_capacity_providers = describe_capacity_providers
    Backend.put_cluster_capacity_providers = put_cluster_capacity_providers
    Backend.describe_tasks = describe_tasks
    Backend.stop_task = stop_task
    Backend.deregister_container_instance = deregister_container_instance
    ecs.Task.__init__ = task_init
    ecs.Container.__init__ = container_init
    ecs_responses.EC2ContainerServiceResponse.run_task = run_task_response
    asg_models.AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    asg_models.InstanceState.__init__ = instance_state_init
    asg_models.InstanceState.launch_template = property(instance_launch_template)
    asg_models.AutoScalingBackend.terminate_instance = terminate_instance
    # Tasks stay RUNNING until something stops them, as on AWS (moto walked them to STOPPED
    # one step per DescribeTasks).
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )


# Guarded by _stats_lock; requests are {"action", "arrived" (epoch seconds), "seconds"}.
_stats: dict[str, list[dict[str, Any]]] = {"requests": []}
_stats_lock = threading.Lock()


def _record_call(action: str, arrived: float, seconds: float) -> None:
    with _stats_lock:
        _stats["requests"].append({"action": action, "arrived": arrived, "seconds": seconds})


def _json(value: Any) -> Response:
    return Response(json.dumps(value), mimetype="application/json")


def _control(request: Request) -> Response | None:
    """The test-only endpoints, or None when the request is not one."""
    path, method = request.path, request.method
    if path == "/_datero/stats":
        with _stats_lock:
            snapshot = json.dumps(_stats)
            if method == "POST":
                _stats.update(requests=[])
        return Response(snapshot, mimetype="application/json")
    if path == "/_datero/stop-task" and method == "POST":
        return _crash_task(request)
    body = json.loads(request.get_data() or b"{}") if method == "POST" else {}
    if path == "/_datero/task-start" and method == "POST":
        _task_start.update(
            mode=body.get("mode", "running"),
            reason=body.get("reason", ""),
            taskDefinition=body.get("taskDefinition", ""),
        )
        return _json({})
    if path == "/_datero/settings" and method == "POST":
        _settings.update({key: float(value) for key, value in body.items() if key in _settings})
        return _json(_settings)
    if path == "/_datero/iam/principal" and method == "POST":
        iam.register(body)
        return _json({})
    if path == "/_datero/iam/denials":
        return _json(iam.denials(reset=method == "POST"))
    if path == "/_datero/cloudwatch/alarm-calls":
        return _json(cloudwatch_cbor.calls(reset=method == "POST"))
    if path.startswith("/_datero/cloudfront/") and method == "POST":
        status, answer = cloudfront.control(path.rsplit("/", 1)[1], body)
        return Response(json.dumps(answer), status=status, mimetype="application/json")
    if path == "/_datero/postgres-majors" and method == "POST":
        _postgres_majors.update({image: int(major) for image, major in body.items()})
        return _json(_postgres_majors)
    if path == "/_datero/one-off" and method == "POST":
        _one_off[body["family"]] = body
        return _json({})
    if path == "/_datero/postgres-data":
        if method == "POST":
            for key, text in (body.get("contents") or {}).items():
                source, folder = key.split(":", 1)
                _data_contents[(source, folder)] = text
        return _json(
            {
                "majors": {f"{k[0]}:{k[1]}": v for k, v in _data_majors.items()},
                "contents": {f"{k[0]}:{k[1]}": v for k, v in _data_contents.items()},
                "dumps": _dumps,
            }
        )
    if path == "/_datero/public-dns" and method == "POST":
        public_dns.pin(body["name"], body.get("address"))
        return _json({})
    if path == "/_datero/iam/decisions":
        return _json(iam.decisions(reset=method == "POST"))
    return None


class _Backends:
    """What IAM's checks need to know of the emulator's state (iam.Backends)."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    def _ecs(self) -> Backend:
        return ecs.ecs_backends[self.account][self.region]

    def next_revision(self, family: str) -> int:
        return len(self._ecs().task_definitions.get(family, {})) + 1

    def task_definition_roles(self, definition: str) -> list[str]:
        try:
            found = self._ecs().describe_task_definition(definition)
        except Exception:  # an unknown definition: RunTask itself will say so
            return []
        return [r for r in (getattr(found, "execution_role_arn", None), getattr(found, "task_role_arn", None)) if r]

    def task_definition_arn(self, definition: str) -> str | None:
        try:
            return self._ecs().describe_task_definition(definition).arn
        except Exception:  # an unknown definition: RunTask itself will say so
            return None

    def group_arn(self, name: str) -> str:
        group = asg_models.autoscaling_backends[self.account][self.region].autoscaling_groups.get(name)
        if group is None:
            return f"arn:aws:autoscaling:{self.region}:{self.account}:autoScalingGroup:*:autoScalingGroupName/{name}"
        return group.arn

    def group_of_instance(self, instance_id: str) -> str | None:
        backend = asg_models.autoscaling_backends[self.account][self.region]
        for group in backend.autoscaling_groups.values():
            if any(state.instance.id == instance_id for state in group.instance_states):
                return group.name
        return None

    def primary_interface(self, instance_id: str) -> tuple[str, str, str] | None:
        """(interface id, VPC id, subnet id) of the instance's device-0 interface."""
        from moto.ec2.models import ec2_backends

        try:
            instance = ec2_backends[self.account][self.region].get_instance(instance_id)
        except Exception:  # an unknown instance: AssociateAddress itself will say so
            return None
        nic = instance.nics.get(0)
        if nic is None:
            return None
        return nic.id, nic.subnet.vpc_id, nic.subnet.id

    def mount_target(self, mount_target_id: str) -> tuple[str, str] | None:
        """(file system id, network interface id) of a mount target."""
        target = efs_models.efs_backends[self.account][self.region].mount_targets_by_id.get(mount_target_id)
        if target is None:
            return None
        return target.file_system_id, target.network_interface_id or "*"

    def instance_tags(self, instance_id: str) -> dict[str, str]:
        from moto.ec2.models import ec2_backends

        return dict(ec2_backends[self.account][self.region].tags.get(instance_id, {}))


Call = tuple[str, str, dict[str, Any], str]  # iam.parse_call: service, operation, params, region


def _refusal(service: str, message: str) -> Response:
    status, content_type, text = iam.error_response(service, message)
    return Response(text, status=status, content_type=content_type)


# The services whose calls the product signs with its own code (shared/src/ec2): their
# signatures are recomputed as AWS does (sigv4.py); the SDKs' own are trusted.
SIGNATURE_CHECKED = {"ec2"}


def _bad_signature(principal: iam.Principal | None, call: Call, request: Request, body: bytes) -> Response | None:
    service, operation = call[0], call[1]
    if service not in SIGNATURE_CHECKED:
        return None
    why = sigv4.mismatch(request.method, request.path, request.query_string.decode(), request.headers, body)
    if why is None:
        return None
    iam.record_refusal(principal, f"{service}:{operation}", f"SignatureDoesNotMatch: {why}")
    status, content_type, text = iam.error_response(service, why, "SignatureDoesNotMatch")
    return Response(text, status=status, content_type=content_type)


def _authorize(principal: iam.Principal, call: Call) -> Response | None:
    service, operation, params, region = call
    try:
        iam.authorize_call(principal, service, operation, params, region, "123456789012", _Backends("123456789012", region))
    except iam.Denied as denied:
        return _refusal(service, denied.message)
    return None


def _bucket_policy(call: Call, secure: bool) -> Response | None:
    """A bucket policy's Deny, evaluated as S3 does for every caller (moto's own evaluation
    ignores conditions, so it is switched off in tighten())."""
    service, operation, params, _ = call
    if service != "s3" or not params.get("key"):
        return None
    try:
        bucket = s3_models.s3_backends["123456789012"]["aws"].get_bucket(params["bucket"])
    except Exception:  # noqa: BLE001 - no such bucket: moto answers that itself
        return None
    if not bucket.policy:
        return None
    context = {"aws:SecureTransport": "true" if secure else "false"}
    try:
        message = iam.bucket_policy_denial(json.loads(bucket.policy), service, operation, params, context)
    except iam.Denied as unknown:
        message = unknown.message
    return None if message is None else _refusal("s3", message)


def control_app(moto_app: Any) -> Any:
    """Serves the test-only control endpoints, authorizes the functions' calls, and hands
    everything else to moto."""

    def app(environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_datero/"):
            answer = _control(Request(environ)) or Response("unknown control", status=404)
            return answer(environ, start_response)
        _settle()
        # Read the body once and hand moto a fresh stream of it.
        if environ.get("wsgi.input_terminated"):
            # A chunked upload (the AWS CLI's S3 calls over TLS): no length, read to the end.
            body = environ["wsgi.input"].read()
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        principal = iam.principal_for(environ.get("HTTP_AUTHORIZATION", ""))
        _caller.principal = principal
        request = Request(environ)
        call = iam.parse_call(request.headers, body, request.method, request.path, request.args)
        refused = _bad_signature(principal, call, request, body)
        if refused is None:
            refused = _bucket_policy(call, request.scheme == "https")
        if refused is None and principal is not None:
            refused = _authorize(principal, call)
        if refused is not None and cloudwatch_cbor.is_cbor_call(request.path):
            message = json.loads(refused.get_data()).get("message", "")
            refused = cloudwatch_cbor.error("AccessDenied", message, 403)
        if refused is not None:
            return refused(environ, start_response)
        if cloudwatch_cbor.is_cbor_call(request.path):
            return cloudwatch_cbor.handle(request.path, body, call[3])(environ, start_response)
        return moto_app(environ, start_response)

    return app


def _container_instance_gone(backend: Backend, ec2_instance_id: str, reason: str) -> None:
    # The EC2 instance was terminated: its tasks stop and "If you terminate a running container
    # instance, Amazon ECS automatically removes the instance from the cluster" (ECS guide,
    # "Deregistering an Amazon ECS container instance").
    for cluster_name, instances in list(backend.container_instances.items()):
        cluster = backend.clusters.get(cluster_name)
        for arn_id, container_instance in list(instances.items()):
            if container_instance.ec2_instance_id != ec2_instance_id or cluster is None:
                continue
            for task in backend.tasks.get(cluster.name, {}).values():
                if task.last_status != "STOPPED" and (task.container_instance_arn or "").endswith(arn_id):
                    _release(backend, cluster, task)
                    _mark_stopped(task, "TerminationNotice", reason, None)
            backend.deregister_container_instance(cluster.name, arn_id, True)


def _crash_task(request: Request) -> Response:
    body = json.loads(request.get_data() or b"{}")
    account = body.get("account", "123456789012")
    region = body.get("region", "us-east-1")
    backend = ecs.ecs_backends[account][region]
    with _lock:
        cluster = backend._get_cluster(body["cluster"])
        task = _find_task(backend, cluster.name, body["task"])
        if task is None:
            return Response("unknown task", status=404)
        _release(backend, cluster, task)
        _mark_stopped(
            task,
            body.get("stopCode", "EssentialContainerExited"),
            body.get("reason", "Essential container in task exited"),
            body.get("exitCode", 1),
        )
        ran_for = body.get("ranForSeconds")
        if ran_for is not None:
            from datetime import timedelta

            task.started_at = task.stopped_at - timedelta(seconds=float(ran_for))
    return Response(json.dumps({"taskArn": task.task_arn}), mimetype="application/json")


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler, silent, and timing each AWS call from its request line read to its
    response written: the whole time the emulator spent on it, HTTP parsing included."""

    _arrived = 0.0
    _started = 0.0

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def parse_request(self) -> bool:
        self._arrived = time.time()
        self._started = time.perf_counter()
        return super().parse_request()

    def run_wsgi(self) -> None:
        super().run_wsgi()
        self.wfile.flush()
        if not self.path.startswith("/_datero/"):
            # JSON protocols name the action in X-Amz-Target; query protocols in the body.
            action = (self.headers.get("X-Amz-Target") or "query").rsplit(".", 1)[-1]
            _record_call(action, self._arrived, time.perf_counter() - self._started)


def _certificates() -> tuple[str, str, str]:
    """(authority, certificate, key) files for 127.0.0.1, made for this run: a private authority
    signs the server's certificate, as a public one signs AWS's (a CA certificate served as the
    server's own is refused by rustls: CaUsedAsEndEntity). Clients that must speak TLS (the AWS
    CLI of the backup tasks, under a TLS-only bucket policy) trust the authority; the functions'
    SDK client, which trusts only its compiled-in roots, does not."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datero-ecs test bed authority")])
    authority = (
        builder(authority_name, authority_name, authority_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(authority_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), authority_name, key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(authority_key, hashes.SHA256())
    )
    folder = tempfile.mkdtemp(prefix="datero-emulator-tls-")
    authority_path, cert_path, key_path = f"{folder}/authority.pem", f"{folder}/cert.pem", f"{folder}/key.pem"
    with open(authority_path, "wb") as out:
        out.write(authority.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return authority_path, cert_path, key_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    tighten()
    app = control_app(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=QuietHandler)
    # The same emulator over TLS, for clients whose requests a policy wants on TLS.
    authority_path, cert_path, key_path = _certificates()
    tls = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler, ssl_context=(cert_path, key_path)
    )
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    hosts_path = cert_path.rsplit("/", 1)[0] + "/hosts"
    public_dns.start(hosts_path)
    # First line: the port, the TLS port, the certificate to trust and the public-DNS hosts file.
    print(server.server_port, tls.server_port, authority_path, hosts_path, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
