"""The replay schedule as arithmetic: offsets / speed, loops, the max-rate cap, the
--from/--to window, and sharding that keeps chains in one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.replay import variants
from harness.replay.plan import ReplaySettings, parse_offset, parse_speed, replay_plan
from harness.replay.schedule import Cursor, ReplayOptions
from tests.replay.recordings import chains


def _options(path: Path, **kw: object) -> ReplayOptions:
    return ReplayOptions(path=str(path), key="k", **{"speed": 1.0, "period_us": 1_000_000, **kw})  # type: ignore[arg-type]


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    # 10 chains of push (t = i*0.1 s), update (+0.01 s) and delete (+0.02 s).
    return chains(tmp_path / "r.jsonl", 10, gap=0.1, followup=0.01)


def test_offsets_are_the_recorded_ones_divided_by_the_speed(recording: Path) -> None:
    hits = list(Cursor(_options(recording, speed=4.0)).schedule())
    assert len(hits) == 30
    assert [round(t, 6) for _, t in hits[:4]] == [0.0, 0.0025, 0.005, 0.025]
    assert len({h for h, _ in hits}) == 30


def test_loops_and_copies(recording: Path) -> None:
    hits = list(Cursor(_options(recording, loops=2, multiplier=3, period_us=1_000_000)).schedule())
    assert len(hits) == 180 and len({h for h, _ in hits}) == 180
    second_loop = [t for h, t in hits if h >> 40 == 1]
    assert min(second_loop) == pytest.approx(1.0)
    assert [t for _, t in hits] == sorted(t for _, t in hits)


def test_max_rate_spaces_the_whole_schedule(recording: Path) -> None:
    hits = list(Cursor(_options(recording, speed=100.0, max_rate=50.0)).schedule())
    gaps = [b - a for (_, a), (_, b) in zip(hits, hits[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.02) and hits[-1][1] == pytest.approx(29 * 0.02)
    # Split over two workers, the union is the same capped schedule.
    both = sorted(list(Cursor(_options(recording, speed=100.0, max_rate=50.0), 0, 2).schedule())
                  + list(Cursor(_options(recording, speed=100.0, max_rate=50.0), 1, 2).schedule()))
    assert sorted(both) == sorted(hits)


def test_the_window(recording: Path) -> None:
    hits = list(Cursor(_options(recording, start_us=300_000, end_us=600_000)).schedule())
    assert len(hits) == 9 and hits[0][1] == pytest.approx(0.0)


@pytest.mark.parametrize("workers", [2, 3])
def test_every_unit_goes_to_one_worker_and_chains_stay_together(recording: Path, workers: int) -> None:
    seen: dict[int, int] = {}
    chain_of: dict[int, set[int]] = {}
    for w in range(workers):
        cursor = Cursor(_options(recording, multiplier=2), w, workers)
        for _, copy, call, variant in cursor.units():
            seen[call.line * 2 + copy] = seen.get(call.line * 2 + copy, 0) + 1
            chain_of.setdefault(call.shard_key * 2 + variant, set()).add(w)
    assert len(seen) == 60 and set(seen.values()) == {1}
    assert all(len(ws) == 1 for ws in chain_of.values())
    assert len({w for ws in chain_of.values() for w in ws}) == workers  # and every worker has some


def test_flag_parsing() -> None:
    assert parse_speed("max") is None and parse_speed("2") == 2.0 and parse_speed("0.5x") == 0.5
    with pytest.raises(ValueError):
        parse_speed("fast")
    started = "2026-11-23T08:00:00.000000Z"
    assert parse_offset("1h30m", started, "--from") == 5_400_000_000
    assert parse_offset("90s", started, "--from") == 90_000_000
    assert parse_offset("2026-11-23T08:00:30Z", started, "--from") == 30_000_000
    with pytest.raises(ConfigError, match="--to: expected an offset"):
        parse_offset("lunch", started, "--to")


def test_the_plan_of_a_replay(recording: Path) -> None:
    plan, found = replay_plan(recording, {"load.procs": 1}, ReplaySettings(speed=2, multiplier=2, loops=3))
    assert plan.pacer is not None and plan.pacer.expected_hits() == 180
    assert plan.name == "replay-r" and plan.model.value == "open" and found.chained == 20
    assert plan.describe()["traffic"]["kind"] == "replay"
    closed, _ = replay_plan(recording, {"load.procs": 1, "load.connections": 4}, ReplaySettings(speed=None))
    assert closed.model.value == "closed" and closed.load.users == 4 and closed.duration == 60.0
    with pytest.raises(ConfigError, match="no call to replay in the window"):
        replay_plan(recording, {}, ReplaySettings(start="1h"))


def test_variants_are_distinct_consistent_and_within_limits() -> None:
    body = {"plate": "ABC123", "email": "a@b.org", "user_name": "ann", "unique_id": "S1", "zone": "Red"}
    one, again, two = dict(body), dict(body), dict(body)
    variants.apply(one, 1)
    variants.apply(again, 1)
    variants.apply(two, 2)
    assert one == again and one != two
    assert all(one[k] != body[k] and two[k] != body[k] for k in ("plate", "email", "user_name", "unique_id"))
    assert one["zone"] == "Red" and one["email"].endswith("@b.org")
    long = {"plate": "P" * 25}
    variants.apply(long, 7)
    assert len(long["plate"]) <= 25 and long["plate"] != "P" * 25
    same = dict(body)
    variants.apply(same, 0)
    assert same == body
