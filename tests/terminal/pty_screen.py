"""Run a command on a real pseudo-terminal and read its screen, as a person would.

The child gets a pty as stdin, stdout and stderr (so ``isatty()`` is true and rich
draws its live view); a thread reads everything it writes and feeds a ``pyte``
VT100 screen, of which a test takes snapshots (``lines()``) while the child runs.
The raw bytes are kept too, to check for escape sequences (colour, cursor moves).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parents[2]


class PtyScreen:
    def __init__(self, args: Sequence[str], *, env: dict[str, str], columns: int = 140, rows: int = 50,
                 cwd: Path = ROOT) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self._lock = threading.Lock()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = dict(env, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows))
        self.proc = subprocess.Popen(list(args), stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the child closed its side
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self.stream.feed(data)

    def lines(self) -> list[str]:
        """The screen now, one string per row, trailing spaces removed."""
        with self._lock:
            return [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, every: float = 0.1) -> str:
        """The first screen ``predicate`` accepts; AssertionError with the screen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched within {timeout}s; it shows:\n{screen}")
            time.sleep(every)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._master)


@contextlib.contextmanager
def harness_on_pty(*args: str, env: dict[str, str], columns: int = 140, rows: int = 50) -> Iterator[PtyScreen]:
    screen = PtyScreen([sys.executable, "-m", "harness", *args], env=env, columns=columns, rows=rows)
    try:
        yield screen
    finally:
        screen.close()
