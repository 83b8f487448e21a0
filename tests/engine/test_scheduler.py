"""The scheduler against a timer-driven fake transport: exact schedules, queueing
that counts in latency, drops, the closed model, interruption and feedback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harness.engine import Engine, EngineConfig, Model
from harness.metrics import Metrics, percentiles_ms
from harness.opscom import ENDPOINTS, OK, Outcome
from harness.options import default_load
from harness.pacing import ConstantPacer
from harness.traffic.call import Call
from tests.engine.fake_transport import FakeTransport

EP = ENDPOINTS["plate_validate"]


class Source:
    def __init__(self, feedback: bool = False, limit: int | None = None) -> None:
        self.feedback = feedback
        self.limit = limit
        self.made = 0
        self.results: list[tuple[Outcome, Any, float]] = []

    def next_call(self, hit: int, now: float) -> Call | None:
        if self.limit is not None and self.made >= self.limit:
            return None
        self.made += 1
        return Call(EP, EP.path, b"{}", feedback=self.feedback)

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        self.results.append((outcome, doc, now))


def _config(model: Model = Model.OPEN, *, pacer: Any = None, **load: Any) -> EngineConfig:
    load.pop("connections", None)  # the fake transport's slots say it
    load.setdefault("timeout", 2.0)
    if "drain_timeout" in load:
        load["drain"] = load.pop("drain_timeout")
    return EngineConfig(model=model, pacer=pacer, load=default_load(**load))


async def _run(config: EngineConfig, fake: FakeTransport, source: Source | None = None,
               interrupt_after: float | None = None) -> tuple[Engine, Metrics]:
    metrics = Metrics()
    engine = Engine(config, source or Source(), metrics, fake)
    await engine.open()
    if interrupt_after is not None:
        asyncio.get_running_loop().call_later(interrupt_after + 0.05, engine.interrupt)
    engine.stats = await engine.run(time.perf_counter_ns() + 50_000_000)  # type: ignore[attr-defined]
    return engine, metrics


async def test_open_model_sends_exactly_the_schedule_at_its_times() -> None:
    fake = FakeTransport(slots=8, service_s=0.002)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=200, duration=1.0)), fake)
    assert engine.stats.issued == 200 and metrics.requests == 200 and metrics.ok == 200  # type: ignore[attr-defined]
    intended = [i for i, _ in fake.sent]
    gaps = [(b - a) / 1e6 for a, b in zip(intended, intended[1:], strict=False)]
    assert all(g == pytest.approx(5.0, abs=1e-3) for g in gaps)  # exactly 5 ms apart
    # Never sent before its time; typically within the 1 ms timer grid after it
    # (the median: a loaded machine may delay single hits).
    delays = sorted((s - i) / 1e6 for i, s in fake.sent)
    assert delays[0] >= 0 and delays[len(delays) // 2] < 2


async def test_a_slow_target_queues_requests_and_the_wait_counts() -> None:
    # 2 slots x 100 ms service = 20 req/s capacity, asked for 100 req/s for 1 s.
    fake = FakeTransport(slots=2, service_s=0.1)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=1.0), connections=2, drain_timeout=10), fake)
    ep = metrics.endpoints[EP.index]
    assert engine.stats.issued == 100 and metrics.requests == 100  # type: ignore[attr-defined]
    assert fake.max_in_flight == 2
    latency, service = percentiles_ms(ep.latency()), percentiles_ms(ep.latency(service=True))
    assert service["max"] < 150
    # The 100th request waits for 98 others at 20/s: ~4.9 s after its intended time - 1 s.
    assert 3500 < latency["max"] < 6500  # later on a loaded machine, never earlier
    assert ep.late > 80  # sent more than 10 ms after its time
    # Only what went out during the 1 s schedule counts as applied load (~20 of 100).
    assert 10 <= metrics.sent_in_window <= 24


async def test_a_full_backlog_drops_and_counts() -> None:
    fake = FakeTransport(slots=1, service_s=0.5)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=0.5), connections=1, max_backlog=10, drain_timeout=0.2), fake)
    ep = metrics.endpoints[EP.index]
    assert engine.stats.issued == 50  # type: ignore[attr-defined]
    assert ep.dropped >= 38
    # Every hit ends in one outcome: answered, dropped, or still queued at the end (unsent).
    assert ep.requests == ep.sent + ep.dropped + ep.unsent == 50
    assert ep.errors == ep.dropped + ep.unsent + (ep.sent - ep.ok)


async def test_closed_model_keeps_n_users_busy() -> None:
    fake = FakeTransport(slots=16, service_s=0.01)
    engine, metrics = await _run(_config(Model.CLOSED, users=3, duration=1.0, connections=16), fake)
    assert fake.max_in_flight == 3
    assert 200 < metrics.requests < 310  # 3 users x ~100 answers/s


async def test_closed_model_think_time_paces_users() -> None:
    fake = FakeTransport(slots=4, service_s=0.001)
    _, metrics = await _run(_config(Model.CLOSED, users=2, duration=1.0, think=0.1), fake)
    assert 12 <= metrics.requests <= 22  # 2 users x ~9.9 cycles


async def test_interrupt_stops_issuing_and_reports_what_was_measured() -> None:
    fake = FakeTransport(slots=4, service_s=0.005)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=5.0)), fake, interrupt_after=0.5)
    stats = engine.stats  # type: ignore[attr-defined]
    assert stats.interrupted
    assert 35 <= stats.issued <= 65
    assert metrics.requests == stats.issued  # answered, timed out at close, or unsent
    assert stats.elapsed_s < 3


async def test_feedback_reaches_the_source_with_the_decoded_body() -> None:
    fake = FakeTransport(slots=2, service_s=0.001, doc={"reference_id": "abc"})
    source = Source(feedback=True)
    await _run(_config(pacer=ConstantPacer(rate=50, duration=0.2)), fake, source)
    assert len(source.results) == 10
    assert all(o is OK and d == {"reference_id": "abc"} for o, d, _ in source.results)


async def test_an_exhausted_source_ends_the_run() -> None:
    fake = FakeTransport(slots=2, service_s=0.001)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=5)), fake, Source(limit=7))
    assert metrics.requests == 7 and engine.stats.schedule_s < 1  # type: ignore[attr-defined]


def test_closed_model_never_sends_before_the_think_time_is_over() -> None:
    # Under uvloop, whose timers round to a cached millisecond clock and can fire early.
    import uvloop

    fake = FakeTransport(slots=4, service_s=0.0005)
    uvloop.run(_run(_config(Model.CLOSED, users=3, duration=1.0, think=0.0137), fake))
    # A user's first call is sent at t0; every later one at least `think` after an answer.
    assert fake.sent and all(sent >= intended for intended, sent in fake.sent)


def test_open_model_never_sends_early_under_uvloop() -> None:
    import uvloop

    fake = FakeTransport(slots=8, service_s=0.0003)
    uvloop.run(_run(_config(pacer=ConstantPacer(rate=3000, duration=1.0)), fake))
    assert len(fake.sent) == 3000
    delays = sorted(sent - intended for intended, sent in fake.sent)
    assert delays[0] >= 0 and delays[len(delays) // 2] < 2_000_000


async def test_every_feedback_call_hears_its_end_even_when_never_sent() -> None:
    # 1 slot busy 0.5 s, backlog of 3: most hits are dropped, the rest end unsent.
    fake = FakeTransport(slots=1, service_s=0.5)
    source = Source(feedback=True)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=0.3), max_backlog=3,
                                         drain_timeout=0.1), fake, source)
    keys = [o.key for o, _, _ in source.results]
    assert len(keys) == engine.stats.issued == 30  # type: ignore[attr-defined]
    assert keys.count("dropped") >= 20 and keys.count("unsent") == 3
    ep = metrics.endpoints[EP.index]
    assert ep.outcome_counts()["dropped"] == keys.count("dropped")


class Exploding(Source):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def next_call(self, hit: int, now: float) -> Call | None:
        if self.made >= self.after:
            raise RuntimeError("the source broke")
        return super().next_call(hit, now)


async def test_an_exception_in_a_source_stops_the_run_and_is_kept() -> None:
    fake = FakeTransport(slots=4, service_s=0.001)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=200, duration=5.0)), fake, Exploding(after=40))
    stats = engine.stats  # type: ignore[attr-defined]
    assert stats.crash is not None and "RuntimeError: the source broke" in stats.crash
    assert stats.interrupted and stats.elapsed_s < 3
    assert metrics.requests == stats.issued == 40  # what was measured is kept


async def test_an_exception_in_on_result_is_not_swallowed() -> None:
    class Bad(Source):
        def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
            raise ValueError("bad answer handling")

    fake = FakeTransport(slots=2, service_s=0.001)
    engine, _ = await _run(_config(pacer=ConstantPacer(rate=100, duration=5.0)), fake, Bad(feedback=True))
    assert "ValueError: bad answer handling" in engine.stats.crash  # type: ignore[attr-defined]
    assert engine.stats.elapsed_s < 3  # type: ignore[attr-defined]


async def test_hits_due_at_an_interruption_are_unsent_not_forgotten() -> None:
    # One slot answering in 1 s: hits pile up in the backlog; an interrupt ends them
    # as unsent, so the outcomes add up to every hit due before it.
    fake = FakeTransport(slots=1, service_s=1.0)
    engine, metrics = await _run(_config(pacer=ConstantPacer(rate=100, duration=5.0)), fake, interrupt_after=0.5)
    ep = metrics.endpoints[EP.index]
    assert ep.requests == engine.stats.issued  # type: ignore[attr-defined]
    assert ep.unsent >= 40 and 45 <= engine.stats.issued <= 65  # type: ignore[attr-defined]


async def test_closed_users_beyond_the_pool_wait_their_turn() -> None:
    fake = FakeTransport(slots=2, service_s=0.01)
    engine, metrics = await _run(_config(Model.CLOSED, users=5, duration=0.5), fake)
    assert fake.max_in_flight == 2
    assert metrics.requests == engine.stats.issued  # type: ignore[attr-defined]
    assert 70 <= metrics.requests <= 110  # 2 slots x ~100 answers/s
