"""The ``fast`` transport: uvloop protocols and httptools, one keep-alive HTTP/1.1
connection per slot and service, requests pre-encoded once per call.

Why it is faster than a client library: no coroutine or task per request (the
response callback reports straight to the engine), no header dictionaries (only the
status and body are kept), the request bytes are built once per distinct call and
cached on it, and timeouts are enforced by one sweeper every 50 ms instead of a
timer per request.

A connection object lives exactly as long as its TCP connection. After a timeout,
a parse error or a close, the slot drops it and opens a new one on its next send;
so a late ``connection_lost`` of a dead connection can never touch a live request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import httptools

from harness.opscom.outcome import (
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    UNDECODABLE,
    Outcome,
    classify_answer,
)
from harness.traffic.call import Call
from harness.transport.base import (
    Crash,
    Done,
    Origin,
    TransportConfig,
    encode_request,
    sweep_timeouts,
)

_now = time.perf_counter_ns


class _Connection(asyncio.Protocol):
    """One TCP connection and the one request in flight on it (no pipelining)."""

    def __init__(self, slot: FastSlot) -> None:
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: Call | None = None
        self.intended = 0
        self.sent = 0
        self.body: bytes | bytearray = b""
        self.dead = False

    # --- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.kill()
            self.finish(UNDECODABLE, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.dead = True
        self.finish(DISCONNECTED, None)

    # --- httptools callbacks -------------------------------------------------------

    def on_body(self, chunk: bytes) -> None:
        if not self.body:
            self.body = chunk
        elif isinstance(self.body, bytearray):
            self.body += chunk
        else:
            self.body = bytearray(self.body) + chunk

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        body = self.body
        self.body = b""
        if not self.parser.should_keep_alive():
            self.kill()
        # finish(), inlined: this is the path of every answer.
        call = self.call
        if call is not None:
            outcome, doc = classify_answer(call.endpoint is not None, status, body)
            self.call = None
            self.slot.done(self.slot, call, self.intended, self.sent, _now(), outcome, doc)

    # --- requests -----------------------------------------------------------------

    def finish(self, outcome: Outcome, doc: Any) -> None:
        """Report the request in flight, once; later calls are no-ops."""
        call = self.call
        if call is None:
            return
        self.call = None
        self.slot.done(self.slot, call, self.intended, self.sent, _now(), outcome, doc)

    def kill(self) -> None:
        """Retire this connection: the slot will open a fresh one."""
        self.dead = True
        tr = self.transport
        self.transport = None
        if tr is not None:
            tr.abort()

    async def connect_and_write(self, origin: Origin, ssl_ctx: ssl.SSLContext | None, timeout: float, wire: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: self, origin.host, origin.port, ssl=ssl_ctx),
                timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError):
            self.dead = True
            self.finish(CONNECT_ERROR, None)
            return
        if self.call is None or self.transport is None:  # timed out meanwhile, or closed
            self.kill()
            return
        self.transport.write(wire)


class FastSlot:
    """One unit of concurrency: at most one request in flight, on a connection to
    the controller or to the plate service (two connections when they differ)."""

    __slots__ = ("transport", "done", "controller", "plate")

    def __init__(self, transport: FastTransport, done: Done) -> None:
        self.transport = transport
        self.done = done
        self.controller: _Connection | None = None
        self.plate: _Connection | None = None

    def send(self, call: Call, intended_ns: int) -> None:
        t = self.transport
        wire = call.wire
        if wire is None:
            wire = call.wire = t.encode(call)
        plate = call.plate_service and not t.same_origin
        conn = self.plate if plate else self.controller
        if conn is None or conn.dead or conn.transport is None:
            conn = _Connection(self)
            if plate:
                self.plate = conn
            else:
                self.controller = conn
            conn.call = call
            conn.intended = intended_ns
            conn.sent = _now()
            origin = t.config.plate_service if call.plate_service else t.config.controller
            task = t.loop.create_task(conn.connect_and_write(origin, t.ssl_for(origin), t.config.connect_timeout, wire))
            t.connecting.add(task)
            task.add_done_callback(t.connecting.discard)
            return
        conn.call = call
        conn.intended = intended_ns
        conn.sent = _now()
        conn.transport.write(wire)  # type: ignore[union-attr]

    async def preconnect(self) -> None:
        """Open this slot's connection(s) before the run, as wrk does, so the first
        requests do not pay for TCP (and TLS) set-up. Failures are left to ``send``."""
        t = self.transport
        origins = [(False, t.config.controller)]
        if not t.same_origin:
            origins.append((True, t.config.plate_service))
        for plate, origin in origins:
            conn = _Connection(self)
            try:
                await asyncio.wait_for(
                    t.loop.create_connection(lambda c=conn: c, origin.host, origin.port, ssl=t.ssl_for(origin)),
                    t.config.connect_timeout,
                )
            except (OSError, TimeoutError, ssl.SSLError):
                continue
            if plate:
                self.plate = conn
            else:
                self.controller = conn

    def expire(self, now_ns: int, limit_ns: int) -> None:
        for conn in self.connections():
            if conn.call is not None and now_ns - conn.sent > limit_ns:
                conn.kill()
                conn.finish(TIMEOUT, None)

    def connections(self) -> tuple[_Connection, ...]:
        return tuple(c for c in (self.controller, self.plate) if c is not None)


class FastTransport:
    name = "fast"

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop()
        self.slots: list[FastSlot] = []
        self.connecting: set[asyncio.Task[None]] = set()
        c, p = config.controller, config.plate_service
        self.same_origin = (c.scheme, c.host, c.port) == (p.scheme, p.host, p.port)
        self._ssl: ssl.SSLContext | None = config.ssl_context() if (c.tls or p.tls) else None
        self._sweeper: asyncio.Task[None] | None = None

    def ssl_for(self, origin: Origin) -> ssl.SSLContext | None:
        return self._ssl if origin.tls else None

    def encode(self, call: Call) -> bytes:
        origin = self.config.plate_service if call.plate_service else self.config.controller
        return encode_request(call, origin)

    async def open(self, done: Done, crash: Crash) -> list[FastSlot]:
        self.crash = crash
        self.loop = asyncio.get_running_loop()
        self.slots = [FastSlot(self, done) for _ in range(self.config.connections)]
        await asyncio.gather(*(slot.preconnect() for slot in self.slots))
        self._sweeper = self.loop.create_task(sweep_timeouts(self.slots, self.config.request_timeout, crash))
        return list(self.slots)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self.connecting):
            task.cancel()
        for slot in self.slots:
            for conn in slot.connections():
                conn.kill()
                conn.finish(TIMEOUT, None)
        await asyncio.sleep(0)  # let aborted transports run connection_lost
