"""Debian packages a test needs (chromium, nginx), installed by the test set-up itself.

CI runs ``make test`` in a fresh clone on a fresh machine: whatever a test needs
beyond the venv is installed here, once per session, with apt-get (as root, which
CI and the developers' machines are). Never a browser download of a tool's own:
Debian's chromium is what the browser tests drive.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

_updated = False


def ensure_package(binary: str, package: str, *, timeout: float = 900) -> str:
    """The path of ``binary``, installing Debian's ``package`` first when it is missing.
    Raises RuntimeError saying what to do when it cannot be installed."""
    found = binary if os.path.isabs(binary) and Path(binary).exists() else shutil.which(binary)
    if found:
        return found
    # pytest-xdist workers may ask at once; apt-get takes one at a time.
    with open("/tmp/harness-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(binary, package, timeout)


def _install(binary: str, package: str, timeout: float) -> str:
    found = binary if os.path.isabs(binary) and Path(binary).exists() else shutil.which(binary)
    if found:  # another worker installed it while we waited for the lock
        return found
    global _updated
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RuntimeError(f"{binary} is missing and cannot be installed here (needs root and apt-get): "
                           f"run 'apt-get install -y {package}'")
    # RUNLEVEL=1: invoke-rc.d starts no service on install (nginx would take port 80);
    # the tests start their own servers on loopback ports.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    if not _updated:
        subprocess.run([apt, "update", "-qq"], check=True, env=env, timeout=timeout, capture_output=True)
        _updated = True
    done = subprocess.run([apt, "install", "-y", "-qq", package], env=env,
                          timeout=timeout, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"apt-get install {package} failed: {done.stderr.strip()[-500:]}")
    found = binary if os.path.isabs(binary) and Path(binary).exists() else shutil.which(binary)
    if not found:
        raise RuntimeError(f"apt-get installed {package} but {binary} is still missing")
    return found


if __name__ == "__main__":
    # `python tests/support/debian.py`: install what the tests need before they start.
    for _binary, _package in (("/usr/bin/chromium", "chromium"), ("nginx", "nginx-light")):
        ensure_package(_binary, _package)
