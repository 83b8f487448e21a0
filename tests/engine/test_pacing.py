"""Pacers are arithmetic: tables of hit numbers and the times they fall due."""

from __future__ import annotations

import pytest

from harness.pacing import ConstantPacer, Pacer, PoissonPacer, SinePacer, Stage, StagesPacer


def offsets(pacer: Pacer, worker: int = 0, workers: int = 1) -> list[float]:
    return [t for _, t in pacer.schedule(worker, workers)]


@pytest.mark.parametrize(
    ("rate", "duration", "n", "due"),
    [(100, 10, 0, 0.0), (100, 10, 1, 0.01), (100, 10, 999, 9.99), (3, 1, 2, 2 / 3), (0.5, 10, 4, 8.0)],
)
def test_constant_due_times(rate: float, duration: float, n: int, due: float) -> None:
    assert ConstantPacer(rate=rate, duration=duration).due_time(n) == pytest.approx(due)


def test_constant_schedule_holds_exactly_rate_times_duration_hits() -> None:
    pacer = ConstantPacer(rate=250, duration=4)
    hits = offsets(pacer)
    assert len(hits) == 1000 == pacer.expected_hits()
    assert hits == sorted(hits) and hits[-1] < 4
    assert [n for n, _ in pacer.schedule()] == list(range(1000))


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_workers_split_one_schedule_exactly(workers: int) -> None:
    pacer = StagesPacer(stages=(Stage(duration=2, target=300), Stage(duration=3, target=100)))
    whole = list(pacer.schedule())
    parts = [list(pacer.schedule(k, workers)) for k in range(workers)]
    # The same hits, numbered as in the one schedule: worker k has k, k+N, ...
    assert sorted(hit for part in parts for hit in part) == whole
    assert all(n % workers == k for k, part in enumerate(parts) for n, _ in part)
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


@pytest.mark.parametrize(
    ("stages", "start", "n", "due"),
    [
        # 0 -> 100/s over 10 s: H(t) = 5 t^2, 500 hits by t = 10.
        (((10, 100),), 0, 125, 5.0),  # H(5) = 5*25 = 125
        (((10, 100),), 0, 0, 0.0),
        (((10, 100), (5, 100)), 0, 500, 10.0),  # the ramp holds 500 hits; then constant 100/s
        (((10, 100), (5, 100)), 0, 600, 11.0),
        (((4, 0),), 100, 150, 2.0),  # 100 -> 0: H(t) = 100t - 12.5t^2 = 150 at t = 2
    ],
)
def test_stages_due_times(stages: tuple[tuple[float, float], ...], start: float, n: int, due: float) -> None:
    pacer = StagesPacer(stages=tuple(Stage(duration=d, target=r) for d, r in stages), start_rate=start)
    assert pacer.due_time(n) == pytest.approx(due, abs=1e-9)


def test_stages_expected_hits_and_rate() -> None:
    pacer = StagesPacer(stages=(Stage(duration=10, target=100), Stage(duration=10, target=100), Stage(duration=10, target=0)))
    assert pacer.expected_hits() == 500 + 1000 + 500
    assert len(offsets(pacer)) == 2000
    assert pacer.rate_at(5) == pytest.approx(50)
    assert pacer.rate_at(15) == pytest.approx(100)
    assert pacer.rate_at(30) == 0


def test_sine_follows_its_cumulative_curve() -> None:
    pacer = SinePacer(mean=200, amplitude=150, period=10, duration=20)
    hits = offsets(pacer)
    assert len(hits) == pacer.expected_hits() == 4000
    # Per-second counts follow the sine: the busiest second far above the quietest.
    per_second = [sum(1 for t in hits if s <= t < s + 1) for s in range(20)]
    assert max(per_second) > 300 and min(per_second) < 100
    for n in (1, 100, 2500, 3999):
        assert pacer.hits_by(pacer.due_time(n)) == pytest.approx(n, abs=1e-6)


def test_poisson_is_seeded_and_near_its_rate() -> None:
    a = offsets(PoissonPacer(rate=500, duration=20, seed=3))
    b = offsets(PoissonPacer(rate=500, duration=20, seed=3))
    assert a == b
    assert abs(len(a) - 10_000) < 400  # 4 sigma
    gaps = [y - x for x, y in zip(a, a[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 500, rel=0.05)
    split = [list(PoissonPacer(rate=500, duration=20, seed=3).schedule(k, 2)) for k in range(2)]
    assert abs(sum(map(len, split)) - 10_000) < 400 and split[0] != split[1]
    numbers = [n for part in split for n, _ in part]
    assert len(set(numbers)) == len(numbers)  # unique across the workers


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConstantPacer(rate=0, duration=1),
        lambda: ConstantPacer(rate=1, duration=0),
        lambda: SinePacer(mean=10, amplitude=11, period=1, duration=1),
        lambda: StagesPacer(stages=()),
        lambda: StagesPacer(stages=(Stage(duration=1, target=0),)),
        lambda: PoissonPacer(rate=-1, duration=1),
    ],
)
def test_invalid_shapes_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_pacers_describe_themselves() -> None:
    assert str(ConstantPacer(rate=50, duration=20)) == "constant 50/s for 20s"
    assert "30s->100/s" in str(StagesPacer(stages=(Stage(duration=30, target=100),)))
