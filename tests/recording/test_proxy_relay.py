"""The recording proxy's relay against servers that answer legally but less simply
than nginx (``tests/support/odd_servers.py``), and against clients that pipeline,
half-close, speak HTTP/1.0, ask for 100-continue, stream, or read slowly.

The proxy runs in the test's event loop on 127.0.0.1, the odd server beside it; the
clients are aiohttp's (a real client library) or raw sockets where the bytes on the
wire are the point. Every answer names its request (``id``), so an answer relayed to
the wrong request fails the test; every exchange must be recorded exactly once.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest

from harness.recording import read_calls
from harness.recording.files import RecordingWriter
from harness.recording.format import RecordedCall
from harness.recording.proxy import ProxySettings, RecordingProxy
from tests.support import odd_servers as odd
from tests.support.harness_cli import stall_server

pytestmark = pytest.mark.timeout(60)


@dataclass
class Running:
    server: odd.OddServer
    proxy: RecordingProxy
    url: str
    port: int
    out: Path

    def calls(self) -> list[RecordedCall]:
        return list(read_calls(self.out))


@asynccontextmanager
async def in_front_of(upstream: str, out: Path, *, timeout: float = 10.0) -> AsyncIterator[RecordingProxy]:
    writer = RecordingWriter(out, source="record", origin=upstream)
    proxy = RecordingProxy(ProxySettings(upstream=upstream, timeout=timeout), writer)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@asynccontextmanager
async def through_proxy(behaviour: odd.Behaviour, tmp_path: Path, *, timeout: float = 10.0,
                        base: str = "") -> AsyncIterator[Running]:
    out = tmp_path / "relay.jsonl"
    async with odd.OddServer(behaviour) as server, in_front_of(server.url + base, out, timeout=timeout) as proxy:
        yield Running(server, proxy, f"http://127.0.0.1:{proxy.port}", proxy.port, out)


def _session() -> aiohttp.ClientSession:
    # No decompression: the client must get the upstream's bytes as they were sent.
    return aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=20))


async def _raw(port: int, data: bytes, *, half_close: bool = False, until: bytes | None = None,
               read_for: float = 2.0) -> bytes:
    """Send ``data`` on a new connection; what comes back until the server closes
    (or ``until`` has been seen, or ``read_for`` seconds passed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if half_close:
        writer.write_eof()
    got = b""
    try:
        async with asyncio.timeout(read_for):
            while chunk := await reader.read(65536):
                got += chunk
                if until is not None and got.count(until) >= 1 and got.endswith(b"}"):
                    break
    except TimeoutError:
        pass
    writer.close()
    return got


# --- answers relayed unchanged -------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [odd.plain, odd.early_hints, odd.interim_chain, odd.unsolicited_continue,
                                       odd.close_delimited, odd.chunked_small, odd.connection_close,
                                       odd.gzipped, odd.deflated, odd.gzipped_split_head, odd.gzip_close_delimited],
                         ids=lambda b: b.__name__)
async def test_odd_but_legal_answers_reach_the_client_as_sent(behaviour: odd.Behaviour, tmp_path: Path) -> None:
    async with through_proxy(behaviour, tmp_path) as run, _session() as http:
        bodies = []
        for i in range(3):
            async with http.post(f"{run.url}/api/OC_TOMA/v1/permits/stats?id=r{i}", json={"apiToken": "t"}) as r:
                assert r.status == 200
                bodies.append((r.headers.get("Content-Encoding"), await r.read()))
        assert run.server.ids() == ["r0", "r1", "r2"]
    for i, (encoding, body) in enumerate(bodies):
        plain = gzip.decompress(body) if encoding == "gzip" else body
        if encoding == "deflate":
            import zlib

            plain = zlib.decompress(body)
        assert orjson.loads(plain)["id"] == f"r{i}"  # each answer went to its own request
    calls = run.calls()
    assert [c.query for c in calls] == ["id=r0", "id=r1", "id=r2"]
    assert all(c.answer and c.answer["status"] == 200 and c.answer["outcome"] == "ok" for c in calls)


async def test_keep_alive_on_both_sides(tmp_path: Path) -> None:
    async with through_proxy(odd.plain, tmp_path) as run, _session() as http:
        for i in range(5):
            async with http.get(f"{run.url}/healthz?id=k{i}") as r:
                assert orjson.loads(await r.read())["id"] == f"k{i}"
        # aiohttp reused its connection to the proxy, and the proxy its one upstream.
        assert run.server.per_connection() == [5]
        assert len(run.proxy.relay.clients) == 1


