"""A tiny HTTP/1.1 server with known stalls, for measuring the measurer.

It answers every POST at once with a fixed successful plate-validation body, except
inside stall windows, given relative to the first request it receives (so a test
knows exactly where they fall in its run): a request arriving in a window is
answered when the window ends. ``GET /count`` returns how many POSTs it answered,
so a test can compare the harness's count with the server's.

    python tests/support/stall_server.py --stall 1.5:1.0 --stall 6:1
    -> prints "stall-server: listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time

import httptools

BODY = b'{"error":0,"message":"","data":{"plate":"ABC123","response":"","responseJSON":{}}}'


class Server:
    def __init__(self, stalls: list[tuple[float, float]]) -> None:
        self.stalls = stalls
        self.first: float | None = None
        self.answered = 0

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
        if method == b"GET":
            body = json.dumps({"answered": self.server.answered}).encode()
            self._respond(body, None, counted=False)
            return
        self._respond(BODY, self.server.release_at(), counted=True)

    def _respond(self, body: bytes, release: float | None, *, counted: bool) -> None:
        wire = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
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
    args = parser.parse_args()
    stalls = [tuple(float(x) for x in s.split(":")) for s in args.stall]
    server = Server(stalls)  # type: ignore[arg-type]
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
