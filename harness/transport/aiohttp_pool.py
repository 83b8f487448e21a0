"""The ``aiohttp`` transport: a ClientSession on a TCPConnector pool.

The portable choice (TLS and proxies handled by a maintained client). One
long-lived task per slot; the connector's limit equals the number of slots, so
aiohttp never queues internally and pool waits stay visible to the engine. Cookies
are ignored (DummyCookieJar: OPSCOM is stateless), bodies are sent pre-encoded by
orjson and read as bytes, then decoded by orjson in ``decode_and_classify``.

It answers odd servers exactly as the fast transport does (docs/transports.md):
the same request headers (``request_headers``: no compression offered, our
User-Agent), redirects never followed (a 3xx is its outcome), 1xx interim answers
skipped (aiohttp does that), 101 the answer ``http_101`` with its connection
dropped, bodies read up to ``max_body``, gzip and deflate undone by the shared
``classify_compressed``, and an idempotent request sent once more when its
connection ends before the answer's head.

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
    BODY_TOO_LARGE,
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    UNDECODABLE,
    Outcome,
    classify_answer,
)
from harness.traffic.call import Call
from harness.transport.answer import classify_compressed
from harness.transport.base import (
    IDEMPOTENT_METHODS,
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
    handed to it one at a time (cheaper than a task per request).

    Timeouts cancel this coroutine (the sweeper's ``expire``), and so does ``close``.
    The two can land before the coroutine runs once; it then sees one CancelledError
    for both, so it tells them apart by the task's cancellation count (``uncancel``)
    and the transport's ``closing`` flag, never by a flag alone: a timeout must not
    swallow the close's cancellation, or close would wait for this task for ever."""

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
        task = asyncio.current_task()
        assert task is not None
        while True:
            nxt = self._next
            if nxt is None:
                self._wake = self.transport.loop.create_future()
                try:
                    await self._wake
                except asyncio.CancelledError:
                    lives_on = self._only_timed_out(task)
                    self._report_handed_over()  # a call handed over but not started
                    if not lives_on:
                        return
                continue
            self._next = None
            call, intended_ns = nxt
            try:
                outcome, doc = await self._exchange(call)
            except asyncio.CancelledError:
                lives_on = self._only_timed_out(task)
                self.busy = False
                self._report(call, intended_ns, TIMEOUT, None)
                if not lives_on:  # the transport is closing: this slot is done
                    self._report_handed_over()
                    return
                continue
            except Exception as exc:
                # A bug (ours or aiohttp's), not an outcome of the target's: the call is
                # dropped unreported (see ``Crash``) and the slot serves on.
                self.busy = False
                self.transport.crash(exc)
                continue
            self.busy = False
            self._report(call, intended_ns, outcome, doc)

    def _only_timed_out(self, task: asyncio.Task[None]) -> bool:
        """Whether the CancelledError just caught was the sweeper's timeout alone (the
        slot lives on) rather than, or as well as, the close's (the slot ends)."""
        if not self.timed_out:
            return False
        self.timed_out = False
        return task.uncancel() == 0 and not self.transport.closing

    def _report(self, call: Call, intended_ns: int, outcome: Outcome, doc: Any) -> None:
        try:
            self.done(self, call, intended_ns, self.sent, _now(), outcome, doc)
        except Exception as exc:
            self.transport.crash(exc)

    def _report_handed_over(self) -> None:
        """Report a call that was handed over but never started, as timed out (the
        sweeper's, or the close's, like any other call in flight then)."""
        nxt = self._next
        if nxt is not None:
            self._next = None
            self.busy = False
            self._report(nxt[0], nxt[1], TIMEOUT, None)

    def expire(self, now_ns: int, limit_ns: int) -> None:
        if (
            self.busy
            and not self.timed_out
            and now_ns - self.sent > limit_ns
            and self.task is not None
            and not self.transport.closing
        ):
            self.timed_out = True
            self.task.cancel()

    async def _exchange(self, call: Call) -> tuple[Outcome, Any]:
        t = self.transport
        url = t.url_for(call)
        data = call.body or None
        headers = t.headers_for(call)
        retried = False
        while True:
            try:
                resp = await t.session.request(call.method, url, data=data, headers=headers, allow_redirects=False)
                break
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
                # Before ClientOSError, their base: a refused or slow start, not an answer cut.
                return CONNECT_ERROR, None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # Closed or reset before the answer's head was complete: an idempotent
                # request is sent once more, as by the fast transport (docs/transports.md).
                if retried or call.method not in IDEMPOTENT_METHODS:
                    return DISCONNECTED, None
                retried = True
            except aiohttp.ClientResponseError:
                # aiohttp's parser refused the answer's head: not HTTP, as the fast
                # transport's parser error.
                return UNDECODABLE, None
            except TimeoutError:
                return TIMEOUT, None
            except (aiohttp.ClientError, OSError):
                return DISCONNECTED, None
        try:
            return await self._read_answer(call, resp)
        except (aiohttp.ClientError, OSError):
            # Cut mid-body (reset, or closed before a Content-Length or chunked body ended).
            resp.close()
            return DISCONNECTED, None

    async def _read_answer(self, call: Call, resp: aiohttp.ClientResponse) -> tuple[Outcome, Any]:
        opscom = call.endpoint is not None
        status = resp.status
        if status == 101:
            # Switching Protocols: what follows is not HTTP/1.1, the connection goes.
            resp.close()
            return classify_answer(opscom, status, b"")
        limit = self.transport.config.max_body
        content = resp.content
        chunks: list[bytes] = []
        size = 0
        # Read to the end (which releases the connection), but never past the limit.
        while chunk := await content.readany():
            size += len(chunk)
            if size > limit:
                # Stop reading: a connection left mid-body is dropped. (When aiohttp had
                # buffered the whole body already, its connection is back in the pool,
                # clean, and stays there.)
                resp.close()
                return BODY_TOO_LARGE, None
            chunks.append(chunk)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        outcome, doc = classify_answer(opscom, status, body)
        if doc is None and opscom and body:  # not JSON: perhaps compressed
            redone = classify_compressed(status, body, resp.headers.get("Content-Encoding"), limit)
            if redone is not None:
                return redone
        return outcome, doc


