"""Seeded streams, Zipf weights, exact slot allocation and unique identifiers."""

from __future__ import annotations

import random

from harness.traffic.ids import base36, run_tag, worker_code
from harness.traffic.skew import allocate, rng_for, stratified_sequence, zipf_weights


def test_streams_are_seeded_by_seed_worker_and_name(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    make_ctx = ctx_factory
    a = rng_for(make_ctx(), "x").random()
    assert a == rng_for(make_ctx(), "x").random()
    assert a != rng_for(make_ctx(worker=1), "x").random()
    assert a != rng_for(make_ctx(seed=2), "x").random()
    assert a != rng_for(make_ctx(), "y").random()
    shared = rng_for(make_ctx(), "x", per_worker=False).random()
    assert shared == rng_for(make_ctx(worker=3), "x", per_worker=False).random()


def test_zipf_weights() -> None:
    assert zipf_weights(3, 0) == [1.0, 1.0, 1.0]
    w = zipf_weights(4, 1.0)
    assert w == [1.0, 0.5, 1 / 3, 0.25]


def test_allocate_is_exact_and_keeps_rare_items() -> None:
    assert allocate([0.5, 0.25, 0.25], 8) == [4, 2, 2]
    counts = allocate([1.0, 1e-9, 0.0], 1000)
    assert sum(counts) == 1000 and counts[1] == 1 and counts[2] == 0
    counts = allocate([1, 1, 1], 10)
    assert sum(counts) == 10 and max(counts) - min(counts) <= 1


def test_stratified_sequence_holds_the_shares() -> None:
    seq = stratified_sequence(["a", "b"], [3, 1], random.Random(1), length=1024)
    assert seq.count("a") == 768 and seq.count("b") == 256


def test_ids() -> None:
    assert base36(0) == "0" and base36(35) == "Z" and base36(36) == "10"
    assert run_tag("smoke1") == "SMOKE1"
    tag = run_tag("2026-11-23T12:00:00-ab")
    assert tag.isalnum() and len(tag) == 8 and tag == run_tag("2026-11-23T12:00:00-ab")
    assert run_tag("a-very-long-run-identifier") != run_tag("a-very-long-run-identifiex")
    assert worker_code(0) == "00" and worker_code(37) == "11"


def test_wall_clock_writes_what_format_datetime_writes() -> None:
    from datetime import UTC, datetime, timedelta

    from harness.opscom.builders import format_datetime
    from harness.traffic.bodies import WallClock

    start = datetime(2026, 12, 31, 23, 59, 58, 250_000, tzinfo=UTC)
    clock = WallClock(start)
    rng = random.Random(3)
    for now in [0.0, 1.0, 1.76, 2.5, 86_400.0, 400 * 86_400.3] + [
        rng.uniform(0, 1e7) for _ in range(500)
    ]:
        expected = format_datetime(start.replace(tzinfo=None) + timedelta(seconds=now))
        assert clock.format(now) == expected, now
        assert format_datetime(clock.at(now)) == expected


def test_body_layouts_use_every_alias_and_leave_absent_fields_out() -> None:
    import orjson

    from harness.opscom.endpoints import ENDPOINTS
    from harness.traffic.bodies import ABSENT, BodyLayouts

    ep = ENDPOINTS["permit_update"]
    layouts = BodyLayouts(
        ep, ("reference_id", "end", "amount"), token="tok", alias=random.Random(1)
    )
    keys: set[str] = set()
    for pick in range(256):
        body = orjson.loads(layouts.encode(("r1", "2026-01-01T00:00:00", ABSENT), pick))
        assert len(body) == 3 and body["apiToken"] == "tok" and "r1" in body.values()
        keys |= set(body)
    assert keys == {
        "apiToken",
        "referenceid",
        "referenceID",
        "reference_id",
        "endTime",
        "EndDateUtc",
    }
    fixed = BodyLayouts(ep, ("reference_id",), token="tok", alias=2)
    assert orjson.loads(fixed.encode(("r",), 12345)) == {"apiToken": "tok", "reference_id": "r"}
