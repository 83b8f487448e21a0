"""Small HTTP/1.1 servers that answer legally, but less simply than nginx.

For the transport battery (``tests/transport/test_odd_servers.py``). Each behaviour
is one short coroutine, ``behaviour(request, conn)``, that writes the answer to one
request (or closes, or resets the connection). ``OddServer`` does the rest: it binds
127.0.0.1 on a free port in the test's own event loop, reads requests (request
line, headers, a Content-Length body), records every one (``requests``), and hands
each to the behaviour, for as long as the connection stays open.

Answers carry the request's ``id`` query parameter back in a JSON body,
``{"error": 0, "id": "<id>"}``, so a test can check that every answer reached the
request it answers (an answer shifted onto the next request shows).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson

IDLE_S = 5.0  # a connection idle this long is closed: no server outlives its test
FOREVER_S = 10.0  # "never answers" still ends, so that nothing hangs past a test


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # as sent: names keep their case, order kept
    body: bytes
    conn: int  # which connection (numbered from 0 in accept order) carried it
    seq: int  # its number on that connection, from 0

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def id(self) -> str:
        return self.query.get("id", ["?"])[0]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Conn:
    """One accepted connection, as a behaviour sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        self.reader = reader
        self.writer = writer
        self.number = number
        self.idle = IDLE_S  # close after this long without a request
        self.open = True  # False once a behaviour closed or reset it

    async def send(self, *pieces: bytes, pause: float = 0.0) -> None:
        """Write ``pieces`` one by one, each flushed (and ``pause`` s apart), so the
        client tends to read them separately."""
        for i, piece in enumerate(pieces):
            if i and pause:
                await asyncio.sleep(pause)
            self.writer.write(piece)
            await self.writer.drain()

    def close(self) -> None:
        """A clean close (FIN)."""
        self.open = False
        self.writer.close()

    def reset(self) -> None:
        """An abortive close: SO_LINGER 0 makes the kernel send RST, not FIN."""
        self.open = False
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def wait_closed_by_client(self) -> None:
        """Read and discard until the client goes (bounded)."""
        try:
            async with asyncio.timeout(FOREVER_S):
                while await self.reader.read(65536):
                    pass
        except (TimeoutError, ConnectionError):
            pass
        self.close()


Behaviour = Callable[[Request, Conn], Awaitable[None]]


@dataclass
class OddServer:
    """A loopback server running one behaviour; ``async with`` starts and stops it."""

    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    idle_closes: int = 0  # connections closed for being idle (``Conn.idle``)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> OddServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def ids(self) -> list[str]:
        return [r.id for r in self.requests]

    def per_connection(self) -> list[int]:
        """How many requests each connection carried, in accept order."""
        counts = [0] * self.connections
        for r in self.requests:
            counts[r.conn] += 1
        return counts

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(reader, writer, self.connections)
        self.connections += 1
        seq = 0
        try:
            while conn.open:
                try:
                    async with asyncio.timeout(conn.idle):
                        request = await _read_request(reader, conn.number, seq)
                except TimeoutError:
                    conn.close()  # an idle keep-alive connection, closed as servers do
                    self.idle_closes += 1
                    break
                if request is None:
                    break
                self.requests.append(request)
                seq += 1
                await self.behaviour(request, conn)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            if conn.open:
                conn.close()


async def _read_request(reader: asyncio.StreamReader, conn: int, seq: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed between requests
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = [tuple(line.split(":", 1)) for line in lines[1:] if line]
    headers = [(k, v.strip()) for k, v in headers]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body, conn, seq)  # type: ignore[arg-type]


# --- answers --------------------------------------------------------------------------


def doc_for(request: Request) -> bytes:
    """The JSON answer that names its request."""
    return orjson.dumps({"error": 0, "id": request.id})


