"""A tiny HTTP/1.1 server with known stalls and failures, for measuring the measurer.

It answers every POST at once with a fixed successful plate-validation body, except
inside stall windows, given relative to the first request it receives (so a test
knows exactly where they fall in its run): a request arriving in a window is
answered when the window ends. ``GET /count`` returns how many POSTs it answered
(and the request lines it saw, ``GET /seen``), so a test can compare the harness's
count with the server's.

Failure modes: ``--hang-after S`` answers nothing to a request arriving S seconds
after the first (a hung target); ``--reset`` resets the connection (RST) on every
POST; ``--status N`` answers every POST with HTTP status N and a plain-text body.

    python tests/support/stall_server.py --stall 1.5:1.0 --stall 6:1
    -> prints "stall-server: listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import struct
import sys
import time

import httptools

BODY = b'{"error":0,"message":"","data":{"plate":"ABC123","response":"","responseJSON":{}}}'


class Server:
    def __init__(self, stalls: list[tuple[float, float]], *, hang_after: float | None = None,
                 reset: bool = False, status: int | None = None) -> None:
        self.stalls = stalls
        self.hang_after = hang_after
        self.reset = reset
        self.status = status
        self.first: float | None = None
        self.answered = 0
        self.seen: list[str] = []  # the first request lines, for tests of what was sent

    def hung(self) -> bool:
        return self.hang_after is not None and self.first is not None and \
            time.monotonic() - self.first >= self.hang_after

    def release_at(self) -> float | None:
        """When a request arriving now may be answered (None: at once)."""
        now = time.monotonic()
        if self.first is None:
            self.first = now
        offset = now - self.first
        for start, length in self.stalls:
            if start <= offset < start + length:
                return self.first + start + length
        return None


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: list[tuple[asyncio.Future[bytes], bool]] = []  # (answer, is a POST)
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport:
                self.transport.close()

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url, self.url = self.url, b""
        server = self.server
        if method == b"GET":
            doc = {"answered": server.answered, "seen": server.seen} if url == b"/seen" else {"answered": server.answered}
            self._respond(json.dumps(doc).encode(), None, counted=False)
            return
        if len(server.seen) < 1000:
            server.seen.append(f"{method.decode()} {url.decode('latin-1')}")
        release = server.release_at()
        if server.reset and self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return
        if server.hung():
            self.queue.append((asyncio.get_running_loop().create_future(), True))  # never answered
            return
        if server.status is not None:
            self._respond(b"server error", release, counted=True, status=server.status)
            return
        self._respond(BODY, release, counted=True)

    def _respond(self, body: bytes, release: float | None, *, counted: bool, status: int = 200) -> None:
        reason = b"OK" if status == 200 else b"Status"
        kind = b"application/json" if status == 200 else b"text/plain"
        wire = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            status, reason, kind, len(body), body)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        self.queue.append((fut, counted))
        if release is None:
            fut.set_result(wire)
        else:
            loop.call_at(loop.time() + max(0.0, release - time.monotonic()), fut.set_result, wire)
        fut.add_done_callback(lambda _: self._flush())

    def _flush(self) -> None:
        # Answers go out in request order (HTTP/1.1 without pipelining surprises).
        while self.queue and self.queue[0][0].done():
            fut, counted = self.queue.pop(0)
            wire = fut.result()
            self.server.answered += counted
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(wire)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stall", action="append", default=[], help="START:LENGTH seconds after the first request")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    parser.add_argument("--hang-after", type=float, help="answer nothing to requests after this many seconds")
    parser.add_argument("--reset", action="store_true", help="reset the connection on every POST")
    parser.add_argument("--status", type=int, help="answer every POST with this HTTP status")
    args = parser.parse_args()
    stalls = [tuple(float(x) for x in s.split(":")) for s in args.stall]
    server = Server(stalls, hang_after=args.hang_after, reset=args.reset, status=args.status)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    ssl_ctx = None
    if args.tls:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(*args.tls)
    srv = await loop.create_server(lambda: Connection(server), "127.0.0.1", args.port, ssl=ssl_ctx)
    port = srv.sockets[0].getsockname()[1]
    scheme = "https" if ssl_ctx else "http"
    print(f"stall-server: listening on {scheme}://127.0.0.1:{port}", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
