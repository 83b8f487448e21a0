"""junit.xml: one test case per check, a failure naming the value, its unit and the
threshold, and a test case for the run itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson

from harness.report.junit import render


def test_one_testcase_per_check_with_value_unit_and_threshold(sample_run: Path) -> None:
    summary = orjson.loads((sample_run / "summary.json").read_bytes())
    root = ET.parse(sample_run / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    checks = [c for c in cases if c.get("classname", "").endswith(".checks")]
    assert [c.get("name") for c in checks] == [c["expr"] for c in summary["checks"]]
    failed = {c.get("name"): c.find("failure") for c in checks if c.find("failure") is not None}
    assert set(failed) == {c["expr"] for c in summary["checks"] if not c["passed"]} == {"plate_validate.p99<0.001ms"}
    message = failed["plate_validate.p99<0.001ms"].get("message", "")
    p99 = summary["endpoints"]["plate_validate"]["latency_ms"]["p99"]
    assert f"value {p99:.6g} ms" in message and "threshold < 0.001 ms" in message, message
    assert suite.get("failures") == root.get("failures") == "1"
    assert suite.get("tests") == str(len(summary["checks"]) + 1)
    run_case = next(c for c in cases if c.get("name") == "run completed")
    assert run_case.find("failure") is None and run_case.find("error") is None


def _summary(**changes: object) -> dict:
    base = {
        "run": {"started": "2026-11-23T05:00:00Z", "elapsed_s": 3.5, "interrupted": False, "reason": None,
                "run_id": "abc123"},
        "plan": {"name": "smoke"},
        "checks": [
            {"expr": "all.error_rate<1%", "metric": "all.error_rate", "op": "<", "threshold": 0.01, "unit": "%",
             "value": 0.0312, "measured": "3.12%", "passed": False, "source": "scenario", "where": "s.toml:9"},
            {"expr": "achieved_rps>10", "metric": "achieved_rps", "op": ">", "threshold": 10.0, "unit": "",
             "value": None, "measured": "not measured", "passed": False, "source": "flag", "where": "--check"},
        ],
        "verdict": "fail", "errors": [],
    }
    return base | changes


def test_a_share_is_shown_in_percent_and_an_unmeasured_value_says_so() -> None:
    root = ET.fromstring(render(_summary()))
    messages = [f.get("message") for f in root.iter("failure")]
    assert "all.error_rate measured 3.12% (value 3.12%); threshold < 1%" in messages
    assert any("achieved_rps was not measured" in m and "threshold > 10" in m for m in messages)


def test_an_interrupted_or_crashed_run_fails_its_run_testcase() -> None:
    interrupted = _summary(run={"started": "x", "elapsed_s": 1, "interrupted": True,
                                "reason": "interrupted by SIGINT"}, verdict="interrupted", checks=[])
    case = ET.fromstring(render(interrupted)).find("testsuite/testcase")
    assert case is not None and case.find("failure") is not None
    assert "interrupted by SIGINT" in case.find("failure").get("message", "")
    crashed = _summary(verdict="error", errors=["worker 1: RuntimeError: boom"], checks=[])
    root = ET.fromstring(render(crashed))
    assert root.get("errors") == "1"
    assert "boom" in root.find("testsuite/testcase/error").get("message", "")
