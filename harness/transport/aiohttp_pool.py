"""The ``aiohttp`` transport: a ClientSession on a TCPConnector pool.

The portable choice (TLS, proxies, redirects handled by a maintained client). One
task per request; the connector's limit equals the number of slots, so aiohttp
never queues internally and pool waits stay visible to the engine. Cookies are
ignored (DummyCookieJar: OPSCOM is stateless), bodies are sent pre-encoded by
orjson and read as bytes, then decoded by orjson in ``decode_and_classify``.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from yarl import URL

from harness.opscom.outcome import (
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    Outcome,
    decode_and_classify,
)
from harness.traffic.call import Call
from harness.transport.base import REQUEST_HEADERS, Done, TransportConfig
from harness.transport.fast import SWEEP_INTERVAL_S

_now = time.perf_counter_ns


class AiohttpSlot:
    __slots__ = ("transport", "done", "task", "sent")

    def __init__(self, transport: AiohttpTransport, done: Done) -> None:
        self.transport = transport
        self.done = done
        self.task: asyncio.Task[None] | None = None
        self.sent = 0

    def send(self, call: Call, intended_ns: int) -> None:
        self.sent = _now()
        self.task = self.transport.loop.create_task(self._exchange(call, intended_ns))

    async def _exchange(self, call: Call, intended_ns: int) -> None:
        t = self.transport
        sent = self.sent
        doc = None
        outcome: Outcome
        try:
            async with t.session.post(t.url_for(call), data=call.body) as resp:
                body = await resp.read()
            outcome, doc = decode_and_classify(resp.status, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            # Before TimeoutError: a connect timeout is a refused start, not a slow answer.
            outcome = CONNECT_ERROR
        except TimeoutError:
            outcome = TIMEOUT
        except (aiohttp.ClientError, OSError):
            outcome = DISCONNECTED
        except asyncio.CancelledError:
            # Cancelled by the timeout sweeper or by close(): report once, as a timeout.
            self.task = None
            self.done(self, call, intended_ns, sent, _now(), TIMEOUT, None)
            raise
        self.task = None
        self.done(self, call, intended_ns, sent, _now(), outcome, doc)


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
        key = (call.plate_service, call.path)
        url = self._urls.get(key)
        if url is None:
            origin = self.config.plate_service if call.plate_service else self.config.controller
            url = self._urls[key] = URL(origin.url_for(call.path), encoded=True)
        return url

    async def open(self, done: Done) -> list[AiohttpSlot]:
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
            headers=REQUEST_HEADERS,
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
            raise_for_status=False,
        )
        self.slots = [AiohttpSlot(self, done) for _ in range(c.connections)]
        self._sweeper = self.loop.create_task(self._sweep())
        return list(self.slots)

    async def _sweep(self) -> None:
        """Cancel exchanges in flight longer than the request timeout (reported as timeout)."""
        limit = int(self.config.request_timeout * 1e9)
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = _now()
            for slot in self.slots:
                if slot.task is not None and now - slot.sent > limit:
                    slot.task.cancel()

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
