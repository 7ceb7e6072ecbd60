#!/usr/bin/env python3
"""Checks the dependency graph against deny.toml: every crate's licence is allowed, and a crate
in two versions has each older version explained under [bans].skip, with no stale entry there.

What cargo-deny's `licenses` and `bans` checks do, for the policy in deny.toml (which says why
cargo-deny itself does not run here). The graph is cargo tree's: normal, build and dev edges of
the whole workspace, for every target in [graph].targets. Before the real check it shows, on
made-up graphs, that each rule refuses what it should.
"""

import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path


def graph(targets):
    """(name, version, licence) of every crate the workspace builds for `targets`."""
    crates = set()
    for target in targets:
        out = subprocess.run(
            ["cargo", "tree", "--workspace", "--locked", "-e", "normal,build,dev",
             "--target", target, "--prefix", "none", "--format", "{p}|{l}"],
            check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            package, _, licence = line.partition("|")
            fields = package.split()
            if len(fields) < 2:
                continue
            licence = re.sub(r" \(\*\)$", "", licence).strip()
            crates.add((fields[0], fields[1].lstrip("v"), licence))
    return crates


def tokens(expression):
    # Old crates write "MIT/Apache-2.0" for "MIT OR Apache-2.0".
    expression = expression.replace("/", " OR ")
    return re.findall(r"\(|\)|[^\s()]+", expression)


def allowed(expression, allow):
    """Whether an SPDX expression is satisfied by the allowed licences (OR: either side, AND:
    both, WITH: the licence with its exception, as one entry of the allow list)."""
    items = tokens(expression)
    position = 0

    def primary():
        nonlocal position
        if position >= len(items):
            raise ValueError(f"incomplete licence expression {expression!r}")
        item = items[position]
        position += 1
        if item == "(":
            value = disjunction()
            position += 1  # ")"
            return value
        if position < len(items) and items[position] == "WITH":
            exception = items[position + 1]
            position += 2
            return f"{item} WITH {exception}" in allow
        return item in allow

    def chain(operand, operator, combine):
        # Both sides are always read, so the position moves past the whole expression.
        nonlocal position
        value = operand()
        while position < len(items) and items[position] == operator:
            position += 1
            value = combine(value, operand())
        return value

    def conjunction():
        return chain(primary, "AND", lambda left, right: left and right)

    def disjunction():
        return chain(conjunction, "OR", lambda left, right: left or right)

    return bool(items) and disjunction()


def version_key(version):
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+-]", version))


def check(crates, policy):
    """The policy's refusals for this graph, one sentence each."""
    problems = []
    allow = set(policy["licenses"]["allow"])
    for name, version, licence in sorted(crates):
        if not licence:
            problems.append(f"{name} {version} declares no licence")
        elif not allowed(licence, allow):
            problems.append(f"{name} {version} is under {licence!r}, which deny.toml does not allow")
    skips = {}
    for entry in policy["bans"].get("skip", []):
        if not entry.get("reason"):
            problems.append(f"the skip of {entry['crate']} gives no reason")
        skips[entry["crate"]] = entry
    versions = defaultdict(set)
    for name, version, _ in crates:
        versions[name].add(version)
    used = set()
    for name, found in sorted(versions.items()):
        for older in sorted(found, key=version_key)[:-1]:
            key = f"{name}@{older}"
            if key in skips:
                used.add(key)
            else:
                problems.append(
                    f"{name} is built in versions {', '.join(sorted(found, key=version_key))}: "
                    f"{key} is not explained under [bans].skip"
                )
    for key in sorted(set(skips) - used):
        problems.append(f"[bans].skip names {key}, which is no longer a duplicate: remove it")
    return problems


def self_test():
    """Each rule refuses a made-up graph that breaks it, and passes one that does not."""
    policy = {
        "licenses": {"allow": ["MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception"]},
        "bans": {"skip": [{"crate": "b@1.0.0", "reason": "r"}]},
    }
    clean = {("a", "1.0.0", "MIT OR GPL-3.0"), ("b", "1.0.0", "MIT/Apache-2.0"),
             ("b", "2.0.0", "(MIT AND Apache-2.0)"), ("c", "0.1.0", "Apache-2.0 WITH LLVM-exception")}
    cases = {
        "a licence outside the list": clean | {("d", "1.0.0", "GPL-3.0")},
        "AND with one side outside": clean | {("d", "1.0.0", "MIT AND GPL-3.0")},
        "an exception not allowed": clean | {("d", "1.0.0", "GPL-2.0 WITH Classpath-exception-2.0")},
        "no licence": clean | {("d", "1.0.0", "")},
        "an unexplained duplicate": clean | {("a", "0.9.0", "MIT")},
        "a stale skip": {c for c in clean if c[:2] != ("b", "1.0.0")},
    }
    assert check(clean, policy) == [], check(clean, policy)
    for what, crates in cases.items():
        assert len(check(crates, policy)) == 1, f"{what}: {check(crates, policy)}"


def main():
    root = Path(__file__).resolve().parent.parent
    self_test()
    policy = tomllib.loads((root / "deny.toml").read_text())
    crates = graph(policy["graph"]["targets"])
    problems = check(crates, policy)
    for problem in problems:
        print(f"deps: {problem}", file=sys.stderr)
    if problems:
        return 1
    duplicates = len(policy["bans"].get("skip", []))
    print(f"deps: {len(crates)} crates, every licence allowed; {duplicates} older versions, each explained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
