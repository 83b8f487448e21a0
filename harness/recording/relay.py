"""One client connection of the recording proxy, relayed to the upstream: asyncio
protocols and httptools, one upstream keep-alive connection per client connection.

Why not aiohttp's server and client (the first version): they cost ~330 us of CPU
per request, which at 2,000 req/s is two thirds of a core, and on a 2-core machine
that core is shared with the target or the load generator, so requests queued
behind the proxy for 10-50 ms (+17 ms at p99 in ``bench/replay_bench.py``). Here a
request costs a parse in C, one head built from the parsed headers, and two writes;
no task, coroutine, header dictionary or stream object per request.

What "unchanged" means here (as a careful reverse proxy, like nginx's):
- The upstream gets the client's method, path (after the upstream's base path),
  query and headers, less hop-by-hop ones (and those the ``Connection`` header
  names), with its own ``Host``; ``Expect: 100-continue`` is answered by the proxy.
- The client gets the upstream's status, reason, headers (less hop-by-hop ones) and
  body bytes as sent (a compressed body stays compressed). Bodies stream both ways:
  each chunk is passed on as it comes, framed by ``Content-Length`` when it is
  known, else chunked (or, to an HTTP/1.0 client, ended by the close). Interim 1xx
  answers are not passed on.
- Pipelined requests are answered in order, one at a time upstream.

A misbehaving side costs only its own exchange (``Exchange.error``): an upstream
that refuses or cannot be reached answers 502 (``connect_error``), one that is
silent past the timeout 504 (``timeout``), one that closes before its answer's head
or sends garbage 502 (``disconnected``); one that cuts its answer off has the
client's answer cut off too (``disconnected``). A request that is safe to repeat,
whose reused connection closed before any byte of the answer (the upstream closed
an idle connection as we sent), is sent once more on a new one. A client that hangs
up mid-exchange is recorded as ``disconnected``; garbage instead of HTTP gets 400
and the connection is closed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from harness.recording.files import Capture
from harness.transport.answer import inflated
from harness.transport.base import IDEMPOTENT_METHODS, Origin

CAPTURE_LIMIT = 1 << 20  # bytes of each body kept for the recording
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                        b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length",
                        b"expect", b"proxy-connection"})
# An upstream connection idle for longer is not reused: servers close idle keep-alive
# connections (after 5 s to 75 s), and a request sent just as they do is lost.
REUSE_IDLE_S = 2.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n"
NO_BODY_STATUSES = frozenset({204, 304})
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"upgrade"})


class Exchange:
    """One request and its answer, as they pass through."""

    __slots__ = ("started", "url", "method", "headers", "keep_alive", "http11", "chunked_in", "expect",
                 "out", "sent", "body", "request_done", "status", "reason", "answer_headers", "answer",
                 "answer_started", "chunked_out", "close_delimited", "t0", "last_io", "error", "done",
                 "retried", "latency_us")

    def __init__(self) -> None:
        self.started = time.time()
        self.url = b""
        self.method = ""
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = True
        self.http11 = True
        self.chunked_in = False
        self.expect = False
        self.out: list[bytes] | None = []  # bytes for the upstream until it is attached; None after
        self.sent: list[bytes] | None = []  # what was sent, kept to send it again (None: too big)
        self.body = bytearray()
        self.request_done = False
        self.status: int | None = None
        self.reason = b""
        self.answer_headers: list[tuple[bytes, bytes]] = []
        self.answer = bytearray()
        self.answer_started = False  # the answer's head went to the client
        self.chunked_out = False
        self.close_delimited = False  # the upstream's answer ends when it closes
        self.t0 = 0.0
        self.last_io = 0.0
        self.error: str | None = None
        self.done = False
        self.retried = False
        self.latency_us: int | None = None

    def capture(self) -> Capture:
        path, _, query = self.url.decode("latin-1").partition("?")
        answer: bytes | None = bytes(self.answer) if self.status is not None else None
        if answer:  # the recording classifies the answer uncompressed (the client got it as sent)
            plain = inflated(answer, _header(self.answer_headers, b"content-encoding"), CAPTURE_LIMIT)
            answer = answer if plain is None else plain[:CAPTURE_LIMIT]
        return Capture(started=self.started, method=self.method, path=path, query=query,
                       headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers],
                       body=bytes(self.body), status=self.status, answer=answer, error=self.error,
                       latency_us=self.latency_us)


class Relay:
    """What every connection shares: where to forward, the timeouts, and what to do
    with an exchange that has ended (record it)."""

    def __init__(self, upstream: Origin, *, timeout: float, connect_timeout: float,
                 ended: Callable[[Exchange], None], began: Callable[[Exchange], None]) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.ended = ended
        self.began = began
        default_port = 443 if upstream.tls else 80
        host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
        self.host_header = (host if upstream.port == default_port else f"{host}:{upstream.port}").encode("idna")
        self.base_path = upstream.base_path.encode("ascii")
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if upstream.tls else None
        self.clients: set[ClientSide] = set()
        # While an event is handled, writes are gathered per side and sent as one
        # when it ends: an answer's head and body (or a request's) arrive in one
        # read, and two sends would cost two syscalls here and two reads at the peer.
        self._batching = 0
        self._dirty: list[_Side] = []
        self._ended: list[Exchange] = []  # recorded after the batch's writes: not before the answer

    def end(self, ex: Exchange) -> None:
        if self._batching:
            self._ended.append(ex)
        else:
            self.ended(ex)

    def batch(self) -> None:
        self._batching += 1

    def unbatch(self) -> None:
        self._batching -= 1
        if not self._batching:
            if self._dirty:
                dirty, self._dirty = self._dirty, []
                for side in dirty:
                    side.flush()
            if self._ended:
                ended, self._ended = self._ended, []
                for ex in ended:
                    self.ended(ex)

    def sweep(self, now: float, keepalive_idle_s: float) -> None:
        """Time out silent upstreams and long-idle client connections."""
        for client in list(self.clients):
            client.expire(now, self.timeout, keepalive_idle_s)


class _Side(asyncio.Protocol):
    """What both ends of a relayed connection share: the writes made while an event
    is handled go out as one send (``Relay.batch``)."""

    relay: Relay
    transport: asyncio.Transport | None
    closed: bool
    _pending: list[bytes]
    _pauses: set[str]  # why reading is paused (flow control, pipelining); resumed when none is left

    def put(self, data: bytes) -> None:
        if self.relay._batching:  # noqa: SLF001 - the relay and its sides are one unit
            if not self._pending:
                self.relay._dirty.append(self)  # noqa: SLF001
            self._pending.append(data)
        elif self.transport is not None and not self.closed:
            self.transport.write(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if self.transport is not None and not self.closed:
                self.transport.write(data)

    def pause(self, reason: str) -> None:
        if not self._pauses and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        if reason in self._pauses:
            self._pauses.discard(reason)
            if not self._pauses and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def close_transport(self) -> None:
        """Close after what was written (and is still gathered)."""
        self.flush()
        if self.transport is not None:
            self.transport.close()


class ClientSide(_Side):
    """A client's connection: parses its requests, hands each to the upstream."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()  # [0] is being answered; the rest pipelined
        self.parsing: Exchange | None = None
        self.upstream: UpstreamSide | None = None
        self.closed = False
        self.last_io = time.monotonic()
        self._pauses: set[str] = set()
        self._pending = []

    # --- the client's connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.relay.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.relay.clients.discard(self)
        for ex in self.queue:
            if ex.t0 and not ex.done:  # started: the client went away mid-exchange
                self._end(ex, "disconnected")
        self.queue.clear()
        if self.upstream is not None:
            self.upstream.abandon()

    def data_received(self, data: bytes) -> None:
        self.last_io = time.monotonic()
        self.relay.batch()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An upgrade (or CONNECT) is forwarded as a plain request, without its
            # Upgrade header; whatever follows is not HTTP: close after the answer.
            if self.parsing is not None:
                self.parsing.keep_alive = False
        except httptools.HttpParserError:
            self._bad_request()
        finally:
            self.relay.unbatch()

    def eof_received(self) -> bool | None:
        """A client that half-closes after a whole request still gets its answer."""
        if self.queue and self.queue[-1].request_done:
            for ex in self.queue:
                ex.keep_alive = False
            return True  # keep the transport open for writing
        return None

    def pause_writing(self) -> None:  # the client reads the answer slower than it comes
        if self.upstream is not None:
            self.upstream.pause("client")

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume("client")

    def _bad_request(self) -> None:
        assert self.transport is not None
        if not self.queue or not self.queue[0].t0:
            self.put(BAD_REQUEST)
        self.close_transport()

    # --- httptools callbacks: a request -----------------------------------------------------

    def on_message_begin(self) -> None:
        ex = self.parsing = Exchange()
        self.queue.append(ex)
        if len(self.queue) > 1:
            self.pause("pipelined")  # bounded: one request waits, the socket holds the rest

    def on_url(self, url: bytes) -> None:
        assert self.parsing is not None
        self.parsing.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.parsing is not None
        self.parsing.headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        p = self.parser
        ex.method = p.get_method().decode("ascii", "replace")
        ex.keep_alive = ex.keep_alive and p.should_keep_alive()
        ex.http11 = p.get_http_version() == "1.1"
        lines, length, ex.chunked_in, ex.expect = _passed_on(
            b"%s %s%s HTTP/1.1\r\nHost: %s\r\n" % (ex.method.encode("ascii", "replace"), self.relay.base_path,
                                                   ex.url, self.relay.host_header), ex.headers)
        if ex.chunked_in:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        elif length is not None:
            lines.append(b"Content-Length: %s\r\n" % length)
        lines.append(b"\r\n")
        self._send(ex, b"".join(lines))
        if ex is self.queue[0]:
            self._start(ex)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        if len(ex.body) < CAPTURE_LIMIT:
            ex.body += body[:CAPTURE_LIMIT - len(ex.body)]
        self._send(ex, b"%x\r\n%s\r\n" % (len(body), body) if ex.chunked_in else body)

    def on_message_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        self.parsing = None
        if ex.chunked_in:
            self._send(ex, b"0\r\n\r\n")
        ex.request_done = True
        ex.last_io = time.monotonic()

    # --- towards the upstream -----------------------------------------------------------------

    def _send(self, ex: Exchange, data: bytes) -> None:
        if ex.done:
            return  # answered already (the upstream did not wait for the whole body)
        if ex.sent is not None:
            ex.sent.append(data)
            if len(ex.body) >= CAPTURE_LIMIT:
                ex.sent = None  # too big to keep for sending again
        if ex.out is not None:
            ex.out.append(data)
        elif self.upstream is not None:
            self.upstream.put(data)

    def _start(self, ex: Exchange) -> None:
        """``ex`` is next to be answered: attach it to the upstream connection."""
        ex.t0 = time.perf_counter()
        ex.last_io = time.monotonic()
        self.relay.began(ex)
        if ex.expect:
            self.put(CONTINUE)
        up = self.upstream
        if up is not None and up.usable():
            up.begin(ex)
        else:
            if up is not None:
                up.abandon()
            self.upstream = None
            asyncio.get_running_loop().create_task(self._connect(ex))

    async def _connect(self, ex: Exchange) -> None:
        relay = self.relay
        origin = relay.upstream
        loop = asyncio.get_running_loop()
        try:
            _, up = await asyncio.wait_for(loop.create_connection(
                lambda: UpstreamSide(self), origin.host, origin.port, ssl=relay.ssl,
                server_hostname=origin.host if relay.ssl else None), relay.connect_timeout)
        except TimeoutError:
            self._answer_here(ex, 504, b"upstream timeout\n", "timeout")
            return
        except OSError:
            self._answer_here(ex, 502, b"upstream unreachable\n", "connect_error")
            return
        if self.closed or ex.done:
            up.abandon()
            return
        self.upstream = up
        up.begin(ex)
        up.flush()

    def _answer_here(self, ex: Exchange, status: int, text: bytes, error: str) -> None:
        """The proxy's own answer, the upstream having none."""
        if ex.done:
            return
        if self.transport is not None and not self.closed:
            reason = b"Bad Gateway" if status == 502 else b"Gateway Timeout"
            self.put(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
                status, reason, len(text), b"" if ex.keep_alive and ex.request_done else b"Connection: close\r\n",
                text))
        self._end(ex, error)
        self._next(ex, keep=ex.keep_alive and ex.request_done)

    # --- the answer, from the upstream --------------------------------------------------------

    def answer_head(self, ex: Exchange) -> None:
        status = ex.status
        assert status is not None
        lines, length, chunked, _ = _passed_on(b"HTTP/1.1 %d %s\r\n" % (status, ex.reason), ex.answer_headers)
        if ex.method == "HEAD" or status in NO_BODY_STATUSES:
            if length is not None:
                lines.append(b"Content-Length: %s\r\n" % length)
        elif length is not None and not chunked:
            lines.append(b"Content-Length: %s\r\n" % length)
        else:
            ex.close_delimited = not chunked
            if ex.http11:
                ex.chunked_out = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
            else:
                ex.keep_alive = False  # an HTTP/1.0 client learns the end by the close
        if not ex.keep_alive:
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        ex.answer_started = True
        self.put(b"".join(lines))

    def answer_body(self, ex: Exchange, body: bytes) -> None:
        if len(ex.answer) < CAPTURE_LIMIT:
            ex.answer += body[:CAPTURE_LIMIT - len(ex.answer)]
        self.put(b"%x\r\n%s\r\n" % (len(body), body) if ex.chunked_out else body)

    def answer_complete(self, ex: Exchange, upstream_keeps: bool) -> None:
        if ex.chunked_out:
            self.put(b"0\r\n\r\n")
        up = self.upstream
        if up is not None and (not upstream_keeps or not ex.request_done):
            up.abandon()  # it said close, or it still expects the rest of a body
            self.upstream = None
        self._end(ex, None)
        self._next(ex, keep=ex.keep_alive and ex.request_done)

    def upstream_lost(self, up: UpstreamSide, ex: Exchange | None) -> None:
        """The upstream's connection closed, while ``ex`` (if any) was on it."""
        if self.upstream is up:
            self.upstream = None
        if ex is None or ex.done:
            return
        if not ex.answer_started:
            if not ex.retried and up.served and ex.method in IDEMPOTENT_METHODS and ex.sent is not None \
                    and not ex.answer:
                ex.retried = True  # a reused connection the upstream had closed: once more
                ex.out = list(ex.sent)
                asyncio.get_running_loop().create_task(self._connect(ex))
                return
            self._answer_here(ex, 502, b"upstream closed the connection\n", "disconnected")
        elif ex.close_delimited:
            self.answer_complete(ex, upstream_keeps=False)
        else:
            self._end(ex, "disconnected")  # cut off: so is the client's answer
            self._next(ex, keep=False)

    def expire(self, now: float, timeout: float, idle_s: float) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is not None and ex.t0 and not ex.done:
            if self.upstream is not None and self.upstream.paused_by_client():
                ex.last_io = now  # the client is slow to read: not the upstream's silence
            elif ex.request_done and now - ex.last_io > timeout:
                if self.upstream is not None:
                    self.upstream.abandon()
                    self.upstream = None
                if ex.answer_started:
                    self._end(ex, "disconnected")
                    self._next(ex, keep=False)
                else:
                    self._answer_here(ex, 504, b"upstream timeout\n", "timeout")
        elif not self.queue and now - self.last_io > idle_s and self.transport is not None:
            self.close_transport()  # an idle keep-alive connection, as servers close them

    # --- ending an exchange -----------------------------------------------------------------------

    def _end(self, ex: Exchange, error: str | None) -> None:
        ex.done = True
        ex.error = error
        ex.out = ex.sent = None
        ex.latency_us = round((time.perf_counter() - ex.t0) * 1e6) if ex.t0 else None
        self.relay.end(ex)

    def _next(self, ex: Exchange, *, keep: bool) -> None:
        """``ex`` has ended: start the next pipelined request, or close."""
        self.last_io = time.monotonic()
        if self.queue and self.queue[0] is ex:
            self.queue.popleft()
        if not keep:
            if self.upstream is not None and not ex.request_done:
                self.upstream.abandon()
                self.upstream = None
            self.close_transport()  # after what was written
            return
        if self.queue:
            nxt = self.queue[0]
            if nxt.method:  # its head is complete
                self._start(nxt)
        if len(self.queue) <= 1:
            self.resume("pipelined")


