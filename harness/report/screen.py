"""The run on a terminal, drawn with rich: the live frame and the end-of-run tables.

The live frame (redrawn in place about once a second, below the lines already
printed) holds:

    running ━━━━━━━━━━━━━━━━━━━━━━━━━╸               12s / 20s   left 8s
    rate 49 req/s of 50 intended   requests 612   errors 0.00%   max 13.7 ms

    last second      req/s     p50     p99     max  errors  non-ok              run max
    plate_validate      35    1.52    7.03    9.10   0.00%  9006×2                 13.7
    all                 50    1.55    7.20    9.10   0.00%                         13.7

    checks so far
      PASS  all.error_rate<1%        0% so far (threshold < 1%)
      wait  contract_violations==0   judged at the end (threshold == 0)

Words carry the meaning (PASS, FAIL, wait), colours only repeat it, so the frame
reads the same under ``NO_COLOR`` (which rich honours) or on a monochrome screen.
"""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from harness.report.live import CheckState, LiveState, Phase, error_share, ok_of

_STATE_WORDS = {CheckState.PASS: ("PASS", "bold green"), CheckState.FAIL: ("FAIL", "bold red"),
                CheckState.PENDING: ("wait", "yellow")}
_PHASE_STYLES = {Phase.CONNECTING: "cyan", Phase.RUNNING: "bold", Phase.DRAINING: "magenta",
                 Phase.STOPPING: "bold yellow", Phase.DONE: "green"}
_BAR_WIDTH = 40
MAX_NAMES = 12  # rows of the live table; the frame must fit a terminal


