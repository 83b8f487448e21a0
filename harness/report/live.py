"""What the live view knows about a run in progress: ``LiveState``, fed the timeline's rows.

The timeline's ``Second`` rows already carry, per request name, that second's
requests, errors, p50/p99/max and non-ok outcomes, so the live table of the last
interval costs nothing to build. What the checks need is a running total; it is
kept here from the rows, cheaply:

- counts per name (requests, errors, each non-ok outcome) are added up;
- latency histograms are added up only for the names a latency check reads
  (``plate_validate.p99<200ms`` keeps one histogram; the default gate keeps none).

A check is judged live only when the rows hold its metric exactly, or nearly:

- judged: latency statistics (``p50`` .. ``max``, ``mean``) from the intended
  send time, ``requests sent answered errors dropped unsent``, ``outcomes.<key>``
  and ``error_rate``. The error rate's denominator counts every ok answer as ok:
  a deliberately invalid call answered ok (a contract violation) is told apart
  only at the end, so a target that breaks its contract can look slightly better
  live than in the verdict (and ``contract_violations==0`` fails there anyway);
- pending until the end: service times, ``late``, ``ok``, ``expected``,
  ``contract_violations``, ``codes``, ``rps``, ``achieved_rps``/``achieved_rate``
  and other sections (``diff.changed``): the rows do not carry them.

A judged check is provisional (the run is not over): pass and fail mean "so far".
A check that has nothing to read yet, or a count that must grow past its
threshold and has not yet, shows as pending rather than red.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from harness.checks import LATENCY_STATS, Check, format_value
from harness.metrics import Buckets, Recorder, percentiles_ms
from harness.names import name_number
from harness.opscom.outcome import outcome_for_key
from harness.timeline import NameSecond, Second

# Statistics a row-built summary holds exactly (besides latency and outcomes).
_LIVE_COUNTS = ("requests", "sent", "answered", "errors", "dropped", "unsent")
_GROWING_OPS = (">", ">=")


class Phase(Enum):
    CONNECTING = "connecting"  # the target starting, workers connecting: no second yet
    RUNNING = "running"  # within the schedule
    DRAINING = "draining"  # past the schedule: answers still in flight
    STOPPING = "stopping"  # interrupted: answers in flight get a short grace
    DONE = "done"


class CheckState(Enum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"


@dataclass(frozen=True)
class LiveCheck:
    expr: str
    state: CheckState
    shown: str  # "2.61 ms (threshold < 200 ms)", "pending: judged at the end"


def live_judgeable(check: Check) -> bool:
    """Whether the rows hold ``check``'s metric (see the module docstring)."""
    path = check.path
    if len(path) == 1:
        return path[0] in _LIVE_COUNTS or path[0] == "error_rate"
    if path[0] in ("codes",) or len(path) > 3:
        return False
    stat = path[1]
    if len(path) == 3:
        return stat == "outcomes"
    return stat in LATENCY_STATS or stat in _LIVE_COUNTS or stat == "error_rate"


@dataclass
class _Totals:
    """One name's (or every name's) running totals."""

    requests: int = 0
    errors: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # non-ok
    max_ms: float = 0.0
    hist: Recorder | None = None  # only when a latency check reads this name

    def add(self, requests: int, errors: int, outcomes: dict[str, int], max_ms: float, latency: str) -> None:
        self.requests += requests
        self.errors += errors
        for key, n in outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + n
        self.max_ms = max(self.max_ms, max_ms)
        if self.hist is not None and latency:
            self.hist.add(Buckets.decode(latency))

    def section(self) -> dict[str, Any]:
        """This name as a summary.json section, with the fields the rows give."""
        not_ok = sum(self.outcomes.values())
        dropped, unsent = self.outcomes.get("dropped", 0), self.outcomes.get("unsent", 0)
        unanswered = sum(n for key, n in self.outcomes.items() if not outcome_for_key(key).answered)
        ok = self.requests - not_ok
        out: dict[str, Any] = {
            "requests": self.requests,
            "sent": self.requests - dropped - unsent,
            "answered": self.requests - unanswered,
            "errors": self.errors,
            "ok": ok,
            "error_rate": error_share(ok, self.errors),
            "dropped": dropped,
            "unsent": unsent,
            "outcomes": {"ok": ok, **self.outcomes},
        }
        if self.hist is not None:
            out["latency_ms"] = percentiles_ms(self.hist)
        return out


def error_share(ok: int, errors: int) -> float:
    """errors / (ok + errors), as summary.json's error_rate."""
    return errors / (ok + errors) if ok + errors else 0.0


def ok_of(requests: int, outcomes: dict[str, int]) -> int:
    """Hits that ended ok: every hit but the non-ok outcomes."""
    return requests - sum(outcomes.values())


