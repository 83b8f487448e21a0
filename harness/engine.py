"""The scheduler: makes calls due, hands them to free slots, records what comes back.

Open model: a pacer says when each hit is due; the engine sends every due hit with
its intended time and never waits for answers before sending more. Closed model:
N users, each sending its next call as soon as its last one is answered (plus
think time). Each model has its own answer path (``_answered_open``,
``_answered_closed``, ``_answered_thinking``), chosen once when the engine opens.

A free slot sends at once; otherwise the call waits in the backlog, in order, and
that wait counts in its latency (measured from the intended time). The schedule
never slows down because the target does. A backlog that would grow past
``max_backlog`` drops the new hit.

Every hit ends in exactly one outcome (``harness.metrics``): its answer or
transport failure, ``dropped`` (backlog full), or ``unsent`` (still waiting when
the run ended, or due before an interruption but not yet out). A call that asked
for feedback hears its outcome through ``source.on_result`` in every one of these
cases, so a source can forget it.

A call may be *held* (``Call.hold``, replay's correlation): the engine parks it,
issued but not sent, until its source releases it (``release``), then sends it
with its original intended time, so the wait counts in its latency; or ends it
unsent (``orphaned``). Parked calls are awaited by the drain like calls in flight
and end ``unsent`` if the run ends first.

Nothing raised inside the engine is lost: an exception out of a source, the
transport or the engine itself stops the run (``crash``), which still drains
briefly and reports what it measured, with the traceback.

Lifecycle: RUNNING -> DRAINING (schedule over: no new hits, answers still awaited
up to the drain timeout) -> DONE. ``interrupt()`` (Ctrl-C, SIGTERM) goes straight
to DRAINING with a short grace; ``end_now()`` (a second signal) ends the drain.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.metrics import Metrics, Tick
from harness.opscom.outcome import DROPPED, UNSENT, Outcome
from harness.pacing import Pacer
from harness.traffic.call import HOLD, Call, TrafficSource
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
    """One process's share of the load; ``harness.workers`` splits a run into these.
    ``load`` is the run's ``LoadSettings`` (users and connections already this
    process's share)."""

    model: Model
    pacer: Pacer | None  # open model
    load: Any  # harness.options.LoadSettings

    def __post_init__(self) -> None:
        if self.model is Model.OPEN and self.pacer is None:
            raise ValueError("the open model needs a pacer")
        if self.model is Model.CLOSED and (not self.load.users or not self.load.duration > 0):
            raise ValueError("the closed model needs users >= 1 and a positive duration")

    @property
    def schedule_duration(self) -> float:
        return self.pacer.duration if self.model is Model.OPEN else float(self.load.duration)  # type: ignore[union-attr]

    @property
    def drain_grace(self) -> float:
        if self.load.drain is not None:
            return float(self.load.drain)
        return float(self.load.timeout) + 1.0


