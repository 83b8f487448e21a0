"""Live gates: thresholds judged while the run goes, which stop it when they fail.

Like k6's ``abortOnFail``: a threshold written as a table in the scenario,

    [checks]
    thresholds = [
      "plate_validate.p99<200ms",                                   # judged at the end
      { expr = "all.error_rate<5%", abort_on_fail = true, delay = "10s" },
    ]

is also judged once a second, from the per-second timeline (the rows ``execute``
hands to ``on_second``) and their running totals, so nothing is added to the hot
path. It arms ``delay`` after the start (default ``DEFAULT_DELAY_S``: the first
seconds of a run are connection set-up and warm-up), and the first time it fails
the run is stopped through ``RunControl.abort(reason)``: sending stops, answers in
flight drain, the verdict is ``fail`` and the report says which check stopped the
run, when, and what it measured.

What a timeline row holds decides what can be judged live:

- latency statistics (``p50 .. p999``, ``max``, ``mean``) of a name or ``all``, from
  the intended send time (the cumulative histogram of every second so far);
- ``error_rate``: errors over every request so far. Deliberately invalid requests
  are in the denominator here (a row does not tell them apart), so the live value
  is never above the final one: a live gate never fails a run the same data would
  pass at the end;
- the counts ``requests``, ``errors``, ``dropped``, ``unsent`` and
  ``outcomes.<key>``, with ``<``, ``<=`` or ``==``: a count only grows, so once over
  its threshold it has failed for good (``>``/``>=``/``!=`` on a count can only be
  judged at the end).

Anything else (service time, codes, contract violations, rates) is refused up front
when marked ``abort_on_fail``, naming the check.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.checks import LATENCY_STATS, SECTION_METRICS, Check, format_value
from harness.metrics import Buckets, Recorder
from harness.timeline import Second
from harness.workers import RunControl

DEFAULT_DELAY_S = 5.0
_LIVE_COUNTS = ("requests", "errors", "dropped", "unsent")
_GROWING_OK_OPS = ("<", "<=", "==")


def live_problem(check: Check) -> str | None:
    """Why ``check`` cannot be judged while the run goes, or None when it can."""
    kind = _live_kind(check.path)
    if kind is None:
        return (f"{check.metric} cannot be judged while the run goes; live checks take latency percentiles "
                f"({', '.join(LATENCY_STATS)}), error_rate, {', '.join(_LIVE_COUNTS)} and outcomes.<key>")
    if kind == "count" and check.op not in _GROWING_OK_OPS:
        return (f"a count only grows while the run goes, so {check.expr} can only be judged at the end; "
                "use <, <= or == for a live check")
    return None


def _live_kind(path: tuple[str, ...]) -> str | None:
    """``latency``, ``ratio`` or ``count`` when a timeline row holds the metric."""
    if len(path) == 1:
        if path[0] == "error_rate":
            return "ratio"
        return "count" if path[0] in _LIVE_COUNTS else None
    if path[0] == "codes" or path[0] in SECTION_METRICS:
        return None
    if len(path) == 3:
        return "count" if path[1] == "outcomes" else None
    stat = path[1]
    if stat in LATENCY_STATS:
        return "latency"
    if stat == "error_rate":
        return "ratio"
    return "count" if stat in _LIVE_COUNTS else None


class _Totals:
    """Running totals of one name (or of every name) over the seconds seen so far."""

    __slots__ = ("requests", "errors", "outcomes", "hist")

    def __init__(self, with_hist: bool) -> None:
        self.requests = 0
        self.errors = 0
        self.outcomes: dict[str, int] = {}
        self.hist = Recorder.accumulator() if with_hist else None

    def add(self, requests: int, errors: int, outcomes: dict[str, int], latency: str) -> None:
        self.requests += requests
        self.errors += errors
        for key, n in outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + n
        if self.hist is not None and latency:
            self.hist.add(Buckets.decode(latency))

    def value(self, stat: str, key: str | None = None) -> float | None:
        if stat == "outcomes":
            return float(self.outcomes.get(key or "", 0))
        if stat in ("requests", "errors"):
            return float(getattr(self, stat))
        if stat in ("dropped", "unsent"):
            return float(self.outcomes.get(stat, 0))
        if stat == "error_rate":
            return self.errors / self.requests if self.requests else None
        buckets = self.hist.buckets() if self.hist is not None else None  # the non-zero counts only
        if buckets is None or not buckets.total:
            return None
        if stat == "max":
            return buckets.max_value() / 1000.0
        if stat == "mean":
            return buckets.mean_value() / 1000.0
        level = 99.9 if stat == "p999" else float(stat[1:])
        return buckets.value_at_percentile(level) / 1000.0


class LiveGates:
    """The plan's abort_on_fail checks, judged on each second of the timeline."""

    def __init__(self, checks: tuple[Check, ...] | list[Check], control: RunControl) -> None:
        self.gates = [c for c in checks if c.abort_on_fail]
        self.control = control
        self.fired: tuple[Check, int, float] | None = None  # check, second, value
        latency_names = {c.path[0] for c in self.gates if len(c.path) == 2 and c.path[1] in LATENCY_STATS}
        self.all = _Totals(with_hist="all" in latency_names)
        self.names: dict[str, _Totals] = {}
        self._with_hist = latency_names - {"all"}

    @property
    def active(self) -> bool:
        return bool(self.gates)

    def second(self, row: Second) -> None:
        if self.fired is not None or self.control.interrupted:
            return
        outcomes: dict[str, int] = {}
        for name, ns in row.names.items():
            totals = self.names.get(name)
            if totals is None:
                totals = self.names[name] = _Totals(with_hist=name in self._with_hist)
            totals.add(ns.requests, ns.errors, ns.outcomes, ns.latency)
            for key, n in ns.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + n
        self.all.add(row.requests, row.errors, outcomes, row.latency)
        elapsed = row.t + 1
        for check in self.gates:
            if elapsed < check.abort_delay_s:
                continue
            value = self.value(check)
            if value is not None and not check.passes(value):
                self.fire(check, elapsed, value)
                return

    def value(self, check: Check) -> float | None:
        path = check.path
        if len(path) == 1:
            return self.all.value(path[0])
        totals = self.all if path[0] == "all" else self.names.get(path[0])
        if totals is None:
            return 0.0 if check.kind == "count" else None
        if len(path) == 3:
            return totals.value("outcomes", path[2])
        return totals.value(path[1])

    def fire(self, check: Check, elapsed: int, value: float) -> None:
        self.fired = (check, elapsed, value)
        measured = format_value(value, check.kind)
        self.control.abort(f"live check {check.expr} failed at {elapsed}s (measured {measured}, threshold "
                           f"{check.op} {check.format_threshold()})")

    def close(self) -> None:
        pass

    def finish(self, result: Any) -> None:
        """Mark the check that stopped the run in the result (and its summary): failed,
        with when and what it measured live, whatever the final figures say."""
        if self.fired is None:
            return
        check, elapsed, value = self.fired
        live = {"aborted": True, "at_s": elapsed, "value": value, "measured": format_value(value, check.kind)}
        for i, res in enumerate(result.checks):
            if res.check is check:
                result.checks[i] = replace(res, passed=False) if res.passed else res
                result.summary["checks"][i]["passed"] = False
                result.summary["checks"][i]["live"] = live


def gates_for(plan: Any, control: RunControl) -> LiveGates | None:
    """The live observer of ``harness.api.execute`` for a plan with live checks."""
    gates = LiveGates(plan.checks, control)
    return gates if gates.active else None

