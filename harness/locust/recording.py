"""What one Locust process measured: a ``harness.metrics.Metrics`` and its ticks.

Every user of the process records into the same ``Metrics`` (gevent runs one greenlet
at a time, so no lock is needed), keyed by request name, with the latency basis of
the user that sent it: ``intended`` for paced users (latency from when the request
was due, so a wait behind a stalled request counts), ``sent`` for the others.

A greenlet closes a one-second tick on the run's common second grid (seconds since
the test started on the master), which the master adds into the run's timeline. A
worker ships ``take()`` (the encoded metrics since the last report and the ticks
closed since) in each of Locust's reports to the master; the master merges them
exactly (``Metrics.merge``), so nothing is averaged and nothing is counted twice.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from harness.metrics import Metrics
from harness.names import name_number
from harness.opscom.outcome import Outcome
from harness.traffic.call import Call


class Recording:
    """One process's measurements of the current test."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.ticks: list[dict[str, Any]] = []
        self.started_at = time.time()  # the run's t=0, wall clock (the master's)
        self._second = 0
        self._ticker: gevent.Greenlet | None = None
        self._bases: dict[int, str] = {}  # name number -> its latency basis in this test

    def start(self, started_at: float) -> None:
        """A new test: start from zero, tick on the grid of ``started_at``."""
        self.stop()
        self.metrics.take()  # from zero, the same object (the traffic context holds it)
        self.metrics.tick(0)
        self.ticks = []
        self._bases = {}
        self.started_at = started_at
        self._second = max(0, int(time.time() - started_at))
        self._ticker = gevent.spawn(self._tick_every_second)

    def record(self, call: Call, basis: str, outcome: Outcome, intended_ns: int, sent_ns: int,
               done_ns: int) -> None:
        key = call.key
        if self._bases.get(key) != basis:
            self._set_basis(key, call.name, basis)
        self.metrics.record(key, outcome, call.expect, intended_ns, sent_ns, done_ns)

    def record_not_sent(self, call_name: str, basis: str, outcome: Outcome, count: int = 1) -> None:
        """Hits that were due and never went out (a paced user stopped behind its schedule)."""
        key = name_number(call_name)
        if self._bases.get(key) != basis:
            self._set_basis(key, call_name, basis)
        for _ in range(count):
            self.metrics.record_not_sent(key, outcome, None)

    def _set_basis(self, key: int, name: str, basis: str) -> None:
        """A name's latency is measured from one basis for the whole test (the
        master could not merge two); a second one is refused here, where it happens."""
        known = self._bases.get(key)
        if known is not None:
            raise ValueError(f"{name}: recorded with latency from the {known} time already in this test; "
                             f"a user measuring from the {basis} time must use another request name")
        self.metrics.endpoint(name, basis)
        self._bases[key] = basis

    def _tick_every_second(self) -> None:
        while True:
            gevent.sleep(max(0.0, self.started_at + self._second + 1 - time.time()))
            self.close_second()

    def close_second(self) -> None:
        """Close the current one-second tick (the ticker does this every second)."""
        self.ticks.append(self.metrics.tick(self._second).encode())
        self._second += 1

    def stop(self) -> None:
        """The test is over here: close the current (partial) second, stop ticking."""
        if self._ticker is not None:
            self._ticker.kill(block=False)
            self._ticker = None
            self.close_second()

    def take(self) -> dict[str, Any]:
        """What this process measured since the last ``take``: encoded metrics and the
        ticks closed since; both start again from zero."""
        ticks, self.ticks = self.ticks, []
        return {"metrics": self.metrics.take(), "ticks": ticks}
