"""``harness import-har`` on a HAR made by a real producer: mitmdump as a reverse
proxy in front of the reference controller, saving its flows with ``hardump``,
while OPSCOM calls and other traffic (health checks, assets, another API, a CORS
preflight) go through it. The import keeps the OPSCOM calls, counts the rest,
writes no token, and the result replays."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from support.api import Target
from support.harness_cli import read_summary, run_harness

from harness.errors import ConfigError
from harness.recording import read_calls, read_header
from harness.recording.har import import_har

MITMDUMP = Path(sys.executable).with_name("mitmdump")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "mitmdump exited early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("mitmdump did not start listening")


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None,
             headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=orjson.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    return resp.status, resp.read()


@pytest.fixture
def mitm_har(controller: Target, tmp_path: Path) -> Path:
    assert MITMDUMP.exists(), "mitmproxy is a test dependency (pyproject [test])"
    har = tmp_path / "flows.har"
    port = _free_port()
    proc = subprocess.Popen([str(MITMDUMP), "--mode", f"reverse:{controller.url}", "--listen-host", "127.0.0.1",
                             "--listen-port", str(port), "--set", f"hardump={har}", "-q",
                             "--set", f"confdir={tmp_path / 'mitm'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        token = controller.token
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
        status, raw = _request(conn, "POST", "/api/OC_TOMA/v1/permits/push",
                               {"apiToken": token, "plate": "HAR001", "startTime": now, "endTime": later})
        assert status == 200
        ref = json.loads(raw)["reference_id"]
        assert _request(conn, "POST", "/api/OC_TOMA/v1/permits/update",
                        {"apiToken": token, "referenceID": ref, "endTime": later})[0] == 200
        assert _request(conn, "POST", "/api/v1/validate/plate",
                        {"api_token": token, "client": "OC_TOMA", "plate": "HAR001"})[0] == 200
        _request(conn, "POST", "/api/OC_TOMA/v1/permits/stats", {"apiToken": "wrong-token-for-har"})
        # Not OPSCOM: a health check, the API description, assets, another API, a preflight.
        for method, path in (("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/static/app.js"),
                             ("GET", "/favicon.ico"), ("POST", "/api/v2/reports/daily"), ("OPTIONS", "/api/x")):
            _request(conn, method, path, {} if method == "POST" else None,
                     {"Authorization": f"Bearer {token}", "Cookie": f"session={token}"})
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)  # mitmdump writes the HAR when it shuts down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert har.exists(), proc.stderr.read().decode() if proc.stderr else ""
    return har


def test_a_mitmproxy_har_keeps_the_opscom_calls_and_says_what_it_skipped(
        mitm_har: Path, controller: Target, tmp_path: Path) -> None:
    doc = json.loads(mitm_har.read_text())
    assert len(doc["log"]["entries"]) == 10 and controller.token in mitm_har.read_text()  # a real, raw HAR
    out = tmp_path / "from-har.jsonl"
    r = run_harness("import-har", str(mitm_har), "--out", str(out))
    assert r.returncode == 0, r.stderr
    said = r.stderr.strip()
    assert said.startswith(f"harness import-har: 4 OPSCOM calls written to {out}; skipped 6: "), said
    assert sorted(said.split("skipped 6: ")[1].split(", ")) == [
        "1 health checks", "1 preflight requests", "2 other API calls", "2 pages and assets"], said
    text = out.read_bytes()
    assert controller.token.encode() not in text and b"wrong-token-for-har" not in text
    calls = list(read_calls(out))
    assert [c.endpoint for c in calls] == ["permit_push", "permit_update", "plate_validate", "permit_stats"]
    assert [c.recorded_outcome for c in calls] == ["ok", "ok", "ok", "9034"]
    assert calls[1].uses and calls[1].chain == 0
    assert all(c.answer["latency_us"] is not None for c in calls)
    assert read_header(out).source == "har"
    # And it replays (fresh embedded controller), correlated, with nothing changed.
    result = run_harness("replay", str(out), "--speed", "5", "--procs", "1", "--quiet",
                         "--out", str(tmp_path / "reports"), "--check", "diff.changed==0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_summary(tmp_path / "reports")["diff"]["compared"] == 4


def test_a_file_that_is_not_har_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.har"
    bad.write_text('{"log": {"pages": []}}')
    with pytest.raises(ConfigError, match=r"x.har: not a HAR file: expected"):
        import_har(bad, tmp_path / "out.jsonl")
    bad.write_text('{"log": {"entries": [{"startedDateTime": "yesterday", "request": {"url": "http://a/"}}]}}')
    r = run_harness("import-har", str(bad), "--out", str(tmp_path / "out.jsonl"))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"harness: error: {bad}: log.entries[0].startedDateTime: expected an ISO 8601 "
                                "time, got 'yesterday'")


def test_mitmdump_is_installed_by_the_project() -> None:
    assert shutil.which(str(MITMDUMP))
