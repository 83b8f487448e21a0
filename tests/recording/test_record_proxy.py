"""``harness record`` in front of the real reference controller: traffic through it
is answered exactly as directly, recorded with no token, survives misbehaving
clients and upstreams, closes its file on SIGTERM, and replays (round trip)."""

from __future__ import annotations

import http.client
import json
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support.api import Target
from support.harness_cli import ROOT, harness_env, read_summary, run_harness, start_harness

from harness.recording import read_calls, read_header


def _start(upstream: str, out: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    proc = start_harness("record", "--upstream", upstream, "--listen", "127.0.0.1:0", "--out", str(out), *extra)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "listening on http://127.0.0.1:" in line, line
    port = int(line.split("listening on http://127.0.0.1:")[1].split(",")[0])
    return proc, port


@pytest.fixture
def recorder(controller: Target, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    out = tmp_path / "rec.jsonl.zst"
    proc, port = _start(controller.url, out)
    try:
        yield proc, port, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _post(conn: http.client.HTTPConnection, path: str, body: dict, method: str = "POST") -> tuple[int, dict, dict]:
    conn.request(method, path, body=orjson.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, dict(resp.getheaders()), (orjson.loads(raw) if raw[:1] in (b"{", b"[") else {})


def _traffic(conn: http.client.HTTPConnection, token: str, tag: str) -> list[tuple[int, dict]]:
    seen = []
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 7200))
    status, _, doc = _post(conn, "/api/OC_TOMA/v1/permits/push",
                           {"apiToken": token, "plate": f"RT{tag}1", "startTime": now, "endTime": later})
    seen.append((status, doc))
    ref = doc["reference_id"]
    for path, body in (
        ("/api/OC_TOMA/v1/permits/update", {"apiToken": token, "referenceid": ref, "endTime": later}),
        ("/api/v1/validate/plate", {"api_token": token, "client": "OC_TOMA", "plate": f"RT{tag}1"}),
        ("/api/OC_TOMA/v1/profiles/push", {"apiToken": token, "unique_id": f"RT{tag}", "login_source": "OPSCOM",
                                           "email": f"rt{tag}@example.org", "first_name": "Ada",
                                           "last_name": "Lovelace", "user_name": f"rt{tag}"}),
        ("/api/OC_TOMA/v1/vehicles/push", {"apiToken": token, "plate": f"RTV{tag}", "plateType": "Commercial",
                                           "prov": "ON"}),
        ("/api/OC_TOMA/v1/permits/stats", {"apiToken": "not-a-token-of-this-client"}),
        ("/api/OC_TOMA/v1/permits/delete", {"apiToken": token, "reference_id": ref}),
    ):
        status, _, doc = _post(conn, path, body)
        seen.append((status, doc))
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    seen.append((resp.status, json.loads(resp.read())))
    return seen


def test_answers_through_the_proxy_are_the_upstream_answers_and_the_file_has_no_token(
        recorder: tuple[subprocess.Popen[str], int, Path], controller: Target, tmp_path: Path) -> None:
    proc, port, out = recorder
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = _traffic(conn, controller.token, "A")
    assert [s for s, _ in seen] == [200, 200, 200, 200, 200, 401, 200, 200]
    assert seen[1][1]["reference_id"] == seen[0][1]["reference_id"]  # the update found the pushed permit
    # Keep-alive: every exchange above went over the one connection.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "8 calls recorded" in (proc.stderr.read() if proc.stderr else "")
    import zstandard

    text = zstandard.ZstdDecompressor().stream_reader(out.open("rb")).read()
    assert controller.token.encode() not in text and b"not-a-token-of-this-client" not in text
    assert b"Lovelace" not in text and b"rtA@example.org" not in text  # personal data masked
    header = read_header(out)
    assert header.source == "record" and header.client == "OC_TOMA" and header.origin == controller.url
    calls = list(read_calls(out))
    assert [c.name for c in calls] == ["permit_push", "permit_update", "plate_validate", "profile_push",
                                       "vehicle_push", "permit_stats", "permit_delete", "GET /healthz"]
    assert [c.recorded_outcome for c in calls] == ["ok", "ok", "ok", "ok", "ok", "9034", "ok", "ok"]
    assert calls[1].uses == [seen[0][1]["reference_id"]] and calls[1].chain == 0 and calls[6].chain == 0
    assert calls[5].body["apiToken"] == "<rejected-token>"
    assert all(c.answer and c.answer["latency_us"] > 0 for c in calls)

    # Round trip: the recording replayed at 10x against a fresh reference controller.
    result = run_harness("replay", str(out), "--speed", "10", "--procs", "1", "--quiet",
                         "--out", str(tmp_path / "reports"), "--check", "diff.changed==0")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(tmp_path / "reports")
    assert summary["diff"]["compared"] == 8 and summary["diff"]["changed_requests"] == 0
    assert summary["endpoints"]["permit_stats"]["expected_codes"] == {"9034": 1}
    assert summary["verdict"] == "pass"
    for f in (tmp_path / "reports").rglob("*"):
        if f.is_file():
            assert harness_env()["OPSCOM_API_TOKEN"].encode() not in f.read_bytes()


def test_misbehaving_clients_and_upstreams(controller: Target, tmp_path: Path) -> None:
    out = tmp_path / "bad.jsonl"
    # An upstream nobody listens on: 502, recorded as connect_error, the proxy lives on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    proc, port = _start(f"http://127.0.0.1:{dead}", out)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        status, _, _ = _post(conn, "/api/OC_TOMA/v1/permits/stats", {"apiToken": "x-token-value"})
        assert status == 502
        # A client that sends half a request and hangs up.
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"POST /api/OC_TOMA/v1/permits/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a")
        # Garbage instead of HTTP.
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"\x00\x01 not http at all\r\n\r\n")
            raw.recv(100)
        status, _, _ = _post(http.client.HTTPConnection("127.0.0.1", port, timeout=10),
                             "/api/OC_TOMA/v1/permits/stats", {"apiToken": "x-token-value"})
        assert status == 502  # still serving
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    outcomes = [c.recorded_outcome for c in read_calls(out)]
    assert outcomes.count("connect_error") == 2
    assert b"x-token-value" not in out.read_bytes()


