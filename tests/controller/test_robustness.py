"""Bad input never crashes the controller or corrupts its database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.api import Api, Target, fresh
from support.values import HOUR, at, valid_body

from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.errors import message_for
from harness.opscom.outcome import classify, http_error

PUSH = ENDPOINTS["permit_push"]
PLATE = ENDPOINTS["plate_validate"]


def assert_healthy(api: Api) -> None:
    assert api.post_raw("/healthz", b"", method="GET").json["status"] == "ok"
    plate = fresh()
    api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": at(HOUR)})
    assert api.ok("plate_validate", {"plate": plate})["data"]["responseJSON"]["permits"][0]["type"] == "temp"


@pytest.mark.parametrize("raw", [
    b"[" * 5000 + b"]" * 5000,  # deeper than any parser should follow
    b'{"apiToken": ' + b"[" * 5000,
    b"\x00\x01\x02",
    b'{"apiToken": NaN}',
    b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON
], ids=["deep", "deep-truncated", "binary", "nan", "bom"])
def test_hostile_bodies_answer_9003(api: Api, raw: bytes) -> None:
    for ep in (PUSH, PLATE):
        reply = api.post_raw(ep.path_for(api.target.client), raw)
        assert reply.status == 400 and reply.code == 9003
    assert_healthy(api)


def test_an_oversized_body_answers_413_with_9003(api: Api) -> None:
    big = orjson.dumps({"apiToken": api.target.token, "plate": "X" * (1024 * 1024)})
    reply = api.post_raw(api.path("permit_push"), big)
    assert reply.status == 413
    assert reply.json == {"ErrorCode": 9003, "ErrorMessage": message_for(9003)}
    reply = api.post_raw(api.path("plate_validate"), big)
    assert reply.status == 413 and reply.json == {"error": 9003, "message": message_for(9003), "data": None}
    assert_healthy(api)


def test_max_body_is_a_flag(controller_factory: Any) -> None:
    target = controller_factory(extra_args=["--max-body", "2048"])
    api = Api(target)
    body = valid_body(api, "permit_push")
    assert api.post(api.path("permit_push"), {**body, "padding": "x" * 3000}).status == 413
    assert api.post(api.path("permit_push"), {**body, "padding": "x" * 1000}).code == 0
    api.close()


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/nope"), ("GET", "/"), ("POST", "/api/OC_TOMA/v1/permits/nope"), ("POST", "/api/v1/validate"),
    ("POST", "/api/OC_TOMA/v2/permits/push"), ("PUT", "/healthz"),
])
def test_unknown_paths_answer_404_json_without_an_opscom_code(api: Api, method: str, path: str) -> None:
    reply = api.post_raw(path, b"{}", method=method)
    assert reply.status in (404, 405) and reply.content_type.startswith("application/json")
    assert "ErrorCode" not in reply.json and "error" not in reply.json
    assert classify(reply.status, reply.raw) is http_error(reply.status)


def test_api_paths_only_take_post(api: Api) -> None:
    for endpoint in ("plate_validate", "permit_push"):
        for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            reply = api.post_raw(api.path(endpoint), b"", method=method)
            assert reply.status == 405 and reply.json["allowed"] == ["POST"]
            assert reply.allow == "POST", "RFC 9110 §15.5.6: a 405 lists the allowed methods"


async def _abandon(target: Target, raw: bytes) -> None:
    """Send ``raw`` and hang up without waiting for an answer."""
    _, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(raw)
    await writer.drain()
    writer.transport.abort()  # RST, the rudest way to leave


async def test_clients_leaving_mid_request_do_not_hurt(controller_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "controller.db"
    target = controller_factory(db=db, extra_args=["--latency", "30ms"])
    path = PUSH.path_for(target.client)
    body = orjson.dumps(valid_body(Api(target), "permit_push"))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    partial = [
        head.encode() + body[: len(body) // 2],  # mid-body
        head.encode()[:20],  # mid-headers
        head.encode() + body,  # whole request, gone while the latency holds it
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on a plain port
        b"GARBAGE / HTTP/9.9\r\n\r\n",
    ]
    await asyncio.gather(*(_abandon(target, raw) for raw in partial * 20))
    api = Api(target)
    assert_healthy(api)
    api.close()
    # Client mistakes are not logged (a traceback per bad request would be a load problem).
    assert target.process.stderr_tail() == ""
    assert target.process.stop() == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The abandoned whole requests may or may not have been committed; either way
        # each is one full row, never a torn one.
        assert conn.execute("SELECT COUNT(*) FROM pushed_permits WHERE plate IS NULL OR start IS NULL").fetchone() == (0,)


async def test_many_connections_at_once(controller: Target) -> None:
    body = orjson.dumps({"api_token": controller.token, "client": controller.client, "plate": "ABC123"})
    path = PLATE.path

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", controller.port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body)
        data = await reader.read()
        writer.close()
        return data

    answers = await asyncio.gather(*(one() for _ in range(300)))
    assert all(a.startswith(b"HTTP/1.1 200 ") and a.endswith(b'"responseJSON":{}},"message":""}') for a in answers)