@dataclass(frozen=True, kw_only=True)
class EngineStats:
    issued: int  # hits made due: each ended in exactly one outcome
    elapsed_s: float  # from t0 to the end of the drain
    schedule_s: float  # the part of it during which hits were issued
    interrupted: bool
    crash: str | None = None  # the traceback of what stopped the run, if anything did


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
        self.transport = transport
        self.worker = worker
        self.workers = workers
        self.phase = Phase.STARTING
        self.interrupted = False
        self.crash: str | None = None
        self.t0 = 0
        self.idle: list[Slot] = []
        self.backlog: deque[tuple[Call, int]] = deque()
        self.parked: dict[Call, int] = {}  # held calls -> intended time (see release)
        self.max_backlog = int(config.load.max_backlog)
        self.in_flight = 0
        self.issued = 0
        self._schedule_end_ns = 0
        self._cut_short = False
        self._issuing = False  # mirrors "running and not stopped", read on every answer
        # Open model: the schedule and its next hit, advanced by _pump.
        self._schedule: Iterator[tuple[int, float]] = iter(())
        self._next_hit = 0
        self._next_offset = 0.0
        self._next_due = NEVER
        self._pumping = False
        # Closed model: the next hit number of this worker's users (k, k+N, ...).
        self._user_hits = worker
        self._think_ns = int(float(config.load.think or 0) * 1e9)
        self._settled: asyncio.Event | None = None
        self._stop_issuing: asyncio.Event | None = None
        self._next_tick = 0  # the second the next timeline tick closes

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Open the transport's slots (and warm connections) before t0."""
        self._settled = asyncio.Event()
        self._stop_issuing = asyncio.Event()
        if self.config.model is Model.OPEN:
            answered = self._answered_open
        elif self._think_ns > 0:
            answered = self._answered_thinking
        else:
            answered = self._answered_closed
        self.idle = list(reversed(await self.transport.open(answered, self._crash)))
        bind = getattr(self.source, "bind_release", None)
        if bind is not None:
            bind(self.release)

    async def run(self, t0_ns: int, on_tick: Callable[[Tick], None] | None = None) -> EngineStats:
        """Run from ``t0_ns`` (a perf_counter_ns instant shared by all workers)."""
        assert self._stop_issuing is not None and self._settled is not None, "open() first"
        self.t0 = t0_ns
        planned_end = t0_ns + int(self.config.schedule_duration * 1e9)
        self.metrics.window_end_ns = planned_end
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
            # The schedule's own length unless it was cut short (interrupt, source dry).
            self._schedule_end_ns = min(_now(), planned_end) if self._cut_short else planned_end
            await self._drain()
        except BaseException as exc:  # noqa: BLE001 - recorded, the run still reports
            self._crash(exc)
            self._schedule_end_ns = self._schedule_end_ns or min(_now(), planned_end)
        finally:
            ticker.cancel()
            # The backlog ends before the transport closes: closing reports the calls
            # in flight, and a report must not start a new send on a closing transport.
            self.phase = Phase.DONE
            self._end_backlog(UNSENT)
            await self.transport.close()
            if on_tick is not None:
                # The interval since the last tick, under the next second's number (so
                # the timeline has no gap when the run ends just before a tick).
                self._safe_tick(on_tick, self._next_tick)
        end = _now()
        return EngineStats(
            issued=self.issued,
            elapsed_s=(end - t0_ns) / 1e9,
            schedule_s=(self._schedule_end_ns - t0_ns) / 1e9,
            interrupted=self.interrupted,
            crash=self.crash,
        )

    def interrupt(self) -> None:
        """Stop issuing now (hits already due count as unsent), end the backlog,
        give answers in flight a short grace."""
        if self.phase is Phase.DONE or self.interrupted:
            return
        self.interrupted = True
        try:
            if self.phase is Phase.RUNNING:
                self._unsend_due(_now())
            self._end_backlog(UNSENT)
        except BaseException as exc:  # noqa: BLE001 - a source failing now is still a crash
            if self.crash is None:
                self.crash = "".join(traceback.format_exception(exc))
        self._stop(cut_short=True)
        if self.in_flight == 0 and self._settled is not None:
            self._settled.set()

    def end_now(self) -> None:
        """Stop waiting for answers (a second signal): in-flight calls end at close."""
        self.interrupt()
        if self._settled is not None:
            self._settled.set()

    def _crash(self, exc: BaseException) -> None:
        """Something raised where nothing should: keep the traceback, stop the run at
        once (its figures are no longer a measurement worth waiting for; calls still
        in flight end when the transport closes)."""
        if self.crash is None:
            self.crash = "".join(traceback.format_exception(exc))
        self.end_now()

    # --- the open model ------------------------------------------------------------------

    async def _run_open(self) -> None:
        pacer = self.config.pacer
        assert pacer is not None and self._stop_issuing is not None
        self._schedule = iter(pacer.schedule(self.worker, self.workers))
        self._advance()
        self._tick_open()
        await self._stop_issuing.wait()  # set by _stop: schedule over, source dry, interrupt

    def _tick_open(self) -> None:
        """Send what is due, then re-arm the timer for the next hit. A plain callback
        rather than a coroutine loop: it runs up to a thousand times a second."""
        try:
            self._pump(_now())
            if self._next_due == NEVER:
                self._stop(cut_short=False)
                return
            wait = self._next_due - _now()
            # uvloop timers have millisecond resolution and round to nearest; round up
            # so a hit is never sent before its time. Answers arriving meanwhile also
            # pump (see _answered_open), so under load most hits leave before the tick.
            asyncio.get_running_loop().call_later(max(1, math.ceil(wait / 1e6)) / 1e3, self._tick_open)
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

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

    def _unsend_due(self, now: int) -> None:
        """Hits due by ``now`` that were not yet issued (the timer had not fired):
        they were intended, so each ends as ``unsent``."""
        while self._next_due <= now:
            call = self.source.next_call(self._next_hit, self._next_offset)
            if call is None:
                break
            self.issued += 1
            self._not_sent(call, UNSENT)
            self._advance()

    def _answered_open(self, slot: Slot, call: Call, intended: int, sent: int, done: int,
                       outcome: Outcome, doc: Any) -> None:
        # Each answer path starts with the same two steps (record, feedback), written
        # out rather than called: this runs once per request, and a call costs.
        try:
            self.metrics.record(call.key, outcome, call.expect, intended, sent, done)
            if call.feedback:
                self.source.on_result(call, outcome, doc, (done - self.t0) / 1e9)
            if self.backlog:
                nxt, nxt_intended = self.backlog.popleft()
                slot.send(nxt, nxt_intended)
                return
            self.in_flight -= 1
            self.idle.append(slot)
            if self._next_due <= done:
                # One due hit goes out at once on the connection that just answered
                # (LIFO idle list), from its read callback, as a closed user would.
                # Only one: spraying a burst over many idle connections costs far more
                # per request (no ACK piggybacking, cold sockets); the rest go out
                # with the next answers or the timer tick (<= 1 ms).
                self._pump(done, 1)
            elif self.in_flight == 0 and self.phase is not Phase.RUNNING and not self.parked:
                self._settled.set()  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    # --- the closed model ------------------------------------------------------------------

    async def _run_closed(self) -> None:
        stop = self._stop_issuing
        assert stop is not None
        now = _now()
        for _ in range(int(self.config.load.users)):
            self._user_ready(now)
        try:
            await asyncio.wait_for(stop.wait(), timeout=self.config.schedule_duration - (now - self.t0) / 1e9)
        except TimeoutError:
            pass
        self._stop(cut_short=False)

    def _next_user_call(self, ready: int) -> Call | None:
        """The call of a user ready at ``ready``; None ends the run (source dry)."""
        hit = self._user_hits
        self._user_hits = hit + self.workers
        call = self.source.next_call(hit, (ready - self.t0) / 1e9)
        if call is None:
            self._stop(cut_short=True)
        else:
            self.issued += 1
        return call

    def _user_ready(self, ready: int) -> None:
        """A closed-model user is ready to send its next call. A call ended unsent at
        once (held with an outcome) leaves the user ready for the one after it."""
        while self._issuing:
            call = self._next_user_call(ready)
            if call is None:
                return
            if call.hold is None:
                self._dispatch(call, ready)
                return
            if self._hold(call, ready):
                return  # parked: the user goes on when it is released and answered

    def _user_ready_at(self, ready: int) -> None:
        """Make a user ready at ``ready`` (after its think time). uvloop's timers
        round to its cached millisecond clock and can fire up to a millisecond early,
        so a user woken before its time waits again: never sent before its time."""
        try:
            wait = ready - _now()
            if wait > 0:
                asyncio.get_running_loop().call_later(math.ceil(wait / 1e6) / 1e3, self._user_ready_at, ready)
            else:
                self._user_ready(ready)
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    def _answered_closed(self, slot: Slot, call: Call, intended: int, sent: int, done: int,
                         outcome: Outcome, doc: Any) -> None:
        """No think time: the user that got this answer makes its next call at once.
        Its latency runs from now (when it was ready), so a wait for a connection
        counts. With a free slot in hand, the common case is one send on it."""
        try:
            self.metrics.record(call.key, outcome, call.expect, intended, sent, done)
            if call.feedback:
                self.source.on_result(call, outcome, doc, (done - self.t0) / 1e9)
            nxt = None
            if self._issuing:  # _next_user_call, inlined: once per request
                hit = self._user_hits
                self._user_hits = hit + self.workers
                nxt = self.source.next_call(hit, (done - self.t0) / 1e9)
                if nxt is None:
                    self._stop(cut_short=True)
                else:
                    self.issued += 1
            if nxt is not None and nxt.hold is None:
                if self.backlog:  # others were waiting first: this user queues behind them
                    self.backlog.append((nxt, done))
                    nxt, done = self.backlog.popleft()
                slot.send(nxt, done)
                return
            self._slot_freed(slot)
            if nxt is not None and not self._hold(nxt, done):
                self._user_ready(done)
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    def _answered_thinking(self, slot: Slot, call: Call, intended: int, sent: int, done: int,
                           outcome: Outcome, doc: Any) -> None:
        """With think time: the slot is free now, the user is ready after its pause."""
        try:
            self.metrics.record(call.key, outcome, call.expect, intended, sent, done)
            if call.feedback:
                self.source.on_result(call, outcome, doc, (done - self.t0) / 1e9)
            if self._issuing:
                self._user_ready_at(done + self._think_ns)
            self._slot_freed(slot)
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    def _slot_freed(self, slot: Slot) -> None:
        if self.backlog:
            nxt, nxt_intended = self.backlog.popleft()
            slot.send(nxt, nxt_intended)
            return
        self.in_flight -= 1
        self.idle.append(slot)
        if self.in_flight == 0 and self.phase is not Phase.RUNNING and not self.parked:
            self._settled.set()  # type: ignore[union-attr]

    # --- both models ----------------------------------------------------------------------

    def _dispatch(self, call: Call, intended: int) -> None:
        if call.hold is not None:
            self._hold(call, intended)
            return
        if self.idle:
            self.in_flight += 1
            self.idle.pop().send(call, intended)
        elif len(self.backlog) < self.max_backlog:
            self.backlog.append((call, intended))
        else:
            self._not_sent(call, DROPPED)

    def _hold(self, call: Call, intended: int) -> bool:
        """Park a held call (True), or end it unsent with its hold outcome (False)."""
        if call.hold is HOLD:
            self.parked[call] = intended
            return True
        outcome, call.hold = call.hold, None
        self._not_sent(call, outcome)
        return False

    def release(self, call: Call, outcome: Outcome | None = None) -> None:
        """The source ends a hold: send the call now (latency from its intended
        time), or end it unsent with ``outcome``. A call no longer parked is ignored."""
        intended = self.parked.pop(call, None)
        if intended is None:
            return
        call.hold = None
        try:
            if outcome is None and (self.phase is Phase.DONE or self.interrupted):
                outcome = UNSENT
            if outcome is None:
                self._dispatch(call, intended)
                return
            self._not_sent(call, outcome)
            if self.config.model is Model.CLOSED:
                self._user_ready(_now())  # the user that waited on it goes on
            if self.in_flight == 0 and not self.parked and self.phase is Phase.DRAINING:
                self._settled.set()  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    def _not_sent(self, call: Call, outcome: Outcome) -> None:
        self.metrics.record_not_sent(call.key, outcome, call.expect)
        if call.feedback:
            self.source.on_result(call, outcome, None, (_now() - self.t0) / 1e9)

    def _stop(self, *, cut_short: bool) -> None:
        """No new calls from now on (the schedule is over, or was cut short)."""
        self._issuing = False
        self._next_due = NEVER
        if cut_short and not self._cut_short and self.phase is Phase.RUNNING:
            self.metrics.window_end_ns = min(self.metrics.window_end_ns, _now())
        self._cut_short = self._cut_short or cut_short
        if self._stop_issuing is not None:
            self._stop_issuing.set()

    async def _drain(self) -> None:
        self.phase = Phase.DRAINING
        assert self._settled is not None
        if self.in_flight == 0 and not self.backlog and not self.parked:
            return
        grace = INTERRUPT_GRACE_S if self.interrupted else self.config.drain_grace
        try:
            await asyncio.wait_for(self._settled.wait(), timeout=grace)
        except TimeoutError:
            pass

    def _end_backlog(self, outcome: Outcome) -> None:
        while self.backlog:
            call, _ = self.backlog.popleft()
            self._not_sent(call, outcome)
        while self.parked:
            call, _ = self.parked.popitem()
            call.hold = None
            self._not_sent(call, outcome)

    # --- the timeline -----------------------------------------------------------------------

    def _safe_tick(self, on_tick: Callable[[Tick], None], second: int) -> None:
        try:
            on_tick(self.metrics.tick(second))
        except BaseException as exc:  # noqa: BLE001
            self._crash(exc)

    async def _tick_every_second(self, on_tick: Callable[[Tick], None] | None) -> None:
        while True:
            second = self._next_tick
            await _sleep_until(self.t0 + (second + 1) * 1_000_000_000)
            self._next_tick = second + 1
            if on_tick is not None:
                self._safe_tick(on_tick, second)
            else:
                self.metrics.tick(second)


async def _sleep_until(when_ns: int) -> None:
    wait = when_ns - _now()
    if wait > 0:
        await asyncio.sleep(math.ceil(wait / 1e6) / 1e3)
