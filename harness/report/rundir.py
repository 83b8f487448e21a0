"""Run directories: each run's outputs in a directory of its own, never lost.

    reports/<name>/20261123T201500Z-a1b2c3/   summary.json, metrics.json, *.hgrm, ...
    reports/<name>/latest -> 20261123T201500Z-a1b2c3

A run is written into a hidden ``.partial-...`` directory first and renamed into
place when complete, and ``latest`` is replaced by an atomic rename, so a crash or
a full disk mid-write leaves every earlier report (and ``latest``) intact. A run
name is a single path component (``harness.options.run_name``), so it cannot place
a report outside the chosen root. When the root cannot be written (disk full,
read-only, permissions), the run is written under the system's temporary directory
instead and the caller says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

LATEST = "latest"
_PARTIAL = ".partial-"


@dataclass(frozen=True)
class Written:
    path: Path  # the run directory
    fallback: bool  # written under the temporary directory because the root failed
    problem: str | None  # why the root could not be used


def run_dir_name(started: datetime, run_id: str) -> str:
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{run_id}"


def write_run_dir(root: Path, name: str, fill: Callable[[Path], None]) -> Written:
    """Create ``root/name`` atomically with ``fill(dir)``, then point ``latest`` at it;
    on an OSError, the same under the temporary directory."""
    try:
        return Written(_write(root, name, fill), False, None)
    except OSError as exc:
        problem = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    fallback_root = Path(tempfile.gettempdir()) / "harness-reports" / root.name
    return Written(_write(fallback_root, name, fill), True, problem)  # an OSError here: the caller's


def _write(root: Path, name: str, fill: Callable[[Path], None]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f"{_PARTIAL}{name}"
    final = root / name
    try:
        partial.mkdir()
        fill(partial)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _point_latest(root, name)
    return final


def _point_latest(root: Path, name: str) -> None:
    """``latest`` -> name, replaced atomically (a symlink where possible, else a file)."""
    tmp = root / f".{LATEST}-{name}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(name, tmp)
    except OSError:
        tmp.write_text(name + "\n")
    os.replace(tmp, root / LATEST)


def latest_run(root: Path) -> Path | None:
    """The run ``root/latest`` names, or None."""
    link = root / LATEST
    if link.is_symlink():
        target = root / os.readlink(link)
    elif link.is_file():
        target = root / link.read_text().strip()
    else:
        return None
    return target if target.is_dir() else None


def resolve_run(path: Path) -> Path:
    """A run directory from a run directory, a scenario's reports root (its latest
    run) or a summary.json; FileNotFoundError when it is none of these."""
    if path.is_file() and path.name == "summary.json":
        return path.parent
    if (path / "summary.json").is_file():
        return path
    latest = latest_run(path)
    if latest is not None and (latest / "summary.json").is_file():
        return latest
    raise FileNotFoundError(f"{path}: not a run directory, a reports directory with a latest run, or a summary.json")
