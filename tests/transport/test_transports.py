"""Both transports against real servers: every kind of answer and failure becomes
the same outcome whichever transport carried it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.engine import Engine, EngineConfig, Model
from harness.metrics import Metrics
from harness.opscom import ENDPOINTS, build_body
from harness.opscom.outcome import Outcome
from harness.options import default_load
from harness.pacing import ConstantPacer
from harness.traffic.call import Call
from harness.transport import TRANSPORT_NAMES, Origin, TransportConfig, make_transport
from tests.support.harness_cli import stall_server

PLATE = ENDPOINTS["plate_validate"]
USER_TYPES = ENDPOINTS["user_types"]


class Source:
    """Alternates a plate lookup and a controller call (user types)."""

    def __init__(self, token: str, client: str = "OC_TOMA") -> None:
        self.calls = [
            Call(PLATE, PLATE.path, orjson.dumps(build_body(PLATE, token=token, client=client, values={"plate": "ABC123"}))),
            Call(USER_TYPES, USER_TYPES.path_for(client), orjson.dumps(build_body(USER_TYPES, token=token))),
        ]
        self.n = 0

    def next_call(self, hit: int, now: float) -> Call:
        self.n += 1
        return self.calls[self.n % 2]

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        pass


def _outcomes(transport: str, controller: str, plate: str | None = None, *, token: str = "t",
              timeout: float = 3.0, tls_verify: bool = True, requests: int = 40,
              connections: int | None = None) -> dict[str, dict[str, int]]:
    async def run() -> Metrics:
        transport_config = TransportConfig(
            controller=Origin.parse(controller), plate_service=Origin.parse(plate or controller),
            connections=connections or requests, connect_timeout=1.0, request_timeout=timeout,
            tls_verify=tls_verify,
        )
        config = EngineConfig(
            model=Model.OPEN,
            pacer=ConstantPacer(rate=requests * 4, duration=0.25),
            load=default_load(timeout=timeout, drain=(requests / (connections or requests) + 1) * timeout + 1),
        )
        metrics = Metrics()
        engine = Engine(config, Source(token), metrics, make_transport(transport, transport_config))
        await engine.open()
        await engine.run(time.perf_counter_ns() + 20_000_000)
        return metrics

    metrics = asyncio.run(run())
    return {e.name: e.outcome_counts() for e in metrics.active()}


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


@pytest.mark.parametrize(
    ("flags", "token", "expected"),
    [
        ((), None, {"plate_validate": {"ok": 20}, "user_types": {"ok": 20}}),
        ((), "no-such-token", {"plate_validate": {"9034": 20}, "user_types": {"9034": 20}}),
        (("--error-rate", "1"), None, {"plate_validate": {"http_500": 20}, "user_types": {"http_500": 20}}),
        (("--drop-rate", "1"), None, {"plate_validate": {"disconnected": 20}, "user_types": {"disconnected": 20}}),
        (("--latency", "2s"), None, {"plate_validate": {"timeout": 20}, "user_types": {"timeout": 20}}),
    ],
    ids=["ok", "api-error", "http-500", "dropped", "timeout"],
)
def test_both_transports_classify_the_controller_alike(controller_factory, flags, token, expected) -> None:  # type: ignore[no-untyped-def]
    target = controller_factory(extra_args=list(flags))
    seen = {t: _outcomes(t, target.process.url, token=token or target.token, timeout=0.5) for t in TRANSPORT_NAMES}
    assert seen["fast"] == seen["aiohttp"] == expected


def test_a_refused_connection_is_a_connect_error(free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
    for t in TRANSPORT_NAMES:
        assert _outcomes(t, url) == {"plate_validate": {"connect_error": 20}, "user_types": {"connect_error": 20}}


def test_controller_and_plate_service_on_different_origins(controller_factory) -> None:  # type: ignore[no-untyped-def]
    a = controller_factory()
    # b runs with --error-rate 1: whatever reaches it is an HTTP 500, so the outcomes
    # show which origin each call went to.
    b = controller_factory(extra_args=["--error-rate", "1"])
    for t in TRANSPORT_NAMES:
        seen = _outcomes(t, a.process.url, b.process.url, token=a.token)
        assert seen == {"user_types": {"ok": 20}, "plate_validate": {"http_500": 20}}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A certificate for 127.0.0.1 from a throw-away CA (trustme), as PEM files."""
    import trustme

    d = tmp_path_factory.mktemp("tls")
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    yield cert_path, key_path


def test_tls_with_and_without_verification(certificate: tuple[Path, Path]) -> None:
    with stall_server(tls=certificate) as server:
        assert server.url.startswith("https://")
        for t in TRANSPORT_NAMES:
            # The self-signed certificate is refused by default...
            assert _outcomes(t, server.url) == {"plate_validate": {"connect_error": 20}, "user_types": {"connect_error": 20}}
            # ... and accepted when verification is off (tls_verify = false).
            assert _outcomes(t, server.url, tls_verify=False) == {"plate_validate": {"ok": 20}, "user_types": {"ok": 20}}
        assert server.answered() == 2 * 40


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_a_slot_carries_on_after_its_request_timed_out(controller_factory, transport: str) -> None:  # type: ignore[no-untyped-def]
    # 8 requests over 2 connections to a controller that answers after 1 s, with a
    # 0.3 s timeout: each slot times out, then carries the next request, four times.
    target = controller_factory(extra_args=["--latency", "1s"])
    seen = _outcomes(transport, target.process.url, token=target.token, timeout=0.3, requests=8, connections=2)
    assert seen == {"plate_validate": {"timeout": 4}, "user_types": {"timeout": 4}}
