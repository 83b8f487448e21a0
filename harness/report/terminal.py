"""What a person watching the run sees, on a terminal or in a log.

``open_view`` picks the view for where stderr goes:

- a terminal: the live frame of ``harness.report.screen`` (rich), redrawn in place
  about once a second;
- anything else (a CI log, a pipe, a file, ``TERM=dumb``): ``LogView``, one plain
  line per ``LOG_EVERY_S`` seconds that summarises that whole interval (rate,
  errors, and p50/p99/max over every answer in it, from the merged histograms), so
  a stall between two lines cannot hide; no control characters, no colour;
- ``--quiet``: nothing while it runs.

Either view is fed by ``LiveFeed``: the run's ``on_second`` callback only appends
the row to a queue, and the view's own thread reads the queue once a second,
keeps the running totals (``harness.report.live.LiveState``) and draws. So the
engine's loop never decodes a histogram or formats a line for the view. Writing
to a closed stream (a pipe whose reader left) never disturbs the run: the view
goes quiet.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from typing import Any, Protocol, TextIO

from harness.checks import format_value
from harness.metrics import Buckets, Recorder
from harness.report.live import LiveState, error_share, ok_of
from harness.report.screen import clock, ms, outcomes_text
from harness.timeline import Second

LOG_EVERY_S = 5
REFRESH_S = 1.0


class View(Protocol):
    def start(self) -> None: ...
    def show(self, rows: list[Second]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM", "") != "dumb"
    except (ValueError, OSError, AttributeError):
        return False


class LogView:
    """One plain line per interval (see the module docstring)."""

    def __init__(self, state: LiveState, out: TextIO, every: int = LOG_EVERY_S) -> None:
        self.state = state
        self.out = out
        self.every = every
        self.quiet = False
        self._pending: list[Second] = []
        self._lock = threading.Lock()  # lines from the view's thread and messages from the run's

    def start(self) -> None:
        pass

    def show(self, rows: list[Second]) -> None:
        for row in rows:
            self._pending.append(row)
            if (row.t + 1) % self.every == 0:
                self._flush()

    def close(self) -> None:
        self._flush()  # the last, shorter interval (the end of the run and the drain)

    def _flush(self) -> None:
        if self._pending:
            self._write(interval_line(self._pending, self.state))
            self._pending = []

    def message(self, text: str) -> None:
        self._write(text)

    def _write(self, line: str) -> None:
        with self._lock:
            if self.quiet:
                return
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError):
                self.quiet = True  # the reader went away; the run goes on


def interval_line(rows: list[Second], state: LiveState) -> str:
    """``[  5-10s] running    99 req/s of 100 intended  p50 1.52 ms  p99 7.03 ms
    max 12.1 ms  errors 0.00%  left 10s`` (+ the interval's top non-ok outcomes)."""
    requests = sum(r.requests for r in rows)
    errors = sum(r.errors for r in rows)
    outcomes: dict[str, int] = {}
    for r in rows:
        for ns in r.names.values():
            for key, n in ns.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + n
    hist = Recorder.accumulator()
    for r in rows:
        hist.add(Buckets.decode(r.latency))
    buckets = hist.buckets()
    p50 = p99 = mx = 0.0
    if buckets.total:
        values = buckets.values_at_percentiles([50.0, 99.0])
        p50, p99, mx = values[50.0] / 1000, values[99.0] / 1000, buckets.max_value() / 1000
    first, end = rows[0].t, rows[-1].t + 1
    seconds = max(1, end - first)
    span = f"{first}-{end}s"
    phase = "running" if end <= state.duration_s + 0.5 else "draining"
    rate = f"{requests / seconds:>9,.0f} req/s"
    if state.rate_at is not None:
        intended = sum(state.rate_at(t + 0.5) for t in range(first, end)) / seconds
        rate += f" of {intended:,.0f} intended"
    line = (f"[{span:>9}] {phase:<8} {rate}  p50 {ms(p50)} ms  p99 {ms(p99)} ms  max {ms(mx)} ms  "
            f"errors {error_share(ok_of(requests, outcomes), errors):.2%}  "
            f"left {clock(max(0.0, state.duration_s - end))}")
    if outcomes:
        line += f"  non-ok {outcomes_text(outcomes)}"
    return line


class LiveFeed:
    """The run's ``on_second`` callback, and the thread that hands its rows to a view."""

    def __init__(self, view: View, state: LiveState, every: float = REFRESH_S) -> None:
        self.view = view
        self.state = state
        self.every = every
        self._rows: deque[Second] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-live-view", daemon=True)
        self._lock = threading.Lock()  # one reader of the queue and the state at a time

    def on_second(self, row: Second) -> None:
        """Called on the run's event loop: an append and a wake-up, nothing more."""
        self._rows.append(row)
        self._wake.set()

    def start(self) -> None:
        self.view.start()
        self._thread.start()

    def message(self, text: str) -> None:
        self.view.message(text)

    def stopping(self) -> None:
        """The run was interrupted: answers in flight get their grace."""
        self.state.stopping = True

    def close(self) -> None:
        """Show the last rows, mark the run done and take the view down."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.state.done = True
        with contextlib.suppress(Exception):
            self._read()
            self.view.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._read()
            except Exception as exc:  # noqa: BLE001 - a broken view must not end the run
                self._broken(exc)
                return

    def _read(self) -> None:
        with self._lock:
            rows = []
            while self._rows:
                rows.append(self._rows.popleft())
            for row in rows:
                self.state.add(row)
            self.view.show(rows)

    def _broken(self, exc: Exception) -> None:
        with contextlib.suppress(Exception):
            print(f"harness: warning: the live view stopped ({type(exc).__name__}: {exc}); the run goes on",
                  file=sys.stderr, flush=True)


# --- the end of the run, as plain text ---------------------------------------------------------


def _top_outcomes(section: dict[str, Any], limit: int = 3) -> str:
    items = sorted(((k, v) for k, v in section.get("outcomes", {}).items() if k != "ok"), key=lambda kv: -kv[1])
    return " ".join(f"{k}:{v}" for k, v in items[:limit])


def check_lines(summary: dict[str, Any]) -> list[tuple[bool, str, str]]:
    """Each check as (passed, expression, "measured 2.61 ms, threshold < 200 ms")."""
    out = []
    for c in summary["checks"]:
        threshold = format_value(c["threshold"], _kind(c["unit"]))
        measured = "not measured" if c["value"] is None else f"measured {c['measured']}"
        out.append((bool(c["passed"]), c["expr"], f"{measured}, threshold {c['op']} {threshold}"))
    return out


def run_lines(summary: dict[str, Any]) -> list[str]:
    """The lines under the table: totals, codes, interruption, errors."""
    run, t = summary["run"], summary["totals"]
    lines = ["latency in ms over answered and timed-out requests, from each request's intended send time "
             "(corrected for coordinated omission)"]
    intended = f" of {run['intended_rate']:,.1f} intended" if run.get("intended_rate") else ""
    lines.append(
        f"intended {run['intended_requests']:,}  sent {t['sent']:,}  answered {t['answered']:,}  "
        f"achieved {t['achieved_rps']:,.1f} req/s{intended} over {run['duration_s']:.1f}s"
    )
    lines.append(
        f"late {t['late']:,}  dropped {t['dropped']:,}  unsent {t['unsent']:,}  "
        f"contract violations {t['contract_violations']:,}  deliberate errors answered right {t['expected']:,}"
    )
    if summary["codes"]:
        lines.append("unexpected API error codes: " + ", ".join(f"{k}×{v}" for k, v in summary["codes"].items()))
    if run.get("interrupted"):
        stopped = "ABORTED" if summary.get("verdict") == "fail" else "INTERRUPTED"  # fail: a live check stopped it
        lines.append(f"{stopped} ({run.get('reason') or 'stopped early'}): the numbers cover the run up to then")
    for err in summary.get("errors", []):
        lines.append(f"ERROR: {err}")
    return lines


def table_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(summary["endpoints"].items()) + [("all", summary["all"])]


LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))


def render_table(summary: dict[str, Any]) -> str:
    """Per-name table, totals, and the checks with the verdict, in plain text."""
    head = (f"{'endpoint':<19}{'requests':>10}{'rps':>9}{'errors':>8}"
            + "".join(f"{title:>9}" for title, _ in LATENCY_COLUMNS) + "  outcomes other than ok")
    lines = [head, "-" * len(head)]
    for name, s in table_rows(summary):
        lat = s["latency_ms"]
        measured = lat.get("count", 0) > 0
        cells = "".join(f"{ms(lat[k]) if measured else '-':>9}" for _, k in LATENCY_COLUMNS)
        lines.append(f"{name[:18]:<19}{s['requests']:>10,}{s['rps']:>9,.1f}{s['error_rate']:>8.2%}{cells}"
                     f"  {_top_outcomes(s)}")
    lines += run_lines(summary)
    for passed, expr, detail in check_lines(summary):
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {expr}  ({detail})")
    if summary["verdict"] is not None:
        lines.append(f"verdict: {summary['verdict'].upper()}")
    return "\n".join(lines)


def _kind(unit: str) -> str:
    return {"ms": "latency", "%": "ratio", "req/s": "rate"}.get(unit, "count")


def live_feed(plan: Any, *, quiet: bool = False, stream: TextIO | None = None) -> LiveFeed | None:
    """The live view of a run of ``plan`` (a ``harness.plan.Plan``) on ``stream``
    (default stderr): the screen on a terminal, plain lines elsewhere, None when quiet."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    state = LiveState(duration_s=plan.duration, checks=plan.checks,
                      rate_at=plan.pacer.rate_at if plan.pacer is not None else None)
    view: View
    if is_terminal(stream):
        from rich.console import Console

        from harness.report.screen import ScreenView

        users = int(plan.load.users) if plan.pacer is None and plan.load.users else None
        # The frame is cleared at the end when the tables follow on the same screen.
        view = ScreenView(state, Console(file=stream, highlight=False), users=users,
                          transient=is_terminal(sys.stdout))
    else:
        view = LogView(state, stream)
    return LiveFeed(view, state)


def print_end_of_run(summary: dict[str, Any], report: str | None, out: TextIO | None = None) -> None:
    """The tables, the checks and the verdict: coloured on a terminal, plain elsewhere."""
    out = out if out is not None else sys.stdout
    if is_terminal(out):
        from rich.console import Console

        from harness.report.screen import end_of_run

        Console(file=out, highlight=False).print(end_of_run(summary, report))
        out.flush()
        return
    out.write(render_table(summary) + "\n")
    if report is not None:
        out.write(f"report: {report}\n")
    out.flush()
