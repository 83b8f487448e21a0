"""A recording and the replay flags, turned into an ordinary ``Plan``.

``replay_plan`` reads the recording once (``scan``: every line checked, so a bad
one is a usage error before anything is sent), works out the schedule's length
and size, and hands ``harness.api.load_plan`` a ``ReplaySpec`` (what each worker
sends) and, unless ``speed`` is None, a ``RecordingPacer`` (when). With ``speed``
None the plan is the closed model with one user per connection, each taking the
next recorded call of its process as soon as its last is answered; its duration
is a bound (``--duration``, default the recorded span times the loops, at least
a minute), the recording's end is the run's end.

From here on a replay is a run like any other: the same engine, metrics,
summary.json (plus its ``diff`` section), .hgrm files, checks, exit codes and run
directories.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.plan import Override, Plan, load_plan
from harness.recording.files import Scan, scan
from harness.recording.names import MAX_NAMES, OTHER
from harness.replay import diff
from harness.replay.schedule import RecordingPacer, ReplayOptions, describe, last_offset
from harness.replay.source import ReplaySource
from harness.traffic.call import TrafficContext, TrafficSource
from harness.units import parse_duration

MIN_CLOSED_BOUND_S = 60.0


@dataclass(frozen=True, kw_only=True)
class ReplaySpec:
    """A recording as a run's traffic (a ``SourceSpec``)."""

    options: ReplayOptions
    request_names: tuple[str, ...]  # non-OPSCOM names the recording uses (at most MAX_NAMES)
    calls: int  # in the window, before copies and loops
    source: str  # the recording's header: what made it

    def build(self, ctx: TrafficContext) -> TrafficSource:
        return ReplaySource(self.options, frozenset(self.request_names), ctx)

    def names(self) -> tuple[str, ...]:
        return self.request_names + (OTHER,)

    def describe(self) -> dict[str, Any]:
        return {"kind": "replay", "recording": self.options.path, "recorded_by": self.source,
                "calls": self.calls, "client": self.options.client,
                "recorded_client": self.options.recorded_client, **describe(self.options)}


@dataclass(frozen=True, kw_only=True)
class ReplaySettings:
    """The replay flags, as given (each checked here)."""

    speed: float | None = 1.0  # None: --speed max
    multiplier: int = 1
    loops: int = 1
    max_rate: float | None = None
    start: str | None = None  # --from: an offset (90s, 1h30m) or an ISO time
    end: str | None = None  # --to
    wait_s: float | None = None  # longest wait for a parent's answer (default twice the timeout)


def parse_speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text.rstrip("xX"))
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive factor such as 2 or 0.5, or max, got {text!r}")
    return value


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def parse_offset(text: str, started: str, where: str) -> int:
    """Microseconds from the recording's start: ``90s``, ``1h30m``, or an ISO time."""
    value = text.strip()
    try:
        if _ISO.match(value):
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            t0 = datetime.fromisoformat(started.replace("Z", "+00:00"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=t0.tzinfo)
            return max(0, round((at - t0).total_seconds() * 1e6))
        total = 0.0
        parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", value)
        if not parts or "".join(a + b for a, b in parts) != value:
            return round(parse_duration(value) * 1e6)
        for number, unit in parts:
            total += parse_duration(number + unit)
        return round(total * 1e6)
    except ValueError:
        raise ConfigError(f"{where}: expected an offset from the recording's start such as 90s or 1h30m, "
                          f"or an ISO time such as 2026-11-23T08:30:00Z, got {text!r}") from None


def replay_plan(recording: str | Path, overrides: Mapping[str, Any] | None = None,
                settings: ReplaySettings | None = None) -> tuple[Plan, Scan]:
    """The plan replaying ``recording``, and what its scan found (warnings included)."""
    diff.register()
    path = Path(recording)
    rs = settings or ReplaySettings()
    from harness.recording.files import read_header

    header = read_header(path)
    start_us = parse_offset(rs.start, header.started, "--from") if rs.start else 0
    end_us = parse_offset(rs.end, header.started, "--to") if rs.end else None
    if end_us is not None and end_us <= start_us:
        raise ConfigError(f"--to: the window ends ({end_us / 1e6:g}s) before it starts ({start_us / 1e6:g}s)")
    found = scan(path, start_us=start_us, end_us=end_us)
    if found.calls == 0:
        raise ConfigError(f"{path}: no call to replay" + (" in the window --from/--to" if rs.start or rs.end else ""))
    over: dict[str, Any] = dict(overrides or {})
    client = _value(over.get("target.client")) or header.client or "OC_TOMA"
    over.setdefault("target.client", Override(client, f"{path}: header client"))
    over.setdefault("name", Override(_name(path), "replay"))
    first = found.first_us or 0
    last = found.last_us or 0
    span_us = last - start_us
    gap_us = (last - first) // (found.calls - 1) if found.calls > 1 else 1_000_000
    timeout = _value(over.get("load.timeout"))
    wait_s = rs.wait_s if rs.wait_s is not None else 2 * (parse_duration(timeout) if timeout else 10.0)
    options = ReplayOptions(
        path=str(path), key=secrets.token_hex(8), speed=rs.speed, multiplier=rs.multiplier, loops=rs.loops,
        max_rate=rs.max_rate, start_us=start_us, end_us=end_us, period_us=span_us + gap_us,
        recorded_client=header.client, client=client, wait_s=wait_s,
    )
    names = tuple(sorted(found.names, key=lambda n: -found.names[n])[:MAX_NAMES])
    spec = ReplaySpec(options=options, request_names=names, calls=found.calls, source=header.source)
    hits = found.calls * rs.multiplier * rs.loops
    if rs.speed is None:
        connections = _value(over.get("load.connections")) or 64
        over.setdefault("load.users", Override(connections, "--speed max (one user per connection)"))
        over["load.model"] = Override("closed", "--speed max")
        if "load.duration" not in over:
            bound = max(MIN_CLOSED_BOUND_S, (span_us + gap_us) * rs.loops / 1e6)
            over["load.duration"] = Override(f"{bound:.3f}s", "--speed max (the recording's span)")
        return load_plan(None, over, source=spec), found
    end = last_offset(options) if rs.max_rate else ((span_us + (rs.loops - 1) * options.period_us) / 1e6 / rs.speed)
    pacer = RecordingPacer(options=options, duration=end + gap_us / 1e6 / rs.speed, hits=hits)
    return load_plan(None, over, source=spec, pacer=pacer), found


def _value(given: Any) -> Any:
    return given.value if isinstance(given, Override) else given


def _name(path: Path) -> str:
    stem = path.name.split(".")[0] or "recording"
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip("._-")[:56] or "recording"
    return f"replay-{stem}"
