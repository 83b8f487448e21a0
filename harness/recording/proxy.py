"""A recording reverse proxy: point meters, apps and integrations at it, and it
forwards every request to the upstream controller and every answer back, unchanged,
while it writes each exchange to a recording.

- Any method and path; request and answer bodies are streamed both ways (a copy of
  up to ``CAPTURE_LIMIT`` bytes of each is kept for the recording); keep-alive on
  both sides. How each connection is relayed, and what "unchanged" means, is in
  ``harness.recording.relay``.
- A client or upstream that misbehaves costs only its own exchange: 502/504 for an
  upstream that refuses or times out (recorded as ``connect_error``/``timeout``),
  a cut-off answer for one that closes mid-answer (``disconnected``), a client that
  goes away mid-request is recorded as ``disconnected``.
- Ctrl-C or SIGTERM: stop accepting, give exchanges in flight a moment, write what
  is waiting, close the file (a zstd frame ends properly), exit 0.

The recording is bounded in memory: the writer holds calls only until every older
exchange has finished (``RecordingWriter.advance``), at most ``REORDER_LIMIT``.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from dataclasses import dataclass

from harness.errors import OutputError
from harness.recording.files import RecordingWriter
from harness.recording.relay import ClientSide, Exchange, Relay
from harness.transport.base import Origin

GRACE_S = 3.0
SWEEP_S = 0.1  # how often silent upstreams and idle clients are looked for
KEEPALIVE_IDLE_S = 75.0  # an idle client connection is closed after this (aiohttp's and nginx's default)


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
        self.relay = Relay(Origin.parse(settings.upstream), timeout=settings.timeout,
                           connect_timeout=settings.connect_timeout, began=self._began, ended=self._ended)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.in_flight: dict[Exchange, float] = {}  # exchange -> its start (wall clock)
        self.exchanges = 0
        self.lost: OutputError | None = None  # the recording could not be written: forwarding goes on
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: ClientSide(self.relay), self.settings.host,
                                               self.settings.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        self._tasks = [loop.create_task(self._flush_every_second()), loop.create_task(self._sweep())]

    async def stop(self) -> None:
        """Stop accepting, let exchanges in flight end (briefly), close the file."""
        if self.server is not None:
            self.server.close()  # the listening sockets; open connections go on
            deadline = time.monotonic() + GRACE_S
            while self.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for client in list(self.relay.clients):
                if client.transport is not None:
                    client.transport.close()  # an exchange still open is recorded as cut off
            await asyncio.sleep(0.05)  # let connection_lost run
        for task in self._tasks:
            task.cancel()
        try:
            self.writer.close()
        except OutputError as exc:
            self._lose(exc)

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.lost is None:
                try:
                    self._advance()
                    self.writer.flush()
                except OutputError as exc:
                    self._lose(exc)

    def _lose(self, exc: OutputError) -> None:
        """The recording cannot be written (a full disk): the clients must not notice,
        so forwarding goes on; say so once, record nothing more."""
        if self.lost is None:
            self.lost = exc
            print(f"harness record: {exc}; forwarding goes on, nothing more is recorded",
                  file=sys.stderr, flush=True)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self.relay.sweep(time.monotonic(), KEEPALIVE_IDLE_S)

    def _advance(self) -> None:
        self.writer.advance(min(self.in_flight.values()) if self.in_flight else time.time())

    def _began(self, ex: Exchange) -> None:
        self.in_flight[ex] = ex.started

    def _ended(self, ex: Exchange) -> None:
        self.in_flight.pop(ex, None)
        if self.lost is not None:
            return
        try:
            self.writer.add(ex.capture())
            self._advance()
        except OutputError as exc:
            self._lose(exc)
            return
        self.exchanges += 1


async def serve(settings: ProxySettings, writer: RecordingWriter, *, announce: bool = True) -> RecordingProxy:
    """Run until SIGINT or SIGTERM; returns the proxy (how many exchanges it recorded,
    and whether the recording was lost)."""
    proxy = RecordingProxy(settings, writer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await proxy.start()
        # What exists now lives as long as the proxy: out of the cyclic GC's sight, so
        # its pauses scan only what the exchanges allocate.
        gc.collect()
        gc.freeze()
        if announce:
            print(f"harness record: listening on http://{settings.host}:{proxy.port}, forwarding to "
                  f"{settings.upstream}, recording to {writer.path}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await proxy.stop()
    return proxy
