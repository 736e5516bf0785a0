#!/usr/bin/env python3
"""The test suite's closing summary (scripts/test).

Reads what `cargo test --no-run --message-format=json-render-diagnostics` built (the
test executables, and the libraries whose doc tests run) and what `cargo test` then
printed, and lists every test binary with its counts. It fails when a binary that was
built reported no result (it was skipped, or it crashed before its summary), when one
reported failures, or when a workspace ran nothing at all: the checks that would have
caught a whole crate silently left out.

Usage: test_summary.py --built BUILT.json --ran RAN.log [--built ... --ran ...]
"""

import argparse
import json
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RUNNING = re.compile(r"^\s*Running (.+) \((.+)\)\s*$")
DOC_TESTS = re.compile(r"^\s*Doc-tests (\S+)\s*$")
RESULT = re.compile(
    r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; "
    r"(\d+) measured; (\d+) filtered out"
)
DOC_CRATE_KINDS = {"lib", "rlib", "proc-macro"}


def package_name(package_id):
    """`path+file:///w/host#runner@0.1.0` -> runner; `path+file:///w/sandbox#0.1.0` ->
    sandbox (cargo leaves the name out when it is the folder's)."""
    path, _, fragment = package_id.partition("#")
    if "@" in fragment:
        return fragment.split("@")[0]
    return path.rstrip("/").rsplit("/", 1)[-1]


def expected(built_path):
    """What the build says must run: {key: label}, keyed as the run log names them."""
    want = {}
    with open(built_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("reason") != "compiler-artifact":
                continue
            # Only this repository's packages: dependencies are built, never run.
            if not msg.get("package_id", "").startswith("path+file://"):
                continue
            target = msg["target"]
            package = package_name(msg["package_id"])
            if msg.get("executable") and msg["profile"]["test"]:
                name = os.path.basename(msg["executable"])
                want[name] = f"{package}: {target['name']} ({'/'.join(target['kind'])})"
            elif (
                target.get("doctest")
                and not msg["profile"]["test"]
                and DOC_CRATE_KINDS & set(target["kind"])
            ):
                crate = target["name"].replace("-", "_")
                want[f"doc:{crate}"] = f"{package}: doc tests"
    return want


def ran(log_path):
    """What ran: {key: (passed, failed, ignored, filtered)} in the order it ran."""
    results = {}
    current = None
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = ANSI.sub("", raw.rstrip("\n"))
            m = RUNNING.match(line)
            if m:
                current = os.path.basename(m.group(2))
                continue
            m = DOC_TESTS.match(line)
            if m:
                current = f"doc:{m.group(1)}"
                continue
            m = RESULT.match(line)
            if m and current is not None:
                passed, failed, ignored = (int(m.group(i)) for i in (2, 3, 4))
                results[current] = (passed, failed, ignored, int(m.group(6)))
                current = None
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--built", action="append", required=True)
    parser.add_argument("--ran", action="append", required=True)
    args = parser.parse_args()
    if len(args.built) != len(args.ran):
        parser.error("give one --ran log for each --built list")

    problems = []
    rows = []
    for built_path, ran_path in zip(args.built, args.ran):
        want = expected(built_path) if os.path.exists(built_path) else {}
        got = ran(ran_path) if os.path.exists(ran_path) else {}
        if not want:
            problems.append(f"{built_path}: the build produced no test binary")
        # What was built, by its label, then what ran unexpected (counted too, so
        # nothing that ran is hidden), by its key.
        results = [(label, got.get(key)) for key, label in want.items()]
        results += [(key, got[key]) for key in got.keys() - want.keys()]
        for label, result in results:
            if result is None:
                rows.append((label, "-", "-", "-", "DID NOT RUN"))
                problems.append(f"{label}: built but reported no result")
                continue
            passed, failed, ignored, _ = result
            rows.append((label, passed, failed, ignored, "ok" if failed == 0 else "FAILED"))
            if failed:
                problems.append(f"{label}: {failed} failed")
    counted = [r for r in rows if r[4] != "DID NOT RUN"]
    totals = [sum(r[i] for r in counted) for i in (1, 2, 3)]

    rows.sort(key=lambda r: r[0])
    width = max((len(r[0]) for r in rows), default=10)
    print()
    print(f"{'test binary':<{width}}  {'passed':>6}  {'failed':>6}  {'ignored':>7}  result")
    for label, passed, failed, ignored, result in rows:
        print(f"{label:<{width}}  {passed!s:>6}  {failed!s:>6}  {ignored!s:>7}  {result}")
    print(f"{len(rows)} test binaries")
    for problem in problems:
        print(f"test: {problem}", file=sys.stderr)
    print(f"summary: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
