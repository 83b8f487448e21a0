"""A transport that answers from a timer, for scheduler unit tests only (the real
transports are tested against real servers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from harness.opscom.outcome import OK, TIMEOUT, Outcome
from harness.traffic.call import Call
from harness.transport.base import Crash, Done


class FakeSlot:
    def __init__(self, transport: FakeTransport, done: Done) -> None:
        self.transport = transport
        self.done = done

    def send(self, call: Call, intended_ns: int) -> None:
        t = self.transport
        sent = time.perf_counter_ns()
        t.in_flight += 1
        t.max_in_flight = max(t.max_in_flight, t.in_flight)
        t.sent.append((intended_ns, sent))
        delay = t.service_s(sent) if callable(t.service_s) else t.service_s
        handle = asyncio.get_running_loop().call_later(delay, self._answer, call, intended_ns, sent)
        t.pending[id(self)] = (handle, call, intended_ns, sent)

    def expire(self, now_ns: int, limit_ns: int) -> None:
        pass  # answers always come from the timer

    def _answer(self, call: Call, intended_ns: int, sent: int, outcome: Outcome | None = None) -> None:
        t = self.transport
        t.pending.pop(id(self), None)
        t.in_flight -= 1
        self.done(self, call, intended_ns, sent, time.perf_counter_ns(), outcome or t.outcome, t.doc)


class FakeTransport:
    name = "fake"

    def __init__(self, slots: int, service_s: float | Callable[[int], float] = 0.001,
                 outcome: Outcome = OK, doc: Any = None) -> None:
        self.n = slots
        self.service_s = service_s
        self.outcome = outcome
        self.doc = doc
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent: list[tuple[int, int]] = []
        self.pending: dict[int, tuple[asyncio.TimerHandle, Call, int, int]] = {}
        self.slots: list[FakeSlot] = []

    async def open(self, done: Done, crash: Crash) -> list[FakeSlot]:
        self.crash = crash
        self.slots = [FakeSlot(self, done) for _ in range(self.n)]
        return list(self.slots)

    async def close(self) -> None:
        # Like the real transports: every call in flight is reported once, as a timeout.
        for slot in self.slots:
            entry = self.pending.get(id(slot))
            if entry is not None:
                handle, call, intended, sent = entry
                handle.cancel()
                slot._answer(call, intended, sent, TIMEOUT)
