"""The scheduler: makes calls due, hands them to free slots, records what comes back.

Open model: a pacer says when each hit is due; the engine sleeps until then,
dispatches every due hit with its intended time, and never waits for answers
before sending more. Closed model: N users, each sending its next call as soon as
its last one is answered (plus think time).

Both go through ``_dispatch``: a free slot sends at once; otherwise the call waits
in the backlog, in order, and that wait counts in its latency (measured from the
intended time). The schedule never slows down because the target does. A backlog
that would grow past ``max_backlog`` drops the new hit and counts it, rather than
eating memory; so do hits still queued when the run ends after the drain grace.

Lifecycle: RUNNING -> DRAINING (schedule over: no new hits, answers still awaited
up to the drain timeout) -> DONE. ``interrupt()`` (Ctrl-C) goes straight to
DRAINING with a short grace and drops the backlog.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.metrics import Metrics, Tick
from harness.opscom.outcome import Outcome
from harness.pacing import Pacer
from harness.traffic.call import Call, TrafficSource
from harness.transport import TransportConfig
from harness.transport.base import Slot, Transport

_now = time.perf_counter_ns
INTERRUPT_GRACE_S = 2.0
NEVER = 1 << 62  # a perf_counter_ns value no run reaches


class Model(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Phase(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    DONE = "done"


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """One process's share of the load; ``harness.workers`` splits a run into these."""

    model: Model
    transport: str
    transport_config: TransportConfig
    pacer: Pacer | None = None  # open model
    users: int = 0  # closed model
    think: float = 0.0  # closed model: pause between an answer and the next call
    duration: float = 0.0  # closed model; the open model's is the pacer's
    max_backlog: int = 100_000
    late_threshold: float = 0.010  # a hit sent later than this after its time is "late"
    drain_timeout: float | None = None  # default: the request timeout + 1 s

    def __post_init__(self) -> None:
        if self.model is Model.OPEN and self.pacer is None:
            raise ValueError("the open model needs a pacer")
        if self.model is Model.CLOSED and (self.users < 1 or not self.duration > 0):
            raise ValueError("the closed model needs users >= 1 and a positive duration")

    @property
    def schedule_duration(self) -> float:
        return self.pacer.duration if self.model is Model.OPEN else self.duration  # type: ignore[union-attr]

    @property
    def drain_grace(self) -> float:
        if self.drain_timeout is not None:
            return self.drain_timeout
        return self.transport_config.request_timeout + 1.0


