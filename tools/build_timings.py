"""The slowest units of a `cargo build --timings` report (issue 26): cargo writes an HTML page
whose script holds every unit's start and duration; this prints the total, the wall time and
the top ten, for the benchmark's log."""

import json
import re
import sys


def main(path: str) -> None:
    page = open(path, encoding="utf-8").read()
    found = re.search(r"const UNIT_DATA = (\[.*?\]);\n", page, re.S)
    if not found:
        sys.exit(f"{path}: no UNIT_DATA in the timings report")
    units = json.loads(found.group(1))
    wall = max(unit["start"] + unit["duration"] for unit in units)
    total = sum(unit["duration"] for unit in units)
    print(f"{len(units)} units, {total:.0f} s of compile time in {wall:.0f} s; the ten longest:")
    for unit in sorted(units, key=lambda unit: -unit["duration"])[:10]:
        target = unit.get("target", "").strip()
        print(f"  {unit['duration']:6.1f} s  {unit['name']} {target}".rstrip())


if __name__ == "__main__":
    main(sys.argv[1])
