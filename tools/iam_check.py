"""Holds every IAM policy in template.yaml against the Service Authorization Reference's data.

For each statement of each role and policy of the template (function roles, task roles,
Scheduler roles, the instance role; both branches of an Fn::If):
- every action it names must exist (a pattern such as `ecs:Describe*` must name at least one);
- an action that lists no resource type can only be granted on "*" ("If there is no value for
  this column, you must specify all resources", Service Authorization Reference, "Resource
  types" column), so a statement naming an ARN for it grants nothing on AWS;
- a resource ARN it names must have the form of one of the action's resource types, or the
  statement grants nothing for that action.
Managed policies attached by ARN are AWS's own and not checked here.

Usage: python tools/iam_check.py [template.yaml]; exits 1 and names each finding.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from typing import Any, Iterator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "emulator"))

import sar  # noqa: E402
from cfnlint.decode import decode  # noqa: E402

POLICY_HOLDERS = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
# A part of an ARN the template fills at deploy time (${AWS::Region}, !GetAtt ...).
UNKNOWN = "UNKNOWN0"


def _branches(node: Any) -> Iterator[Any]:
    """`node`, or each branch of an Fn::If, recursively; AWS::NoValue yields nothing."""
    if isinstance(node, dict) and len(node) == 1 and "Fn::If" in node:
        for branch in node["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(node, dict) and node.get("Ref") == "AWS::NoValue":
        return
    else:
        yield node


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# The form of `Fn::GetAtt [R, Arn]` by R's type, where a policy builds on it (each type's
# "Return values" in the CloudFormation template reference; a log group's Arn ends in ":*").
ARN_ATTRIBUTE = {
    "AWS::Logs::LogGroup": f"arn:aws:logs:{UNKNOWN}:{UNKNOWN}:log-group:{UNKNOWN}:*",
    "AWS::S3::Bucket": f"arn:aws:s3:::{UNKNOWN}",
    "AWS::IAM::Role": f"arn:aws:iam::{UNKNOWN}:role/{UNKNOWN}",
    "AWS::SQS::Queue": f"arn:aws:sqs:{UNKNOWN}:{UNKNOWN}:{UNKNOWN}",
}


def _resource_text(resource: Any, template: dict[str, Any]) -> str | None:
    """A resource as text with deploy-time parts marked UNKNOWN; None when wholly unknown."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
        text = re.sub(r"\$\{AWS::Partition\}", "aws", text)

        def attribute(match: re.Match[str]) -> str:
            name, _, attr = match.group(1).partition(".")
            kind = ((template.get("Resources") or {}).get(name) or {}).get("Type")
            return ARN_ATTRIBUTE.get(kind, UNKNOWN) if attr == "Arn" else UNKNOWN

        return re.sub(r"\$\{([^}]+)\}", attribute, text)
    return None


WILD = "*"  # a token for any run of characters
SEGMENT = "^"  # a token for a run without ":" or "/" (a name, a Region, an account id)


def _tokens(text: str, wild: str) -> tuple[str, ...]:
    """Characters as one-letter tokens; each match of `wild` as a WILD or SEGMENT token."""
    out: list[str] = []
    position = 0
    for match in re.finditer(wild, text):
        out.extend(c if c not in (WILD, SEGMENT) else "\\" + c for c in text[position : match.start()])
        out.append(SEGMENT if match.group(0) == UNKNOWN else WILD)
        position = match.end()
    out.extend(c if c not in (WILD, SEGMENT) else "\\" + c for c in text[position:])
    return tuple(out)


def _fits(resource: str, pattern: str) -> bool:
    """Whether a policy resource (with * and deploy-time parts) and a SAR ARN form (with ${...}
    parts) can name one same ARN: the two wildcard patterns intersect."""
    left = _tokens(resource, rf"\*|{UNKNOWN}")
    right = _tokens(pattern, r"\$\{[^}]+\}")

    def absorbs(token: str, other: str) -> bool:
        return token == WILD or other in (WILD, SEGMENT) or other not in (":", "/")

    @functools.lru_cache(maxsize=None)
    def meet(i: int, j: int) -> bool:
        if i == len(left) and j == len(right):
            return True
        for mine, theirs, step_mine, step_theirs in ((left, right, (1, 0), (0, 1)), (right, left, (0, 1), (1, 0))):
            a, b = (i, j) if mine is left else (j, i)
            if a < len(mine) and mine[a] in (WILD, SEGMENT):
                if meet(i + step_mine[0], j + step_mine[1]):
                    return True
                if b < len(theirs) and absorbs(mine[a], theirs[b]) and meet(i + step_theirs[0], j + step_theirs[1]):
                    return True
        return (
            i < len(left)
            and j < len(right)
            and left[i] not in (WILD, SEGMENT)
            and left[i] == right[j]
            and meet(i + 1, j + 1)
        )

    return meet(0, 0)


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type")
        if kind not in POLICY_HOLDERS:
            continue
        properties = resource.get("Properties") or {}
        documents = []
        if kind == "AWS::IAM::Role":
            documents = [p.get("PolicyDocument", {}) for p in properties.get("Policies") or []]
        else:
            documents = [properties.get("PolicyDocument", {})]
        for document in documents:
            for statement in _as_list(document.get("Statement", [])):
                for branch in _branches(statement):
                    yield name, branch


def findings(template: dict[str, Any]) -> list[str]:
    found = []
    for holder, statement in statements(template):
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            continue
        resources = [_resource_text(r, template) for r in _as_list(statement.get("Resource", []))]
        named = [r for r in resources if r is not None and r != "*"]
        for pattern in _as_list(statement.get("Action", [])):
            actions = sar.actions_matching(pattern)
            if not actions:
                found.append(f"{holder}: {pattern} is not an action of the Service Authorization Reference")
                continue
            for action in actions:
                entry = sar.action(action)
                if "*" in resources:
                    continue
                if entry.star_only:
                    shown = ", ".join(r if r is not None else "a resource's ARN" for r in resources)
                    found.append(f"{holder}: {action} has no resource type and can only be granted on \"*\", not on {shown}")
                    continue
                for resource in named:
                    if not any(_fits(resource, form) for _, form, _ in entry.resource_types):
                        forms = ", ".join(form for _, form, _ in entry.resource_types)
                        found.append(f"{holder}: {action} is granted on {resource}, which is none of its resource types ({forms})")
    return found


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    template, matches = decode(path)
    if template is None:
        print(f"{path}: cannot be read: {matches}", file=sys.stderr)
        return 1
    problems = findings(template)
    for problem in problems:
        print(f"iam_check: {problem}", file=sys.stderr)
    count = sum(1 for _ in statements(template))
    if problems:
        print(f"iam_check: {len(problems)} finding(s) in {count} statements (SAR data {sar.data_version()})", file=sys.stderr)
        return 1
    print(f"iam_check: {count} statements hold against the SAR data {sar.data_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
