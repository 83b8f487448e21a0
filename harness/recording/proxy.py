"""A recording reverse proxy: point meters, apps and integrations at it, and it
forwards every request to the upstream controller and every answer back, unchanged,
while it writes each exchange to a recording.

- Any method and path; request and answer bodies are streamed both ways (a copy of
  up to ``CAPTURE_LIMIT`` bytes of each is kept for the recording); keep-alive on
  both sides (aiohttp's server, and one client session's connection pool).
- Unchanged: the upstream sees the client's headers but for hop-by-hop ones, with
  its own ``Host``; the client gets the upstream's status, headers and bytes
  (compressed bodies stay compressed).
- A client or upstream that misbehaves costs only its own exchange: an upstream
  that refuses or times out answers 502/504 to the client (recorded as
  ``connect_error``/``timeout``), one that closes mid-answer cuts the client's
  answer off (``disconnected``), a client that goes away mid-request is recorded
  without an answer.
- Ctrl-C or SIGTERM: stop accepting, give exchanges in flight a moment, write what
  is waiting, close the file (a zstd frame ends properly), exit 0.

The recording is bounded in memory: the writer holds calls only until every older
exchange has finished (``RecordingWriter.advance``), at most ``REORDER_LIMIT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from harness.recording.files import Capture, RecordingWriter

CAPTURE_LIMIT = 1 << 20
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length"})
GRACE_S = 3.0
CHUNK = 1 << 16


@dataclass(frozen=True, kw_only=True)
class ProxySettings:
    upstream: str  # base URL, e.g. http://127.0.0.1:8080 (a base path is kept)
    host: str = "127.0.0.1"
    port: int = 0
    timeout: float = 60.0
    connect_timeout: float = 5.0


class RecordingProxy:
    def __init__(self, settings: ProxySettings, writer: RecordingWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.upstream = settings.upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.in_flight: dict[int, float] = {}  # exchange number -> its start (wall clock)
        self._seq = 0
        self.exchanges = 0
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.settings.connect_timeout,
                                        sock_read=self.settings.timeout)
        self.session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False, skip_auto_headers=(
            "User-Agent", "Accept", "Accept-Encoding", "Content-Type"), connector=aiohttp.TCPConnector(limit=0))
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.host, self.settings.port, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port bound for 0
        self.port = server.sockets[0].getsockname()[1] if server is not None else self.settings.port
        self._flusher = asyncio.get_running_loop().create_task(self._flush_every_second())

    async def stop(self) -> None:
        """Stop accepting, let exchanges in flight end (briefly), close the file."""
        if self.runner is not None:
            await self.runner.shutdown()  # closes the listening sockets; open handlers go on
            deadline = time.monotonic() + GRACE_S
            while self.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await self.runner.cleanup()
        if self._flusher is not None:
            self._flusher.cancel()
        if self.session is not None:
            await self.session.close()
        self.writer.close()

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._advance()
            self.writer.flush()

    def _advance(self) -> None:
        self.writer.advance(min(self.in_flight.values()) if self.in_flight else time.time())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.time()
        self._seq += 1
        number = self._seq
        self.in_flight[number] = started
        capture = Capture(started=started, method=request.method, path=request.rel_url.raw_path,
                          query=request.rel_url.raw_query_string, headers=list(request.headers.items()))
        try:
            return await self._forward(request, capture)
        finally:
            del self.in_flight[number]
            self.exchanges += 1
            self.writer.add(capture)
            self._advance()

    async def _forward(self, request: web.Request, capture: Capture) -> web.StreamResponse:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = bytearray()
        data: Any = None
        if request.body_exists:
            data = _tee(request.content, body)
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)
        url = self.upstream + request.rel_url.raw_path_qs
        t0 = time.perf_counter()
        try:
            upstream = await self.session.request(request.method, url, headers=headers, data=data,
                                                  allow_redirects=False)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            capture.body, capture.error = bytes(body), "timeout"
            return web.Response(status=504, text="upstream timeout\n")
        except (aiohttp.ClientConnectionError, OSError):
            capture.body = bytes(body)
            if request.transport is None or request.transport.is_closing():
                capture.error = "disconnected"  # the client went away mid-request
                raise
            capture.error = "connect_error"
            return web.Response(status=502, text="upstream unreachable\n")
        capture.body = bytes(body)
        answer = bytearray()
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    response.headers.add(k, v)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            capture.status = upstream.status
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    if len(answer) < CAPTURE_LIMIT:
                        answer += chunk[: CAPTURE_LIMIT - len(answer)]
                    await response.write(chunk)
            except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
                capture.error = "disconnected"  # the upstream cut its answer off: so do we
                if request.transport is not None:
                    request.transport.close()
                return response
            finally:
                capture.answer = bytes(answer)
                capture.latency_us = round((time.perf_counter() - t0) * 1e6)
                if _compressed(upstream.headers):
                    capture.answer = _decompressed(capture.answer, upstream.headers)
            await response.write_eof()
        return response


async def _tee(stream: Any, copy: bytearray) -> Any:
    """Stream the request body upstream, keeping a copy of its start for the recording."""
    async for chunk in stream.iter_chunked(CHUNK):
        if len(copy) < CAPTURE_LIMIT:
            copy += chunk[: CAPTURE_LIMIT - len(copy)]
        yield chunk


def _compressed(headers: Any) -> bool:
    return headers.get("Content-Encoding", "identity").lower() in ("gzip", "deflate")


def _decompressed(body: bytes, headers: Any) -> bytes:
    """The recording classifies the answer: it reads it uncompressed (the client got it as sent)."""
    import zlib

    try:
        encoding = headers.get("Content-Encoding", "").lower()
        return zlib.decompress(body, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    except zlib.error:
        return body


async def serve(settings: ProxySettings, writer: RecordingWriter, *, announce: bool = True) -> int:
    """Run until SIGINT or SIGTERM; returns how many exchanges were recorded."""
    proxy = RecordingProxy(settings, writer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await proxy.start()
        if announce:
            print(f"harness record: listening on http://{settings.host}:{proxy.port}, forwarding to "
                  f"{settings.upstream}, recording to {writer.path}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await proxy.stop()
    return proxy.exchanges
