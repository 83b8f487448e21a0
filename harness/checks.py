"""Threshold expressions and their verdict.

An expression is ``METRIC OP VALUE[UNIT]``, evaluated against a ``summary.json``
document, so it judges an engine run, a replay or a Locust run alike:

    plate_validate.p99<200ms     all.error_rate<0.5%     codes.9002==0
    contract_violations==0       achieved_rate>=99%      permit_push.service_p99<=1s

Metrics:
  ``<endpoint|all>.<stat>``  stat: p50 p90 p95 p99 p999 max mean (latency from the
                             intended send time, ms), service_p50 ... service_mean
                             (from the actual send), requests, ok, errors, error_rate,
                             rps, late, dropped, contract_violations
  ``<endpoint|all>.codes.<code>``, ``<endpoint>.outcomes.<key>``
  ``codes.<code>``           unexpected API error codes over all endpoints
  ``requests ok errors error_rate late dropped contract_violations achieved_rps``
  ``achieved_rate``          achieved_rps / intended rate (open model only)

Units: latency takes ``us``, ``ms`` (default) or ``s``; ratios take ``%`` or a bare
fraction; counts take none. A metric that does not exist in the run (a latency of
an endpoint that got no traffic, ``achieved_rate`` in the closed model) fails its
check: a gate that measured nothing must not pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINT_NAMES

_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>us|ms|s|%)?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
LATENCY_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
_COUNT_STATS = ("requests", "ok", "errors", "late", "dropped", "contract_violations")
_TOTAL_METRICS = {
    "requests": "count",
    "ok": "count",
    "errors": "count",
    "late": "count",
    "dropped": "count",
    "contract_violations": "count",
    "error_rate": "ratio",
    "achieved_rps": "rate",
    "achieved_rate": "ratio",
}
_UNIT_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, kw_only=True)
class Check:
    expr: str
    path: tuple[str, ...]
    op: str
    threshold: float  # in the metric's own unit: ms, a 0..1 ratio, or a count
    kind: str  # "latency", "ratio", "count", "rate"

    def evaluate(self, summary: dict[str, Any]) -> CheckResult:
        value = _lookup(summary, self.path)
        passed = value is not None and _OPS[self.op](value, self.threshold)
        return CheckResult(expr=self.expr, value=value, passed=passed)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    expr: str
    value: float | None
    passed: bool

    def as_json(self) -> dict[str, Any]:
        return {"expr": self.expr, "value": self.value, "passed": self.passed}


def _metric_kind(path: tuple[str, ...], expr: str) -> str:
    head = path[0]
    if len(path) == 1:
        if head not in _TOTAL_METRICS:
            raise ConfigError(f"check {expr!r}: unknown metric {head!r}; expected one of {', '.join(_TOTAL_METRICS)}, codes.<code> or <endpoint>.<stat>")
        return _TOTAL_METRICS[head]
    if head == "codes":
        if len(path) != 2 or not path[1].isdigit():
            raise ConfigError(f"check {expr!r}: expected codes.<code>, such as codes.9002")
        return "count"
    if head != "all" and head not in ENDPOINT_NAMES:
        raise ConfigError(f"check {expr!r}: unknown endpoint {head!r}; expected all or one of {', '.join(ENDPOINT_NAMES)}")
    stat = path[1]
    if len(path) == 3 and stat in ("codes", "outcomes"):
        return "count"
    if len(path) == 2:
        bare = stat.removeprefix("service_")
        if bare in LATENCY_STATS:
            return "latency"
        if stat in _COUNT_STATS:
            return "count"
        if stat == "error_rate":
            return "ratio"
        if stat == "rps":
            return "rate"
    raise ConfigError(
        f"check {expr!r}: unknown statistic {'.'.join(path[1:])!r}; expected one of "
        f"{', '.join(LATENCY_STATS)}, service_<p..>, {', '.join(_COUNT_STATS)}, error_rate, rps, codes.<code>"
    )


def parse_check(expr: str) -> Check:
    """Parse one expression; a malformed one is a ConfigError naming it."""
    m = _EXPR.match(expr)
    if m is None:
        raise ConfigError(f"check {expr!r}: expected METRIC OP VALUE such as plate_validate.p99<200ms or all.error_rate<0.5%")
    path = tuple(m.group("metric").split("."))
    kind = _metric_kind(path, expr)
    value = float(m.group("value"))
    unit = m.group("unit")
    if kind == "latency":
        if unit == "%":
            raise ConfigError(f"check {expr!r}: a latency takes us, ms or s, not %")
        value *= _UNIT_SCALE[unit or "ms"]
    elif kind == "ratio":
        if unit in _UNIT_SCALE:
            raise ConfigError(f"check {expr!r}: a rate of errors takes % or a fraction, not {unit}")
        if unit == "%":
            value /= 100.0
    elif unit is not None:
        raise ConfigError(f"check {expr!r}: {'.'.join(path)} is a {kind} and takes no unit")
    return Check(expr=expr.strip(), path=path, op=m.group("op"), threshold=value, kind=kind)


def parse_checks(exprs: Iterable[str]) -> tuple[Check, ...]:
    return tuple(parse_check(e) for e in exprs)


def evaluate(checks: Iterable[Check], summary: dict[str, Any]) -> list[CheckResult]:
    return [c.evaluate(summary) for c in checks]


def _lookup(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    totals = summary.get("totals", {})
    head = path[0]
    if len(path) == 1:
        if head == "achieved_rate":
            rate = summary.get("run", {}).get("intended_rate")
            return None if not rate else totals.get("achieved_rps", 0.0) / rate
        return totals.get(head)
    if head == "codes":
        return float(summary.get("codes", {}).get(path[1], 0))
    section = summary.get("all") if head == "all" else summary.get("endpoints", {}).get(head)
    stat = path[1]
    if len(path) == 3:  # codes / outcomes of an endpoint: absent means none
        return float(((section or {}).get(stat) or {}).get(path[2], 0))
    if section is None or not section.get("requests"):
        return 0.0 if stat in _COUNT_STATS else None
    if stat.startswith("service_"):
        return section["service_ms"].get(stat.removeprefix("service_"))
    if stat in LATENCY_STATS:
        return section["latency_ms"].get(stat)
    return section.get(stat)