def test_sigterm_closes_the_file_cleanly_mid_traffic(controller: Target, tmp_path: Path) -> None:
    out = tmp_path / "term.jsonl.zst"
    proc, port = _start(controller.url, out)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(50):
        _post(conn, "/api/v1/validate/plate", {"api_token": controller.token, "client": "OC_TOMA",
                                               "plate": f"TERM{i}"})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    warnings: list[str] = []
    calls = list(read_calls(out, warnings.append))
    assert len(calls) == 50 and warnings == []  # a complete zstd frame, no cut line
    assert [c.t_us for c in calls] == sorted(c.t_us for c in calls)


def test_a_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    r = run_harness("record", "--upstream", "http://user:pw@127.0.0.1:1", "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and r.stderr.startswith("harness: error: --upstream: credentials in the URL")
    assert "pw" not in r.stderr
    r = run_harness("record", "--upstream", "http://127.0.0.1:1", "--listen", "nowhere", "--out",
                    str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "--listen: expected HOST:PORT" in r.stderr


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a full disk, as far as the harness can tell


def test_a_full_disk_stops_the_recording_not_the_forwarding(controller: Target, tmp_path: Path) -> None:
    out = tmp_path / "full.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "record", "--upstream", controller.url, "--listen",
                             "127.0.0.1:0", "--out", str(out)], cwd=ROOT, env=harness_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit_file_size)
    assert proc.stderr is not None
    try:
        port = int(proc.stderr.readline().split("listening on http://127.0.0.1:")[1].split(",")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = {"api_token": controller.token, "client": "OC_TOMA", "plate": "FULL1"}
        for _ in range(60):  # some 20 KB of recording: over the limit
            assert _post(conn, "/api/v1/validate/plate", body)[0] == 200
        lost = proc.stderr.readline()  # said once, as soon as a write fails (the flush, within a second)
        assert lost.startswith(f"harness record: {out}: cannot write the recording (File too large)")
        assert lost.rstrip().endswith("forwarding goes on, nothing more is recorded")
        for _ in range(20):  # the clients do not notice
            assert _post(conn, "/api/v1/validate/plate", body)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    rest = proc.stderr.read()
    assert code == 3 and "Traceback" not in rest
    assert f"harness: error: {out}: cannot write the recording (File too large)" in rest
    assert controller.token.encode() not in out.read_bytes()
    assert 0 < len(list(read_calls(out, lambda _w: None))) < 80  # what was written before is kept


def test_masked_profiles_that_the_api_refused_are_still_refused_at_replay(
        recorder: tuple[subprocess.Popen[str], int, Path], controller: Target, tmp_path: Path) -> None:
    """Masks keep what makes a value refused (its length, an e-mail's missing @), so
    deliberately invalid profile pushes replay as refused as they were recorded."""
    proc, port, out = recorder
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    base = {"apiToken": controller.token, "login_source": "OPSCOM", "first_name": "Grace", "last_name": "Hopper"}
    pushes = [
        ({"unique_id": "MK1", "email": "grace.mk1@example.org", "user_name": "gracemk1"}, "ok"),
        ({"unique_id": "MK2", "email": "grace.mk2@example.org", "first_name": "G" * 51}, "9030"),
        ({"unique_id": "MK3", "email": "grace.mk3@example.org", "user_name": "gh"}, "9032"),
        ({"unique_id": "MK4", "email": "grace at example.org"}, "9033"),
    ]
    for fields, _ in pushes:
        _post(conn, "/api/OC_TOMA/v1/profiles/push", base | fields)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    calls = list(read_calls(out))
    assert [c.recorded_outcome for c in calls] == [want for _, want in pushes]
    # The refused values are masked to their own length and form; none is kept.
    assert len(calls[1].body["first_name"]) == 51 and calls[1].body["first_name"] != "G" * 51
    assert len(calls[2].body["user_name"]) == 2 and calls[2].body["user_name"] != "gh"
    assert "@" not in calls[3].body["email"] and calls[3].body["email"] != "grace at example.org"
    text = b"".join(orjson.dumps(c.doc) for c in calls)
    assert all(v.encode() not in text for fields, _ in pushes for k, v in fields.items() if k != "unique_id")
    assert calls[0].body["email"].endswith("@masked.invalid")  # a valid one keeps the usual mask
    result = run_harness("replay", str(out), "--procs", "1", "--quiet", "--out", str(tmp_path / "reports"),
                         "--check", "diff.changed==0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_summary(tmp_path / "reports")["diff"]["changed_requests"] == 0
