"""A minimal OPSCOM-shaped HTTP/1.1 server for the replay benchmarks: keep-alive,
any path, a fixed JSON answer per path family, as fast as uvloop + httptools go.

    python bench/stub_server.py [--port 0]     # prints "listening on http://127.0.0.1:PORT"

A permit push gets a fresh-looking reference id (a counter), so replay's
correlation has something to carry; a plate validation ``{"error": 0, ...}``;
anything else ``{"status": "success"}``. Nothing is checked: this measures the
client side (the harness), not a controller.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import sys

import httptools
import uvloop

_COUNTER = itertools.count(1)
_PLATE = b'{"error":0,"message":"","data":{"plate":"X","response":"","responseJSON":{}}}'
_OK = b'{"status":"success"}'


def _response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        url = self.url
        if url.endswith(b"/validate/plate"):
            body = _PLATE
        elif url.endswith(b"/permits/push"):
            n = next(_COUNTER)
            body = b'{"status":"success","reference_id":"stub-%016d","InternalReferenceID":"stub-%016d"}' % (n, n)
        else:
            body = _OK
        if self.transport is not None:
            self.transport.write(_response(body))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await loop.create_server(_Protocol, sock=sock, backlog=1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()
    server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    try:
        uvloop.run(main(p.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