async def test_the_upstream_gets_the_request_with_its_own_host_and_base_path(tmp_path: Path) -> None:
    async with through_proxy(odd.plain, tmp_path, base="/ctl") as run, _session() as http:
        async with http.request("PATCH", f"{run.url}/api/x?id=h1&q=%20a", data=b"raw-bytes",
                                headers={"X-Meter": "M-17", "Connection": "keep-alive, X-Hop",
                                         "X-Hop": "dropped", "Content-Type": "application/octet-stream"}) as r:
            assert r.status == 200
        seen = run.server.requests[0]
        assert seen.method == "PATCH" and seen.target == "/ctl/api/x?id=h1&q=%20a"
        assert seen.header("Host") == run.server.url.removeprefix("http://")
        assert seen.header("X-Meter") == "M-17" and seen.header("X-Hop") is None  # named by Connection
        assert seen.body == b"raw-bytes" and seen.header("Content-Length") == "9"
    (call,) = run.calls()
    assert call.method == "PATCH" and call.path == "/api/x"


async def test_a_chunked_upload_and_a_large_answer_stream_through(tmp_path: Path) -> None:
    big = odd.HUGE

    async def echo_length(request: odd.Request, conn: odd.Conn) -> None:
        await conn.send(odd.head(200, "OK", f"Content-Length: {big}"), b"x" * big)

    async def upload() -> AsyncIterator[bytes]:
        for i in range(20):
            yield b"%05d" % i * 100
            await asyncio.sleep(0)

    async with through_proxy(echo_length, tmp_path) as run, _session() as http:
        async with http.post(f"{run.url}/upload?id=u1", data=upload()) as r:
            got = await r.read()
        assert len(got) == big and got == b"x" * big
        seen = run.server.requests[0]
        assert seen.header("Transfer-Encoding") == "chunked"
    # The odd server reads Content-Length bodies only; the chunked body is checked
    # through the recording, which kept the de-chunked bytes.
    (call,) = run.calls()
    assert call.raw_body == b"".join(b"%05d" % i * 100 for i in range(20))


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async def slow_first(request: odd.Request, conn: odd.Conn) -> None:
        if request.id == "p0":
            await asyncio.sleep(0.05)
        await odd.plain(request, conn)

    async with through_proxy(slow_first, tmp_path) as run:
        got = await _raw(run.port, b"".join(b"GET /x?id=p%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(3)),
                         half_close=True)
    ids = [orjson.loads(part.split(b"\r\n\r\n", 1)[1][: part.split(b"\r\n\r\n", 1)[1].index(b"}") + 1])["id"]
           for part in got.split(b"HTTP/1.1 ")[1:]]
    assert ids == ["p0", "p1", "p2"]
    assert [c.query for c in run.calls()] == ["id=p0", "id=p1", "id=p2"]


async def test_http_1_0_client_and_head_and_expect_continue(tmp_path: Path) -> None:
    async with through_proxy(odd.chunked_small, tmp_path) as run:
        # HTTP/1.0 cannot take chunked: the answer is ended by the close.
        got = await _raw(run.port, b"GET /x?id=v10 HTTP/1.0\r\n\r\n")
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"chunked" not in head.lower() and b"connection: close" in head.lower()
        assert orjson.loads(body)["id"] == "v10"
        # HEAD: the head only, whatever it announces.
        got = await _raw(run.port, b"HEAD /x?id=h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\n")
        # Expect: 100-continue is answered by the proxy before the body is sent.
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
        writer.write(b"POST /x?id=e1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"{}")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        writer.close()
    assert run.server.requests[-1].header("Expect") is None and run.server.requests[-1].body == b"{}"
    assert [c.method for c in run.calls()] == ["GET", "HEAD", "POST"]


async def test_a_client_that_half_closes_still_gets_its_answer(tmp_path: Path) -> None:
    async with through_proxy(odd.plain, tmp_path) as run:
        got = await _raw(run.port, b"GET /x?id=hc HTTP/1.1\r\nHost: a\r\n\r\n", half_close=True)
    assert got.startswith(b"HTTP/1.1 200") and b'"id":"hc"' in got


async def test_a_slow_reader_gets_a_large_answer_whole(tmp_path: Path) -> None:
    async def huge(request: odd.Request, conn: odd.Conn) -> None:
        await conn.send(odd.answer(b"y" * odd.HUGE))

    async with through_proxy(huge, tmp_path) as run:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port, limit=1 << 16)
        writer.write(b"GET /x?id=s HTTP/1.1\r\nHost: a\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        got = 0
        while got < odd.HUGE:
            got += len(await reader.read(8192))
            if got < 256 * 1024:
                await asyncio.sleep(0.005)  # slow at first: the proxy must hold back, not drop
        writer.close()
    assert b"Content-Length: %d" % odd.HUGE in head and got == odd.HUGE


# --- misbehaving upstreams ---------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [odd.close_mid_body, odd.reset_mid_body, odd.close_mid_chunked],
                         ids=lambda b: b.__name__)
async def test_an_answer_cut_off_upstream_is_cut_off_for_the_client(behaviour: odd.Behaviour,
                                                                    tmp_path: Path) -> None:
    async with through_proxy(behaviour, tmp_path) as run, _session() as http:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(f"{run.url}/x?id=c1") as r:
                await r.read()
        # The proxy lives on: a new request is relayed (and cut off again).
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(f"{run.url}/x?id=c2") as r:
                await r.read()
    assert [c.recorded_outcome for c in run.calls()] == ["disconnected", "disconnected"]


async def test_a_silent_upstream_is_a_504_and_a_timeout(tmp_path: Path) -> None:
    async def silent(request: odd.Request, conn: odd.Conn) -> None:
        await asyncio.sleep(odd.FOREVER_S)

    async with through_proxy(silent, tmp_path, timeout=0.3) as run, _session() as http:
        async with http.get(f"{run.url}/x?id=t1") as r:
            assert r.status == 504
    assert [c.recorded_outcome for c in run.calls()] == ["timeout"]


async def test_garbage_from_the_upstream_is_a_502(tmp_path: Path) -> None:
    async def garbage(request: odd.Request, conn: odd.Conn) -> None:
        await conn.send(b"\x00\x01 not http\r\n\r\n")
        conn.close()

    async with through_proxy(garbage, tmp_path) as run, _session() as http:
        async with http.get(f"{run.url}/x?id=g1") as r:
            assert r.status == 502
    assert [c.recorded_outcome for c in run.calls()] == ["disconnected"]


async def test_a_reused_connection_closed_by_the_upstream_is_retried_only_when_safe(tmp_path: Path) -> None:
    """The upstream answers the first request on a connection, then closes the
    connection on the next one unanswered (an idle close racing a send)."""

    async def one_per_connection(request: odd.Request, conn: odd.Conn) -> None:
        if request.seq == 0:
            await odd.plain(request, conn)
        else:
            conn.close()

    async with through_proxy(one_per_connection, tmp_path) as run, _session() as http:
        async with http.get(f"{run.url}/x?id=a") as r:
            assert r.status == 200
        async with http.get(f"{run.url}/x?id=b") as r:  # safe to repeat: repeated
            assert r.status == 200 and orjson.loads(await r.read())["id"] == "b"
        async with http.get(f"{run.url}/x?id=warm") as r:  # the retry's connection is spent too
            assert r.status == 200
        async with http.post(f"{run.url}/x?id=c", data=b"{}") as r:  # not safe: 502
            assert r.status == 502
    assert [c.recorded_outcome for c in run.calls()] == ["ok", "ok", "ok", "disconnected"]
    # Each connection answers once: "b" and "warm" were each sent twice, "c" once.
    assert run.server.ids() == ["a", "b", "b", "warm", "warm", "c"]


async def test_a_tls_upstream_is_verified_against_the_system_store(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path, ca_path = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    with stall_server(tls=(cert_path, key_path)) as server:
        assert server.url.startswith("https://")
        # A certificate no trusted CA signed: refused, 502, recorded as connect_error.
        async with in_front_of(server.url, tmp_path / "a.jsonl") as proxy, _session() as http:
            async with http.get(f"http://127.0.0.1:{proxy.port}/api/OC_TOMA/v1/user/types") as r:
                assert r.status == 502
        # Trusted through OpenSSL's SSL_CERT_FILE (how a private CA is given): relayed.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_path))
        async with in_front_of(server.url, tmp_path / "b.jsonl") as proxy, _session() as http:
            async with http.get(f"http://127.0.0.1:{proxy.port}/api/OC_TOMA/v1/user/types") as r:
                assert r.status == 200
    assert [c.recorded_outcome for c in read_calls(tmp_path / "a.jsonl")] == ["connect_error"]
    assert [c.answer["status"] for c in read_calls(tmp_path / "b.jsonl")] == [200]  # type: ignore[index]


async def test_a_head_answer_then_more_requests_on_the_same_connections(tmp_path: Path) -> None:
    """A HEAD's answer announces a body it does not have: the next answer on either
    connection must not be read as that body."""
    async with through_proxy(odd.plain, tmp_path) as run, _session() as http:
        for i in range(3):
            async with http.head(f"{run.url}/x?id=h{i}") as r:
                assert r.status == 200 and int(r.headers["Content-Length"]) > 0
            async with http.get(f"{run.url}/x?id=g{i}") as r:
                assert orjson.loads(await r.read())["id"] == f"g{i}"
        assert run.server.per_connection() == [6]
    assert [c.method for c in run.calls()] == ["HEAD", "GET"] * 3
