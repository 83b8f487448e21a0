"""Run the real ``locust`` command on the scenarios, as a user would, and read what
it leaves: the harness's run directory and Locust's own statistics (``--json-file``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.harness_cli import ROOT

SCENARIOS = ROOT / "scenarios"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locust_env(token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["OPSCOM_API_TOKEN"] = token
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def locust_cmd(locustfile: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(SCENARIOS / locustfile), "--skip-log-setup", *args]


def run_locust(locustfile: str, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(locust_cmd(locustfile, *args), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_locust(locustfile: str, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """A locust process in a session of its own (so a signal reaches only it), its
    output in ``log``."""
    out = log.open("w")
    return subprocess.Popen(locust_cmd(locustfile, *args), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """Wait for a locust process; kill its group if it does not end."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise


@dataclass
class LocustStats:
    """Locust's own statistics of a run (its ``--json-file``)."""

    entries: list[dict[str, Any]]

    @classmethod
    def read(cls, prefix: Path) -> LocustStats:
        return cls(json.loads(Path(f"{prefix}.json").read_text()))

    @property
    def requests(self) -> int:
        return sum(e["num_requests"] for e in self.entries)

    @property
    def failures(self) -> int:
        return sum(e["num_failures"] for e in self.entries)

    def by_name(self) -> dict[str, int]:
        return {e["name"]: e["num_requests"] for e in self.entries}

    def percentile_ms(self, name: str, fraction: float) -> float:
        """Locust's own (rounded-bucket) percentile of a name's response times."""
        entry = next(e for e in self.entries if e["name"] == name)
        times = sorted((float(k), n) for k, n in entry["response_times"].items())
        wanted = fraction * sum(n for _, n in times)
        seen = 0
        for value, n in times:
            seen += n
            if seen >= wanted:
                return value
        return times[-1][0]


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - not up yet
            last_error = exc
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def assert_judged(summary: dict[str, Any], code: int) -> None:
    """The exit code is the verdict's, and nothing but a latency threshold failed: a
    test that proves counts and reports may run on a loaded machine, where a p99 of
    the scenario's own gate can be missed (that gate is tested on its own)."""
    assert summary["exit_code"] == code, (summary["verdict"], code)
    assert summary["verdict"] in ("pass", "fail")
    failed = [c for c in summary["checks"] if not c["passed"]]
    assert all(c["unit"] == "ms" and c["value"] is not None for c in failed), failed
