"""Run the real ``harness`` command and the stall server as subprocesses."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STALL_SERVER = Path(__file__).with_name("stall_server.py")


@dataclass
class StallServer:
    url: str
    process: subprocess.Popen[str]

    def answered(self) -> int:
        return int(self._get("/count")["answered"])

    def seen(self) -> list[str]:
        """The request lines of the first POSTs it received ("POST /api/...")."""
        return list(self._get("/seen")["seen"])

    def _get(self, path: str) -> dict[str, Any]:
        ctx = ssl._create_unverified_context() if self.url.startswith("https") else None  # our own test cert
        with urllib.request.urlopen(self.url + path, timeout=5, context=ctx) as resp:
            return dict(json.load(resp))


@contextmanager
def stall_server(*stalls: str, tls: tuple[Path, Path] | None = None, hang_after: float | None = None,
                 reset: bool = False, status: int | None = None) -> Iterator[StallServer]:
    """A stall server; each stall is "START:LENGTH" seconds after its first request.
    ``hang_after``/``reset``/``status``: the failure modes of ``stall_server.py``."""
    args = [sys.executable, str(STALL_SERVER)]
    if tls:
        args += ["--tls", str(tls[0]), str(tls[1])]
    if hang_after is not None:
        args += ["--hang-after", str(hang_after)]
    if reset:
        args.append("--reset")
    if status is not None:
        args += ["--status", str(status)]
    for s in stalls:
        args += ["--stall", s]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on " not in line:
            raise RuntimeError(f"stall server did not start: {line!r}")
        yield StallServer(line.split("listening on ")[1].strip(), proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def harness_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OPSCOM_API_TOKEN", "test-token-not-secret")
    env.update(extra)
    return env


def run_harness(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT, env=env or harness_env(), capture_output=True, text=True, timeout=timeout,
    )


def start_harness(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT, env=env or harness_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run_dir(out: Path) -> Path:
    """The run directory of a reports root (its latest run), or ``out`` itself."""
    from harness.report.rundir import resolve_run

    return resolve_run(out)


def read_summary(out: Path) -> dict[str, Any]:
    """summary.json of the latest run under a reports root (or of a run directory)."""
    return json.loads((run_dir(out) / "summary.json").read_text())
