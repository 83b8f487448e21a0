"""scenarios/replay.py: a recording played by Locust users against the reference
controller, the replayed reference ids carried into the updates and deletes that
follow (otherwise the controller answers 9009, record not found), whole chains per
worker, on one process and on a master with two workers."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from support.api import Target

from harness.locust.replaying import read_recording
from harness.opscom.builders import build_body, format_datetime
from harness.opscom.endpoints import ENDPOINTS
from tests.support.harness_cli import read_summary
from tests.support.locust_cli import (
    LocustStats,
    free_port,
    locust_env,
    run_locust,
    start_locust,
    stop,
)

PLACEHOLDER = "<redacted>"


def write_recording(path: Path, chains: int = 12, seconds: float = 3.0) -> int:
    """A recording as the recorder would leave it: a token placeholder, the original
    answers' reference ids; per chain a push, its update and its delete, and a plate
    validation between. Returns the number of calls."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    lines = [{"format": "opscom-recording", "version": 1, "client": "OC_TOMA", "started": now.isoformat() + "Z",
              "source": "test", "redaction": {"credentials": "placeholder"}}]
    tag = secrets.token_hex(3).upper()
    for n in range(chains):
        ref = f"rec-{n:04d}-0000-4000-8000-000000000000"
        start = int(n * seconds / chains * 1e6)
        push = build_body("permit_push", token=PLACEHOLDER, values={
            "plate": f"R{tag}{n:03d}", "start": format_datetime(now - timedelta(minutes=5)),
            "end": format_datetime(now + timedelta(hours=1)), "amount": "5.00", "currency": "CAD",
            "ticket": f"RT{tag}{n:03d}", "zone": "Lot 04"})
        update = build_body("permit_update", token=PLACEHOLDER, values={
            "reference_id": ref, "end": format_datetime(now + timedelta(hours=2))})
        delete = build_body("permit_delete", token=PLACEHOLDER, values={"reference_id": ref})
        plate = build_body("plate_validate", token=PLACEHOLDER, client="OC_TOMA", values={"plate": "ABC123"})
        for offset, name, body, answer in (
            (start, "permit_push", push, {"status": 200, "outcome": "ok", "ids": {"reference_id": ref}}),
            (start + 100_000, "plate_validate", plate, {"status": 200, "outcome": "ok"}),
            (start + 400_000, "permit_update", update, {"status": 200, "outcome": "ok"}),
            (start + 800_000, "permit_delete", delete, {"status": 200, "outcome": "ok"}),
        ):
            lines.append({"t_us": offset, "endpoint": name, "method": "POST",
                          "path": ENDPOINTS[name].path_for("OC_TOMA"), "query": "",
                          "headers": [["Content-Type", "application/json"]], "body": body, "answer": answer})
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return len(lines) - 1


def test_recording_chains_keep_dependent_calls_together(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_recording(path, chains=5)
    path.write_bytes(path.read_bytes() + b'{"t_us": 999, "endpo')  # a crashed recorder's last line
    header, calls = read_recording(path)
    assert header["client"] == "OC_TOMA" and len(calls) == 20
    by_chain: dict[int, list[str]] = {}
    for c in calls:
        by_chain.setdefault(c.chain, []).append(c.name)
    # Each push with its update and delete; each plate validation alone.
    assert sorted(map(sorted, by_chain.values())) == sorted(
        [["permit_delete", "permit_push", "permit_update"]] * 5 + [["plate_validate"]] * 5)
    assert all(c.needs for c in calls if c.name in ("permit_update", "permit_delete"))


def test_a_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_recording(path, chains=2)
    lines = path.read_bytes().splitlines()
    lines[3] = b'{"t_us": "soon", "endpoint": "permit_push", "path": "/x"}'
    path.write_bytes(b"\n".join(lines) + b"\n")
    res = run_locust("replay.py", "--headless", "-H", "http://127.0.0.1:9", "--recording", str(path),
                     env=locust_env("t"))
    assert res.returncode == 2
    assert f"harness: error: {path}:4: " in res.stderr and "t_us" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_replay_correlates_ids_per_chain(controller: Target, tmp_path: Path, workers: int) -> None:
    recording = tmp_path / "r.jsonl"
    calls = write_recording(recording)
    common = ["-H", controller.url, "--recording", str(recording), "--speed", "2", "-u", "6", "-r", "100",
              "--headless", "--report-dir", str(tmp_path / "out"), "--json-file", str(tmp_path / "locust"),
              "--only-summary"]
    env = locust_env(controller.token)
    if not workers:
        res = run_locust("replay.py", *common, env=env)
    else:
        port = str(free_port())
        procs = [start_locust("replay.py", "--worker", "--master-port", port, "--recording", str(recording),
                              env=env, log=tmp_path / f"w{k}.log") for k in range(workers)]
        try:
            res = run_locust("replay.py", "--master", "--expect-workers", str(workers), "--master-bind-host",
                             "127.0.0.1", "--master-bind-port", port, *common, env=env)
            assert [stop(p) for p in procs] == [0] * workers
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    s = read_summary(tmp_path / "out")
    # Every call played once; every update and delete found its permit (no 9009).
    assert s["totals"]["requests"] == s["totals"]["ok"] == calls == LocustStats.read(tmp_path / "locust").requests
    assert s["endpoints"]["permit_update"]["ok"] == s["endpoints"]["permit_delete"]["ok"] == 12
    assert s["codes"] == {}
    assert {e["latency_basis"] for e in s["endpoints"].values()} == {"intended"}
    assert s["run"]["procs"] == max(1, workers) and s["run"]["model"] == "open"
