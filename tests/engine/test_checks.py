"""Threshold expressions: every form parses, evaluates against a summary with its
unit, fails when the metric is missing, and every mistake is refused up front."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import DEFAULT_CHECKS, FLOOR_CHECK, evaluate, format_value, gate, parse_check
from harness.errors import ConfigError


def _section(**over: Any) -> dict[str, Any]:
    lat = {"p50": 3.0, "p90": 8.0, "p95": 9.0, "p99": 150.0, "p999": 400.0, "max": 900.0, "mean": 5.0,
           "count": 994}
    svc = {k: v / 2 for k, v in lat.items()} | {"count": 994}
    section = {"requests": 1000, "sent": 999, "answered": 990, "ok": 990, "errors": 10, "error_rate": 0.01,
               "rps": 100.0, "late": 2, "dropped": 1, "unsent": 0, "contract_violations": 0, "expected": 0,
               "latency_ms": lat, "service_ms": svc, "codes": {"9006": 4}, "expected_codes": {},
               "outcomes": {"ok": 990, "9006": 4, "http_500": 6}}
    section.update(over)
    return section


def _summary() -> dict[str, Any]:
    return {
        "run": {"intended_rate": 100.0},
        "totals": {"requests": 1000, "sent": 999, "answered": 990, "ok": 990, "errors": 10, "error_rate": 0.01,
                   "achieved_rps": 99.5, "achieved_rate": 0.995, "late": 2, "dropped": 1, "unsent": 0,
                   "contract_violations": 0, "expected": 0},
        "all": _section(),
        "endpoints": {"plate_validate": _section()},
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
        ("all.outcomes.http_500==6", 6.0, True),
        ("all.outcomes.dropped==0", 0.0, True),
        ("contract_violations==0", 0, True),
        ("achieved_rate>=99%", 0.995, True),
        ("achieved_rate>=99.9%", 0.995, False),
        ("achieved_rps>99", 99.5, True),
        ("dropped==0", 1, False),
        ("late<=2", 2, True),
        ("answered>0", 990, True),
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
    summary["totals"]["achieved_rate"] = None  # closed model
    (closed,) = evaluate([parse_check("achieved_rate>=99%")], summary)
    assert closed.value is None and not closed.passed
    # An endpoint whose requests were all refused: a latency over nothing answered.
    summary["endpoints"]["plate_validate"]["latency_ms"]["count"] = 0
    (refused,) = evaluate([parse_check("plate_validate.p99<50ms")], summary)
    assert refused.value is None and not refused.passed and refused.measured == "not measured"


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("plate_validate.p99", "expected METRIC OP VALUE"),
        ("nosuch.p99<1ms", "unknown endpoint 'nosuch'"),
        ("plate_validat.p99<1ms", "did you mean 'plate_validate'"),
        ("plate_validate.p42<1ms", "unknown statistic 'p42'"),
        ("plate_validate.p99<5%", "a latency takes us, ms or s"),
        ("plate_validate.p99<-5ms", "cannot be negative"),
        ("all.error_rate<5ms", "takes % or a fraction"),
        ("error_rate<200%", "between 0% and 100%"),
        ("all.error_rate<1.5", "between 0% and 100%"),
        ("dropped==0ms", "takes no unit"),
        ("codes.abc==0", "not an OPSCOM error code"),
        ("codes.9200==0", "'9200' is not an OPSCOM error code"),
        ("plate_validate.codes.8999<1", "not an OPSCOM error code"),
        ("plate_validate.outcomes.bogus==0", "'bogus' is not an outcome"),
        ("plate_validate.outcomes.http500==0", "did you mean 'http_500'"),
        ("plate_validate.outcomes.http_700==0", "not an outcome"),
        ("throughput>1", "unknown metric 'throughput'"),
        ("diff.nothing<1", "unknown metric 'diff.nothing'"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expr: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.").replace("(", r"\(").replace("?", r"\?")):
        parse_check(expr)


def test_errors_name_where_the_check_was_written() -> None:
    with pytest.raises(ConfigError, match=r"check 'codes\.9200==0' \(scenarios/x\.toml:7\): "):
        parse_check("codes.9200==0", where="scenarios/x.toml:7", source="scenario")


def test_request_names_a_run_declares_are_valid_check_targets() -> None:
    names = ("plate_validate", "GET_healthz")
    assert parse_check("GET_healthz.p99<5ms", names=names).path == ("GET_healthz", "p99")
    with pytest.raises(ConfigError, match="unknown endpoint"):
        parse_check("GET_other.p99<5ms", names=names)


def test_the_default_gate_and_its_replacement() -> None:
    default = [c.expr for c in gate([])]
    assert default == [*DEFAULT_CHECKS, FLOOR_CHECK]
    mine = gate([parse_check("error_rate<5%", source="scenario")])  # same metric as all.error_rate
    assert [c.expr for c in mine] == ["contract_violations==0", "error_rate<5%", FLOOR_CHECK]
    off = gate([parse_check("codes.9006==0")], defaults=False)
    assert [c.expr for c in off] == ["codes.9006==0", FLOOR_CHECK]  # the floor stays


def test_a_dead_target_fails_the_default_gate() -> None:
    dead = _summary()
    dead["totals"].update(answered=0, ok=0, errors=1000, error_rate=1.0)
    dead["all"].update(answered=0, ok=0, errors=1000, error_rate=1.0)
    results = evaluate(gate([]), dead)
    assert [r.passed for r in results] == [False, True, False]


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [(2.609, "latency", "2.61 ms"), (1234.5, "latency", "1,234 ms"), (0.967, "ratio", "96.7%"),
     (1.0, "ratio", "100.0%"), (43.0, "count", "43"), (1234.56, "rate", "1,234.6 req/s")],
)
def test_measured_values_carry_their_unit(value: float, kind: str, text: str) -> None:
    assert format_value(value, kind) == text
