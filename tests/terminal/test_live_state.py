"""The live view's running totals and its checks so far, from known rows."""

from __future__ import annotations

import io

import pytest

from harness.checks import gate, parse_check
from harness.metrics import Recorder, bucket_index
from harness.report.live import CheckState, LiveState, Phase, live_judgeable
from harness.timeline import NameSecond, Second


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _name(latencies_ms: list[float], *, errors: int = 0, outcomes: dict[str, int] | None = None,
          requests: int | None = None) -> NameSecond:
    hist = Recorder()
    for v in latencies_ms:
        hist._counts[bucket_index(int(v * 1000))] += 1
    mx = max(latencies_ms, default=0.0)
    return NameSecond(len(latencies_ms) if requests is None else requests, errors, 0.0, mx, mx,
                      dict(outcomes or {}), hist.encode() if latencies_ms else "")


def _second(t: int, names: dict[str, NameSecond]) -> Second:
    total = Recorder()
    for ns in names.values():
        if ns.latency:
            total.add(Recorder.decode(ns.latency))
    return Second(t, sum(n.requests for n in names.values()), sum(n.errors for n in names.values()), 0.0, 0.0,
                  max((n.max_ms for n in names.values()), default=0.0), total.encode(), names)


@pytest.mark.parametrize(("expr", "live"), [
    ("plate_validate.p99<200ms", True), ("all.max<1s", True), ("all.error_rate<1%", True),
    ("error_rate<1%", True), ("answered>0", True), ("dropped==0", True), ("permit_push.requests>10", True),
    ("all.outcomes.timeout==0", True), ("plate_validate.outcomes.http_500==0", True),
    ("contract_violations==0", False), ("codes.9002==0", False), ("plate_validate.service_p99<5ms", False),
    ("late==0", False), ("achieved_rate>=99%", False), ("all.ok>5", False), ("plate_validate.rps>5", False),
    ("plate_validate.codes.9006==0", False), ("diff.changed<1%", False),
])
def test_which_checks_the_rows_can_judge(expr: str, live: bool) -> None:
    assert live_judgeable(parse_check(expr)) is live


def test_checks_so_far_from_the_rows() -> None:
    clock = Clock()
    checks = gate([parse_check(e) for e in ("plate_validate.p99<100ms", "all.outcomes.timeout==0",
                                             "requests>=600", "permit_push.p50<5ms")])
    state = LiveState(duration_s=10, checks=checks, clock=clock)
    assert state.phase is Phase.CONNECTING and state.elapsed == 0
    judged = {c.expr: c.state for c in state.judge()}
    assert set(judged.values()) == {CheckState.PENDING}  # nothing measured yet

    clock.now = 101.0
    state.add(_second(0, {"plate_validate": _name([2.0] * 200)}))
    clock.now = 102.0
    state.add(_second(1, {"plate_validate": _name([2.0] * 97 + [150.0] * 2, errors=1, outcomes={"timeout": 1})}))
    assert state.phase is Phase.RUNNING and state.elapsed == pytest.approx(2.0)
    judged = {c.expr: c for c in state.judge()}
    # 299 answers, 2 of them at 150 ms: p99 still fast; one timeout (an error).
    assert judged["plate_validate.p99<100ms"].state is CheckState.PASS
    assert judged["plate_validate.p99<100ms"].shown == "2 ms so far (threshold < 100 ms)"
    assert judged["all.outcomes.timeout==0"].state is CheckState.FAIL
    assert judged["all.error_rate<1%"].state is CheckState.PASS  # 1 of 299
    assert judged["requests>=600"].state is CheckState.PENDING  # 299 so far: a count still growing
    assert judged["requests>=600"].shown == "299 so far (threshold >= 600)"
    assert judged["contract_violations==0"].state is CheckState.PENDING
    assert judged["contract_violations==0"].shown == "judged at the end (threshold == 0)"
    assert judged["permit_push.p50<5ms"].state is CheckState.PENDING  # no permit_push yet
    assert judged["answered>0"].state is CheckState.PASS

    clock.now = 103.0
    state.add(_second(2, {"plate_validate": _name([150.0] * 10), "permit_push": _name([3.0] * 5)}))
    judged = {c.expr: c for c in state.judge()}
    assert judged["plate_validate.p99<100ms"].state is CheckState.FAIL  # the run's p99, not the second's
    assert judged["permit_push.p50<5ms"].state is CheckState.PASS
    assert [name for name, _ in state.interval()] == ["permit_push", "plate_validate"]  # catalogue order

    clock.now = 111.5
    assert state.phase is Phase.DRAINING
    state.done = True
    judged = {c.expr: c for c in state.judge()}
    assert judged["requests>=600"].state is CheckState.FAIL  # the run is over: it stays short
    assert state.phase is Phase.DONE


def test_rates_and_totals() -> None:
    clock = Clock()
    state = LiveState(duration_s=4, rate_at=lambda t: 10.0 * t, clock=clock)
    assert state.intended_rate is None and state.achieved_rate is None
    state.add(_second(1, {"plate_validate": _name([1.0] * 12), "permit_push": _name([], requests=3,
                                                                                      outcomes={"dropped": 3},
                                                                                      errors=3)}))
    assert state.intended_rate == 15.0  # the ramp's mean over [1, 2)
    assert state.achieved_rate == 15.0
    summary = state.summary()
    assert summary["totals"]["requests"] == 15 and summary["totals"]["sent"] == 12
    assert summary["totals"]["answered"] == 12 and summary["totals"]["dropped"] == 3
    assert summary["endpoints"]["permit_push"]["error_rate"] == 1.0
    assert state.all.max_ms == 1.0


def test_the_live_table_keeps_to_the_busiest_names() -> None:
    from rich.console import Console

    from harness.report.screen import MAX_NAMES, frame

    state = LiveState(duration_s=5, clock=Clock())
    names = {f"GET /page/{i:02d}": _name([1.0] * (i + 1)) for i in range(MAX_NAMES + 3)}
    state.add(_second(0, names))
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(frame(state))
    text = console.export_text()
    assert "GET /page/14" in text and "GET /page/03" in text and "GET /page/02" not in text
    assert "(+3 quieter names)" in text