def _crash_before_open(exc: BaseException) -> None:
    raise exc


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop()
        self.session: aiohttp.ClientSession = None  # type: ignore[assignment]
        self.slots: list[AiohttpSlot] = []
        self._urls: dict[tuple[bool, str], URL] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.crash: Crash = _crash_before_open
        self.closing = False

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
            # Compressed bodies are undone by ``classify_compressed``, as in the fast
            # transport, and only when one is not JSON: the same codings in both.
            auto_decompress=False,
            raise_for_status=False,
        )
        # aiohttp sends an idempotent request once more by itself when its connection
        # breaks. ``_exchange`` does that instead, by the fast transport's rule, so
        # aiohttp's own retry is off (the flag its own test client clears; the odd
        # server tests count attempts, so a renamed flag would show).
        self.session._retry_connection = False
        self.slots = [AiohttpSlot(self, done) for _ in range(c.connections)]
        for slot in self.slots:
            slot.task = self.loop.create_task(slot.run())
        # Let every slot task start and park: a task cancelled before its first step
        # never runs its handlers, so a timeout then would kill the slot unseen.
        await asyncio.sleep(0)
        self._sweeper = self.loop.create_task(sweep_timeouts(self.slots, self.config.request_timeout, crash))
        return list(self.slots)

    async def close(self) -> None:
        self.closing = True  # before any cancellation: see AiohttpSlot
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = [s.task for s in self.slots if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for slot in self.slots:
            slot._report_handed_over()  # one whose task ended before it could (once only)
        if self.session is not None:
            await self.session.close()
