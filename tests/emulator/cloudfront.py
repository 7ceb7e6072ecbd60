"""CloudFront's distribution and function as CloudFormation makes them, for the lifecycle.

moto keeps distributions but knows nothing of CloudFront Functions and checks little of a
distribution's configuration. So the lifecycle sends the template's resolved properties here,
and this module does what CloudFormation's handlers would before CloudFront accepts them:

- the CloudFormation shape becomes the API's: lists become CloudFront's `{Quantity, Items}`
  wrappers, the few renamed properties take their API names, and a member the API requires but
  the template leaves out takes the default that CloudFormation's resource schema declares
  (the schemas cfn-lint ships);
- the result is validated against CloudFront's own API model (botocore's service model): a
  property CloudFront does not know, a missing required member or a wrong type is refused;
- a distribution may associate only a function that exists and is published (LIVE), a function
  that a distribution associates cannot be deleted (FunctionInUse), and a distribution must be
  disabled before it is deleted (DistributionNotDisabled): the errors CloudFront's API model
  lists for CreateDistribution, DeleteFunction and DeleteDistribution.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from typing import Any

import botocore.session
from botocore.validate import ParamValidator
from moto.cloudfront.models import cloudfront_backends
from moto.core import DEFAULT_ACCOUNT_ID

_MODEL = botocore.session.get_session().get_service_model("cloudfront")
# CloudFormation property -> API member, where the names differ by more than case.
_RENAMED = {
    ("Origin", "OriginCustomHeaders"): "CustomHeaders",
    ("DistributionConfig", "IPV6Enabled"): "IsIPV6Enabled",
}
_lock = threading.Lock()
# function name -> {"arn", "stage", "code"}
_functions: dict[str, dict[str, Any]] = {}
# distribution id -> the function ARNs it associates
_associations: dict[str, list[str]] = {}
_disabled: set[str] = set()


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _schema_defaults(kind: str) -> dict[tuple[str, str], Any]:
    """(definition, property) -> default, from CloudFormation's resource schema for `kind`."""
    import cfnlint

    folder = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
    with open(os.path.join(folder, "providers", "us-east-1.json")) as index:
        name = json.load(index)[kind]
    with open(os.path.join(folder, "resources", f"{name}.json")) as schema_file:
        schema = json.load(schema_file)
    return {
        (definition, prop): spec["default"]
        for definition, body in schema.get("definitions", {}).items()
        for prop, spec in body.get("properties", {}).items()
        if "default" in spec
    }


_DEFAULTS = _schema_defaults("AWS::CloudFront::Distribution")


def _wrapper(shape: Any) -> bool:
    return shape.type_name == "structure" and {"Quantity", "Items"} <= set(shape.members)