def clock(seconds: float) -> str:
    """12s, 4m05s, 1h02m05s."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def ms(value: float) -> str:
    return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"


def outcomes_text(outcomes: dict[str, int], limit: int = 3) -> str:
    top = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return " ".join(f"{key}×{n:,}" for key, n in top)


def _progress(state: LiveState) -> RenderableType:
    phase = state.phase
    elapsed = min(state.elapsed, state.duration_s) if phase is not Phase.DRAINING else state.elapsed
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        Text(f"{phase.value:<10}", style=_PHASE_STYLES[phase]),
        ProgressBar(total=max(state.duration_s, 1e-9), completed=min(state.elapsed, state.duration_s),
                    width=_BAR_WIDTH),
        Text(f"{clock(elapsed)} / {clock(state.duration_s)}"),
        Text(f"left {clock(math.ceil(max(0.0, state.duration_s - state.elapsed)))}"),
    )
    return grid


def _rates(state: LiveState, users: int | None) -> Text:
    achieved = state.achieved_rate
    intended = state.intended_rate
    line = Text("rate ")
    line.append("-" if achieved is None else f"{achieved:,.0f} req/s", style="bold")
    if intended is not None:
        line.append(f" of {intended:,.0f} intended")
    elif users is not None:
        line.append(f" from {users:,} users")
    total = state.all
    ok = ok_of(total.requests, total.outcomes)
    line.append(f"   requests {total.requests:,}   errors {error_share(ok, total.errors):.2%}")
    if total.requests:
        line.append(f"   max {ms(total.max_ms)} ms")
    return line


def _endpoints(state: LiveState) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1),
                  caption="latency in ms from each request's intended send time", caption_justify="left")
    table.add_column("last second", no_wrap=True)
    for head in ("req/s", "p50", "p99", "max", "errors"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("non-ok", no_wrap=True)
    table.add_column("run max", justify="right", no_wrap=True)
    rows = state.interval()
    if len(rows) > MAX_NAMES:
        # Many names (a recording's): the busiest so far, still in catalogue order.
        busiest = set(sorted(state.names, key=lambda n: -state.names[n].requests)[:MAX_NAMES])
        hidden = len(rows) - MAX_NAMES
        rows = [(name, ns) for name, ns in rows if name in busiest]
    else:
        hidden = 0
    for name, ns in rows:
        share = error_share(ok_of(ns.requests, ns.outcomes), ns.errors)
        timed = ns.max_ms > 0
        table.add_row(name, f"{ns.requests:,}", ms(ns.p50_ms) if timed else "-", ms(ns.p99_ms) if timed else "-",
                      ms(ns.max_ms) if timed else "-", Text(f"{share:.2%}", style="red" if ns.errors else ""),
                      outcomes_text(ns.outcomes), ms(state.names[name].max_ms))
    if hidden:
        table.add_row(Text(f"(+{hidden} quieter names)", style="dim"))
    last = state.last
    if last is not None and len(state.names) > 1:
        outcomes: dict[str, int] = {}
        for ns in last.names.values():
            for key, n in ns.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + n
        timed = last.max_ms > 0
        table.add_section()
        table.add_row(Text("all", style="bold"), f"{last.requests:,}", ms(last.p50_ms) if timed else "-",
                      ms(last.p99_ms) if timed else "-", ms(last.max_ms) if timed else "-",
                      f"{error_share(ok_of(last.requests, outcomes), last.errors):.2%}",
                      outcomes_text(outcomes), ms(state.all.max_ms))
    return table


def _checks(state: LiveState) -> RenderableType:
    judged = state.judge()
    grid = Table.grid(padding=(0, 2))
    for check in judged:
        word, style = _STATE_WORDS[check.state]
        grid.add_row(Text(word, style=style), check.expr, Text(check.shown, style="dim"))
    title = "checks" if state.done else "checks so far"
    return Group(Text(title, style="bold"), grid)


def frame(state: LiveState, *, users: int | None = None) -> RenderableType:
    """The live frame of ``state`` (see the module docstring)."""
    parts: list[RenderableType] = [_progress(state), _rates(state, users)]
    if state.names:
        parts += [Text(""), _endpoints(state)]
    if state.checks:
        parts += [Text(""), _checks(state)]
    return Group(*parts)


class ScreenView:
    """The live frame, redrawn in place on a terminal (rich's ``Live``)."""

    def __init__(self, state: LiveState, console: Console, *, users: int | None = None,
                 transient: bool = True) -> None:
        self.state = state
        self.console = console
        self.users = users
        # Redirects stay off: the harness prints nothing else while the view is up,
        # and messages go through ``message``.
        self.live = Live(console=console, auto_refresh=False, transient=transient,
                         redirect_stdout=False, redirect_stderr=False)

    def start(self) -> None:
        self.live.start()
        self.show()

    def show(self, rows: Any = ()) -> None:
        self.live.update(frame(self.state, users=self.users), refresh=True)

    def message(self, text: str) -> None:
        self.console.print(Text(text))  # above the live frame

    def close(self) -> None:
        self.show()
        self.live.stop()


# --- the end of the run -----------------------------------------------------------------------

_VERDICT_STYLES = {"pass": "bold green", "fail": "bold red", "error": "bold red", "interrupted": "bold yellow"}


def end_of_run(summary: dict[str, Any], report: str | None = None) -> RenderableType:
    """The per-endpoint table, the totals, each check with its measured value and
    threshold (PASS green, FAIL red), the verdict, and where the report is."""
    from harness.report.terminal import LATENCY_COLUMNS, check_lines, run_lines, table_rows

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    table.add_column("endpoint", no_wrap=True)
    for head in ("requests", "rps", "errors", *(title for title, _ in LATENCY_COLUMNS)):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("outcomes other than ok")
    rows = table_rows(summary)
    for i, (name, s) in enumerate(rows):
        lat = s["latency_ms"]
        measured = lat.get("count", 0) > 0
        others = {k: v for k, v in s.get("outcomes", {}).items() if k != "ok"}
        table.add_row(Text(name, style="bold" if name == "all" else ""), f"{s['requests']:,}", f"{s['rps']:,.1f}",
                      Text(f"{s['error_rate']:.2%}", style="red" if s["errors"] else ""),
                      *(ms(lat[k]) if measured else "-" for _, k in LATENCY_COLUMNS), outcomes_text(others),
                      end_section=i == len(rows) - 2)
    parts: list[RenderableType] = [table, *(Text(line, style="dim" if i == 0 else "")
                                            for i, line in enumerate(run_lines(summary)))]
    checks = Table.grid(padding=(0, 2))
    for passed, expr, detail in check_lines(summary):
        checks.add_row(Text(" PASS" if passed else " FAIL", style="bold green" if passed else "bold red"), expr, detail)
    parts.append(checks)
    verdict = summary.get("verdict")
    if verdict is not None:
        parts.append(Text.assemble("verdict: ", (verdict.upper(), _VERDICT_STYLES.get(verdict, "bold"))))
    if report is not None:
        parts.append(Text(f"report: {report}"))
    return Group(*parts)
