"""Not a terminal (CI logs, pipes): plain lines, one per interval, each summarising the
whole interval; no control characters; ``--quiet`` prints none. First against the
stall server end to end, then line by line from known rows."""

from __future__ import annotations

import io
import re
from pathlib import Path

from harness.metrics import Recorder, bucket_index
from harness.report.live import LiveState
from harness.report.terminal import LogView, interval_line
from harness.timeline import NameSecond, Second
from tests.support.harness_cli import harness_env, run_harness, stall_server

_LINE = re.compile(
    r"^\[\s*(?P<first>\d+)-(?P<end>\d+)s\] (?P<phase>running|draining) +(?P<rate>[\d,]+) req/s of (?P<intended>[\d,]+) "
    r"intended  p50 (?P<p50>[\d.,]+) ms  p99 (?P<p99>[\d.,]+) ms  max (?P<max>[\d.,]+) ms  "
    r"errors (?P<errors>[\d.]+)%  left (?P<left>\S+)( {2}non-ok .*)?$"
)


def _ms(text: str) -> float:
    return float(text.replace(",", ""))


def test_a_log_gets_one_plain_line_per_interval_and_a_stall_shows_in_it(tmp_path: Path) -> None:
    with stall_server("6:1.2") as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "40",
                          "--duration", "12s", "--procs", "1", "--out", str(tmp_path), env=harness_env(NO_COLOR="1"))
    assert res.returncode == 0, res.stderr
    for stream in (res.stdout, res.stderr):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", stream), repr(stream)  # no escapes, no \r
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"harness run adhoc: {server.url}, constant 40/s for 12s")
    intervals = [_LINE.match(line) for line in lines[1:]]
    assert all(intervals), lines
    assert [(int(m["first"]), int(m["end"])) for m in intervals] == [(0, 5), (5, 10), (10, 12)]
    assert [m["left"] for m in intervals] == ["7s", "2s", "0s"]
    for m in intervals:
        assert _ms(m["intended"]) == 40 and m["phase"] == "running"
        assert m["errors"] == "0.00"
    quiet, stalled, after = intervals
    # The stall (6 s to 7.2 s after the first request) is inside 5-10 s: its max and
    # p99 say so, while the intervals around it stay fast.
    assert _ms(stalled["max"]) >= 1000 and _ms(stalled["p99"]) >= 900
    assert _ms(quiet["max"]) < 500 and _ms(after["max"]) < 500
    assert sum(_ms(m["rate"]) * (int(m["end"]) - int(m["first"])) for m in intervals) == 480
    # stdout: the plain end-of-run table (no box drawing, no colour).
    assert "verdict: PASS" in res.stdout and f"report: {tmp_path}" in res.stdout
    assert re.search(r"^  PASS  all\.error_rate<1%  \(measured 0%, threshold < 1%\)$", res.stdout, re.M)


def test_quiet_prints_no_live_lines(tmp_path: Path) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--mix", "enforcement=1", "--rate", "20",
                          "--duration", "2s", "--procs", "1", "--out", str(tmp_path), "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "verdict: PASS" in res.stdout


# --- line by line, from known rows -------------------------------------------------------------


def _row(t: int, latencies_ms: list[float], *, errors: int = 0, outcomes: dict[str, int] | None = None) -> Second:
    hist = Recorder()
    for v in latencies_ms:
        hist._counts[bucket_index(int(v * 1000))] += 1
    blob = hist.encode()
    p50 = sorted(latencies_ms)[len(latencies_ms) // 2]
    mx = max(latencies_ms)
    name = NameSecond(len(latencies_ms), errors, p50, mx, mx, dict(outcomes or {}), blob)
    return Second(t, len(latencies_ms), errors, p50, mx, mx, blob, {"plate_validate": name})


def test_each_line_summarises_its_whole_interval() -> None:
    state = LiveState(duration_s=7, rate_at=lambda t: 100.0)
    out = io.StringIO()
    view = LogView(state, out)
    rows = [_row(t, [2.0] * 99 + [3.0]) for t in range(7)]
    # Second 2 holds one stalled answer, and second 3 a few timeouts; neither is at
    # an interval's edge, yet both show in the interval's line.
    rows[2] = _row(2, [2.0] * 99 + [1500.0])
    rows[3] = _row(3, [2.0] * 96 + [10_000.0] * 4, errors=4, outcomes={"timeout": 4})
    for row in rows:
        state.add(row)
        view.show([row])
    assert out.getvalue().count("\n") == 1  # only the first full interval so far
    view.close()
    first, last = out.getvalue().splitlines()
    # 500 answers: 492 at 2 ms, 3 at 3 ms, the stalled one, 4 timeouts at 10 s (the
    # histogram's bucket for 10 s reads 10,002 ms).
    assert first == ("[     0-5s] running        100 req/s of 100 intended  p50 2.00 ms  p99 3.00 ms  "
                     "max 10,002 ms  errors 0.80%  left 2s  non-ok timeout×4")
    assert last == ("[     5-7s] running        100 req/s of 100 intended  p50 2.00 ms  p99 2.00 ms  "
                    "max 3.00 ms  errors 0.00%  left 0s")


def test_seconds_after_the_schedule_are_draining_and_the_closed_model_has_no_intended_rate() -> None:
    state = LiveState(duration_s=2)
    line = interval_line([_row(2, [5.0]), _row(3, [7.0])], state)
    assert line.startswith("[     2-4s] draining         1 req/s  p50 ")
    assert "intended" not in line


def test_a_reader_that_went_away_silences_the_view() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    view = LogView(LiveState(duration_s=5), Gone())
    view.message("hello")
    assert view.quiet
    view.show([_row(t, [1.0]) for t in range(5)])  # no exception: the run goes on
