"""Replay against the real reference controller (on loopback), through the library
API: correlation of updates and deletes after their push when the update would
otherwise overtake the push's answer, orphans, copies without 9012/9019/9020,
the closed model, sharding chains over processes, and the behaviour diff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.api import RunResult, Target, embedded_controller, run
from harness.replay.plan import ReplaySettings, replay_plan
from tests.replay.recordings import capture, chains, identities, push_body


@pytest.fixture(scope="module")
def slow_controller() -> Iterator[Target]:
    """Answers after 60 ms: a push's answer comes long after its update is due."""
    with embedded_controller(seed=1, extra_args=("--latency", "60ms")) as target:
        yield target


@pytest.fixture(scope="module")
def controller() -> Iterator[Target]:
    with embedded_controller(seed=1) as target:
        yield target


def _replay(path: Path, target: Target, tmp_path: Path, settings: ReplaySettings | None = None,
            **over: Any) -> RunResult:
    overrides = {"load.procs": 1, "output.dir": str(tmp_path / "reports"), **over}
    plan, _ = replay_plan(path, overrides, settings or ReplaySettings())
    return run(plan, target)


def _outcomes(result: RunResult, name: str) -> dict[str, int]:
    return result.summary["endpoints"].get(name, {}).get("outcomes", {})


def test_updates_and_deletes_wait_for_their_push_and_use_its_new_id(slow_controller: Target, tmp_path: Path) -> None:
    # Update 5 ms and delete 10 ms after each push; the push is answered after 60 ms.
    path = chains(tmp_path / "chains.jsonl", 12, gap=0.03, followup=0.005, plate_prefix="CA")
    result = _replay(path, slow_controller, tmp_path)
    s = result.summary
    assert _outcomes(result, "permit_push") == {"ok": 12}
    assert _outcomes(result, "permit_update") == {"ok": 12}  # 9009 had they gone with the recorded id
    assert _outcomes(result, "permit_delete") == {"ok": 12}
    # Each update left when its push was answered: its wait counts in its latency.
    assert s["endpoints"]["permit_update"]["latency_ms"]["p50"] >= 100
    assert s["endpoints"]["permit_update"]["service_ms"]["p50"] < 100
    assert s["diff"]["compared"] == 36 and s["diff"]["changed_requests"] == 0 and s["diff"]["orphaned"] == 0
    assert result.verdict == "pass"


def test_a_failed_parent_orphans_its_children(controller: Target, tmp_path: Path) -> None:
    # Push 1's plate is too long for the target (9030): its update and delete are not sent.
    path = chains(tmp_path / "orphans.jsonl", 3, plate_prefix="OR", bad_push={1})
    result = _replay(path, controller, tmp_path)
    assert _outcomes(result, "permit_push") == {"ok": 2, "9030": 1}
    assert _outcomes(result, "permit_update") == {"ok": 2, "orphaned": 1}
    assert _outcomes(result, "permit_delete") == {"ok": 2, "orphaned": 1}
    diff = result.summary["diff"]
    assert diff["orphaned"] == 2 and diff["orphaned_why"] == {"its parent failed": 2}
    assert diff["endpoints"]["permit_push"]["changes"] == {"ok -> 9030": 1}
    assert diff["changed_requests"] == 1 and diff["compared"] == 7  # orphans are not compared


def test_a_parent_outside_the_window_orphans_its_children(controller: Target, tmp_path: Path) -> None:
    path = chains(tmp_path / "window.jsonl", 4, gap=1.0, followup=0.3, plate_prefix="WI")
    # From 0.2 s: the first push (t=0) is cut, its update (0.3 s) and delete (0.6 s) are not.
    result = _replay(path, controller, tmp_path, ReplaySettings(speed=4, start="200ms", end="2.5s"))
    assert _outcomes(result, "permit_push") == {"ok": 2}
    assert _outcomes(result, "permit_update") == {"ok": 2, "orphaned": 1}
    assert result.summary["diff"]["orphaned_why"] == {"its parent was not replayed": 2}


def test_copies_have_their_own_identities(controller: Target, tmp_path: Path) -> None:
    path = identities(tmp_path / "ids.jsonl", 5, tag="RM")
    result = _replay(path, controller, tmp_path, ReplaySettings(speed=2, multiplier=3, loops=2))
    s = result.summary
    assert _outcomes(result, "vehicle_push") == {"ok": 30} and _outcomes(result, "profile_push") == {"ok": 30}
    assert s["codes"] == {} and s["diff"]["changed_requests"] == 0
    # The recording once more, as recorded: its vehicles are there now (copy 0 made them).
    again = _replay(path, controller, tmp_path)
    assert _outcomes(again, "vehicle_push") == {"9012": 5}


def test_speed_max_keeps_each_chain_in_order(controller: Target, tmp_path: Path) -> None:
    path = chains(tmp_path / "max.jsonl", 30, gap=1.0, followup=0.2, plate_prefix="MX")  # 30 s recorded
    result = _replay(path, controller, tmp_path, ReplaySettings(speed=None), **{"load.connections": 8})
    s = result.summary
    assert s["run"]["model"] == "closed" and s["run"]["elapsed_s"] < 15
    assert s["totals"]["ok"] == 90 and s["diff"]["changed_requests"] == 0


def test_chains_stay_in_one_process(controller: Target, tmp_path: Path) -> None:
    path = chains(tmp_path / "procs.jsonl", 20, gap=0.01, followup=0.002, plate_prefix="PR")
    result = _replay(path, controller, tmp_path, ReplaySettings(speed=1), **{"load.procs": 2})
    s = result.summary
    assert s["run"]["procs"] == 2 and s["totals"]["ok"] == 60 and s["diff"]["orphaned"] == 0


def test_the_diff_catches_a_changed_answer(controller: Target, tmp_path: Path) -> None:
    from harness.recording import RecordingWriter

    path = tmp_path / "diff.jsonl"
    with RecordingWriter(path, source="record") as w:
        for i in range(20):
            body = {"api_token": "x-recorded-token", "client": "OC_TOMA", "plate": f"DF{i:03d}"}
            # Recorded as refused (9006), though the plate is there: the target answers ok now.
            w.write(capture(i * 0.01, "/api/v1/validate/plate", body, outcome="9006" if i == 7 else "ok",
                            doc={"error": 9006} if i == 7 else {"error": 0}))
        w.write(capture(0.3, "permits/push", push_body("DFPUSH1", "T-DF")))
    result = _replay(path, controller, tmp_path, **{"checks.thresholds": ["diff.changed<1%"]})
    diff = result.summary["diff"]
    assert diff["compared"] == 21 and diff["changed_requests"] == 1
    ep = diff["endpoints"]["plate_validate"]
    assert ep["changes"] == {"9006 -> ok": 1}
    assert ep["examples"] == [{"line": 9, "copy": 0, "method": "POST", "path": "/api/v1/validate/plate",
                               "recorded": "9006", "replayed": "ok"}]
    check = next(c for c in result.summary["checks"] if c["expr"] == "diff.changed<1%")
    assert check["passed"] is False and check["value"] == pytest.approx(1 / 21)
    assert result.verdict == "fail" and result.exit_code == 1
    # The recorded 9006 was the answer that call had to get: answered ok, it is a contract violation.
    assert result.summary["totals"]["contract_violations"] == 1