class LiveState:
    """The run so far, from the rows; read by the screen and log views.

    Not thread-safe by itself: the view's own thread is its only user."""

    def __init__(self, *, duration_s: float, checks: Iterable[Check] = (),
                 rate_at: Callable[[float], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.duration_s = duration_s
        self.rate_at = rate_at  # the intended rate at t (open model), else None
        self.checks = tuple(checks)
        self.clock = clock
        self.last: Second | None = None
        self.rows = 0
        self.all = _Totals()
        self.names: dict[str, _Totals] = {}
        self.stopping = False
        self.done = False
        self._start: float | None = None  # clock time of the run's t=0, from the first row
        self._hist_names = {c.path[0] for c in self.checks
                            if live_judgeable(c) and len(c.path) == 2 and c.path[1] in LATENCY_STATS}
        if "all" in self._hist_names:
            self.all.hist = Recorder.accumulator()

    # --- feeding --------------------------------------------------------------------------

    def add(self, row: Second) -> None:
        if self._start is None:
            # The row for second t arrives when t+1 has passed: that fixes t=0 on our clock.
            self._start = self.clock() - (row.t + 1)
        if self.last is None or row.t >= self.last.t:
            self.last = row
        self.rows += 1
        outcomes: dict[str, int] = {}
        for name, ns in row.names.items():
            self._name(name).add(ns.requests, ns.errors, ns.outcomes, ns.max_ms, ns.latency)
            for key, n in ns.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + n
        self.all.add(row.requests, row.errors, outcomes, row.max_ms, row.latency)

    def _name(self, name: str) -> _Totals:
        totals = self.names.get(name)
        if totals is None:
            totals = self.names[name] = _Totals(hist=Recorder.accumulator() if name in self._hist_names else None)
            # Catalogue order, whatever order names first appear in.
            self.names = dict(sorted(self.names.items(), key=lambda kv: name_number(kv[0])))
        return totals

    # --- reading --------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds since the schedule started (0 until the first row)."""
        if self._start is None:
            return 0.0
        return max(0.0, self.clock() - self._start)

    @property
    def phase(self) -> Phase:
        if self.done:
            return Phase.DONE
        if self.stopping:
            return Phase.STOPPING
        if self._start is None:
            return Phase.CONNECTING
        return Phase.RUNNING if self.elapsed < self.duration_s else Phase.DRAINING

    @property
    def intended_rate(self) -> float | None:
        """The intended rate over the last second (beside ``achieved_rate``); None
        in the closed model or before the first second."""
        if self.rate_at is None or self.last is None:
            return None
        return self.rate_at(self.last.t + 0.5)  # a ramp's mean over [t, t+1)

    @property
    def achieved_rate(self) -> float | None:
        """Requests that ended (any outcome) in the last second."""
        return None if self.last is None else float(self.last.requests)

    def interval(self) -> list[tuple[str, NameSecond]]:
        """The last second's row, per name, in catalogue order (names seen earlier
        but silent in it show as zero, so rows do not jump)."""
        last = self.last.names if self.last else {}
        empty = NameSecond(0, 0, 0.0, 0.0, 0.0, {})
        return [(name, last.get(name, empty)) for name in self.names]

    def summary(self) -> dict[str, Any]:
        """The run so far as far as summary.json's shape goes (see the module docstring)."""
        everything = self.all.section()
        return {
            "totals": {k: everything[k] for k in (*_LIVE_COUNTS, "error_rate", "ok")},
            "all": everything,
            "endpoints": {name: t.section() for name, t in self.names.items()},
        }

    def judge(self) -> list[LiveCheck]:
        """Every check of the plan: pass, fail or pending, so far."""
        if not self.checks:
            return []
        summary = self.summary()
        return [self._judge(c, summary) for c in self.checks]

    def _judge(self, check: Check, summary: dict[str, Any]) -> LiveCheck:
        threshold = f"{check.op} {format_value(check.threshold, check.kind)}"
        if not live_judgeable(check):
            return LiveCheck(check.expr, CheckState.PENDING, f"judged at the end (threshold {threshold})")
        result = check.evaluate(summary)
        if result.value is None or not self.rows:
            return LiveCheck(check.expr, CheckState.PENDING, f"nothing measured yet (threshold {threshold})")
        shown = f"{result.measured} so far (threshold {threshold})"
        if result.passed:
            return LiveCheck(check.expr, CheckState.PASS, shown)
        if check.kind == "count" and check.op in _GROWING_OPS and not self.done:
            return LiveCheck(check.expr, CheckState.PENDING, shown)  # counts only grow
        return LiveCheck(check.expr, CheckState.FAIL, shown)
