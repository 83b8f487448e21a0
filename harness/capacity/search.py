"""The capacity search, as arithmetic: which rate to try next.

Given a way to measure one rate (``measure(rate, phase) -> Step``), it steps the
offered rate up geometrically (``start``, ``start*factor``, ...) until a step fails
its SLOs or ``max_rate`` is reached, then bisects between the highest rate that
held and the lowest that did not, until the two are within ``resolution`` of each
other. The answer is the highest rate that held: the maximum sustainable rate.
When even ``start`` fails, it bisects between 0 and ``start``.

Bounded in count (``max_steps``) and in rate (``max_rate``), so it always ends. Kept
apart from running load so its cases are a table (``tests/capacity/test_search.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    start: float = 50.0  # requests/s of the first step
    factor: float = 2.0  # each ramp step multiplies the rate by this
    max_rate: float = 50_000.0  # never offer more
    resolution: float = 0.05  # stop bisecting when (bad - good) <= resolution * bad
    min_gap: float = 1.0  # ... or when they are this many requests/s apart
    max_steps: int = 16  # steps in all, ramp and bisection

    def __post_init__(self) -> None:
        if not self.start > 0 or not self.factor > 1 or not self.max_rate >= self.start:
            raise ValueError("expected start > 0, factor > 1 and max_rate >= start")
        if not 0 < self.resolution < 1 or self.max_steps < 1:
            raise ValueError("expected 0 < resolution < 1 and max_steps >= 1")


@dataclass
class Step:
    rate: float  # offered requests/s
    phase: str  # "ramp" or "bisect"
    passed: bool  # every SLO held
    detail: dict[str, Any] = field(default_factory=dict)  # figures for the report
    stopped: bool = False  # interrupted: the search ends here, this step is not judged


@dataclass
class Outcome:
    steps: list[Step]
    max_rate: float | None  # the highest rate that held, None when none did
    breaks_at: float | None  # the lowest rate that failed, None when none did
    reached_limit: bool  # max_rate was reached and held (the target's limit is higher)
    stopped: bool  # interrupted before the answer was found
    exhausted: bool  # max_steps ran out before the resolution was reached

    @property
    def best(self) -> Step | None:
        held = [s for s in self.steps if s.passed and not s.stopped and s.rate == self.max_rate]
        return held[-1] if held else None

    @property
    def breaking(self) -> Step | None:
        bad = [s for s in self.steps if not s.passed and not s.stopped and s.rate == self.breaks_at]
        return bad[-1] if bad else None


def _round(rate: float) -> float:
    """Rates as a person would write them: 3 significant digits, at least 0.1."""
    if rate >= 100:
        return float(round(rate, -len(str(int(rate))) + 3))
    return round(rate, 1)


Request = tuple[float, str]  # (rate, phase) to measure next


def searcher(settings: SearchSettings) -> Generator[Request, Step, Outcome]:
    """The search as a generator: it yields the (rate, phase) to measure next, is sent
    the measured ``Step``, and returns the ``Outcome``. Sync and async callers drive
    it alike (``search`` below; ``harness.capacity.runner`` awaits runs)."""
    steps: list[Step] = []
    good: float | None = None
    bad: float | None = None

    def close_enough(lo: float, hi: float) -> bool:
        return hi - lo <= max(settings.resolution * hi, settings.min_gap)

    rate = settings.start
    while len(steps) < settings.max_steps:
        step = yield (rate, "ramp")
        steps.append(step)
        if step.stopped:
            return Outcome(steps, good, bad, False, True, False)
        if not step.passed:
            bad = rate
            break
        good = rate
        if rate >= settings.max_rate:
            return Outcome(steps, good, None, True, False, False)
        rate = min(_round(rate * settings.factor), settings.max_rate)
    lo = good if good is not None else 0.0
    while bad is not None and len(steps) < settings.max_steps and not close_enough(lo, bad):
        mid = _round((lo + bad) / 2)
        if mid <= lo or mid >= bad:
            break
        step = yield (mid, "bisect")
        steps.append(step)
        if step.stopped:
            return Outcome(steps, good, bad, False, True, False)
        if step.passed:
            good = lo = mid
        else:
            bad = mid
    exhausted = len(steps) >= settings.max_steps and (bad is None or not close_enough(lo, bad))
    return Outcome(steps, good, bad, False, False, exhausted)


def search(measure: Callable[[float, str], Step], settings: SearchSettings) -> Outcome:
    """Drive ``searcher`` with a synchronous ``measure(rate, phase)``."""
    gen = searcher(settings)
    try:
        request = next(gen)
        while True:
            request = gen.send(measure(*request))
    except StopIteration as stop:
        return stop.value
