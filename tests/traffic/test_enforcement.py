"""enforcement: plate validations by population weight, Zipf skew within, pre-built."""

from __future__ import annotations

import statistics
from collections import Counter

import orjson
import pytest

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINTS
from harness.traffic.enforcement import DEFAULT_WEIGHTS, EnforcementTraffic
from harness.traffic.shared import Shared

WHERE = "s.toml: [traffic.enforcement]"
N = 20_000


def _plates(gen: EnforcementTraffic, n: int = N, now: float = 0.0) -> list[str]:
    return [orjson.loads(gen.next_call(0, now).body)["plate"] for _ in range(n)]


def _population_of(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ref = ctx.reference
    out = {}
    for name, plates in (
        ("permit", ref.permit_plates),
        ("unknown", ref.unknown_plates),
        ("alarm", ref.alarm_plates),
        ("dntt", ref.dntt_plates),
    ):
        out.update(dict.fromkeys(plates, name))
    return out


def test_body_and_call_reuse(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = EnforcementTraffic(ctx, {}, WHERE)
    call = gen.next_call(0, 0.0)
    assert call.endpoint is ENDPOINTS["plate_validate"] and call.path == "/api/v1/validate/plate"
    body = orjson.loads(call.body)
    assert body == {"api_token": "main-token", "client": "OC_TOMA", "plate": body["plate"]}
    assert not call.feedback and call.expect is None
    # The same plate is the same Call object: bodies are encoded once.
    calls = [gen.next_call(0, 0.0) for _ in range(5000)]
    by_plate: dict[bytes, set[int]] = {}
    for c in calls:
        by_plate.setdefault(c.body, set()).add(id(c))
    assert all(len(ids) == 1 for ids in by_plate.values())


def test_population_shares_without_pushed_plates(ctx) -> None:  # type: ignore[no-untyped-def]
    """With no pushed plate yet, the pushed share falls back to permit plates."""
    gen = EnforcementTraffic(ctx, {}, WHERE)
    pop = _population_of(ctx)
    shares = Counter(pop[p] for p in _plates(gen))
    w = DEFAULT_WEIGHTS
    assert shares["permit"] / N == pytest.approx(w["permit"] + w["pushed"], abs=0.015)
    for name in ("unknown", "alarm", "dntt"):
        assert shares[name] / N == pytest.approx(w[name], abs=0.01), name


def test_pushed_plates_are_checked_once_known(ctx) -> None:  # type: ignore[no-untyped-def]
    shared = Shared()
    gen = EnforcementTraffic(ctx, {}, WHERE, shared=shared)
    ours = {f"ABC{i:04d}" for i in range(50)}
    for plate in sorted(ours):
        shared.pushed.add(plate, until=100.0)
    plates = _plates(gen, now=10.0)
    pushed = [p for p in plates if p in ours]
    assert len(pushed) / N == pytest.approx(DEFAULT_WEIGHTS["pushed"], abs=0.01)
    assert len(set(pushed)) == 50
    # Pushed calls are cached too.
    assert len({id(gen.next_call(0, 10.0)) for _ in range(20_000)}) < 4000
    # Once the permits ended, the share goes back to permit plates.
    assert not ours & set(_plates(gen, 5000, now=100.0))


def test_skew_makes_a_few_plates_hot(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = EnforcementTraffic(
        ctx, {"weights": {"permit": 1, "unknown": 0, "alarm": 0, "dntt": 0, "pushed": 0}}, WHERE
    )
    counts = Counter(_plates(gen, 65_536))
    ranked = counts.most_common()
    top = ranked[0][1]
    median = statistics.median(c for _, c in ranked)
    assert top > 50 * median
    # Zipf 1.1 over 2000 plates: the top 1% of plates take roughly half the lookups.
    top20 = sum(c for _, c in ranked[:20])
    assert 0.4 < top20 / 65_536 < 0.7


def test_no_skew_is_uniform(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = EnforcementTraffic(
        ctx,
        {"skew": 0, "weights": {"permit": 0, "unknown": 1, "alarm": 0, "dntt": 0, "pushed": 0}},
        WHERE,
    )
    counts = Counter(_plates(gen, 65_536))
    assert max(counts.values()) < 3 * (65_536 / len(ctx.reference.unknown_plates))


def test_hot_plates_agree_across_workers_draws_differ(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    a = _plates(EnforcementTraffic(ctx_factory(worker=0), {}, WHERE), 5000)
    b = _plates(EnforcementTraffic(ctx_factory(worker=1), {}, WHERE), 5000)
    assert a != b
    assert Counter(a).most_common(1)[0][0] == Counter(b).most_common(1)[0][0]
    assert a == _plates(EnforcementTraffic(ctx_factory(worker=0), {}, WHERE), 5000)


def test_plate_lists_override_the_reference(ctx) -> None:  # type: ignore[no-untyped-def]
    options = {
        "permit_plates": ["PERMIT1", "PERMIT2"],
        "unknown_plates": ["NOPE1"],
        "alarm_plates": [],
        "dntt_plates": "DNTT1",
        "weights": {"alarm": 0},
    }
    plates = set(_plates(EnforcementTraffic(ctx, options, WHERE), 2000))
    assert plates == {"PERMIT1", "PERMIT2", "NOPE1", "DNTT1"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"alarm_plates": []},
            "alarm_plates: expected at least one plate, since weights.alarm is 0.05",
        ),
        (
            {"weights": {"stolen": 1}},
            "weights.stolen: unknown name (known: permit, unknown, alarm, dntt, pushed)",
        ),
        ({"skew": -1}, "skew: expected a number at least 0, got -1"),
        (
            {"permit_plates": [], "weights": {"permit": 0}},
            "permit_plates: expected at least one plate to check",
        ),
        ({"plates": ["A"]}, "plates: unknown option"),
    ],
)
def test_config_errors_name_the_key(ctx, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        EnforcementTraffic(ctx, options, WHERE)
    assert str(info.value).startswith(f"{WHERE} {message}")
