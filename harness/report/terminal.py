"""What a person watching the run sees: a live status line, then the tables.

On a terminal the live line is redrawn in place every second; in a log (CI) a line
is printed every ``LOG_EVERY_S`` seconds instead, so logs stay short.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from harness.timeline import Second

LOG_EVERY_S = 5


class LiveView:
    def __init__(self, duration_s: float, *, out: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.duration_s = duration_s
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self._drawn = False

    def second(self, row: Second) -> None:
        if self.quiet:
            return
        elapsed = row.t + 1
        if not self.tty and elapsed % LOG_EVERY_S:
            return
        err = row.errors / row.requests if row.requests else 0.0
        left = max(0.0, self.duration_s - elapsed)
        line = (
            f"[{elapsed:>4}s] {row.requests:>7,} req/s  p50 {row.p50_ms:8.2f} ms  "
            f"p99 {row.p99_ms:8.2f} ms  errors {err:6.2%}  left {left:,.0f}s"
        )
        if self.tty:
            self.out.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def message(self, text: str) -> None:
        if self.quiet:
            return
        self.end()
        self.out.write(text + "\n")
        self.out.flush()

    def end(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


def _ms(v: float) -> str:
    return f"{v:,.2f}" if v < 1000 else f"{v:,.0f}"


def _top_codes(section: dict[str, Any], limit: int = 3) -> str:
    items = sorted(((k, v) for k, v in section.get("outcomes", {}).items() if k != "ok"), key=lambda kv: -kv[1])
    return " ".join(f"{k}:{v}" for k, v in items[:limit])


def render_table(summary: dict[str, Any]) -> str:
    """Per-endpoint table, totals, and the checks with the verdict."""
    head = f"{'endpoint':<19}{'requests':>10}{'rps':>9}{'errors':>8}{'p50':>9}{'p90':>9}{'p99':>9}{'p99.9':>9}{'max':>9}  outcomes other than ok"
    lines = [head, "-" * len(head)]
    rows = list(summary["endpoints"].items()) + [("all", summary["all"])]
    for name, s in rows:
        lat = s["latency_ms"]
        lines.append(
            f"{name:<19}{s['requests']:>10,}{s['rps']:>9,.1f}{s['error_rate']:>8.2%}"
            f"{_ms(lat['p50']):>9}{_ms(lat['p90']):>9}{_ms(lat['p99']):>9}{_ms(lat['p999']):>9}{_ms(lat['max']):>9}"
            f"  {_top_codes(s)}"
        )
    run, t = summary["run"], summary["totals"]
    lines.append("latency in ms, from each request's intended send time (corrected for coordinated omission)")
    intended = f" of {run['intended_rate']:,.1f} intended" if run.get("intended_rate") else ""
    lines.append(
        f"achieved {t['achieved_rps']:,.1f} req/s{intended} over {run['duration_s']:.1f}s; "
        f"late {t['late']:,}  dropped {t['dropped']:,}  contract violations {t['contract_violations']:,}  "
        f"deliberate errors answered right {t['expected']:,}"
    )
    if summary["codes"]:
        lines.append("unexpected API error codes: " + ", ".join(f"{k}×{v}" for k, v in summary["codes"].items()))
    if run.get("interrupted"):
        lines.append("INTERRUPTED: the numbers cover the run up to the interruption")
    for c in summary["checks"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.6g}"
        lines.append(f"  {'PASS' if c['passed'] else 'FAIL'}  {c['expr']}  (measured {value})")
    if summary["verdict"] is not None:
        lines.append(f"verdict: {summary['verdict'].upper()}")
    return "\n".join(lines)