@dataclass(frozen=True, kw_only=True)
class EngineStats:
    issued: int  # hits made due (sent, queued or dropped)
    dropped: int
    elapsed_s: float  # from t0 to the end of the drain
    schedule_s: float  # the part of it during which hits were issued
    interrupted: bool


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        source: TrafficSource,
        metrics: Metrics,
        transport: Transport,
        *,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        self.config = config
        self.source = source
        self.metrics = metrics
        self.worker = worker
        self.workers = workers
        self.phase = Phase.STARTING
        self.interrupted = False
        self.crashed: BaseException | None = None
        self.t0 = 0
        self.idle: list[Slot] = []
        self.backlog: deque[tuple[Call, int]] = deque()
        self.in_flight = 0
        self.issued = 0
        self._schedule_end_ns = 0
        self._cut_short = False
        self._issuing = False  # mirrors "running and not stopped", read on every answer
        self._chain = config.model is Model.CLOSED and config.think <= 0
        # Open model: the schedule and its next hit, advanced by _pump.
        self._schedule: Iterator[tuple[int, float]] = iter(())
        self._next_hit = 0
        self._next_offset = 0.0
        self._next_due = NEVER
        self._pumping = False
        self._settled: asyncio.Event | None = None
        self._stop_issuing: asyncio.Event | None = None
        self.transport = transport
        self._user_hits = worker  # closed model: the next hit number (k, k+N, ...)

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Open the transport's slots (and warm connections) before t0."""
        self._settled = asyncio.Event()
        self._stop_issuing = asyncio.Event()
        self.idle = list(reversed(await self.transport.open(self._done, self._crash)))

    async def run(self, t0_ns: int, on_tick: Callable[[Tick], None] | None = None) -> EngineStats:
        """Run from ``t0_ns`` (a perf_counter_ns instant shared by all workers)."""
        assert self._stop_issuing is not None and self._settled is not None, "open() first"
        self.t0 = t0_ns
        self.metrics.window_end_ns = t0_ns + int(self.config.schedule_duration * 1e9)
        await _sleep_until(t0_ns)
        self.phase = Phase.RUNNING
        self._issuing = True
        ticker = asyncio.get_running_loop().create_task(self._tick_every_second(on_tick))
        try:
            if self.config.model is Model.OPEN:
                await self._run_open()
            else:
                await self._run_closed()
            self._stop(cut_short=False)
            planned_end = t0_ns + int(self.config.schedule_duration * 1e9)
            # The schedule's own length unless it was cut short (Ctrl-C, source exhausted).
            self._schedule_end_ns = min(_now(), planned_end) if self._cut_short else planned_end
            await self._drain()
        finally:
            ticker.cancel()
            # Drop the backlog before closing: closing reports the calls in flight,
            # and a report must not start a new send on a closing transport.
            self._drop_backlog()
            self.phase = Phase.DONE
            await self.transport.close()
            if on_tick is not None:
                on_tick(self.metrics.tick(self._second_now()))
        end = _now()
        return EngineStats(
            issued=self.issued,
            dropped=sum(e.dropped for e in self.metrics.endpoints),
            elapsed_s=(end - t0_ns) / 1e9,
            schedule_s=(self._schedule_end_ns - t0_ns) / 1e9,
            interrupted=self.interrupted,
        )

    def _crash(self, exc: BaseException) -> None:
        """A bug surfaced inside the transport: stop the run, keep the exception."""
        if self.crashed is None:
            self.crashed = exc
        self.interrupt()

    def interrupt(self) -> None:
        """Stop issuing now, drop the backlog, give answers in flight a short grace."""
        if self.phase is Phase.DONE or self.interrupted:
            return
        self.interrupted = True
        self._drop_backlog()
        self._stop(cut_short=True)
        if self.in_flight == 0 and self._settled is not None:
            self._settled.set()

    # --- the two models ------------------------------------------------------------------

    async def _run_open(self) -> None:
        pacer = self.config.pacer
        assert pacer is not None
        self._schedule = iter(pacer.schedule(self.worker, self.workers))
        self._advance()
        self._tick_open()
        assert self._stop_issuing is not None
        await self._stop_issuing.wait()  # set by _stop: schedule over, source dry, or Ctrl-C

    def _tick_open(self) -> None:
        """Send what is due, then re-arm the timer for the next hit. A plain callback
        rather than a coroutine loop: it runs up to a thousand times a second."""
        self._pump(_now())
        if self._next_due == NEVER:
            self._stop(cut_short=False)
            return
        wait = self._next_due - _now()
        # uvloop timers have millisecond resolution and round to nearest; round up
        # so a hit is never sent before its time. Answers arriving meanwhile also
        # pump (see _done), so under load most hits go out well before the tick.
        asyncio.get_running_loop().call_later(max(1, math.ceil(wait / 1e6)) / 1e3, self._tick_open)

    def _advance(self) -> None:
        """Move to the next hit of the schedule (NEVER when it is over)."""
        hit = next(self._schedule, None)
        if hit is None or not self._issuing:
            self._next_due = NEVER
            return
        self._next_hit, offset = hit
        self._next_offset = offset
        self._next_due = self.t0 + int(offset * 1e9)

    def _pump(self, now: int, limit: int = 1 << 62) -> None:
        """Send up to ``limit`` hits due by ``now``, each stamped with its intended time."""
        if self._pumping:  # a transport reporting synchronously must not re-enter
            return
        self._pumping = True
        try:
            while self._next_due <= now and limit > 0:
                limit -= 1
                call = self.source.next_call(self._next_hit, self._next_offset)
                if call is None:
                    self._stop(cut_short=True)
                    return
                self.issued += 1
                self._dispatch(call, self._next_due)
                self._advance()
        finally:
            self._pumping = False

    async def _run_closed(self) -> None:
        stop = self._stop_issuing
        assert stop is not None
        now = _now()
        for _ in range(self.config.users):
            self._user_ready(now)
        try:
            await asyncio.wait_for(stop.wait(), timeout=self.config.duration - (now - self.t0) / 1e9)
        except TimeoutError:
            pass
        self._stop(cut_short=False)

    def _stop(self, *, cut_short: bool) -> None:
        """No new calls from now on (the schedule is over, or was cut short)."""
        self._issuing = False
        self._next_due = NEVER
        if cut_short and not self._cut_short and self.phase is Phase.RUNNING:
            self.metrics.window_end_ns = min(self.metrics.window_end_ns, _now())
        self._cut_short = self._cut_short or cut_short
        if self._stop_issuing is not None:
            self._stop_issuing.set()

    def _user_ready_at(self, intended: int) -> None:
        """Make a closed-model user ready at ``intended`` (after its think time).

        uvloop's timers round to its cached millisecond clock and can fire up to a
        millisecond early, so a user woken before its time waits again: a call is
        never sent before its intended time."""
        wait = intended - _now()
        if wait > 0:
            asyncio.get_running_loop().call_later(math.ceil(wait / 1e6) / 1e3, self._user_ready_at, intended)
        else:
            self._user_ready(intended)

    def _user_ready(self, intended: int) -> None:
        """A closed-model user is ready to send its next call."""
        if not self._issuing:
            return
        call = self.source.next_call(self._take_user_hit(), (intended - self.t0) / 1e9)
        if call is None:
            self._stop(cut_short=True)
            return
        self.issued += 1
        self._dispatch(call, intended)

    def _take_user_hit(self) -> int:
        hit = self._user_hits
        self._user_hits = hit + self.workers
        return hit

    # --- hot path ------------------------------------------------------------------------

    def _dispatch(self, call: Call, intended: int) -> None:
        if self.idle:
            self.in_flight += 1
            self.idle.pop().send(call, intended)
        elif len(self.backlog) < self.config.max_backlog:
            self.backlog.append((call, intended))
        else:
            self.metrics.record_dropped(call.key)

    def _done(self, slot: Slot, call: Call, intended: int, sent: int, done: int, outcome: Outcome, doc: Any) -> None:
        self.metrics.record(call.key, outcome, call.expect, intended, sent, done)
        if call.feedback:
            self.source.on_result(call, outcome, doc, (done - self.t0) / 1e9)
        if self.backlog:
            nxt, nxt_intended = self.backlog.popleft()
            slot.send(nxt, nxt_intended)
        elif self._chain and self._issuing:
            # Closed model, no think time, nobody waiting: this user's next call
            # goes out on the slot it just freed (the common case, kept short).
            nxt = self.source.next_call(self._take_user_hit(), (done - self.t0) / 1e9)
            if nxt is not None:
                self.issued += 1
                slot.send(nxt, done)
                return
            self._stop(cut_short=True)
            self.in_flight -= 1
            self.idle.append(slot)
            return
        else:
            self.in_flight -= 1
            self.idle.append(slot)
            if self._next_due <= done:
                # Open model: one due hit goes out at once on the connection that just
                # answered (LIFO idle list), from its read callback, as a closed user
                # would. Only one: spraying a burst over many idle connections costs
                # far more per request (no ACK piggybacking, cold sockets), and the
                # rest go out with the next answers or the timer tick (<= 1 ms).
                self._pump(done, 1)
        if self.config.model is Model.CLOSED and self.phase is Phase.RUNNING:
            think = self.config.think
            if think <= 0:
                self._user_ready(done)
            else:
                self._user_ready_at(done + int(think * 1e9))
        elif self.in_flight == 0 and not self.backlog and self.phase is not Phase.RUNNING:
            assert self._settled is not None
            self._settled.set()

    # --- ending ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        self.phase = Phase.DRAINING
        assert self._settled is not None
        if self.in_flight == 0 and not self.backlog:
            return
        grace = INTERRUPT_GRACE_S if self.interrupted else self.config.drain_grace
        try:
            await asyncio.wait_for(self._settled.wait(), timeout=grace)
        except TimeoutError:
            pass

    def _drop_backlog(self) -> None:
        while self.backlog:
            call, _ = self.backlog.popleft()
            self.metrics.record_dropped(call.key)

    def _second_now(self) -> int:
        return max(0, (_now() - self.t0) // 1_000_000_000)

    async def _tick_every_second(self, on_tick: Callable[[Tick], None] | None) -> None:
        second = 0
        while True:
            await _sleep_until(self.t0 + (second + 1) * 1_000_000_000)
            tick = self.metrics.tick(second)
            if on_tick is not None:
                on_tick(tick)
            second += 1


async def _sleep_until(when_ns: int) -> None:
    wait = when_ns - _now()
    if wait > 0:
        await asyncio.sleep(math.ceil(wait / 1e6) / 1e3)
