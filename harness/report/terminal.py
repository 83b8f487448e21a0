"""What a person watching the run sees: a live status line, then the tables.

On a terminal the live line is redrawn in place every second; in a log (CI) a line
is printed every ``LOG_EVERY_S`` seconds instead, and it summarises that whole
interval (rate, errors, and p50/p99/max over every answer in it, from the merged
histograms), so a stall between two lines cannot hide. Writing to a closed stream
(a pipe whose reader left) never disturbs the run: the view goes quiet.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from harness.checks import format_value
from harness.metrics import Recorder
from harness.timeline import Second

LOG_EVERY_S = 5


class LiveView:
    def __init__(self, duration_s: float, *, out: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.duration_s = duration_s
        self.out = out
        self.quiet = quiet
        try:
            self.tty = out.isatty()
        except (ValueError, OSError):
            self.tty = False
        self._drawn = False
        self._pending: list[Second] = []

    def second(self, row: Second) -> None:
        if self.quiet:
            return
        self._pending.append(row)
        elapsed = row.t + 1
        if not self.tty and elapsed % LOG_EVERY_S:
            return
        line = self._line(self._pending, elapsed)
        self._pending = []
        if self.tty:
            self._write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self._write(line + "\n")

    def _line(self, rows: list[Second], elapsed: int) -> str:
        requests = sum(r.requests for r in rows)
        errors = sum(r.errors for r in rows)
        hist = Recorder()
        for r in rows:
            hist.add(Recorder.decode(r.latency))
        hdr = hist.hdr
        p50 = p99 = mx = 0.0
        if hdr.get_total_count():
            values = hdr.get_percentile_to_value_dict([50.0, 99.0])
            p50, p99, mx = values[50.0] / 1000, values[99.0] / 1000, hdr.get_max_value() / 1000
        err = errors / requests if requests else 0.0
        left = max(0.0, self.duration_s - elapsed)
        span = f"{rows[0].t}-{elapsed}s" if len(rows) > 1 else f"{elapsed}s"
        return (
            f"[{span:>9}] {requests / max(1, len(rows)):>9,.0f} req/s  p50 {_ms(p50):>8} ms  "
            f"p99 {_ms(p99):>8} ms  max {_ms(mx):>8} ms  errors {err:6.2%}  left {left:,.0f}s"
        )

    def message(self, text: str) -> None:
        if self.quiet:
            return
        self.end()
        self._write(text + "\n")

    def end(self) -> None:
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            self.quiet = True  # the reader went away; the run goes on


def _ms(v: float) -> str:
    return f"{v:,.2f}" if v < 1000 else f"{v:,.0f}"


def _top_outcomes(section: dict[str, Any], limit: int = 3) -> str:
    items = sorted(((k, v) for k, v in section.get("outcomes", {}).items() if k != "ok"), key=lambda kv: -kv[1])
    return " ".join(f"{k}:{v}" for k, v in items[:limit])


def render_table(summary: dict[str, Any]) -> str:
    """Per-name table, totals, and the checks with the verdict."""
    head = (f"{'endpoint':<19}{'requests':>10}{'rps':>9}{'errors':>8}{'p50':>9}{'p90':>9}{'p99':>9}"
            f"{'p99.9':>9}{'max':>9}  outcomes other than ok")
    lines = [head, "-" * len(head)]
    rows = list(summary["endpoints"].items()) + [("all", summary["all"])]
    for name, s in rows:
        lat = s["latency_ms"]
        measured = lat.get("count", 0) > 0
        cells = "".join(f"{_ms(lat[k]) if measured else '-':>9}" for k in ("p50", "p90", "p99", "p999", "max"))
        lines.append(f"{name[:18]:<19}{s['requests']:>10,}{s['rps']:>9,.1f}{s['error_rate']:>8.2%}{cells}"
                     f"  {_top_outcomes(s)}")
    run, t = summary["run"], summary["totals"]
    lines.append("latency in ms over answered and timed-out requests, from each request's intended send time "
                 "(corrected for coordinated omission)")
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
    for c in summary["checks"]:
        threshold = format_value(c["threshold"], _kind(c["unit"]))
        measured = "not measured" if c["value"] is None else f"measured {c['measured']}"
        lines.append(f"  {'PASS' if c['passed'] else 'FAIL'}  {c['expr']}  ({measured}, threshold {c['op']} {threshold})")
    if summary["verdict"] is not None:
        lines.append(f"verdict: {summary['verdict'].upper()}")
    return "\n".join(lines)


def _kind(unit: str) -> str:
    return {"ms": "latency", "%": "ratio", "req/s": "rate"}.get(unit, "count")
