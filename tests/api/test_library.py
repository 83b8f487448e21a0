"""The engine as a library: runs driven in-process through ``harness.api``, calls
beyond POST measured under their own names by both transports, an embedded
controller serving several runs, and reports rebuilt from the persisted metrics."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from harness.api import Target as ApiTarget
from harness.api import embedded_controller, execute, load_plan, run, write_result
from harness.report.rebuild import rebuild_summary
from harness.transport import TRANSPORT_NAMES, Origin
from tests.support.request_sources import RequestsSpec


class RecordingServer:
    """An aiohttp server on loopback that records every request it gets."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append({"method": request.method, "path": request.path,
                          "query": request.raw_path.partition("?")[2],  # as sent, not decoded
                          "headers": dict(request.headers), "body": body})
        if request.path == "/missing":
            return web.json_response({"detail": "no"}, status=404)
        return web.json_response({"ok": True})

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_any_request_through_either_transport_is_measured_under_its_own_name(
    recording_server: RecordingServer, transport: str, tmp_path: Any
) -> None:
    spec = RequestsSpec()
    plan = load_plan(None, {"load.rate": 60, "load.duration": "1s", "load.procs": 1, "load.transport": transport,
                            "target.url": recording_server.url, "output.dir": str(tmp_path),
                            "checks.defaults": False,  # the 404s are meant: no default error gate
                            "checks.thresholds": ["status_get.p99<1s", "missing_get.outcomes.http_404==20"]},
                     source=spec)
    origin = Origin.parse(recording_server.url)
    result = run(plan, ApiTarget(controller=origin, plate_service=origin, token="t"))
    s = result.summary
    assert result.verdict == "pass", [c for c in s["checks"] if not c["passed"]]
    assert set(s["endpoints"]) == {"status_get", "other_post", "missing_get"}
    assert s["endpoints"]["status_get"]["outcomes"] == {"ok": 20}
    assert s["endpoints"]["other_post"]["outcomes"] == {"ok": 20}
    assert s["endpoints"]["missing_get"]["outcomes"] == {"http_404": 20}
    gets = [r for r in recording_server.seen if r["path"] == "/status"]
    posts = [r for r in recording_server.seen if r["path"] == "/other/thing"]
    assert len(gets) == len(posts) == 20
    get, post = gets[0], posts[0]
    assert get["method"] == "GET" and get["query"] == "verbose=1&zone=Lot%2001" and get["body"] == b""
    assert get["headers"]["X-Trace"] == "abc-123" and "Content-Type" not in get["headers"]
    assert post["method"] == "POST" and orjson.loads(post["body"]) == {"hello": "world"}
    assert post["headers"]["X-Source"] == "harness-test" and post["headers"]["Content-Type"] == "application/x-test"
    written = write_result(result)
    assert (written.path / "status_get.hgrm").exists() and (written.path / "missing_get.service.hgrm").exists()


def test_a_summary_rebuilt_from_the_persisted_metrics_is_the_same(tmp_path: Any) -> None:
    plan = load_plan("scenarios/smoke.toml", {"load.duration": "2s", "load.rate": 100, "output.dir": str(tmp_path),
                                              "checks.thresholds": ["permit_push.p99<2s"]})
    with embedded_controller(seed=1) as target:
        result = run(plan, target)
    written = write_result(result)
    original = orjson.loads((written.path / "summary.json").read_bytes())
    rebuilt = rebuild_summary(written.path)
    for key in ("totals", "all", "endpoints", "codes", "expected_codes", "timeline", "checks", "verdict", "run", "plan"):
        assert rebuilt[key] == original[key], key
    assert original["all"]["latency_ms"]["count"] > 150


def test_one_embedded_controller_serves_many_runs() -> None:
    async def steps() -> list[float]:
        rates = []
        with embedded_controller(seed=3) as target:
            for rate in (50, 100):
                plan = load_plan(None, {"load.rate": rate, "load.duration": "1s", "load.procs": 1,
                                        "load.seed": 3, "mix": "enforcement=1"})
                result = await execute(plan, target)
                assert result.verdict == "pass", result.summary["checks"]
                rates.append(result.summary["totals"]["achieved_rps"])
        return rates

    assert asyncio.run(steps()) == [pytest.approx(50, abs=1), pytest.approx(100, abs=1)]
