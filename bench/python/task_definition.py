"""Custom::DateroTaskDefinition as most teams would write it: Python 3, boto3 and crhelper.
A benchmark peer only."""

import json
import urllib.request

import boto3
from crhelper import CfnResource
from crhelper.utils import _send_response


def _send_response_locally_too(response_url, response_body, ssl_verify=None):
    """crhelper always speaks HTTPS; the local test bed's ResponseURL is plain http://."""
    if not response_url.startswith("http://"):
        return _send_response(response_url, response_body, ssl_verify)
    body = json.dumps(response_body).encode()
    request = urllib.request.Request(response_url, data=body, method="PUT", headers={"content-type": ""})
    urllib.request.urlopen(request, timeout=5).read()


class LocalCfnResource(CfnResource):
    """crhelper as it is, but for the transport of its answer to a local ResponseURL."""

    def _send(self, status=None, reason="", send_response=_send_response_locally_too):
        super()._send(status, reason, send_response=send_response)


helper = LocalCfnResource(json_logging=True, log_level="INFO", sleep_on_delete=0)
ecs = boto3.client("ecs")


@helper.create
@helper.update
def register(event, _context):
    properties = event["ResourceProperties"]
    container = {
        "name": "datero",
        "image": properties.get("Image", "chumaky/datero:latest"),
        "essential": True,
        "cpu": int(properties.get("Cpu", 1024)),
        "memory": int(properties.get("Memory", 1536)),
        "portMappings": [{"containerPort": 80, "hostPort": int(properties.get("HostPort", 80))}],
        "secrets": [{"name": "POSTGRES_PASSWORD", "valueFrom": properties["PasswordSecretArn"]}],
    }
    definition = ecs.register_task_definition(
        family=properties.get("Family", "datero"),
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        executionRoleArn=properties["ExecutionRoleArn"],
        containerDefinitions=[container],
    )["taskDefinition"]
    helper.Data.update(
        TaskDefinitionArn=definition["taskDefinitionArn"],
        Family=definition["family"],
        Revision=str(definition["revision"]),
    )
    return definition["taskDefinitionArn"]


@helper.delete
def deregister(event, _context):
    try:
        ecs.deregister_task_definition(taskDefinition=event["PhysicalResourceId"])
    except ecs.exceptions.ClientException:
        pass


def handler(event, context):
    helper(event, context)
