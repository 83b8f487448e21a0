"""Fault injection, measured from outside over real sockets."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import orjson
import pytest
from support.api import Api, Target

from harness.controller.config import Stall
from harness.controller.faults import stall_wait
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import classify, http_error

STATS = ENDPOINTS["permit_stats"]


def request_bytes(target: Target) -> bytes:
    body = orjson.dumps({"apiToken": target.token})
    return (f"POST {STATS.path_for(target.client)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body


async def exchange(target: Target, raw: bytes | None = None) -> tuple[bytes, float]:
    """One request on a new connection; everything the server sent before closing, and
    the seconds it took."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(raw or request_bytes(target))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    return data, time.perf_counter() - start


async def timed(target: Target, n: int) -> list[float]:
    out = []
    for _ in range(n):
        data, took = await exchange(target)
        assert data.startswith(b"HTTP/1.1 200 "), data[:100]
        out.append(took)
    return out


async def test_fixed_latency_is_added_to_api_calls_only(controller_factory: Any) -> None:
    target = controller_factory(extra_args=["--latency", "40ms"])
    took = await timed(target, 15)
    assert min(took) >= 0.039 and statistics.median(took) < 0.2
    health = [(await _healthz(target)) for _ in range(5)]
    assert all(status == 200 for status, _ in health)
    assert min(seconds for _, seconds in health) < 0.035, "no latency on /healthz"


async def test_latency_jitter_spreads_around_the_base(controller_factory: Any) -> None:
    target = controller_factory(extra_args=["--latency", "30ms~20ms"])
    took = await timed(target, 40)
    assert min(took) >= 0.009 and max(took) < 0.3
    assert max(took) - min(took) > 0.012  # uniform over 40 ms: a spread this small is vanishingly rare
    assert 0.018 < statistics.median(took) < 0.1


async def test_error_rate_answers_that_share_with_plain_500s(controller_factory: Any) -> None:
    target = controller_factory(extra_args=["--error-rate", "0.3"])
    url = target.url + STATS.path_for(target.client)
    body = orjson.dumps({"apiToken": target.token})
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            async with session.post(url, data=body) as resp:
                raw = await resp.read()
                statuses.append(resp.status)
                if resp.status == 500:
                    assert raw == b"Internal Server Error"
                    assert classify(resp.status, raw) is http_error(500)
                else:
                    assert resp.status == 200 and orjson.loads(raw)["data"] is not None
        for _ in range(10):
            await asyncio.gather(*(one() for _ in range(50)))
        async with session.get(target.url + "/openapi.json") as resp:
            assert resp.status == 200  # never faulted
    share = statuses.count(500) / len(statuses)
    assert len(statuses) == 500 and 0.2 < share < 0.4, share


async def test_drop_rate_closes_connections_without_an_answer(controller_factory: Any) -> None:
    target = controller_factory(extra_args=["--drop-rate", "0.5"])
    results = await asyncio.gather(*(exchange(target) for _ in range(300)))
    dropped = [data for data, _ in results if data == b""]
    answered = [data for data, _ in results if data]
    assert all(data.startswith(b"HTTP/1.1 200 ") for data in answered)
    assert 0.35 < len(dropped) / len(results) < 0.65, len(dropped)
    api = Api(target)  # the server lives on
    assert api.post_raw("/healthz", b"", method="GET").status == 200


async def test_a_stall_holds_answers_until_its_window_ends(controller_factory: Any) -> None:
    every, window = 3.0, 1.2
    target = controller_factory(extra_args=["--stall", f"{every}s:{window}s"])
    started = time.perf_counter()  # the server began counting a few ms earlier
    _, took = await exchange(target)
    assert took < 0.8, "a fresh server answers at once (a stalled one would hold this 1.2 s)"
    await asyncio.sleep(max(0.0, every - window + 0.25 - (time.perf_counter() - started)))
    sent_at = time.perf_counter() - started  # inside the first window
    (data, held), (_, health) = await asyncio.gather(exchange(target), _healthz(target))
    assert data.startswith(b"HTTP/1.1 200 ")
    assert health < 0.5, "the stall does not apply to /healthz"
    expected = every - sent_at  # about 0.95 s
    assert expected - 0.15 < held < expected + 0.6, (held, expected)
    _, after = await exchange(target)
    assert after < 0.8, "answers flow again after the window"


async def _healthz(target: Target) -> tuple[int, float]:
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.get(target.url + "/healthz") as resp:
            return resp.status, time.perf_counter() - start


@pytest.mark.parametrize(("elapsed", "wait"), [
    (0.0, 0.0), (8.99, 0.0), (9.0, 1.0), (9.5, 0.5), (10.0, 0.0), (19.25, 0.75), (25.0, 0.0),
])
def test_stall_windows_are_the_last_seconds_of_each_period(elapsed: float, wait: float) -> None:
    assert stall_wait(elapsed, Stall(every=10.0, duration=1.0)) == pytest.approx(wait)


def test_a_bad_stall_spec_is_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "serve", "--port", "0", "--stall", "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["harness: error: --stall: expected EVERY:FOR such as 10s:1s, got 'x'"]
