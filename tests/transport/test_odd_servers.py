"""Every transport against servers that answer legally but less simply than nginx.

Each test runs once per name in ``TRANSPORT_NAMES`` (a new transport is tested
without anyone adding it here) and drives the transport through the interface the
engine uses, ``Transport.open(done, crash)`` and ``Slot.send``, with the engine's
habit of sending the next call from inside ``done``. The servers
(``tests/support/odd_servers.py``) run in the same event loop, on 127.0.0.1.

Every answer names its request (``id``), so an answer delivered to the wrong call
fails the test, and every call must be reported exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import uvloop

from harness.opscom import ENDPOINTS
from harness.opscom.outcome import Outcome
from harness.traffic.call import Call
from harness.transport import (
    TRANSPORT_NAMES,
    Origin,
    Slot,
    Transport,
    TransportConfig,
    make_transport,
)
from harness.transport.base import DEFAULT_MAX_BODY
from tests.support import odd_servers as odd

pytestmark = pytest.mark.timeout(60)

PLATE = ENDPOINTS["plate_validate"]
N = 50  # requests per behaviour
LIMIT = 4096  # max_body where a test needs a small one
READ_MAX = 256 * 1024  # the largest piece asyncio and uvloop hand over at once
transports = pytest.mark.parametrize("name", TRANSPORT_NAMES)


def run(coro: Any, within: float = 40.0) -> Any:
    """Run ``coro`` on uvloop (as ``harness run`` does), bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, within)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


def opscom_call(i: int, method: str = "POST") -> Call:
    """An OPSCOM call (classified by the OPSCOM model, body decoded) that names itself."""
    body = orjson.dumps({"n": i}) if method == "POST" else b""
    return Call(PLATE, "/odd", body, method=method, query=f"id={i}", tag=str(i))


def other_call(i: int, method: str = "GET", *, name: str = "other") -> Call:
    """A call that is not an OPSCOM endpoint: classified by its status alone."""
    return Call(None, "/other", method=method, query=f"id={i}", name=name, tag=str(i))


@dataclass
class Result:
    call: Call
    outcome: Outcome
    doc: Any
    slot: Slot


@dataclass
class Driver:
    """Feeds calls to a transport's slots as the engine does: each slot's next call
    goes out from inside ``done``."""

    name: str
    url: str
    connections: int = 4
    request_timeout: float = 3.0
    max_body: int = DEFAULT_MAX_BODY
    results: list[Result] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    fail_once: BaseException | None = None  # raised from ``done`` once, after its work
    transport: Transport | None = None
    slots: list[Slot] = field(default_factory=list)
    _pending: deque[Call] = field(default_factory=deque)
    _expected = 0
    _finished: asyncio.Event | None = None

    def make(self) -> Transport:
        origin = Origin.parse(self.url)
        config = TransportConfig(
            controller=origin, plate_service=origin, connections=self.connections,
            connect_timeout=2.0, request_timeout=self.request_timeout, max_body=self.max_body,
        )
        return make_transport(self.name, config)

    async def open(self) -> list[Slot]:
        self._finished = asyncio.Event()
        self.transport = self.make()
        self.slots = await self.transport.open(self.done, self.crashes.append)
        return self.slots

    def done(self, slot: Slot, call: Call, intended: int, sent: int, done: int, outcome: Outcome, doc: Any) -> None:
        self.results.append(Result(call, outcome, doc, slot))
        if len(self.results) >= self._expected and self._finished is not None:
            self._finished.set()
        self.feed(slot)
        exc, self.fail_once = self.fail_once, None
        if exc is not None:
            raise exc

    def feed(self, slot: Slot) -> None:
        if not self._pending:
            return
        slot.send(self._pending.popleft(), time.perf_counter_ns())

    async def exchange(self, calls: list[Call], *, within: float = 20.0) -> list[Result]:
        """Send ``calls`` over the open slots; wait until each was reported."""
        assert self._finished is not None
        self._finished.clear()
        self._expected = len(self.results) + len(calls)
        self._pending.extend(calls)
        for slot in self.slots:
            self.feed(slot)
        await asyncio.wait_for(self._finished.wait(), within)
        await asyncio.sleep(0.05)  # room for a wrong second report to show
        return self.results

    async def close(self) -> None:
        assert self.transport is not None
        await asyncio.wait_for(self.transport.close(), 5.0)

    async def run(self, calls: list[Call]) -> list[Result]:
        await self.open()
        try:
            return await self.exchange(calls)
        finally:
            await self.close()


