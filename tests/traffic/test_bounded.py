"""Bounded state: however long a run, what the generators keep stays under a fixed size.

A soak at 20,000 req/s makes hundreds of millions of calls; a generator that keeps
anything per call (an id, a follow-up whose push was never answered, a cached call
per plate) grows without bound. These drive the generators with synthetic answers,
some never answered and some reported as dropped or unsent (the engine reports every
feedback call exactly once), and assert on the sizes of their containers.
"""

from __future__ import annotations

import random
import tracemalloc
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from harness.opscom.outcome import DISCONNECTED, DROPPED, OK, UNSENT, Outcome
from harness.traffic import invalid as invalid_module
from harness.traffic import meters as meters_module
from harness.traffic.bodies import compact
from harness.traffic.call import Call
from harness.traffic.enforcement import EnforcementTraffic
from harness.traffic.integrations import IntegrationTraffic
from harness.traffic.invalid import InvalidTraffic
from harness.traffic.meters import MeterTraffic
from harness.traffic.mix import MixedSource, build_source
from harness.traffic.shared import PushedPlates, Shared
from harness.traffic.skew import SEQUENCE_LENGTH

DEFAULT_MIX = {"enforcement": 80, "meters": 12, "integrations": 5, "invalid": 3}
RATE = 1000.0  # calls per second of run time, as one worker of a 2,000 req/s run


def _ours(value: Any) -> bool:
    """An object of the traffic package whose state counts (a Call is the engine's)."""
    return not isinstance(value, Call | type) and type(value).__module__.startswith("harness.traffic")


