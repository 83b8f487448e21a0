"""The engine's hold seam (replay's correlation), against the scheduler's fake
transport: a held call is parked, issued but not sent, until its source releases
it; it then goes out with its original intended time (the wait counts in its
latency), or ends unsent as ``orphaned``; parked calls are awaited by the drain
and end ``unsent`` when the run ends first."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.engine import Engine, EngineConfig, Model
from harness.metrics import Metrics
from harness.opscom import ENDPOINTS, Outcome
from harness.opscom.outcome import ORPHANED
from harness.options import default_load
from harness.pacing import ConstantPacer
from harness.traffic.call import HOLD, Call
from tests.engine.fake_transport import FakeTransport

EP = ENDPOINTS["plate_validate"]


class HoldingSource:
    """Every ``every``-th call is held and released ``after`` seconds later (with
    ``outcome``: None sends it); ``never`` keeps them parked."""

    def __init__(self, *, every: int = 2, after: float = 0.05, outcome: Outcome | None = None,
                 never: bool = False, limit: int | None = None, at_once: Outcome | None = None) -> None:
        self.every, self.after, self.outcome, self.never = every, after, outcome, never
        self.limit, self.at_once = limit, at_once
        self.made = 0
        self.results: list[tuple[Call, Outcome]] = []
        self.release: Any = None

    def bind_release(self, release: Any) -> None:
        self.release = release

    def next_call(self, hit: int, now: float) -> Call | None:
        if self.limit is not None and self.made >= self.limit:
            return None
        self.made += 1
        call = Call(EP, EP.path, b"{}", feedback=True, tag=self.made)
        if self.made % self.every == 0:
            if self.at_once is not None:
                call.hold = self.at_once
            else:
                call.hold = HOLD
                if not self.never:
                    asyncio.get_running_loop().call_later(self.after, self.release, call, self.outcome)
        return call

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        self.results.append((call, outcome))


def _config(model: Model = Model.OPEN, *, pacer: Any = None, **load: Any) -> EngineConfig:
    load.setdefault("timeout", 2.0)
    return EngineConfig(model=model, pacer=pacer, load=default_load(**load))


async def _run(config: EngineConfig, fake: FakeTransport, source: HoldingSource,
               interrupt_after: float | None = None) -> tuple[Any, Metrics]:
    metrics = Metrics()
    engine = Engine(config, source, metrics, fake)
    await engine.open()
    if interrupt_after is not None:
        asyncio.get_running_loop().call_later(interrupt_after + 0.05, engine.interrupt)
    stats = await engine.run(time.perf_counter_ns() + 50_000_000)
    return stats, metrics


def _outcomes(source: HoldingSource) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, o in source.results:
        out[o.key] = out.get(o.key, 0) + 1
    return out


async def test_a_released_call_is_sent_with_its_intended_time() -> None:
    fake = FakeTransport(slots=4, service_s=0.001)
    source = HoldingSource(every=2, after=0.08)
    stats, metrics = await _run(_config(pacer=ConstantPacer(rate=50, duration=0.4)), fake, source)
    assert stats.issued == 20 and metrics.ok == 20 and _outcomes(source) == {"ok": 20}
    # The ten held calls left ~80 ms after their intended time: their latency shows it.
    waits = sorted((sent - intended) / 1e6 for intended, sent in fake.sent)
    assert waits[9] < 60 and all(70 <= w < 600 for w in waits[10:])


async def test_a_call_released_as_orphaned_is_not_sent() -> None:
    fake = FakeTransport(slots=4, service_s=0.001)
    source = HoldingSource(every=2, after=0.02, outcome=ORPHANED)
    stats, metrics = await _run(_config(pacer=ConstantPacer(rate=50, duration=0.4)), fake, source)
    assert stats.issued == 20 and len(fake.sent) == 10
    assert _outcomes(source) == {"ok": 10, "orphaned": 10}
    assert metrics.endpoints[EP.index].not_sent == {ORPHANED: 10}


async def test_a_hold_with_an_outcome_ends_at_once_and_a_closed_user_goes_on() -> None:
    fake = FakeTransport(slots=2, service_s=0.001)
    source = HoldingSource(every=3, at_once=ORPHANED, limit=30)
    stats, metrics = await _run(_config(Model.CLOSED, users=2, duration=5.0), fake, source)
    assert stats.issued == 30 and len(fake.sent) == 20
    assert _outcomes(source) == {"ok": 20, "orphaned": 10}
    assert stats.elapsed_s < 4  # the source ran dry: the users never stalled on an orphan


async def test_the_drain_waits_for_parked_calls() -> None:
    fake = FakeTransport(slots=2, service_s=0.001)
    source = HoldingSource(every=5, after=0.5)  # the last held call is released 0.5 s after the end
    stats, metrics = await _run(_config(pacer=ConstantPacer(rate=50, duration=0.2), drain=3.0), fake, source)
    assert _outcomes(source) == {"ok": 10} and len(fake.sent) == 10
    assert 0.6 < stats.elapsed_s < 2.5


async def test_calls_still_parked_when_the_run_ends_are_unsent() -> None:
    fake = FakeTransport(slots=2, service_s=0.001)
    source = HoldingSource(every=2, never=True)
    stats, metrics = await _run(_config(pacer=ConstantPacer(rate=50, duration=0.2), drain=0.3), fake, source)
    assert stats.issued == 10 and _outcomes(source) == {"ok": 5, "unsent": 5}
    late = [c for c, _ in source.results if c.hold is not None]
    assert late == []  # every hold was cleared when the engine ended it


async def test_an_interrupt_ends_parked_calls_as_unsent_and_ignores_later_releases() -> None:
    fake = FakeTransport(slots=2, service_s=0.001)
    source = HoldingSource(every=2, after=0.4)
    stats, metrics = await _run(_config(pacer=ConstantPacer(rate=50, duration=2.0)), fake, source,
                                interrupt_after=0.2)
    await asyncio.sleep(0.5)  # the pending releases fire after the run: nothing happens
    counts = _outcomes(source)
    assert stats.interrupted and counts.get("unsent", 0) >= 4
    assert sum(counts.values()) == stats.issued
