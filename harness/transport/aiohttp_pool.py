"""The ``aiohttp`` transport: a ClientSession on a TCPConnector pool.

The portable choice (TLS, proxies, redirects handled by a maintained client). One
task per request; the connector's limit equals the number of slots, so aiohttp
never queues internally and pool waits stay visible to the engine. Cookies are
ignored (DummyCookieJar: OPSCOM is stateless), bodies are sent pre-encoded by
orjson and read as bytes, then decoded by orjson in ``decode_and_classify``.

"Sent" is stamped when a slot accepts a call, so this transport's service time
includes aiohttp's own work before the bytes reach the socket (the fast transport
stamps just before its write). Request timeouts are enforced by one sweeper every
50 ms rather than a timer per request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from yarl import URL

from harness.opscom.outcome import (
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    Outcome,
    classify_answer,
)
from harness.traffic.call import Call
from harness.transport.base import (
    REQUEST_HEADERS,
    Crash,
    Done,
    TransportConfig,
    request_headers,
    sweep_timeouts,
)

_now = time.perf_counter_ns


class AiohttpSlot:
    """One unit of concurrency: a long-lived coroutine that performs the exchanges
    handed to it one at a time (cheaper than a task per request)."""

    __slots__ = ("transport", "done", "task", "sent", "_next", "_wake", "busy", "timed_out")

    def __init__(self, transport: AiohttpTransport, done: Done) -> None:
        self.transport = transport
        self.done = done
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        self.busy = False
        self.timed_out = False  # set by the sweeper just before it cancels the exchange
        self._next: tuple[Call, int] | None = None
        self._wake: asyncio.Future[None] | None = None

    def send(self, call: Call, intended_ns: int) -> None:
        self.sent = _now()
        self.busy = True
        self._next = (call, intended_ns)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def run(self) -> None:
        loop = self.transport.loop
        while True:
            if self._next is None:
                self._wake = loop.create_future()
                await self._wake
            call, intended_ns = self._next  # type: ignore[misc]
            self._next = None
            try:
                outcome, doc = await self._exchange(call)
            except asyncio.CancelledError:
                self.busy = False
                if not self.timed_out:  # the transport is closing: report once, then stop
                    self.done(self, call, intended_ns, self.sent, _now(), TIMEOUT, None)
                    raise
                # The sweeper's timeout: this exchange is over, the slot lives on.
                self.timed_out = False
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                outcome, doc = TIMEOUT, None
            self.busy = False
            self.done(self, call, intended_ns, self.sent, _now(), outcome, doc)

    def expire(self, now_ns: int, limit_ns: int) -> None:
        if self.busy and not self.timed_out and now_ns - self.sent > limit_ns and self.task is not None:
            self.timed_out = True
            self.task.cancel()

    async def _exchange(self, call: Call) -> tuple[Outcome, Any]:
        t = self.transport
        try:
            resp = await t.session.request(
                call.method, t.url_for(call), data=call.body or None, headers=t.headers_for(call)
            )
            body = await resp.read()  # reads to the end and releases the connection
            return classify_answer(call.endpoint is not None, resp.status, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            # Before TimeoutError: a connect timeout is a refused start, not a slow answer.
            return CONNECT_ERROR, None
        except TimeoutError:
            return TIMEOUT, None
        except (aiohttp.ClientError, OSError):
            return DISCONNECTED, None


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop()
        self.session: aiohttp.ClientSession = None  # type: ignore[assignment]
        self.slots: list[AiohttpSlot] = []
        self._urls: dict[tuple[bool, str], URL] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def url_for(self, call: Call) -> URL:
        # yarl parsing costs more than the dict lookup; paths repeat.
        key = (call.plate_service, call.target)
        url = self._urls.get(key)
        if url is None:
            origin = self.config.plate_service if call.plate_service else self.config.controller
            url = self._urls[key] = URL(origin.url_for(call.target), encoded=True)
        return url

    @staticmethod
    def headers_for(call: Call) -> dict[str, str]:
        """The same headers the fast transport writes; one shared dict for the common
        case, a plain POST (no per-request dictionary to build)."""
        if not call.headers and call.method == "POST":
            return REQUEST_HEADERS
        return request_headers(call)

    async def open(self, done: Done, crash: Crash) -> list[AiohttpSlot]:
        self.crash = crash
        self.loop = asyncio.get_running_loop()
        c = self.config
        tls = c.controller.tls or c.plate_service.tls
        connector = aiohttp.TCPConnector(
            limit=c.connections,
            limit_per_host=0,
            ssl=c.ssl_context() if tls else False,
            force_close=False,
            enable_cleanup_closed=False,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # Only the connect timeout is aiohttp's: the request timeout is enforced by
            # one sweeper (below) instead of a timer per request, which is cheaper.
            timeout=aiohttp.ClientTimeout(total=None, connect=c.connect_timeout),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            auto_decompress=False,
            raise_for_status=False,
        )
        self.slots = [AiohttpSlot(self, done) for _ in range(c.connections)]
        for slot in self.slots:
            slot.task = self.loop.create_task(slot.run())
        self._sweeper = self.loop.create_task(sweep_timeouts(self.slots, self.config.request_timeout, crash))
        return list(self.slots)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = [s.task for s in self.slots if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