def _containers(obj: Any, seen: set[int] | None = None, path: str = "") -> Iterator[tuple[str, int]]:
    """(attribute path, length) of every list, dict, set and deque an object holds,
    through its attributes, nested objects and the values of its dicts (the mix's
    generators), e.g. ``.sources[meters]._due``."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    attrs: dict[str, Any] = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name):
                attrs[name] = getattr(obj, name)
    for name, value in attrs.items():
        where = f"{path}.{name}"
        if isinstance(value, list | dict | set | deque):
            yield where, len(value)
            if isinstance(value, dict):
                for key, item in value.items():
                    if _ours(item):
                        yield from _containers(item, seen, f"{where}[{key}]")
        elif _ours(value):
            yield from _containers(value, seen, where)


def _answer(call: Call, rng: random.Random) -> tuple[Outcome, Any]:
    """A synthetic answer: mostly what the call asked for, sometimes a failure."""
    r = rng.random()
    if r < 0.03:
        return DISCONNECTED, None
    if r < 0.05:
        return DROPPED, None
    if r < 0.06:
        return UNSENT, None
    if call.expect is not None and call.expect is not OK:
        return call.expect, {"ErrorCode": call.expect.code}
    return OK, {"status": "success", "reference_id": f"ref-{rng.getrandbits(64):016x}"}


def _drive(src: Any, n: int, *, lost: float = 0.02, latency: float = 0.005, check_every: int = 0,
           check: Any = None) -> int:
    """Make ``n`` calls at RATE; answer feedback calls ``latency`` later, except a
    share ``lost`` that is never reported at all (an engine breaking its contract).
    Returns how many were lost."""
    rng = random.Random(7)
    inflight: deque[tuple[float, Call]] = deque()
    lost_count = 0
    for i in range(n):
        now = i / RATE
        call = src.next_call(i, now)
        if call.feedback:
            if rng.random() < lost:
                lost_count += 1
            else:
                inflight.append((now + latency, call))
        while inflight and inflight[0][0] <= now:
            _, answered = inflight.popleft()
            outcome, doc = _answer(answered, rng)
            src.on_result(answered, outcome, doc, now)
        if check_every and i % check_every == check_every - 1:
            check(i + 1)
    return lost_count


# The bound of every container a generator or the mix keeps, by attribute name. A
# container not listed fails the tests: new state has to say what bounds it.
LIMITS: dict[str, int] = {
    "_picks": SEQUENCE_LENGTH,  # pre-drawn sequences, made at start-up
    "_seq": SEQUENCE_LENGTH,
    "_fallback": 4096,
    "_pushed_k": 4096,
    "calls": 4200,  # one per reference plate
    "_layouts": 256,
    "_ring": 4096,  # the pushed-plate record's capacity...
    "_live": 4096,
    "_pushed_calls": 4096,  # ...and enforcement's call per ring slot
    "_users": 1024,  # integrations: users remembered for updates
    "_parked": 64,
    "_ready": 1024,
    "_days": 16,
    # Follow-ups leave the queue within two followup_delay (20 s each by default):
    # at RATE x 12% meters about 1,000 are pending; MAX_PENDING caps any setting.
    "_due": 20_000,
}
SMALL = 100  # option tables, paths, the generators of a mix


def _limit(path: str) -> int:
    name = path.rsplit(".", 1)[-1]
    if name in LIMITS:
        return LIMITS[name]
    if name in ("sources", "weights", "plates", "_paths", "_static", "entries", "_exhausted"):
        return SMALL
    raise AssertionError(f"{path}: a container the bounded-state tests do not know; give it a bound")


def test_default_mix_state_stays_bounded_over_a_million_calls(ctx) -> None:  # type: ignore[no-untyped-def]
    src = build_source(ctx, DEFAULT_MIX, {}, "")
    assert isinstance(src, MixedSource)
    sizes: dict[int, dict[str, int]] = {}

    def check(done: int) -> None:
        found = dict(_containers(src))
        for path, size in found.items():
            assert size <= _limit(path), (done, path, size)
        sizes[done] = found

    lost = _drive(src, 1_000_000, check_every=250_000, check=check)
    first, last = sizes[250_000], sizes[1_000_000]
    # Between a quarter and all of the run, nothing grows but what fills to a fixed
    # capacity (the rings of pushed plates and created users) or swings with the
    # follow-ups due (the meters' queue).
    changed = {p: (first.get(p), last[p]) for p in last if last[p] != first.get(p)}
    filling = {"_users", "_ring", "_live", "_due", "_ready", "_parked", "_days"}
    assert {p.rsplit(".", 1)[-1] for p in changed} <= filling, changed
    meters = src.sources["meters"]
    integrations = src.sources["integrations"]
    invalid = src.sources["invalid"]
    enforcement = src.sources["enforcement"]
    assert isinstance(meters, MeterTraffic) and isinstance(integrations, IntegrationTraffic)
    assert isinstance(invalid, InvalidTraffic) and isinstance(enforcement, EnforcementTraffic)
    assert len(meters.pushed) <= meters.pushed.capacity
    assert len(enforcement._pushed_calls) == meters.pushed.capacity  # noqa: SLF001
    assert len(integrations._users) <= 1024  # noqa: SLF001
    assert len(invalid._parked) <= 64 and len(invalid._ready) <= 1024  # noqa: SLF001
    assert meters.pending() < 20_000 and meters.skipped_followups == 0
    # The mix keeps a count of unreported feedback calls, not the calls.
    assert lost > 1000 and src.awaiting() >= lost


def test_every_generator_alone_stays_bounded(ctx) -> None:  # type: ignore[no-untyped-def]
    for name in DEFAULT_MIX:
        src = build_source(ctx, {name: 1}, {}, "")
        _drive(src, 200_000)
        for path, size in _containers(src):
            assert size <= _limit(path), (name, path, size)


def test_mix_keeps_nothing_per_call_and_reports_once(ctx) -> None:  # type: ignore[no-untyped-def]
    src = build_source(ctx, {"meters": 1, "invalid": 1}, {}, "")
    assert isinstance(src, MixedSource)
    before = dict(_containers(src))
    calls = [c for c in (src.next_call(i, 0.0) for i in range(5000)) if c.feedback]
    assert calls and src.awaiting() == len(calls)
    # Thousands of calls awaiting answers, and no container of the mix grew for them.
    assert {p: n for p, n in _containers(src) if p.count(".") == 1} == {
        p: n for p, n in before.items() if p.count(".") == 1
    }
    meters = src.sources["meters"]
    assert isinstance(meters, MeterTraffic)
    push = next(c for c in calls if c.endpoint.name == "permit_push")
    src.on_result(push, DROPPED, None, 1.0)  # never sent: forgotten, schedules nothing
    assert meters.pending() == 0 and push.owner is None
    src.on_result(push, OK, {"reference_id": "late"}, 1.0)  # a second report is ignored
    assert meters.pending() == 0 and src.awaiting() == len(calls) - 1
    for call in calls:
        src.on_result(call, UNSENT, None, 2.0)
    assert src.awaiting() == 0


def test_enforcement_caches_one_call_per_ring_slot(ctx) -> None:  # type: ignore[no-untyped-def]
    shared = Shared(PushedPlates(capacity=64))
    gen = EnforcementTraffic(ctx, {"weights": {"pushed": 1.0, "permit": 0.0, "unknown": 0.0,
                                               "alarm": 0.0, "dntt": 0.0}}, "", shared=shared)
    made: set[int] = set()
    for i in range(100_000):
        shared.pushed.add(f"ZZZ{i:07d}", until=1e9)  # a new plate in every call
        call = gen.next_call(i, float(i))
        made.add(id(call))
        body = orjson.loads(call.body)
        assert body["plate"] in shared.pushed.live(float(i))
    cached = [c for c in gen._pushed_calls if c is not None]  # noqa: SLF001
    assert len(gen._pushed_calls) == 64 and len(cached) <= 64  # noqa: SLF001
    # While the ring stays put, the slot's call is handed out again, not rebuilt.
    calls = {id(gen.next_call(0, 0.0)) for _ in range(5000)}
    assert len(calls) <= 64


def test_meters_queue_is_capped(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(meters_module, "MAX_PENDING", 10)
    gen = MeterTraffic(ctx, {"update_share": 1.0, "delete_share": 1.0,
                             "followup_delay": "1h"}, "")
    for i in range(100):
        push = gen.next_call(i, float(i))
        gen.on_result(push, OK, {"reference_id": f"r{i}"}, float(i))
    assert gen.pending() == 10 and gen.skipped_followups == 95


def test_meters_followups_are_kept_as_fields_not_calls(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {"update_share": 1.0, "delete_share": 1.0}, "")
    for i in range(100):
        gen.on_result(gen.next_call(i, 0.0), OK, {"reference_id": f"r{i}"}, 0.0)
    assert gen.pending() == 200
    assert not any(isinstance(x, Call | bytes) for entry in gen._due for x in entry)  # noqa: SLF001


def test_invalid_ready_queue_is_capped(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(invalid_module, "_MAX_READY", 5)
    gen = InvalidTraffic(ctx, {"codes": [9022]}, "")  # every recipe needs a setup
    setups = [gen.next_call(i, 0.0) for i in range(20)]
    assert all(c.feedback for c in setups)
    for call in setups:
        gen.on_result(call, OK, {"reference_id": "x"}, 0.0)
    assert len(gen._ready) == 5  # noqa: SLF001


def test_bodies_cost_their_length(ctx) -> None:  # type: ignore[no-untyped-def]
    # orjson.dumps hands back a bytes object holding its whole write buffer (4 KiB);
    # bodies kept for a while (pre-built plate calls, a backlog) must not.
    tracemalloc.start()
    try:
        kept = [compact(orjson.dumps({"plate": f"P{i}"})) for i in range(1000)]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept[5] == b'{"plate":"P5"}'
    assert size < 1000 * 256
    tracemalloc.start()
    try:
        gen = MeterTraffic(ctx, {}, "")
        start, _ = tracemalloc.get_traced_memory()
        calls = [gen.next_call(i, float(i)) for i in range(1000)]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(calls) == 1000 and (size - start) / 1000 < 1500  # a Call, its tag and body


@pytest.mark.parametrize("capacity", [1, 7, 4096])
def test_pick_slot_agrees_with_pick(capacity: int) -> None:
    ring = PushedPlates(capacity)
    for i in range(3 * capacity + 5):
        ring.add(f"P{i}", until=10.0 if i % 3 else 1.0)
        for k in range(0, 50, 7):
            slot = ring.pick_slot(k, 5.0)
            plate = ring.pick(k, 5.0)
            assert (slot < 0 and plate is None) or ring.plate_at(slot) == plate