def outcomes(results: list[Result]) -> dict[str, int]:
    return dict(Counter(r.outcome.key for r in results))


def assert_each_reported_once(results: list[Result], calls: list[Call]) -> None:
    assert sorted(id(r.call) for r in results) == sorted(id(c) for c in calls)


def assert_answers_match(results: list[Result]) -> None:
    """Every decoded answer names the call it was reported for."""
    for r in results:
        if r.doc is not None:
            assert r.doc["id"] == r.call.tag, f"answer {r.doc['id']} reported for call {r.call.tag}"


async def against(behaviour: odd.Behaviour, name: str, calls: list[Call], **driver: Any) -> tuple[list[Result], odd.OddServer]:
    async with odd.OddServer(behaviour) as server:
        results = await Driver(name, server.url, **driver).run(calls)
    assert_each_reported_once(results, calls)
    assert_answers_match(results)
    return results, server


# --- answers that are fine, written oddly -----------------------------------------------

OK_BEHAVIOURS = {
    "plain": odd.plain,
    "103-before-200": odd.early_hints,
    "several-1xx": odd.interim_chain,
    "unsolicited-100": odd.unsolicited_continue,
    "close-delimited": odd.close_delimited,
    "close-delimited-then-reset": odd.close_delimited_reset,
    "chunked-small": odd.chunked_small,
    "gzip": odd.gzipped,
    "deflate": odd.deflated,
    "raw-deflate": odd.raw_deflated,
    "gzip-split-head-after-103": odd.gzipped_split_head,
    "gzip-close-delimited": odd.gzip_close_delimited,
    "connection-close": odd.connection_close,
}


@transports
@pytest.mark.parametrize("behaviour", list(OK_BEHAVIOURS), ids=list(OK_BEHAVIOURS))
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_answers_that_are_ok_are_ok_and_reach_their_own_request(name: str, behaviour: str, method: str) -> None:
    calls = [opscom_call(i, method) for i in range(N)]
    results, server = run(against(OK_BEHAVIOURS[behaviour], name, calls))
    assert outcomes(results) == {"ok": N}
    assert all(r.doc == {"error": 0, "id": r.call.tag} for r in results)  # decoded, decompressed
    assert Counter(server.ids()) == Counter(c.tag for c in calls)  # each request sent once


@transports
def test_no_compression_is_offered(name: str) -> None:
    calls = [opscom_call(i) for i in range(5)]
    _, server = run(against(odd.gzipped, name, calls))
    assert {r.header("Accept-Encoding") for r in server.requests} == {"identity"}


# --- answers that are failures ------------------------------------------------------------


@transports
@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (odd.reset_mid_body, "disconnected"),
        (odd.close_mid_body, "disconnected"),
        (odd.close_mid_chunked, "disconnected"),
        (odd.not_http, "undecodable"),
        (odd.bad_chunk_size, "undecodable"),
        (odd.error_with_code, "9006"),
        (odd.not_json, "undecodable"),
    ],
    ids=["reset-mid-body", "close-mid-body", "close-mid-chunked", "not-http", "bad-chunk-size",
         "500-with-code", "not-json"],
)
def test_failures_are_the_same_outcome(name: str, behaviour: odd.Behaviour, expected: str) -> None:
    calls = [opscom_call(i) for i in range(N)]
    results, server = run(against(behaviour, name, calls))
    assert outcomes(results) == {expected: N}
    assert Counter(server.ids()) == Counter(c.tag for c in calls)  # POSTs are never sent twice


@transports
def test_101_switching_protocols_is_an_error_and_its_connection_is_dropped(name: str) -> None:
    calls = [opscom_call(i) for i in range(N)]
    results, server = run(against(odd.switching_protocols, name, calls))
    assert outcomes(results) == {"http_101": N}
    assert set(server.per_connection()) <= {0, 1}  # no request after a 101 on its connection


