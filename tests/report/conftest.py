"""Fixtures of the report tests: a real run to report on, and headless Chromium.

- ``chromium``: Debian's /usr/bin/chromium, installed with apt-get when missing
  (``tests/support/debian.py``); never a browser download.
- ``browser``: Playwright's Python API driving it headless with the flags this
  machine's closed network needs and an empty user-data directory; one browser for
  this package's tests, a fresh page per test (``Browser.open``).
- ``sample_run``: a real ``harness run`` against the embedded reference controller,
  with every generator (so error codes and deliberate codes appear) and one check
  that must fail, kept for the whole session.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import Browser, launch
from tests.support.debian import ensure_package
from tests.support.harness_cli import run_dir, run_harness


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        return ensure_package("/usr/bin/chromium", "chromium")
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="package")  # closed before other packages' asyncio tests run
def browser(chromium: str) -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile, launch(chromium, Path(profile)) as b:
        yield b


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "reports"
    res = run_harness("run", "--rate", "80", "--duration", "4s", "--procs", "1", "--connections", "8",
                      "--mix", "enforcement=60,meters=20,integrations=10,invalid=10", "--csv",
                      "--check", "plate_validate.p99<0.001ms", "--check", "all.error_rate<50%",
                      "--out", str(out), "--quiet")
    assert res.returncode == 1, res.stdout + res.stderr  # the impossible p99 fails
    return run_dir(out)
