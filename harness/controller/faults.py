"""Fault injection: the misbehaviour a load test should be able to see and survive.

An aiohttp middleware, installed only when a fault flag is given (so the plain
controller's hot path does not pay for it), and applied to API paths only
(``/api/...``); ``/healthz`` and ``/openapi.json`` always answer promptly. Per
request, in this order:

1. ``--stall EVERY:FOR``: during the last FOR seconds of every EVERY-second period,
   counted from the moment the server started listening, nothing is answered;
   a request arriving in the window is held until the window ends. Using the
   *last* FOR of each period means a fresh server answers at once.
2. ``--latency BASE[~JITTER]``: sleep BASE, plus a uniform draw in [-JITTER, +JITTER]
   (never below zero).
3. ``--drop-rate P``: with probability P the connection is closed without a byte of
   response (the client sees the server disconnect).
4. ``--error-rate P``: with probability P the answer is HTTP 500 with the plain-text
   body ``Internal Server Error`` and the request is not processed.

The draws come from one ``random.Random`` seeded with ``--seed``, so a run's
sequence of faults is repeatable for a given sequence of requests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from harness.controller.config import Faults, Stall

API_PREFIX = "/api/"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def stall_wait(elapsed: float, stall: Stall) -> float:
    """Seconds a request arriving ``elapsed`` s after start is held (0 outside a window)."""
    phase = elapsed % stall.every
    window_start = stall.every - stall.duration
    return stall.every - phase if phase >= window_start else 0.0


class FaultInjector:
    """The middleware and its state (start time, random draws)."""

    def __init__(self, faults: Faults, *, seed: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.faults = faults
        self._rng = random.Random(f"opscom-faults-{seed}")
        self._clock = clock
        self.started = clock()

    def mark_started(self) -> None:
        """Count stall periods from now: called once the server is listening."""
        self.started = self._clock()

    def delay(self) -> float:
        """Seconds to wait before handling a request arriving now (stall + latency)."""
        f = self.faults
        wait = 0.0
        if f.stall is not None:
            wait += stall_wait(self._clock() - self.started, f.stall)
        if f.latency is not None:
            extra = f.latency.base
            if f.latency.jitter:
                extra += self._rng.uniform(-f.latency.jitter, f.latency.jitter)
            wait += max(0.0, extra)
        return wait

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        wait = self.delay()
        if wait > 0:
            await asyncio.sleep(wait)
        f = self.faults
        if f.drop_rate and self._rng.random() < f.drop_rate:
            # Close the socket without writing anything; aiohttp then finds the
            # transport gone when it tries to send the placeholder below and
            # treats it as a client disconnection (no log, no retry).
            request.protocol.force_close()
            return web.Response(status=500)
        if f.error_rate and self._rng.random() < f.error_rate:
            return web.Response(status=500, text="Internal Server Error")
        return await handler(request)
