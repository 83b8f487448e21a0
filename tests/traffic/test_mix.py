"""The mix: reproducible picks in exact shares, feedback routed home, checked config."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import OK, Outcome
from harness.traffic.call import Call
from harness.traffic.enforcement import EnforcementTraffic
from harness.traffic.meters import MeterTraffic
from harness.traffic.mix import GENERATORS, MixedSource, build_source

WHERE = "scenarios/s.toml"
MIX = {"enforcement": 0.7, "meters": 0.1, "integrations": 0.15, "invalid": 0.05}


def _generator_of(call: Call) -> str:
    if call.expect is not None:
        return "invalid"
    name = call.endpoint.name
    if name == "plate_validate":
        return "enforcement"
    if name.startswith("permit_") and name != "permit_stats":
        return "meters"
    return "integrations"


def test_registry() -> None:
    assert set(GENERATORS) == {"enforcement", "meters", "integrations", "invalid"}


def test_same_context_same_calls_other_worker_other_calls(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    def first(worker: int) -> list[tuple[str, bytes]]:
        src = build_source(ctx_factory(worker=worker), MIX, {}, WHERE)
        return [(c.path, c.body) for c in (src.next_call(0, i * 0.001) for i in range(1000))]

    assert first(0) == first(0)
    assert first(0) != first(1)


def test_shares_over_20k_calls(ctx) -> None:  # type: ignore[no-untyped-def]
    # Invalid setup calls (expect ok) are the invalid generator's, but look valid;
    # count by the mix's own bookkeeping instead: which generator's method was picked.
    src = build_source(ctx, MIX, {}, WHERE)
    assert isinstance(src, MixedSource)
    counts: Counter[str] = Counter()
    by_id = {id(s): n for n, s in src.sources.items()}
    for i in range(20_000):
        counts[by_id[id(src._picks[src._i].__self__)]] += 1  # noqa: SLF001 - white-box share check
        src.next_call(0, i * 0.001)
    for name, w in MIX.items():
        assert counts[name] / 20_000 == pytest.approx(w, abs=0.01), name


def test_shares_by_endpoint(ctx) -> None:  # type: ignore[no-untyped-def]
    src = build_source(
        ctx,
        {"enforcement": 0.9, "meters": 0.1},
        {"meters": {"update_share": 0, "delete_share": 0}},
        WHERE,
    )
    counts = Counter(_generator_of(src.next_call(0, 0.0)) for _ in range(20_000))
    assert counts["enforcement"] / 20_000 == pytest.approx(0.9, abs=0.005)
    assert counts["meters"] / 20_000 == pytest.approx(0.1, abs=0.005)


def test_feedback_goes_back_to_its_maker(ctx) -> None:  # type: ignore[no-untyped-def]
    src = build_source(
        ctx,
        {"enforcement": 0.5, "meters": 0.5},
        {"meters": {"update_share": 1.0, "delete_share": 0.0, "followup_delay": "1s"}},
        WHERE,
    )
    assert isinstance(src, MixedSource)
    meters = src.sources["meters"]
    assert isinstance(meters, MeterTraffic)
    pushes = []
    for _ in range(100):
        call = src.next_call(0, 0.0)
        if call.feedback:
            pushes.append(call)
    assert pushes and src.awaiting() == len(pushes)
    for i, call in enumerate(pushes):
        src.on_result(call, OK, {"reference_id": f"ref-{i}"}, 0.0)
    assert src.awaiting() == 0 and meters.pending() == len(pushes)
    # The meters' accepted plates reach enforcement through the shared record.
    enforcement = src.sources["enforcement"]
    assert isinstance(enforcement, EnforcementTraffic) and enforcement.pushed is meters.pushed
    assert len(meters.pushed) == len({c.tag.plate for c in pushes})
    # Answers to calls the mix never saw are ignored.
    src.on_result(call, OK, {}, 0.0)


def test_single_generator_is_the_source(ctx) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(build_source(ctx, {"enforcement": 1}, {}, WHERE), EnforcementTraffic)
    assert isinstance(
        build_source(ctx, {"enforcement": 1, "meters": 0}, {}, WHERE), EnforcementTraffic
    )


class _Finite:
    def __init__(self, ctx: Any, n: int) -> None:
        self.ctx, self.n = ctx, n
        self.made = 0

    def next_call(self, hit: int, now: float) -> Call | None:
        if self.made >= self.n:
            return None
        self.made += 1
        return Call(ENDPOINTS["user_types"], "/x", b"{}")

    def on_result(self, call: Call, outcome: Outcome, doc: Any, now: float) -> None:
        pass


def test_mix_ends_only_when_every_source_is_exhausted(ctx) -> None:  # type: ignore[no-untyped-def]
    a, b = _Finite(ctx, 10), _Finite(ctx, 1000)
    src = MixedSource({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, ctx)
    calls = 0
    while src.next_call(0, 0.0) is not None:
        calls += 1
    assert calls == 1010 and a.made == 10 and b.made == 1000


@pytest.mark.parametrize(
    ("mix", "options", "message"),
    [
        (
            {"enforcment": 1},
            {},
            "scenarios/s.toml: [mix] enforcment: unknown generator (known: enforcement, meters, integrations, invalid)",
        ),
        (
            {"meters": -1},
            {},
            "scenarios/s.toml: [mix] meters: expected a non-negative weight, got -1",
        ),
        (
            {"meters": True},
            {},
            "scenarios/s.toml: [mix] meters: expected a non-negative weight, got True",
        ),
        (
            {"meters": "x"},
            {},
            "scenarios/s.toml: [mix] meters: expected a non-negative weight, got 'x'",
        ),
        (
            {"meters": 0, "invalid": 0},
            {},
            "scenarios/s.toml: [mix]: expected weights with a positive total",
        ),
        ({}, {}, "scenarios/s.toml: [mix]: expected a table of generator weights"),
        (
            {"meters": 1},
            {"invalid": {}},
            "scenarios/s.toml: [traffic.invalid]: generator not in [mix] (the mix has: meters)",
        ),
        (
            {"meters": 1},
            {"metres": {}},
            "scenarios/s.toml: [traffic.metres]: unknown generator (the mix has: meters)",
        ),
        (
            {"meters": 1},
            {"meters": {"followup_delay": "x"}},
            "scenarios/s.toml: [traffic.meters] followup_delay: expected a range such as '2s..20s', got 'x'",
        ),
        (
            {"meters": 1, "invalid": 0},
            {"invalid": {"codes": [1]}},
            "scenarios/s.toml: [traffic.invalid] codes: expected a list of error codes",
        ),
    ],
)
def test_config_errors_name_the_key(ctx, mix, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        build_source(ctx, mix, options, WHERE)
    assert str(info.value).startswith(message)


def test_errors_without_a_scenario_file(ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        build_source(ctx, {"meters": 1}, {"meters": {"alias": "x"}}, "")
    assert str(info.value).startswith("[traffic.meters] alias: expected 'random' or an alias index")
    with pytest.raises(ConfigError) as info:
        build_source(ctx, {"meter": 1}, {}, "")
    assert str(info.value).startswith("[mix] meter: unknown generator")
