"""Start the reference controller as a child process and stop it again.

Used by the tests' fixtures and by ``harness run`` (the embedded target):

    with start_controller_process(tokens=["tok"], cpu=0) as ctl:
        ...  # ctl.url == "http://127.0.0.1:PORT"

The child is ``python -m harness serve --port 0``: the kernel picks a free port and
the child reports it on its one line of stdout. Tokens travel in an environment
variable read through ``--token-env``, never in argv, where ``ps`` would show them.
After that line a daemon thread keeps reading stdout, so the child can never block
on a full pipe. Its stderr goes where the caller says, or to a temporary file whose
tail explains a failed start.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness.controller.config import READY_PREFIX

TOKENS_ENV = "HARNESS_CONTROLLER_TOKENS"
_READY = re.compile(re.escape(READY_PREFIX) + r"(http://\S+:(\d+))\s*$")
_STDERR_TAIL = 2000


@dataclass
class ControllerProcess:
    url: str  # "http://127.0.0.1:PORT"
    port: int
    process: subprocess.Popen[bytes]
    _reader: threading.Thread | None = field(default=None, repr=False)
    _stderr_file: IO[bytes] | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, wait up to ``timeout`` s, then SIGKILL; returns the exit code."""
        proc = self.process
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5.0)  # stdout reaches EOF once the child is gone
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stdin is not None:
            proc.stdin.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        return proc.returncode

    def stderr_tail(self) -> str:
        """The end of the child's stderr when it was captured (``stderr=None``), else ""."""
        return _stderr_tail(self._stderr_file)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def __enter__(self) -> ControllerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _command(
    *, client: str, seed: int, db: Path | None, extra_args: Sequence[str], cpu: int | None
) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "serve", "--port", "0", "--client", client,
           "--seed", str(seed), "--token-env", TOKENS_ENV]
    if db is not None:
        cmd += ["--db", str(db)]
    cmd += list(extra_args)
    if cpu is not None and shutil.which("taskset"):
        # taskset execs the command, so the pid (and our signals) stay the child's.
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return cmd


def _read_stdout(stream: IO[bytes], ready: queue.Queue[str | None]) -> None:
    """Hand over the first "listening" line, then drain until EOF."""
    announced = False
    for raw in stream:
        if not announced:
            line = raw.decode("utf-8", "replace").strip()
            if _READY.search(line):
                ready.put(line)
                announced = True
    if not announced:
        ready.put(None)  # EOF before the line: the child died


def _stderr_tail(file: IO[bytes] | None) -> str:
    """The last ~2000 characters the child wrote to a captured stderr ("" if none)."""
    if file is None or file.closed:
        return ""
    file.flush()
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - _STDERR_TAIL))
    return file.read().decode("utf-8", "replace").strip()


def _failure(what: str, tail: str) -> RuntimeError:
    return RuntimeError(f"{what}; stderr:\n{tail or '(empty, or not captured)'}")


def start_controller_process(
    *,
    tokens: Sequence[str],
    client: str = "OC_TOMA",
    seed: int = 1,
    db: Path | None = None,
    extra_args: Sequence[str] = (),
    cpu: int | None = None,
    startup_timeout: float = 30.0,
    stderr: int | IO[Any] | None = None,
    watch_parent: bool = False,
) -> ControllerProcess:
    """Start ``harness serve`` and wait until it listens.

    ``tokens`` are ``--token`` entries (``TOKEN`` or ``TOKEN:perm1,perm2``). ``cpu``
    pins the child to one core with taskset when taskset exists. ``stderr``: where
    the child's stderr goes; None captures it in a temporary file. A child that
    exits or stays silent for ``startup_timeout`` s raises RuntimeError with the tail
    of its stderr (a silent one is killed first). ``watch_parent``: the child exits
    when this process dies, however it dies: it holds a pipe on its stdin whose
    only writer is this process, and stops at its end of file."""
    env = dict(os.environ)
    env[TOKENS_ENV] = " ".join(tokens)
    stderr_file: IO[bytes] | None = None
    if stderr is None:
        stderr_file = tempfile.TemporaryFile(prefix="harness-controller-stderr-")
        stderr = stderr_file
    cmd = _command(client=client, seed=seed, db=db, extra_args=extra_args, cpu=cpu)
    if watch_parent:
        cmd.append("--exit-on-stdin-eof")
    # A session of its own: a Ctrl-C at the terminal reaches the whole foreground
    # process group, and `harness run` must keep its target up while it drains.
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE if watch_parent else subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=stderr, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    ready: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_stdout, args=(proc.stdout, ready), name="controller-stdout", daemon=True)
    reader.start()
    handle = ControllerProcess(url="", port=0, process=proc, _reader=reader, _stderr_file=stderr_file)

    deadline = time.monotonic() + startup_timeout
    line: str | None = None
    try:
        line = ready.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        proc.kill()
        proc.wait()
        tail = _stderr_tail(stderr_file)
        handle.stop()
        raise _failure(f"controller did not start within {startup_timeout:g}s", tail) from None
    if line is None:
        proc.wait()
        tail = _stderr_tail(stderr_file)
        code = handle.stop()
        raise _failure(f"controller exited with code {code} before listening", tail)
    match = _READY.search(line)
    assert match is not None
    handle.url, handle.port = match.group(1), int(match.group(2))
    return handle