class UpstreamSide(_Side):
    """The upstream connection of one client connection; one exchange at a time."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.relay = client.relay
        self.transport: asyncio.Transport | None = None
        self._pending = []
        self.parser: Any = None
        self.ex: Exchange | None = None
        self.closed = False
        self.served = 0
        self.idle_since = time.monotonic()
        self._pauses: set[str] = set()

    def usable(self) -> bool:
        return not self.closed and self.ex is None and time.monotonic() - self.idle_since < REUSE_IDLE_S

    def begin(self, ex: Exchange) -> None:
        self.ex = ex
        self.parser = httptools.HttpResponseParser(self)
        out, ex.out = ex.out or [], None
        self.put(b"".join(out))

    def abandon(self) -> None:
        """Close it (it is mid-exchange, or no longer wanted); nothing more is reported."""
        self.ex = None
        self.closed = True
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()

    def paused_by_client(self) -> bool:
        return "client" in self._pauses

    # --- the connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex, self.ex = self.ex, None
        self.client.upstream_lost(self, ex)

    def pause_writing(self) -> None:  # the upstream reads a request body slower than it comes
        self.client.pause("upstream")

    def resume_writing(self) -> None:
        self.client.resume("upstream")

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None or self.parser is None:
            return  # bytes after an answer we took as complete (a HEAD's): ignored
        ex.last_io = time.monotonic()
        self.relay.batch()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abandon()
            self.client.upstream_lost(self, ex)
        finally:
            self.relay.unbatch()

    # --- httptools callbacks: an answer --------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        if self.ex is not None:
            self.ex.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.ex is not None:
            self.ex.answer_headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.ex
        if ex is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            ex.answer_headers = []  # an interim answer: the real one follows
            ex.reason = b""
            return
        ex.status = status
        self.client.answer_head(ex)
        if ex.method == "HEAD":  # the parser would wait for a body the head announces
            keeps = self.parser.should_keep_alive()
            self.parser = None
            self._complete(ex, keeps)

    def on_body(self, body: bytes) -> None:
        if self.ex is not None:
            self.client.answer_body(self.ex, body)

    def on_message_complete(self) -> None:
        ex = self.ex
        if ex is not None and ex.status is not None:
            self._complete(ex, self.parser.should_keep_alive())

    def _complete(self, ex: Exchange, keeps: bool) -> None:
        self.ex = None
        self.served += 1
        self.idle_since = time.monotonic()
        self.client.answer_complete(ex, keeps)


def _passed_on(first: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[list[bytes], bytes | None, bool, bool]:
    """A head as passed on: ``first`` and the end-to-end header lines (the framing is
    the caller's to add); and what the dropped ones said: the Content-Length, whether
    the body is chunked, whether 100-continue is expected."""
    named = _named_by_connection(headers)
    drop = HOP_BY_HOP | named if named else HOP_BY_HOP
    lines = [first]
    length = None
    chunked = expect = False
    for name, value in headers:
        lower = name.lower()
        if lower not in drop:
            lines.append(b"%s: %s\r\n" % (name, value))
        elif lower == b"content-length":
            length = value
        elif lower == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif lower == b"expect" and value.lower() == b"100-continue":
            expect = True
    return lines, length, chunked, expect


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for k, v in headers:
        if k.lower() == name:
            return v
    return b""


def _named_by_connection(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Headers the ``Connection`` header names are hop-by-hop too (RFC 9110 7.6.1)."""
    named: set[bytes] = set()
    for k, v in headers:
        if k.lower() == b"connection":
            named.update(t.strip().lower() for t in v.split(b","))
    named -= _PLAIN_CONNECTION  # the usual values name nothing to drop: no set to build
    return frozenset(named)
