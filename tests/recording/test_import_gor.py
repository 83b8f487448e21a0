"""``harness import-gor`` on capture files in GoReplay's exact format (meta line
``"%c %s %d %d\\n"`` as ``payloadHeader`` writes it, the raw HTTP message, the
``\\n🐵🙈🙉\\n`` separator), made of real exchanges with the reference controller."""

from __future__ import annotations

import gzip
import json
import secrets
import socket
import time
from pathlib import Path

import orjson
import pytest
from support.api import Target
from support.harness_cli import read_summary, run_harness

from harness.recording import read_calls
from harness.recording.gor import SEPARATOR, import_gor


def _exchange(port: int, method: str, path: str, body: bytes, chunked: bool = False) -> tuple[bytes, bytes]:
    """Send one request over a fresh socket; the raw request and raw response bytes."""
    if chunked:
        head = f"{method} {path} HTTP/1.1\r\nHost: ctl\r\nContent-Type: application/json\r\n" \
               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        half = len(body) // 2
        payload = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:])) + b"0\r\n\r\n"
    else:
        head = f"{method} {path} HTTP/1.1\r\nHost: ctl\r\nContent-Type: application/json\r\n" \
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        payload = body
    request = head.encode() + payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return request, b"".join(chunks)


def _payload(kind: str, pid: str, ts: int, latency: int, message: bytes) -> bytes:
    return f"{kind} {pid} {ts} {latency}\n".encode() + message + SEPARATOR


def _capture(controller: Target, path: Path) -> dict[str, str]:
    """A capture as `gor --input-raw :port --input-raw-track-response --output-file` writes it."""
    token = controller.token
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
    out = bytearray()
    ts = time.time_ns()
    push_req, push_resp = _exchange(controller.port, "POST", "/api/OC_TOMA/v1/permits/push", orjson.dumps(
        {"apiToken": token, "plate": "GOR001", "startTime": now, "endTime": later}))
    ref = json.loads(push_resp.partition(b"\r\n\r\n")[2])["reference_id"]
    upd_req, upd_resp = _exchange(controller.port, "POST", "/api/OC_TOMA/v1/permits/update", orjson.dumps(
        {"apiToken": token, "reference_id": ref, "endTime": later}), chunked=True)
    val_req, val_resp = _exchange(controller.port, "POST", "/api/v1/validate/plate", orjson.dumps(
        {"api_token": token, "client": "OC_TOMA", "plate": "GOR001"}))
    hz_req, hz_resp = _exchange(controller.port, "GET", "/healthz", b"")
    ids = {name: secrets.token_hex(12) for name in ("push", "update", "validate", "health", "lost")}
    out += _payload("1", ids["push"], ts, 120_000, push_req)
    out += _payload("1", ids["validate"], ts + 3_000_000, 90_000, val_req)  # two requests in flight
    out += _payload("2", ids["push"], ts + 2_100_000, 40_000, push_resp)
    out += _payload("2", ids["validate"], ts + 4_000_000, 30_000, val_resp)
    out += _payload("3", ids["validate"], ts + 9_000_000, 800_000, val_resp)  # a replayed response: skipped
    out += _payload("1", ids["update"], ts + 1_000_000_000, 100_000, upd_req)
    out += _payload("2", ids["update"], ts + 1_001_500_000, 30_000, upd_resp)
    out += _payload("1", ids["health"], ts + 1_500_000_000, 1_000, hz_req)
    out += _payload("2", ids["health"], ts + 1_500_400_000, 1_000, hz_resp)
    out += _payload("2", secrets.token_hex(12), ts + 1_600_000_000, 1, val_resp)  # its request was not captured
    out += _payload("1", ids["lost"], ts + 1_700_000_000, 1, val_req)  # capture stopped before its response
    path.write_bytes(bytes(out))
    return {"ref": ref}


@pytest.mark.parametrize("name", ["requests_0.gor", "requests_0.gor.gz"])
def test_a_goreplay_capture_becomes_a_recording(controller: Target, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    info = _capture(controller, tmp_path / "plain.gor")
    data = (tmp_path / "plain.gor").read_bytes()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    out = tmp_path / "from-gor.jsonl"
    r = run_harness("import-gor", str(path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == (f"harness import-gor: 5 calls written to {out} (1 without their response, "
                                "1 replayed responses skipped, 1 responses without their request)")
    assert controller.token.encode() not in out.read_bytes()
    calls = list(read_calls(out))
    assert [c.name for c in calls] == ["permit_push", "plate_validate", "permit_update", "GET /healthz",
                                       "plate_validate"]
    assert [c.t_us for c in calls] == [0, 3_000, 1_000_000, 1_500_000, 1_700_000]
    push, validate, update, health, lost = calls
    assert push.recorded_ids["reference_id"] == info["ref"] and push.answer["latency_us"] == 2_100
    assert update.body["reference_id"] == info["ref"] and update.uses == [info["ref"]] and update.chain == 0
    assert (validate.recorded_outcome, health.recorded_outcome, lost.answer) == ("ok", "ok", None)
    # It replays: the update takes the new push's id.
    result = run_harness("replay", str(out), "--speed", "4", "--procs", "1", "--quiet",
                         "--out", str(tmp_path / "reports"), "--check", "diff.changed==0")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(tmp_path / "reports")
    assert summary["endpoints"]["permit_update"]["outcomes"] == {"ok": 1}
    assert summary["diff"]["compared"] == 4  # the lost one had no recorded answer


def test_a_file_that_is_not_goreplay_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "x.gor"
    path.write_bytes(b"GET / HTTP/1.1\r\n\r\n" + SEPARATOR)
    r = run_harness("import-gor", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"harness: error: {path}: payload 1: expected a GoReplay meta line")


def test_opscom_only_drops_other_requests(controller: Target, tmp_path: Path) -> None:
    _capture(controller, tmp_path / "c.gor")
    stats = import_gor(tmp_path / "c.gor", tmp_path / "o.jsonl", opscom_only=True)
    assert stats.dropped == 1 and stats.written == 4
