"""Threshold expressions, their validation, and the verdict.

An expression is ``METRIC OP VALUE[UNIT]``, evaluated against a ``summary.json``
document, so it judges an engine run, a replay or a Locust run alike:

    plate_validate.p99<200ms     all.error_rate<0.5%     codes.9002==0
    contract_violations==0       achieved_rate>=99%      all.outcomes.http_500==0

Metrics (``<name>`` is an endpoint, a request name the run declares, or ``all``):

  ``<name>.p50 .p90 .p95 .p99 .p999 .max .mean``  latency from the intended send
        time over answered and timed-out requests (us, ms (default), s)
  ``<name>.service_p99`` ...      the same from the actual send
  ``<name>.requests .sent .answered .ok .errors .late .dropped .unsent
        .contract_violations .expected``          counts
  ``<name>.error_rate``           errors / (ok + errors)  (% or a fraction)
  ``<name>.rps``                  requests sent per second of the schedule
  ``<name>.codes.<code>``, ``<name>.expected_codes.<code>``, ``<name>.outcomes.<key>``
  ``codes.<code>``                unexpected API error codes, every endpoint
  the totals ``requests sent answered ok errors late dropped unsent
        contract_violations expected error_rate achieved_rps achieved_rate``
  ``diff.changed``                replay: share of answers that differ from the recording

Every expression is checked before anything is sent: an unknown name, metric,
error code (outside the OPSCOM catalogue) or outcome, a unit that does not fit,
a share over 100% or a negative value is a ``ConfigError`` naming the check and
where it was written. A metric the run did not measure (a latency of an endpoint
nobody answered, ``achieved_rate`` in the closed model) fails its check: a gate
that measured nothing must not pass.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINT_NAMES
from harness.opscom.errors import ERROR_MESSAGES
from harness.opscom.outcome import FIXED_KEYS

_EXPR = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.-]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
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
COUNT_STATS = (
    "requests", "sent", "answered", "ok", "errors", "late", "dropped", "unsent",
    "contract_violations", "expected",
)  # fmt: skip
_TOTALS: dict[str, str] = {name: "count" for name in COUNT_STATS} | {
    "error_rate": "ratio",
    "achieved_rps": "rate",
    "achieved_rate": "ratio",
}
# Top-level sections other writers add to summary.json: name -> {stat: kind}.
SECTION_METRICS: dict[str, dict[str, str]] = {
    "diff": {"changed": "ratio", "changed_requests": "count", "compared": "count"},
    "capacity": {"max_rate": "rate"},  # harness capacity: the maximum sustainable rate
}
_UNIT_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}
UNITS = {"latency": "ms", "ratio": "%", "count": "", "rate": "req/s"}

# The default gate: every run has it unless the scenario turns it off
# ([checks] defaults = false); a threshold of the scenario's on the same metric
# replaces the default one.
DEFAULT_CHECKS: tuple[str, ...] = ("all.error_rate<1%", "contract_violations==0")
# Never removable: a run the target answered nothing of cannot pass.
FLOOR_CHECK = "answered>0"


@dataclass(frozen=True, kw_only=True)
class Check:
    expr: str
    path: tuple[str, ...]
    op: str
    threshold: float  # in the metric's own unit: ms, a 0..1 ratio, a count, req/s
    kind: str  # "latency", "ratio", "count", "rate"
    source: str = "flag"  # "default", "scenario", "flag", "api"
    where: str = ""  # "scenarios/x.toml:44", "--check"
    abort_on_fail: bool = False  # also judged live; a failure stops the run (harness.livegates)
    abort_delay_s: float = 0.0  # seconds after the start before the live judgement arms

    @property
    def metric(self) -> str:
        return ".".join(self.path)

    @property
    def canonical_metric(self) -> str:
        """The same metric whatever its spelling (``error_rate`` is ``all.error_rate``)."""
        if len(self.path) == 1 and self.path[0] in ("error_rate",) + COUNT_STATS:
            return "all." + self.path[0]
        return self.metric

    def evaluate(self, summary: dict[str, Any]) -> CheckResult:
        value = lookup(summary, self.path, self.kind)
        return CheckResult(check=self, value=value, passed=value is not None and self.passes(value))

    def passes(self, value: float) -> bool:
        """Whether a measured ``value`` (in the metric's own unit) meets the threshold."""
        return _OPS[self.op](value, self.threshold)

    def format_threshold(self) -> str:
        return format_value(self.threshold, self.kind)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    check: Check
    value: float | None
    passed: bool

    @property
    def expr(self) -> str:
        return self.check.expr

    @property
    def measured(self) -> str:
        return "not measured" if self.value is None else format_value(self.value, self.check.kind)

    def as_json(self) -> dict[str, Any]:
        c = self.check
        live = {"abort_on_fail": True, "abort_delay_s": c.abort_delay_s} if c.abort_on_fail else {}
        return live | {
            "expr": c.expr,
            "metric": c.metric,
            "op": c.op,
            "threshold": c.threshold,
            "unit": UNITS[c.kind],
            "value": self.value,
            "measured": self.measured,
            "passed": self.passed,
            "source": c.source,
            "where": c.where,
        }


def format_value(value: float, kind: str) -> str:
    """A measured value with its unit: ``2.61 ms``, ``96.7%``, ``43``, ``1,234.5 req/s``."""
    if kind == "latency":
        return f"{value:,.3g} ms" if value < 100 else f"{value:,.0f} ms"
    if kind == "ratio":
        pct = value * 100
        return f"{pct:.3g}%" if pct < 100 else f"{pct:.1f}%"
    if kind == "rate":
        return f"{value:,.1f} req/s"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


# --- parsing and validation ---------------------------------------------------------------


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _outcome_key_known(key: str) -> bool:
    if key in FIXED_KEYS:
        return True
    if key.isdigit():
        return int(key) in ERROR_MESSAGES
    if key.startswith("http_") and key[5:].isdigit():
        return 100 <= int(key[5:]) <= 599
    return False


class _Bad(ValueError):
    pass


def _code_kind(code: str) -> str:
    if not code.isdigit() or int(code) not in ERROR_MESSAGES:
        lo, hi = min(ERROR_MESSAGES), max(ERROR_MESSAGES)
        raise _Bad(f"{code!r} is not an OPSCOM error code; expected one of {lo}..{hi} from the catalogue")
    return "count"


def _metric_kind(path: tuple[str, ...], names: Collection[str]) -> str:
    head = path[0]
    if len(path) == 1:
        if head not in _TOTALS:
            raise _Bad(f"unknown metric {head!r}; expected one of {', '.join(_TOTALS)}, codes.<code> or "
                       f"<endpoint>.<stat>" + _hint(head, list(_TOTALS) + list(names)))
        return _TOTALS[head]
    if head == "codes":
        if len(path) != 2:
            raise _Bad("expected codes.<code>, such as codes.9002")
        return _code_kind(path[1])
    if head in SECTION_METRICS:
        stats = SECTION_METRICS[head]
        if len(path) != 2 or path[1] not in stats:
            raise _Bad(f"unknown metric {'.'.join(path)!r}; expected one of "
                       + ", ".join(f"{head}.{s}" for s in stats))
        return stats[path[1]]
    if head != "all" and head not in names:
        raise _Bad(f"unknown endpoint {head!r}; expected all or one of {', '.join(sorted(names))}"
                   + _hint(head, names))
    stat = path[1]
    if stat in ("codes", "expected_codes"):
        if len(path) != 3:
            raise _Bad(f"expected {head}.{stat}.<code>, such as {head}.{stat}.9006")
        return _code_kind(path[2])
    if stat == "outcomes":
        if len(path) != 3:
            raise _Bad(f"expected {head}.outcomes.<key>, such as {head}.outcomes.http_500")
        if not _outcome_key_known(path[2]):
            raise _Bad(f"{path[2]!r} is not an outcome the harness produces; expected one of "
                       f"{', '.join(FIXED_KEYS)}, an error code such as 9006, or http_<status>"
                       + _hint(path[2], FIXED_KEYS + ("http_500", "http_503", "http_429")))
        return "count"
    if len(path) == 2:
        if stat.removeprefix("service_") in LATENCY_STATS:
            return "latency"
        if stat in COUNT_STATS:
            return "count"
        if stat == "error_rate":
            return "ratio"
        if stat == "rps":
            return "rate"
    stats = [*LATENCY_STATS, *(f"service_{s}" for s in LATENCY_STATS), *COUNT_STATS, "error_rate", "rps"]
    raise _Bad(f"unknown statistic {'.'.join(path[1:])!r}; expected one of {', '.join(LATENCY_STATS)}, "
               f"service_<stat>, {', '.join(COUNT_STATS)}, error_rate, rps, codes.<code>, outcomes.<key>"
               + _hint(path[1], stats + ["codes", "outcomes", "expected_codes"]))


def parse_check(expr: str, *, names: Collection[str] = ENDPOINT_NAMES, source: str = "flag",
                where: str = "") -> Check:
    """Parse and validate one expression; a bad one is a ConfigError naming it."""
    at = f" ({where})" if where else ""
    m = _EXPR.match(expr)
    if m is None:
        raise ConfigError(f"check {expr!r}{at}: expected METRIC OP VALUE such as plate_validate.p99<200ms "
                          "or all.error_rate<0.5%")
    path = tuple(m.group("metric").split("."))
    try:
        kind = _metric_kind(path, names)
        value = _threshold(kind, float(m.group("value")), m.group("unit"), ".".join(path))
    except _Bad as exc:
        raise ConfigError(f"check {expr!r}{at}: {exc}") from None
    return Check(expr=expr.strip(), path=path, op=m.group("op"), threshold=value, kind=kind,
                 source=source, where=where)


def _threshold(kind: str, value: float, unit: str | None, metric: str) -> float:
    if kind == "latency":
        if unit == "%":
            raise _Bad("a latency takes us, ms or s, not %")
        if value < 0:
            raise _Bad("a latency cannot be negative")
        return value * _UNIT_SCALE[unit or "ms"]
    if kind == "ratio":
        if unit in _UNIT_SCALE:
            raise _Bad(f"{metric} is a share and takes % or a fraction, not {unit}")
        share = value / 100.0 if unit == "%" else value
        if not 0.0 <= share <= 1.0:
            raise _Bad(f"a share must be between 0% and 100% (0 and 1 as a fraction), got {value:g}{unit or ''}")
        return share
    if unit is not None:
        raise _Bad(f"{metric} is a {kind} and takes no unit")
    if value < 0:
        raise _Bad(f"{metric} is a {kind} and cannot be negative")
    return value


def gate(user: Iterable[Check], *, defaults: bool = True, names: Collection[str] = ENDPOINT_NAMES) -> tuple[Check, ...]:
    """The run's checks: the default gate (unless turned off; a user check on the
    same metric replaces a default), the user's checks, and the floor."""
    user = tuple(user)
    mine = {c.canonical_metric for c in user}
    out: list[Check] = []
    if defaults:
        for expr in DEFAULT_CHECKS:
            c = parse_check(expr, names=names, source="default", where="default gate")
            if c.canonical_metric not in mine:
                out.append(c)
    out.extend(user)
    if not any(c.expr.replace(" ", "") == FLOOR_CHECK for c in out):
        out.append(parse_check(FLOOR_CHECK, names=names, source="default", where="always"))
    return tuple(out)


def evaluate(checks: Iterable[Check], summary: dict[str, Any]) -> list[CheckResult]:
    return [c.evaluate(summary) for c in checks]


# --- reading a summary ---------------------------------------------------------------------


def lookup(summary: dict[str, Any], path: tuple[str, ...], kind: str) -> float | None:
    """The value ``path`` names in ``summary``, or None when the run did not measure it."""
    head = path[0]
    if len(path) == 1:
        value = summary.get("totals", {}).get(head)
        if head == "error_rate" and not _judged(summary.get("all")):
            return None
        return None if value is None else float(value)
    if head == "codes":
        return float(summary.get("codes", {}).get(path[1], 0))
    if head in SECTION_METRICS:
        section = summary.get(head)
        value = None if not section else section.get(path[1])
        return None if value is None else float(value)
    section = summary.get("all") if head == "all" else summary.get("endpoints", {}).get(head)
    stat = path[1]
    if len(path) == 3:  # codes / expected_codes / outcomes: absent means none
        return float(((section or {}).get(stat) or {}).get(path[2], 0))
    if section is None:
        return 0.0 if kind == "count" else None
    if kind == "latency":
        block = section["service_ms"] if stat.startswith("service_") else section["latency_ms"]
        if not block.get("count"):
            return None  # nothing answered: not measured
        return block.get(stat.removeprefix("service_"))
    if stat == "error_rate" and not _judged(section):
        return None
    value = section.get(stat)
    return None if value is None else float(value)


def _judged(section: dict[str, Any] | None) -> bool:
    """An error rate needs at least one request that counts as ok or error."""
    return bool(section) and (section.get("ok", 0) + section.get("errors", 0)) > 0
