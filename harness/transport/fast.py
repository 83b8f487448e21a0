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

Answers less plain than nginx's are handled as the aiohttp transport handles them
(docs/transports.md says why): interim 1xx answers are skipped, except 101, which is
the answer ``http_101`` and ends the connection; a body with neither Content-Length
nor chunking ends at the close; a HEAD answer has no body; a body over ``max_body``
is ``body_too_large``; a gzip or deflate body is decompressed; an idempotent request
whose connection ends before the answer's head is complete is sent once more.

Headers without ``on_header``: httptools calls ``on_header`` once per header, which
costs about 0.5 us per answer (some 3% of this transport's whole cost per request),
for information almost never needed; ``on_headers_complete`` costs some 50 ns more.
So the connection defines neither. It keeps a reference to the first chunk of each
exchange (and to later ones while no body byte has come: a split head), and the rare
paths that need the head (the Content-Encoding of a body that is not JSON; whether
the head was complete, and the body's framing, when the connection ends mid-answer)
parse it again (``_head_fields``). A HEAD request, whose answer must not be read as
announcing a body, gets a parser of its own that does watch for the head's end.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import httptools

from harness.opscom.outcome import (
    BODY_TOO_LARGE,
    CONNECT_ERROR,
    DISCONNECTED,
    TIMEOUT,
    UNDECODABLE,
    Outcome,
    classify_answer,
    decode_and_classify,
)
from harness.traffic.call import Call
from harness.transport.answer import classify_compressed
from harness.transport.base import (
    IDEMPOTENT_METHODS,
    Crash,
    Done,
    Origin,
    TransportConfig,
    encode_request,
    sweep_timeouts,
)

_now = time.perf_counter_ns

# The most bytes kept while waiting for an answer's head to end. A longer head is
# refused as undecodable rather than buffered without end (aiohttp refuses header
# lines over 8 KiB, so no server we are meant to load sends anything near this).
MAX_HEAD = 1 << 20

# asyncio and uvloop hand ``data_received`` at most 256 KiB at a time (the size of
# their read buffers, TLS included), so the first piece of a body can exceed only a
# smaller ``max_body``: only then is that piece checked (``_SmallLimitConnection``).
READ_MAX = 256 * 1024

Body = bytes | bytearray


class _BodyTooLarge(Exception):
    """Raised from ``on_body`` to stop the parser at ``max_body``."""


class _HeadAnswered(Exception):
    """Raised from ``on_headers_complete`` to stop the parser after the head of an
    answer to HEAD: httptools offers no way to tell llhttp that the request was a
    HEAD, so it would wait for the body a Content-Length announces."""


class _HeadRead(Exception):
    """Stops ``_HeadReader`` once it has the final answer's headers."""


class _Connection(asyncio.Protocol):
    """One TCP connection and the one request in flight on it (no pipelining)."""

    __slots__ = (
        "slot", "transport", "parser", "call", "intended", "sent", "body", "dead",
        "max_body", "early", "kept", "second",
    )  # fmt: skip

    def __init__(self, slot: FastSlot, *, second: Call | None = None) -> None:
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.call: Call | None = None
        self.intended = 0
        self.sent = 0
        self.body: Body = b""
        self.dead = False
        self.max_body = slot.transport.config.max_body
        # The bytes of this exchange's answer up to the chunk that holds the end of its
        # head (and 1xx answers before it): one chunk (bytes) as a rule, a list when
        # the head came in pieces. None between exchanges.
        self.early: bytes | list[bytes] | None = None
        self.kept = 0  # bytes in ``early`` once it is a list
        # The call this connection was opened to send a second time: if it too ends
        # without an answer, it is not sent a third time. (Per call, not per
        # connection: later calls on this connection have their own second chance.)
        self.second = second

    # --- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.early is None:
            self.early = data  # by reference: no copy on the common path
        elif not self.body and not self.keep_head(data):  # no body yet: the head may go on
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.parse_stopped(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.dead = True
        call = self.call
        if call is None:
            return
        fields = self.answer_fields()
        if fields is None:
            # Closed or reset before the answer's head was complete: typically a
            # keep-alive connection the server closed just as we wrote to it. Only an
            # idempotent request is sent again, once (docs/transports.md, "stale
            # connections"): a POST may have been applied, so it is disconnected.
            t = self.slot.transport
            if call is not self.second and not t.closing and call.method in IDEMPOTENT_METHODS:
                self.call = None
                self.slot.connect(call, self.intended, self.sent, second=True)
                return
        elif not _framed(fields):
            # A body with neither Content-Length nor chunking ends with the connection
            # (RFC 9112 6.3), cleanly closed or reset: no one can tell its end from a
            # cut there (aiohttp reads it so too), and a cut JSON body is undecodable.
            self.report_answer(self.parser.get_status_code(), self.body)
            return
        self.finish(DISCONNECTED, None)

    # --- httptools callbacks -------------------------------------------------------

    def on_body(self, chunk: bytes) -> None:
        # The first piece is kept as it came, unchecked (READ_MAX: it cannot exceed
        # the limit, and checking it costs 2% of this path); the others are checked
        # as they are added.
        if not self.body:
            self.body = chunk
        else:
            self.more_body(chunk)

    def on_message_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:
            if status != 101:
                # An interim answer (100 Continue, 103 Early Hints...): the final one
                # follows on this connection, and it is the one that answers the call.
                return
            self.kill()  # 101 Switching Protocols: what follows is not HTTP/1.1
        elif not parser.should_keep_alive():
            self.kill()
        body = self.body
        self.body = b""
        call = self.call
        if call is None:  # nobody asked (the call was reported already): ignore it
            self.early = None
            return
        # report_answer(), inlined: this is the path of every answer.
        self.call = None
        opscom = call.endpoint is not None
        # classify_answer, inlined for OPSCOM calls (every answer of a load test)
        outcome, doc = decode_and_classify(status, body) if opscom else classify_answer(False, status, body)
        if doc is None and opscom and body:  # not JSON: perhaps compressed
            outcome, doc = self.undo_encoding(status, body, outcome, doc)
        self.early = None
        try:
            self.slot.done(self.slot, call, self.intended, self.sent, _now(), outcome, doc)
        except Exception as exc:
            self.slot.transport.crash(exc)

    # --- the rare paths ------------------------------------------------------------

    def keep_head(self, data: bytes) -> bool:
        """Keep one more chunk of a head that spans several (or follows a 1xx)."""
        early = self.early
        if isinstance(early, bytes):
            self.early = early = [early]
            self.kept = len(early[0])
        assert isinstance(early, list)
        early.append(data)
        self.kept += len(data)
        if self.kept <= MAX_HEAD:
            return True
        self.kill()
        self.finish(UNDECODABLE, None)
        return False

    def more_body(self, chunk: bytes) -> None:
        """Append a body's second and later pieces (its first is kept as it came)."""
        body = self.body
        if len(body) + len(chunk) > self.max_body:
            raise _BodyTooLarge
        if isinstance(body, bytearray):
            body += chunk
        else:
            grown = bytearray(body)
            grown += chunk
            self.body = grown

    def parse_stopped(self, exc: httptools.HttpParserError) -> None:
        """The parser stopped: a HEAD answer's end, the body limit, an answer that is
        not HTTP, or a bug in one of our callbacks (httptools wraps whatever a
        callback raises in HttpParserCallbackError, the original as its context)."""
        cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else None
        if isinstance(cause, _HeadAnswered):
            self.head_answered()
            return
        self.kill()
        if cause is None:
            # Not HTTP; or what follows a 101, which was reported already.
            self.finish(UNDECODABLE, None)
        elif isinstance(cause, _BodyTooLarge):
            self.finish(BODY_TOO_LARGE, None)
        elif isinstance(cause, Exception):
            # A bug of ours, not an outcome of the target's: the call is dropped
            # unreported (see ``Crash``) and the slot opens a new connection next.
            self.call = None
            self.slot.transport.crash(cause)
        else:
            raise cause  # KeyboardInterrupt and the like are not ours to hold

    def head_answered(self) -> None:
        """The head of an answer to HEAD is the whole answer. The HEAD parser stopped
        in an error state there, so the connection carries on with a plain one."""
        parser = self.parser
        status = parser.get_status_code()
        keep = parser.should_keep_alive()  # false without a length: then reconnect
        self.parser = httptools.HttpResponseParser(self)
        self.body = b""
        if not keep:
            self.kill()
        self.report_answer(status, b"")

    def answer_fields(self) -> dict[bytes, bytes] | None:
        """The headers of the answer in flight (names lowercased), or None while its
        head is not complete (or no byte of it came)."""
        early = self.early
        if early is None:
            return None
        return _head_fields(early if isinstance(early, bytes) else b"".join(early))

    def undo_encoding(self, status: int, body: Body, outcome: Outcome, doc: Any) -> tuple[Outcome, Any]:
        """A body that is not JSON: if the server compressed it (though we asked it
        not to), the outcome of the decompressed body."""
        fields = self.answer_fields()
        if fields is None:
            return outcome, doc
        redone = classify_compressed(status, bytes(body), fields.get(b"content-encoding"), self.max_body)
        return (outcome, doc) if redone is None else redone

    def report_answer(self, status: int, body: Body) -> None:
        """Report the answer to the call in flight (on_message_complete inlines this)."""
        call = self.call
        if call is None:
            self.early = None
            return
        opscom = call.endpoint is not None
        # classify_answer, inlined for OPSCOM calls (every answer of a load test)
        outcome, doc = decode_and_classify(status, body) if opscom else classify_answer(False, status, body)
        if doc is None and opscom and body:
            outcome, doc = self.undo_encoding(status, body, outcome, doc)
        self.early = None
        self.finish(outcome, doc)

    # --- requests -----------------------------------------------------------------

    def finish(self, outcome: Outcome, doc: Any) -> None:
        """Report the request in flight, once; later calls are no-ops."""
        call = self.call
        if call is None:
            return
        self.call = None
        try:
            self.slot.done(self.slot, call, self.intended, self.sent, _now(), outcome, doc)
        except Exception as exc:
            self.slot.transport.crash(exc)

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
        except Exception as exc:  # a bug (ours or the loop's): a task must not die silently
            self.kill()
            self.call = None
            self.slot.transport.crash(exc)
            return
        if self.call is None or self.transport is None:  # timed out meanwhile, or closed
            self.kill()
            return
        self.transport.write(wire)


class _SmallLimitConnection(_Connection):
    """A connection whose ``max_body`` is under READ_MAX (tests, mostly): the first
    piece of a body is checked against it too."""

    __slots__ = ()

    def on_body(self, chunk: bytes) -> None:
        if not self.body and len(chunk) > self.max_body:
            raise _BodyTooLarge
        _Connection.on_body(self, chunk)


def _framed(fields: dict[bytes, bytes] | None) -> bool:
    """Whether an answer's body has a length of its own (chunked, or a Content-Length
    without Transfer-Encoding), so that a close before its end cuts it. Without
    fields to read, assume it has: a cut is then reported, never invented."""
    if fields is None:
        return True
    coding = fields.get(b"transfer-encoding")
    if coding is not None:
        return coding.rstrip().lower().endswith(b"chunked")
    return b"content-length" in fields


class _HeadWatcher:
    """The parser's protocol while a HEAD request is in flight: it stops the parser
    at the end of the final answer's head (``_HeadAnswered``), which is the whole
    answer, whatever Content-Length it announces. Interim answers go to the
    connection as usual."""

    __slots__ = ("conn",)

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn

    def on_headers_complete(self) -> None:
        if self.conn.parser.get_status_code() >= 200:
            raise _HeadAnswered

    def on_message_complete(self) -> None:
        self.conn.on_message_complete()  # a 1xx (and a 101, which ends the connection)


class _HeadReader:
    """Parses an answer's head again from its kept bytes, with the ``on_header``
    callback the connection does without (rare paths only)."""

    __slots__ = ("parser", "fields")

    def __init__(self) -> None:
        self.fields: dict[bytes, bytes] = {}
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        seen = self.fields.get(key)
        self.fields[key] = value if seen is None else seen + b", " + value

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            raise _HeadRead
        self.fields = {}  # an interim answer's: the final answer's come next


def _head_fields(raw: bytes) -> dict[bytes, bytes] | None:
    """The final answer's headers in ``raw`` (an exchange's bytes from its start)."""
    reader = _HeadReader()
    try:
        reader.parser.feed_data(raw)
    except httptools.HttpParserCallbackError as exc:
        if isinstance(exc.__context__, _HeadRead):
            return reader.fields
    except httptools.HttpParserError:
        pass
    return None


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
            if call.method == "HEAD":
                # Never cached, so that this test stays off the path of other calls.
                self.send_head(call, intended_ns, t.encode(call))
                return
            wire = call.wire = t.encode(call)
        conn = self.plate if call.plate_service and not t.same_origin else self.controller
        if conn is None or conn.dead or conn.transport is None:
            self.connect(call, intended_ns, _now())
            return
        conn.call = call
        conn.intended = intended_ns
        conn.sent = _now()
        conn.transport.write(wire)

    def send_head(self, call: Call, intended_ns: int, wire: bytes) -> None:
        """``send`` for a HEAD request: its connection parses with ``_HeadWatcher``."""
        t = self.transport
        conn = self.plate if call.plate_service and not t.same_origin else self.controller
        if conn is None or conn.dead or conn.transport is None:
            self.connect(call, intended_ns, _now())
            return
        conn.parser = httptools.HttpResponseParser(_HeadWatcher(conn))
        conn.call = call
        conn.intended = intended_ns
        conn.sent = _now()
        conn.transport.write(wire)

    def connect(self, call: Call, intended_ns: int, sent_ns: int, *, second: bool = False) -> None:
        """Carry ``call`` on a new connection (its first attempt, or its second)."""
        t = self.transport
        conn = t.connection_class(self, second=call if second else None)
        if call.plate_service and not t.same_origin:
            self.plate = conn
        else:
            self.controller = conn
        conn.call = call
        conn.intended = intended_ns
        conn.sent = sent_ns  # a second attempt's latency includes the first
        if call.method == "HEAD":
            conn.parser = httptools.HttpResponseParser(_HeadWatcher(conn))
        origin = t.config.plate_service if call.plate_service else t.config.controller
        wire = call.wire if call.wire is not None else t.encode(call)
        task = t.loop.create_task(conn.connect_and_write(origin, t.ssl_for(origin), t.config.connect_timeout, wire))
        t.connecting.add(task)
        task.add_done_callback(t.connecting.discard)

    async def preconnect(self) -> None:
        """Open this slot's connection(s) before the run, as wrk does, so the first
        requests do not pay for TCP (and TLS) set-up. Failures are left to ``send``."""
        t = self.transport
        origins = [(False, t.config.controller)]
        if not t.same_origin:
            origins.append((True, t.config.plate_service))
        for plate, origin in origins:
            conn = t.connection_class(self)
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


def _crash_before_open(exc: BaseException) -> None:
    raise exc


class FastTransport:
    name = "fast"

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop()
        self.slots: list[FastSlot] = []
        self.connecting: set[asyncio.Task[None]] = set()
        self.crash: Crash = _crash_before_open
        self.closing = False
        self.connection_class = _Connection if config.max_body >= READ_MAX else _SmallLimitConnection
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
        self.closing = True  # no second attempts from here on
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self.connecting):
            task.cancel()
        for slot in self.slots:
            for conn in slot.connections():
                conn.kill()
                conn.finish(TIMEOUT, None)
        await asyncio.sleep(0)  # let aborted transports run connection_lost