def _convert(value: Any, shape: Any, where: str) -> Any:
    kind = shape.type_name
    if _wrapper(shape) and isinstance(value, list):
        value = {"Items": value}
    if kind == "structure":
        if not isinstance(value, dict):
            raise Refused("InvalidArgument", f"{where}: CloudFront expects an object ({shape.name})")
        value = dict(value)
        if shape.name in ("DefaultCacheBehavior", "CacheBehavior") and "AllowedMethods" in value:
            # CloudFormation lists the cached methods beside the allowed ones; the API nests them.
            value["AllowedMethods"] = {
                "Items": value.pop("AllowedMethods"),
                "CachedMethods": value.pop("CachedMethods", _DEFAULTS[(shape.name, "CachedMethods")]),
            }
        by_lower = {member.lower(): member for member in shape.members}
        converted: dict[str, Any] = {}
        for key, item in value.items():
            member = _RENAMED.get((shape.name, key)) or by_lower.get(key.lower())
            if member is None:
                raise Refused("InvalidArgument", f"{where}.{key}: CloudFront's {shape.name} has no such member")
            converted[member] = _convert(item, shape.members[member], f"{where}.{key}")
        for member in shape.required_members:
            if member not in converted and (shape.name, member) in _DEFAULTS:
                converted[member] = _convert(_DEFAULTS[(shape.name, member)], shape.members[member], where)
        if _wrapper(shape):
            converted["Quantity"] = len(converted.get("Items", []))
        return converted
    if kind == "list":
        if not isinstance(value, list):
            raise Refused("InvalidArgument", f"{where}: CloudFront expects a list")
        return [_convert(item, shape.member, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind in ("integer", "long"):
        return int(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "blob":
        return value.encode() if isinstance(value, str) else value
    return value if isinstance(value, str) else str(value)


def _validate(operation: str, params: dict[str, Any]) -> None:
    """CloudFront's API model on `params`: required members, types and the model's bounds."""
    shape = _MODEL.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise Refused("InvalidArgument", report.generate_report())
    for member, value in params.items():
        bounds = shape.members[member].metadata
        if "max" in bounds and len(value) > bounds["max"]:
            raise Refused("InvalidArgument", f"{member} is longer than {bounds['max']}")
        if "pattern" in bounds and not re.fullmatch(bounds["pattern"], value):
            raise Refused("InvalidArgument", f"{member} does not match {bounds['pattern']}")


def create_function(properties: dict[str, Any]) -> dict[str, Any]:
    """AWS::CloudFront::Function: CreateFunction, and PublishFunction when AutoPublish is true."""
    params = {
        "Name": properties.get("Name", ""),
        "FunctionConfig": _convert(
            properties.get("FunctionConfig", {}), _MODEL.shape_for("FunctionConfig"), "FunctionConfig"
        ),
        "FunctionCode": properties.get("FunctionCode", "").encode(),
    }
    _validate("CreateFunction", params)
    name = params["Name"]
    with _lock:
        if name in _functions:
            raise Refused("FunctionAlreadyExists", f"a function named {name} exists")
        arn = f"arn:aws:cloudfront::{DEFAULT_ACCOUNT_ID}:function/{name}"
        stage = "LIVE" if str(properties.get("AutoPublish", False)).lower() == "true" else "DEVELOPMENT"
        _functions[name] = {"arn": arn, "stage": stage, "code": params["FunctionCode"]}
    return {"FunctionARN": arn, "Stage": stage}


def create_distribution(properties: dict[str, Any]) -> dict[str, Any]:
    """AWS::CloudFront::Distribution: CreateDistribution with the converted configuration."""
    config = _convert(
        properties.get("DistributionConfig", {}), _MODEL.shape_for("DistributionConfig"), "DistributionConfig"
    )
    config["CallerReference"] = f"datero-lifecycle-{time.time_ns()}"
    _validate("CreateDistribution", {"DistributionConfig": config})
    behaviors = [config["DefaultCacheBehavior"]] + config.get("CacheBehaviors", {}).get("Items", [])
    arns = [
        association["FunctionARN"]
        for behavior in behaviors
        for association in behavior.get("FunctionAssociations", {}).get("Items", [])
    ]
    with _lock:
        live = {function["arn"] for function in _functions.values() if function["stage"] == "LIVE"}
        for arn in arns:
            if arn not in live:
                raise Refused("InvalidFunctionAssociation", f"{arn} is not a published function")
        backend = cloudfront_backends[DEFAULT_ACCOUNT_ID]["global"]
        distribution, _, _ = backend.create_distribution(distribution_config=copy.deepcopy(config), tags=[])
        _associations[distribution.distribution_id] = arns
    return {"Id": distribution.distribution_id, "DomainName": distribution.domain_name, "Config": _jsonable(config)}


def disable_distribution(distribution_id: str) -> dict[str, Any]:
    with _lock:
        if distribution_id not in _associations:
            raise Refused("NoSuchDistribution", distribution_id)
        _disabled.add(distribution_id)
    return {}


def delete_distribution(distribution_id: str) -> dict[str, Any]:
    with _lock:
        if distribution_id not in _associations:
            raise Refused("NoSuchDistribution", distribution_id)
        if distribution_id not in _disabled:
            raise Refused("DistributionNotDisabled", f"{distribution_id} is enabled: disable it first")
        cloudfront_backends[DEFAULT_ACCOUNT_ID]["global"].delete_distribution(distribution_id, if_match=True)
        del _associations[distribution_id]
        _disabled.discard(distribution_id)
    return {}


def delete_function(name: str) -> dict[str, Any]:
    with _lock:
        if name not in _functions:
            raise Refused("NoSuchFunctionExists", name)
        arn = _functions[name]["arn"]
        if any(arn in arns for arns in _associations.values()):
            raise Refused("FunctionInUse", f"{name} is associated with a distribution")
        del _functions[name]
    return {}


def listing() -> dict[str, Any]:
    with _lock:
        return {"distributions": sorted(_associations), "functions": sorted(_functions)}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda blob: blob.decode() if isinstance(blob, bytes) else str(blob)))


def control(action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The test bed's calls: (HTTP status, answer); a refusal is 400 with CloudFront's error code."""
    actions = {
        "create-function": lambda: create_function(body["Properties"]),
        "create-distribution": lambda: create_distribution(body["Properties"]),
        "disable-distribution": lambda: disable_distribution(body["Id"]),
        "delete-distribution": lambda: delete_distribution(body["Id"]),
        "delete-function": lambda: delete_function(body["Name"]),
        "list": listing,
    }
    if action not in actions:
        return 404, {"Code": "UnknownAction", "Message": action}
    try:
        return 200, actions[action]()
    except Refused as refused:
        return 400, {"Code": refused.code, "Message": refused.message}
