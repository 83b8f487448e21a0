"""Threshold expressions: every form parses, evaluates against a summary, and fails
when the metric is missing."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import evaluate, parse_check
from harness.errors import ConfigError


def _summary() -> dict[str, Any]:
    lat = {"p50": 3.0, "p90": 8.0, "p95": 9.0, "p99": 150.0, "p999": 400.0, "max": 900.0, "mean": 5.0}
    svc = {k: v / 2 for k, v in lat.items()}
    section = {"requests": 1000, "ok": 990, "errors": 10, "error_rate": 0.01, "rps": 100.0, "late": 2,
               "dropped": 1, "contract_violations": 0, "latency_ms": lat, "service_ms": svc,
               "codes": {"9006": 4}, "outcomes": {"ok": 990, "9006": 4, "http_500": 6}}
    return {
        "run": {"intended_rate": 100.0},
        "totals": {"requests": 1000, "ok": 990, "errors": 10, "error_rate": 0.01, "achieved_rps": 99.5,
                   "late": 2, "dropped": 1, "contract_violations": 0},
        "all": section,
        "endpoints": {"plate_validate": section},
        "codes": {"9006": 4},
    }


@pytest.mark.parametrize(
    ("expr", "value", "passed"),
    [
        ("plate_validate.p99<200ms", 150.0, True),
        ("plate_validate.p99<0.1s", 150.0, False),
        ("plate_validate.p50<=3000us", 3.0, True),
        ("plate_validate.p99 < 200", 150.0, True),  # bare latency: ms
        ("plate_validate.service_p99<100ms", 75.0, True),
        ("all.error_rate<0.5%", 0.01, False),
        ("all.error_rate<=1%", 0.01, True),
        ("all.error_rate<0.02", 0.01, True),
        ("codes.9002==0", 0.0, True),
        ("codes.9006==0", 4.0, False),
        ("plate_validate.codes.9006<5", 4.0, True),
        ("plate_validate.outcomes.http_500==6", 6.0, True),
        ("contract_violations==0", 0, True),
        ("achieved_rate>=99%", 0.995, True),
        ("achieved_rate>=99.9%", 0.995, False),
        ("achieved_rps>99", 99.5, True),
        ("dropped==0", 1, False),
        ("late<=2", 2, True),
        ("all.max!=900", 900.0, False),
        ("permit_push.requests==0", 0.0, True),
    ],
)
def test_expression_forms(expr: str, value: float, passed: bool) -> None:
    (result,) = evaluate([parse_check(expr)], _summary())
    assert result.value == pytest.approx(value)
    assert result.passed is passed


def test_a_metric_that_was_not_measured_fails() -> None:
    summary = _summary()
    (no_traffic,) = evaluate([parse_check("permit_push.p99<1s")], summary)
    assert no_traffic.value is None and not no_traffic.passed
    summary["run"]["intended_rate"] = None  # closed model
    (closed,) = evaluate([parse_check("achieved_rate>=99%")], summary)
    assert closed.value is None and not closed.passed


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("plate_validate.p99", "expected METRIC OP VALUE"),
        ("nosuch.p99<1ms", "unknown endpoint 'nosuch'"),
        ("plate_validate.p42<1ms", "unknown statistic 'p42'"),
        ("plate_validate.p99<5%", "a latency takes us, ms or s"),
        ("all.error_rate<5ms", "takes % or a fraction"),
        ("dropped==0ms", "takes no unit"),
        ("codes.abc==0", "expected codes.<code>"),
        ("throughput>1", "unknown metric 'throughput'"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expr: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.").replace("(", r"\(")):
        parse_check(expr)