def head(status: int, reason: str, *headers: str) -> bytes:
    """A status line and header lines, ending with the blank line."""
    return (f"HTTP/1.1 {status} {reason}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


def answer(body: bytes, *headers: str, status: int = 200, reason: str = "OK") -> bytes:
    """A complete answer with a Content-Length."""
    return head(status, reason, "Content-Type: application/json", f"Content-Length: {len(body)}", *headers) + body


def chunked(body: bytes, size: int) -> list[bytes]:
    """``body`` as chunks of ``size`` bytes, then the last chunk."""
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return [*parts, b"0\r\n\r\n"]


# --- behaviours: one per oddity ---------------------------------------------------------


async def plain(request: Request, conn: Conn) -> None:
    """What nginx does: 200, Content-Length, keep-alive."""
    await conn.send(answer(doc_for(request)))


async def early_hints(request: Request, conn: Conn) -> None:
    """103 Early Hints before each 200 (answers shifted by one if it is taken for the answer)."""
    await conn.send(head(103, "Early Hints", "Link: </style.css>; rel=preload"), answer(doc_for(request)))


async def interim_chain(request: Request, conn: Conn) -> None:
    """Several 1xx in a row (100, 102, 103, 103), written apart, then the 200."""
    await conn.send(
        head(100, "Continue"),
        head(102, "Processing"),
        head(103, "Early Hints", "Link: </a.js>; rel=preload"),
        head(103, "Early Hints", "Link: </b.js>; rel=preload"),
        answer(doc_for(request)),
        pause=0.001,
    )


async def unsolicited_continue(request: Request, conn: Conn) -> None:
    """100 Continue although the request did not ask for it (no Expect header)."""
    await conn.send(head(100, "Continue") + answer(doc_for(request)))


async def switching_protocols(request: Request, conn: Conn) -> None:
    """101 Switching Protocols, then bytes of another protocol until the client goes."""
    await conn.send(head(101, "Switching Protocols", "Upgrade: opscom-test", "Connection: Upgrade"), b"\x00\x01 not http")
    await conn.wait_closed_by_client()


async def close_delimited(request: Request, conn: Conn) -> None:
    """No Content-Length, not chunked: the body ends when the server closes."""
    await conn.send(head(200, "OK", "Content-Type: application/json"), doc_for(request), pause=0.001)
    conn.close()


async def close_delimited_reset(request: Request, conn: Conn) -> None:
    """A close-delimited body that ends with a reset rather than a clean close."""
    await conn.send(head(200, "OK", "Content-Type: application/json", "Connection: close") + doc_for(request))
    await asyncio.sleep(0.002)
    conn.reset()


async def chunked_small(request: Request, conn: Conn) -> None:
    """A chunked body in chunks of 3 bytes, written in several pieces."""
    pieces = chunked(doc_for(request), 3)
    await conn.send(
        head(200, "OK", "Content-Type: application/json", "Transfer-Encoding: chunked"),
        b"".join(pieces[: len(pieces) // 2]),
        b"".join(pieces[len(pieces) // 2:]),
        pause=0.001,
    )


async def gzipped(request: Request, conn: Conn) -> None:
    """gzip, although the client asked for identity."""
    await conn.send(answer(gzip.compress(doc_for(request)), "Content-Encoding: gzip"))


async def deflated(request: Request, conn: Conn) -> None:
    """deflate as RFC 9110 means it (the zlib format)."""
    await conn.send(answer(zlib.compress(doc_for(request)), "Content-Encoding: deflate"))


async def raw_deflated(request: Request, conn: Conn) -> None:
    """deflate as some servers send it: raw, without the zlib wrapper."""
    c = zlib.compressobj(wbits=-15)
    body = c.compress(doc_for(request)) + c.flush()
    await conn.send(answer(body, "Content-Encoding: deflate"))


async def gzipped_split_head(request: Request, conn: Conn) -> None:
    """A 103, then a gzip answer whose head arrives in several pieces: the client has
    to find Content-Encoding in a head split over reads."""
    whole = head(103, "Early Hints") + answer(gzip.compress(doc_for(request)), "X-Padding: " + "p" * 40, "Content-Encoding: gzip")
    await conn.send(*(whole[i:i + 16] for i in range(0, len(whole), 16)), pause=0.0005)


async def gzip_close_delimited(request: Request, conn: Conn) -> None:
    """A gzip body without a length, ended by the close."""
    await conn.send(head(200, "OK", "Content-Encoding: gzip"), gzip.compress(doc_for(request)), pause=0.001)
    conn.close()


async def connection_close(request: Request, conn: Conn) -> None:
    """Connection: close on every answer, and the server closes after it."""
    await conn.send(answer(doc_for(request), "Connection: close"))
    conn.close()


async def reset_mid_body(request: Request, conn: Conn) -> None:
    """Half of a Content-Length body, then RST."""
    body = doc_for(request) + b" " * 100
    await conn.send(head(200, "OK", f"Content-Length: {len(body)}") + body[: len(body) // 2])
    await asyncio.sleep(0.002)
    conn.reset()


async def close_mid_body(request: Request, conn: Conn) -> None:
    """Half of a Content-Length body, then a clean close."""
    body = doc_for(request) + b" " * 100
    await conn.send(head(200, "OK", f"Content-Length: {len(body)}", "Connection: close") + body[: len(body) // 2])
    conn.close()


async def close_mid_chunked(request: Request, conn: Conn) -> None:
    """Some chunks of a chunked body, then a clean close before the last chunk."""
    pieces = chunked(doc_for(request), 4)
    await conn.send(head(200, "OK", "Transfer-Encoding: chunked") + b"".join(pieces[:3]))
    conn.close()


BIG = 64 * 1024  # larger than the limit the tests set (4 KiB), far below the default


def big_for_odd_ids(make_big: Callable[[Request, Conn], Awaitable[None]]) -> Behaviour:
    """``make_big`` for requests with an odd id, a plain answer for the others: a
    body over the limit must cost its own call only, never the next one."""

    async def behaviour(request: Request, conn: Conn) -> None:
        if int(request.id) % 2:
            await make_big(request, conn)
        else:
            await plain(request, conn)

    behaviour.__name__ = make_big.__name__
    return behaviour


async def _oversized(request: Request, conn: Conn) -> None:
    await conn.send(answer(b" " * BIG))


async def _oversized_chunked(request: Request, conn: Conn) -> None:
    await conn.send(head(200, "OK", "Transfer-Encoding: chunked"), *chunked(b" " * BIG, 8192))


async def _oversized_close_delimited(request: Request, conn: Conn) -> None:
    await conn.send(head(200, "OK"), b" " * BIG)
    conn.close()


HUGE = 2 * 1024 * 1024  # over a limit of one read (256 KiB) or more


async def _huge(request: Request, conn: Conn) -> None:
    await conn.send(answer(b" " * HUGE))


async def _huge_chunked(request: Request, conn: Conn) -> None:
    await conn.send(head(200, "OK", "Transfer-Encoding: chunked"), *chunked(b" " * HUGE, 65536))


BOMB = gzip.compress(b" " * (8 * 1024 * 1024))  # 8 KiB that inflate to 8 MiB


async def _gzip_bomb(request: Request, conn: Conn) -> None:
    await conn.send(answer(BOMB, "Content-Encoding: gzip"))


oversized = big_for_odd_ids(_oversized)  # a Content-Length body over the limit
oversized_chunked = big_for_odd_ids(_oversized_chunked)  # a chunked one
oversized_close_delimited = big_for_odd_ids(_oversized_close_delimited)  # one ended by the close
gzip_bomb = big_for_odd_ids(_gzip_bomb)  # a small gzip body that inflates far past the limit
huge = big_for_odd_ids(_huge)  # over a large limit too
huge_chunked = big_for_odd_ids(_huge_chunked)


@dataclass
class Endless:
    """A body that never ends (no length, streamed) until the client drops it.
    ``sent`` counts what the server managed to write."""

    sent: int = 0
    cap: int = 256 * 1024 * 1024

    async def __call__(self, request: Request, conn: Conn) -> None:
        piece = b" " * 16384
        await conn.send(head(200, "OK"))
        try:
            while self.sent < self.cap:
                await conn.send(piece)
                self.sent += len(piece)
        except ConnectionError:
            pass
        conn.close()


async def idle_close(request: Request, conn: Conn) -> None:
    """Keep-alive answers, but a connection idle for 20 ms is closed (as nginx does
    after keepalive_timeout)."""
    conn.idle = 0.02
    await conn.send(answer(doc_for(request)))


async def close_after_answer(request: Request, conn: Conn) -> None:
    """Answers, then closes at once without saying so (no Connection: close): the
    client's next request on that connection meets a closed connection."""
    await conn.send(answer(doc_for(request)))
    conn.close()


async def drop(request: Request, conn: Conn) -> None:
    """Reads the request and closes without a byte of answer."""
    conn.close()


async def silent(request: Request, conn: Conn) -> None:
    """Reads the request and never answers (until the client goes)."""
    await conn.wait_closed_by_client()


async def head_aware(request: Request, conn: Conn) -> None:
    """HEAD gets a head announcing 1234 bytes and no body; anything else, the doc."""
    if request.method == "HEAD":
        await conn.send(head(200, "OK", "Content-Type: application/json", "Content-Length: 1234"))
    else:
        await conn.send(answer(doc_for(request)))


async def error_with_code(request: Request, conn: Conn) -> None:
    """500 with an OPSCOM error body: an OPSCOM call reads the code, any other call
    only the status."""
    await conn.send(answer(b'{"ErrorCode": 9006, "id": "%s"}' % request.id.encode(), status=500, reason="Internal Server Error"))


async def not_json(request: Request, conn: Conn) -> None:
    """200 with a body that is not JSON: undecodable for an OPSCOM call, ok for others."""
    await conn.send(answer(b"<html>fine</html>"))


async def bad_chunk_size(request: Request, conn: Conn) -> None:
    """A chunked body whose chunk size is not hexadecimal."""
    await conn.send(head(200, "OK", "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n")


async def not_http(request: Request, conn: Conn) -> None:
    """Something that is not an HTTP answer at all."""
    await conn.send(b"SSH-2.0-OpenSSH_9.6\r\n")
    conn.close()


def redirect_to(url: str) -> Behaviour:
    """307 to ``url`` (another loopback server), which must never be followed."""

    async def redirect(request: Request, conn: Conn) -> None:
        await conn.send(answer(b"", f"Location: {url}{request.target}", status=307, reason="Temporary Redirect"))

    return redirect
