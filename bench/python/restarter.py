"""The restarter as most teams would write it: Python 3 and boto3. A benchmark peer only.

It has the common path of functions/task-restarter (skip foreign and deliberate stops, skip when a
task is wanted, RunTask with a clientToken) and none of its crash-loop backoff.
"""

import json
import logging
import os

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

ecs = boto3.client("ecs")
CLUSTER = os.environ["CLUSTER_NAME"]
PROVIDER = os.environ["CAPACITY_PROVIDER_NAME"]
FAMILY = os.environ["TASK_FAMILY"]


def handler(event, context):
    detail = event["detail"]
    task = detail.get("taskArn", "")
    if detail.get("lastStatus") != "STOPPED":
        return skip(task, "not stopped")
    if not detail.get("clusterArn", "").endswith("/" + CLUSTER):
        return skip(task, "foreign cluster")
    if detail.get("group") != "family:" + FAMILY:
        return skip(task, "foreign family")
    if (detail.get("stoppedReason") or "").startswith("datero-provisioner:"):
        return skip(task, "stopped by the provisioner")
    running = ecs.list_tasks(cluster=CLUSTER, family=FAMILY, desiredStatus="RUNNING")["taskArns"]
    if running:
        return skip(task, "already running")
    response = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=FAMILY,
        capacityProviderStrategy=[{"capacityProvider": PROVIDER, "weight": 1}],
        startedBy="datero-provisioner",
        clientToken=("restart-" + task.split("/")[-1])[:64],
    )
    if not response["tasks"]:
        raise RuntimeError("no task placed: %s" % response["failures"])
    logger.info(json.dumps({"task": task, "decision": "restart", "new_task": response["tasks"][0]["taskArn"]}))


def skip(task, reason):
    logger.info(json.dumps({"task": task, "decision": "skip", "reason": reason}))
