"""The capacity search's arithmetic: which rates it tries, and what it concludes."""

from __future__ import annotations

import pytest

from harness.capacity.search import SearchSettings, Step, search


def _target(limit: float, *, stop_at: int | None = None):  # noqa: ANN202 - a measure function
    tried: list[tuple[float, str]] = []

    def measure(rate: float, phase: str) -> Step:
        tried.append((rate, phase))
        return Step(rate=rate, phase=phase, passed=rate <= limit, stopped=stop_at == len(tried))

    return measure, tried


def test_ramp_then_bisect_to_the_resolution() -> None:
    measure, tried = _target(106)
    outcome = search(measure, SearchSettings(start=50, factor=2, resolution=0.05))
    assert tried == [(50, "ramp"), (100, "ramp"), (200, "ramp"), (150, "bisect"), (125, "bisect"),
                     (112, "bisect"), (106, "bisect"), (109, "bisect")]
    assert outcome.max_rate == 106 and outcome.breaks_at == 109
    assert outcome.best is not None and outcome.best.rate == 106
    assert outcome.breaking is not None and outcome.breaking.rate == 109
    assert not (outcome.stopped or outcome.exhausted or outcome.reached_limit)


@pytest.mark.parametrize("limit", [3.3, 49, 51, 333, 4321, 20_000])
def test_the_answer_brackets_the_limit_within_the_resolution(limit: float) -> None:
    measure, tried = _target(limit)
    outcome = search(measure, SearchSettings(start=50, resolution=0.05, max_steps=30))
    assert outcome.breaks_at is not None and outcome.max_rate is not None
    assert outcome.max_rate <= limit < outcome.breaks_at
    assert outcome.breaks_at - outcome.max_rate <= max(0.05 * outcome.breaks_at, 1.0) + 0.5
    ramp = [r for r, p in tried if p == "ramp"]
    assert ramp == sorted(ramp)


def test_the_start_failing_bisects_towards_zero() -> None:
    measure, tried = _target(10)
    outcome = search(measure, SearchSettings(start=50, resolution=0.1))
    assert tried[0] == (50, "ramp") and tried[1] == (25.0, "bisect")
    assert outcome.max_rate is not None and outcome.max_rate <= 10 < outcome.breaks_at


def test_a_target_above_max_rate_stops_there() -> None:
    measure, tried = _target(10_000)
    outcome = search(measure, SearchSettings(start=100, max_rate=1000))
    assert [r for r, _ in tried] == [100, 200, 400, 800, 1000]
    assert outcome.reached_limit and outcome.max_rate == 1000 and outcome.breaks_at is None


def test_the_step_budget_bounds_the_search() -> None:
    measure, tried = _target(777)
    outcome = search(measure, SearchSettings(start=50, max_steps=6, resolution=0.001))
    assert len(tried) == 6 and outcome.exhausted
    assert outcome.max_rate is not None and outcome.max_rate <= 777


def test_an_interrupted_step_ends_the_search() -> None:
    measure, tried = _target(500, stop_at=3)
    outcome = search(measure, SearchSettings(start=50))
    assert len(tried) == 3 and outcome.stopped and outcome.max_rate == 100


@pytest.mark.parametrize("kw", [{"start": 0}, {"factor": 1}, {"max_rate": 10, "start": 50}, {"resolution": 0},
                                {"max_steps": 0}])
def test_settings_are_checked(kw: dict) -> None:
    with pytest.raises(ValueError):
        SearchSettings(**kw)
