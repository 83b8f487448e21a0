"""``start_controller_process``: start, pin, report failures, stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.controller import process as process_module
from harness.controller.process import start_controller_process


def healthz(url: str) -> dict[str, Any]:
    import orjson

    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        return orjson.loads(resp.read())


def test_start_pin_and_stop() -> None:
    secret = "token-that-must-not-leak"
    with start_controller_process(tokens=[secret, "ro:plate-validate"], client="OC-TOMA", seed=3, cpu=0,
                                  stderr=subprocess.DEVNULL) as ctl:
        assert ctl.url == f"http://127.0.0.1:{ctl.port}" and ctl.running
        assert healthz(ctl.url) == {"status": "ok", "client": "OC_TOMA", "seed": 3}
        cmdline = Path(f"/proc/{ctl.process.pid}/cmdline").read_bytes()
        assert secret.encode() not in cmdline and b"--token-env" in cmdline
        if hasattr(os, "sched_getaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
            assert os.sched_getaffinity(ctl.process.pid) == {0}
    assert not ctl.running and ctl.process.returncode == 0
    assert ctl.stop() == 0  # stopping twice is harmless


def test_sigterm_also_exits_0() -> None:
    ctl = start_controller_process(tokens=["t"])
    ctl.process.send_signal(signal.SIGTERM)
    assert ctl.process.wait(10) == 0
    assert ctl.stop() == 0


def test_a_child_that_fails_reports_its_stderr() -> None:
    with pytest.raises(RuntimeError, match=r"exited with code 2 before listening; stderr:\n"
                                           r"harness: error: --stall: expected EVERY:FOR"):
        start_controller_process(tokens=["t"], extra_args=["--stall", "x"])


def test_a_silent_child_is_killed_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kw: Any) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kw)
        started.append(proc)
        return proc

    monkeypatch.setattr(process_module, "_command", lambda **kw: [
        sys.executable, "-c", "import sys, time; print('warming up', file=sys.stderr, flush=True); time.sleep(60)"])
    monkeypatch.setattr(process_module.subprocess, "Popen", popen)
    with pytest.raises(RuntimeError, match=r"did not start within 0.5s; stderr:\nwarming up"):
        start_controller_process(tokens=["t"], startup_timeout=0.5)
    assert started and started[0].poll() is not None