@transports
def test_a_redirect_is_never_followed(name: str) -> None:
    async def go() -> tuple[list[Result], odd.OddServer]:
        async with odd.OddServer(odd.plain) as elsewhere:
            results, _ = await against(odd.redirect_to(elsewhere.url), name, calls)
            return results, elsewhere

    calls = [opscom_call(i) for i in range(N)]
    results, elsewhere = run(go())
    assert outcomes(results) == {"http_307": N}
    assert elsewhere.requests == []  # not one request, body or token reached it


@transports
@pytest.mark.parametrize(
    "behaviour",
    [odd.oversized, odd.oversized_chunked, odd.oversized_close_delimited, odd.gzip_bomb],
    ids=["content-length", "chunked", "close-delimited", "gzip-bomb"],
)
def test_a_body_over_the_limit_is_body_too_large(name: str, behaviour: odd.Behaviour) -> None:
    # Odd ids get the big body, even ids a plain answer, often on the same slot right
    # after: a cut answer must cost its own call only.
    calls = [opscom_call(i) for i in range(N)]
    results, _ = run(against(behaviour, name, calls, max_body=LIMIT))
    assert outcomes(results) == {"body_too_large": N // 2, "ok": N // 2}
    assert {r.call.tag for r in results if r.outcome.ok} == {str(i) for i in range(0, N, 2)}


@transports
@pytest.mark.parametrize("behaviour", [odd.huge, odd.huge_chunked], ids=["content-length", "chunked"])
def test_a_body_over_a_limit_of_a_read_or_more_is_body_too_large(name: str, behaviour: odd.Behaviour) -> None:
    # A limit of 256 KiB or more (the default is 16 MiB) is checked as a body grows,
    # not on its first piece: the path of every answer with the default settings.
    calls = [opscom_call(i) for i in range(10)]
    results, _ = run(against(behaviour, name, calls, max_body=READ_MAX))
    assert outcomes(results) == {"body_too_large": 5, "ok": 5}
    assert {r.call.tag for r in results if r.outcome.ok} == {str(i) for i in range(0, 10, 2)}


@transports
@pytest.mark.parametrize("limit", [LIMIT, READ_MAX], ids=["4KiB", "256KiB"])
def test_a_body_that_never_ends_is_cut_at_the_limit(name: str, limit: int) -> None:
    endless = odd.Endless()
    calls = [opscom_call(0)]
    results, _ = run(against(endless, name, calls, connections=1, max_body=limit))
    assert outcomes(results) == {"body_too_large": 1}
    # The client stopped reading and hung up long before the server's 256 MiB: what
    # it wrote past the limit is what the socket buffers held.
    assert endless.sent < 32 * 1024 * 1024


@transports
def test_the_default_limit_takes_a_body_well_over_the_small_one(name: str) -> None:
    calls = [opscom_call(i) for i in range(5)]
    results, _ = run(against(odd.oversized, name, calls))
    # Read whole: 64 KiB of spaces (odd ids) is not JSON.
    assert outcomes(results) == {"undecodable": 2, "ok": 3}


# --- connections closing under the client ----------------------------------------------------


@transports
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_keep_alive_connection_closed_while_idle_is_reopened(name: str, method: str) -> None:
    # The server closes connections idle for 20 ms. Each call waits until the server
    # closed the previous call's connection (rather than for a fixed time, which a
    # stalled loop could overtake), so every call finds its connection closed.
    async def go() -> tuple[list[Result], odd.OddServer]:
        async with odd.OddServer(odd.idle_close) as server:
            d = Driver(name, server.url, connections=1)
            await d.open()
            try:
                for i in range(25):
                    await d.exchange([opscom_call(i, method)])
                    async with asyncio.timeout(5):
                        while server.idle_closes < i + 1:
                            await asyncio.sleep(0.005)
                    await asyncio.sleep(0.01)  # the close reaches the client
            finally:
                await d.close()
            return d.results, server

    results, server = run(go())
    assert outcomes(results) == {"ok": 25}
    assert_answers_match(results)
    assert server.per_connection() == [1] * 25  # each call on a fresh connection


@transports
def test_a_stale_connection_retries_an_idempotent_request_once(name: str) -> None:
    # The server closes right after each answer without saying so, and the next call
    # goes out at once from ``done``, onto the connection the server has closed.
    calls = [opscom_call(i, "GET") for i in range(N)]
    results, server = run(against(odd.close_after_answer, name, calls, connections=1))
    assert outcomes(results) == {"ok": N}
    assert Counter(server.ids()) == Counter(c.tag for c in calls)  # each answered once


@transports
def test_a_stale_connection_never_sends_a_post_twice(name: str) -> None:
    # As above with POSTs, which may not be sent again: every call that met the
    # closed connection is disconnected, and the next one opens a new connection.
    calls = [opscom_call(i) for i in range(N)]
    results, server = run(against(odd.close_after_answer, name, calls, connections=1))
    assert outcomes(results) == {"ok": N // 2, "disconnected": N // 2}
    assert [r.outcome.key for r in results[:4]] == ["ok", "disconnected", "ok", "disconnected"]
    assert len(server.ids()) == len(set(server.ids())) == N // 2


@transports
def test_a_dropped_request_is_sent_twice_only_if_idempotent(name: str) -> None:
    gets = [opscom_call(i, "GET") for i in range(10)]
    posts = [opscom_call(100 + i) for i in range(10)]
    results, server = run(against(odd.drop, name, gets + posts, connections=2))
    assert outcomes(results) == {"disconnected": 20}
    seen = Counter(server.ids())
    assert {seen[c.tag] for c in gets} == {2}  # exactly one second attempt, ours
    assert {seen[c.tag] for c in posts} == {1}


# --- requests: HEAD, and what goes on the wire ------------------------------------------------


@transports
def test_head_answers_have_no_body_whatever_their_content_length(name: str) -> None:
    calls = [c for i in range(N // 2) for c in (other_call(i, "HEAD", name="head"), opscom_call(i, "GET"))]
    results, server = run(against(odd.head_aware, name, calls, connections=1))
    assert outcomes(results) == {"ok": N}
    assert server.connections == 1  # the connection survived every HEAD answer


@transports
@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [(odd.error_with_code, "http_500"), (odd.not_json, "ok"), (odd.gzipped, "ok")],
    ids=["500-with-code", "not-json", "gzip"],
)
def test_a_call_that_is_not_opscom_is_classified_by_status(name: str, behaviour: odd.Behaviour, expected: str) -> None:
    calls = [other_call(i) for i in range(10)]
    results, _ = run(against(behaviour, name, calls))
    assert outcomes(results) == {expected: 10}
    assert all(r.doc is None for r in results)


def _sent_requests(name: str) -> list[odd.Request]:
    calls = [
        Call(None, "/any/path", method="GET", query="a=1&b=%20x", name="get",
             headers=(("X-Trace", "abc"), ("Accept", "text/plain"))),
        Call(None, "/any/post", b'{"k": 1}', method="POST", query="z=9", name="post",
             headers=(("Authorization", "Bearer not-a-secret"), ("X-Empty", ""))),
        Call(None, "/any/delete", method="DELETE", name="delete"),
        opscom_call(7),
    ]
    _, server = run(against(odd.plain, name, calls, connections=1))
    return server.requests


def test_both_transports_send_the_same_requests() -> None:
    def canonical(r: odd.Request) -> tuple[Any, ...]:
        # Header order is each client's own; names are case-insensitive.
        host = r.header("Host")
        headers = sorted((k.lower(), v if k.lower() != "host" else "HOST") for k, v in r.headers)
        return r.method, r.target, tuple(headers), r.body, host is not None

    seen = {name: [canonical(r) for r in _sent_requests(name)] for name in TRANSPORT_NAMES}
    first, *rest = TRANSPORT_NAMES
    for other in rest:
        assert seen[other] == seen[first], f"{other} and {first} send different requests"
    get, post, delete, opscom = seen[first]
    assert get[:2] == ("GET", "/any/path?a=1&b=%20x")
    assert dict(get[2]) == {
        "host": "HOST", "accept": "text/plain", "accept-encoding": "identity",
        "user-agent": "opscom-harness", "x-trace": "abc",
    }  # no Content-Type nor Content-Length on a bodiless GET
    assert post[:2] == ("POST", "/any/post?z=9") and post[3] == b'{"k": 1}'
    assert dict(post[2]) == {
        "host": "HOST", "accept": "application/json", "accept-encoding": "identity",
        "user-agent": "opscom-harness", "content-type": "application/json", "content-length": "8",
        "authorization": "Bearer not-a-secret", "x-empty": "",
    }
    assert delete[:2] == ("DELETE", "/any/delete") and ("content-length", "0") in delete[2]
    assert opscom[:2] == ("POST", "/odd?id=7")


# --- no silent failure ---------------------------------------------------------------------------


class Boom(Exception):
    """Raised by a test's own ``done`` or classifier."""


@transports
def test_an_exception_in_done_reaches_crash_and_the_slot_serves_on(name: str) -> None:
    boom = Boom("done failed")

    async def go() -> tuple[Driver, odd.OddServer]:
        async with odd.OddServer(odd.plain) as server:
            d = Driver(name, server.url, connections=1, fail_once=boom)
            await d.open()
            try:
                # done raises after it sent the next call on the slot, as the engine's
                # might (a traffic source failing in on_result).
                await d.exchange([opscom_call(i) for i in range(6)])
            finally:
                await d.close()
            return d, server

    d, server = run(go())
    assert d.crashes == [boom]  # the very exception, not a wrapper, and only once
    assert outcomes(d.results) == {"ok": 6}  # the failing call was reported, once, as ok
    assert server.connections == 1  # and no connection was dropped for it


@transports
def test_a_bug_inside_the_transport_reaches_crash_and_is_not_an_outcome(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.opscom.outcome as outcome_module

    real_loads = outcome_module._loads
    boom = Boom("classifier failed")

    def failing_loads(body: bytes) -> Any:
        monkeypatch.setattr(outcome_module, "_loads", real_loads)
        raise boom

    async def go() -> Driver:
        async with odd.OddServer(odd.plain) as server:
            d = Driver(name, server.url, connections=1)
            await d.open()
            try:
                monkeypatch.setattr(outcome_module, "_loads", failing_loads)
                d.slots[0].send(opscom_call(0), time.perf_counter_ns())
                async with asyncio.timeout(5):
                    while not d.crashes:
                        await asyncio.sleep(0.01)
                await d.exchange([opscom_call(i) for i in range(1, 6)])  # the slot serves on
            finally:
                await d.close()
            return d

    d = run(go())
    assert d.crashes == [boom]
    assert [r.call.tag for r in d.results] == ["1", "2", "3", "4", "5"]  # call 0: no outcome
    assert outcomes(d.results) == {"ok": 5}


@transports
@pytest.mark.parametrize("when", ["in-flight", "just-sent"])
def test_close_finishes_when_a_timeout_lands_with_it(name: str, when: str) -> None:
    # The sweeper's timeout and close() in the same turn of the loop, 20 times over,
    # with a server that never answers: close must end, every call reported once.
    async def one_round(server: odd.OddServer) -> list[Result]:
        d = Driver(name, server.url, connections=3, request_timeout=30.0)
        slots = await d.open()
        calls = [opscom_call(i) for i in range(3)]
        before = len(server.requests)
        for slot, call in zip(slots, calls, strict=True):
            slot.send(call, time.perf_counter_ns())
        if when == "in-flight":
            async with asyncio.timeout(5):
                while len(server.requests) < before + 3:
                    await asyncio.sleep(0.001)
        far_future = time.perf_counter_ns() + 10**12
        assert d.transport is not None
        async with asyncio.timeout(2.0):
            for slot in slots:
                slot.expire(far_future, 0)  # what the sweeper does when a request is late
            # close() awaited inline, not via wait_for (a task of its own, started only
            # after the slots saw their timeouts): its cancellations then land before
            # any slot runs, together with the sweeper's.
            await d.transport.close()
        await asyncio.sleep(0.01)
        assert_each_reported_once(d.results, calls)
        assert outcomes(d.results) == {"timeout": 3}
        assert d.crashes == []
        return d.results

    async def go() -> None:
        async with odd.OddServer(odd.silent) as server:
            for _ in range(20):
                await one_round(server)

    run(go())
