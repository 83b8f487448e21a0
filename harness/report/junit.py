"""``junit.xml``: the checks as test cases, so CI systems show SLO failures natively.

One ``<testcase>`` per check (name: the expression), failed with a message holding
the measured value, its unit and the threshold:

    <testcase classname="harness.smoke.checks" name="plate_validate.p99&lt;250ms">
      <failure type="threshold" message="plate_validate.p99 measured 312 ms (value 312.4 ms);
               threshold &lt; 250 ms">...</failure>

plus one ``run`` test case that fails when the run itself did not complete (a
harness error, an interruption, or a live check that aborted it), with the reason,
so a run stopped early is never shown as green because its checks happened to pass.
The format is the common JUnit XML that GitHub Actions reporters, GitLab (``reports:
junit``), Jenkins and Azure DevOps read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.rundata import RunData, as_run

JUNIT_FILE = "junit.xml"


def _unit_value(check: dict[str, Any]) -> str:
    value, unit = check.get("value"), check.get("unit", "")
    if value is None:
        return "not measured"
    if unit == "%":
        return f"{value * 100:.6g}%"
    return f"{value:.6g}" + (f" {unit}" if unit else "")


def _threshold(check: dict[str, Any]) -> str:
    unit, threshold = check.get("unit", ""), float(check.get("threshold", 0.0))
    shown = f"{threshold * 100:.6g}%" if unit == "%" else f"{threshold:.6g}" + (f" {unit}" if unit else "")
    return f"{check.get('op')} {shown}"


def failure_message(check: dict[str, Any]) -> str:
    """What a failed check's test case says: the value with its unit, and the threshold."""
    live = check.get("live") or {}
    if live.get("aborted"):
        return (f"{check['metric']} measured {live.get('measured')} at {live.get('at_s')}s while running "
                f"(the run was aborted); threshold {_threshold(check)}; at the end: {_unit_value(check)}")
    if check.get("value") is None:
        return f"{check['metric']} was not measured (a gate that measured nothing fails); threshold {_threshold(check)}"
    return f"{check['metric']} measured {check.get('measured')} (value {_unit_value(check)}); threshold {_threshold(check)}"


def render(summary: dict[str, Any]) -> bytes:
    run, plan = summary["run"], summary.get("plan") or {}
    name = str(plan.get("name") or "run")
    checks = summary.get("checks") or []
    verdict = summary.get("verdict")
    completed = verdict in ("pass", "fail") and not run.get("interrupted")
    failures = sum(1 for c in checks if not c.get("passed")) + (0 if completed or verdict == "error" else 1)
    errors = 1 if verdict == "error" else 0
    elapsed = f"{float(run.get('elapsed_s') or 0.0):.3f}"
    suites = ET.Element("testsuites", name="harness", tests=str(len(checks) + 1), failures=str(failures),
                        errors=str(errors), time=elapsed)
    suite = ET.SubElement(suites, "testsuite", name=f"harness.{name}", tests=str(len(checks) + 1),
                          failures=str(failures), errors=str(errors), skipped="0", time=elapsed,
                          timestamp=str(run.get("started", "")).removesuffix("Z"))
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "scenario", "target", "model", "arrival", "intended_rate", "harness_version"):
        if run.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=str(run[key]))
    ET.SubElement(props, "property", name="verdict", value=str(verdict))
    case = ET.SubElement(suite, "testcase", classname=f"harness.{name}.run", name="run completed", time=elapsed)
    if verdict == "error":
        err = ET.SubElement(case, "error", type="harness_error",
                            message="; ".join(summary.get("errors") or ["the harness failed"]))
        err.text = "\n".join(summary.get("errors") or [])
    elif not completed:
        reason = run.get("reason") or "stopped early"
        fail = ET.SubElement(case, "failure", type="aborted" if verdict == "fail" else "interrupted",
                             message=f"the run did not complete: {reason}")
        fail.text = f"{reason}; the figures cover the run up to then"
    for check in checks:
        tc = ET.SubElement(suite, "testcase", classname=f"harness.{name}.checks", name=str(check["expr"]), time="0")
        if not check.get("passed"):
            message = failure_message(check)
            fail = ET.SubElement(tc, "failure", type="threshold", message=message)
            fail.text = f"{message}\ncheck {check['expr']} from {check.get('where') or check.get('source')}"
    ET.indent(suites)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode").encode() + b"\n"


def write_junit(run_dir: RunData | Path) -> Path:
    run = as_run(run_dir)
    path = run.path / JUNIT_FILE
    path.write_bytes(render(run.summary))
    return path
