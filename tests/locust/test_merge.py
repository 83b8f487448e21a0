"""The master's merge of what the workers ship, interval by interval, is exact: the
same summary as one process that recorded everything, the timeline adds up, and
a name's latency basis is never mixed. Also how answers are named for Locust."""

from __future__ import annotations

import random

import pytest

from harness.locust.collector import Collector
from harness.locust.failures import failure_for
from harness.locust.recording import Recording
from harness.metrics import Metrics, percentiles_ms
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import CONNECT_ERROR, OK, TIMEOUT, UNSENT, api_error, http_error
from harness.report.summary import RunInfo, build_summary
from harness.traffic.call import Call

PLATE = Call(ENDPOINTS["plate_validate"], "/api/v1/validate/plate", b"{}")
PUSH = Call(ENDPOINTS["permit_push"], "/api/OC_TOMA/v1/permit/push", b"{}")
INVALID = Call(ENDPOINTS["permit_push"], "/api/OC_TOMA/v1/permit/push", b"{}", expect=api_error(9006))
OUTCOMES = [OK] * 20 + [api_error(9033), http_error(500), TIMEOUT, CONNECT_ERROR]


def _hits(rng: random.Random, n: int) -> list[tuple[Call, object, int, int, int]]:
    out = []
    for _ in range(n):
        call = rng.choice([PLATE, PLATE, PUSH, INVALID])
        outcome = rng.choice([api_error(9006), api_error(9033)]) if call is INVALID else rng.choice(OUTCOMES)
        intended = rng.randrange(10**9)
        sent = intended + rng.choice([0, 0, rng.randrange(50_000_000)])
        done = sent + rng.randrange(1_000, 2_000_000_000)
        out.append((call, outcome, intended, sent, done))
    return out


def _info(requests: int) -> RunInfo:
    return RunInfo(started="2026-11-23T00:00:00Z", duration_s=10.0, elapsed_s=10.0, target="http://t",
                   plate_service="http://t", client="OC_TOMA", model="open", arrival="x", intended_requests=requests,
                   intended_rate=None, users=None, connections=1, procs=2, transport="t", interrupted=False,
                   reason=None, scenario=None, seed=1, run_id="r", embedded_target=False)


def test_interval_shipments_from_two_workers_merge_to_the_one_process_truth() -> None:
    rng = random.Random(7)
    workers = [Recording(), Recording()]
    truth = Metrics()
    collector = Collector("r", 0.0, workers=2)
    shipped_ticks = 0
    for _interval in range(4):
        for k, rec in enumerate(workers):
            for call, outcome, intended, sent, done in _hits(rng, 300 + 50 * k):
                rec.record(call, "intended", outcome, intended, sent, done)
                truth.record(call.key, outcome, call.expect, intended, sent, done)
            rec.record_not_sent("plate_validate", "intended", UNSENT, 2)
            for _ in range(2):
                truth.record_not_sent(PLATE.key, UNSENT, None)
            rec.close_second()
            shipment = rec.take()
            shipped_ticks += len(shipment["ticks"])
            collector.add(shipment)
    merged = collector.metrics
    assert merged.requests == truth.requests == 4 * (300 + 350 + 4)
    expected = build_summary(truth, _info(truth.requests))
    got = build_summary(merged, _info(merged.requests))
    for key in ("totals", "all", "endpoints", "codes", "expected_codes"):
        assert got[key] == expected[key], key
    assert got["all"]["contract_violations"] > 0 and got["expected_codes"]
    # The ticks add up to the same count, second by second.
    collector.timeline.finish()
    assert shipped_ticks == 8
    assert sum(row.requests for row in collector.timeline.rows) == truth.requests
    # The live board's histograms (from the ticks) are the merged latency, exactly.
    board = {row["name"]: row for row in collector.board.endpoints()}
    for e in truth.active():
        pct = percentiles_ms(e.latency())
        assert board[e.name]["requests"] == e.requests
        assert board[e.name]["p99"] == pct["p99"] and board[e.name]["max"] == pct["max"]


def test_a_name_keeps_one_latency_basis() -> None:
    paced, unpaced = Recording(), Recording()
    paced.record(PLATE, "intended", OK, 0, 10, 20)
    unpaced.record(PLATE, "sent", OK, 10, 10, 20)
    collector = Collector("r", 0.0, workers=2)
    collector.add(paced.take())
    assert collector.metrics.endpoints[PLATE.key].basis == "intended"
    with pytest.raises(ValueError, match="cannot merge latency measured from the sent time"):
        collector.add(unpaced.take())
    with pytest.raises(ValueError):
        paced.record(PLATE, "sent", OK, 10, 10, 20)  # one process, two bases: refused as well


def test_answers_are_named_for_locust_by_code_and_message() -> None:
    assert failure_for(OK, None) is None
    assert repr(failure_for(api_error(9006), None)) == "9006 Plate is a required field"
    assert repr(failure_for(http_error(503), None)) == "HTTP 503"
    assert repr(failure_for(TIMEOUT, None)) == "timeout (no answer in time)"
    # A deliberate error answered as required is a success; otherwise a violation,
    # unless nothing usable came back (then it is a load error, named as such).
    assert failure_for(api_error(9006), api_error(9006)) is None
    assert repr(failure_for(OK, api_error(9006))) == (
        "contract violation: expected 9006 Plate is a required field, got ok")
    assert repr(failure_for(CONNECT_ERROR, api_error(9006))) == "connection refused or unreachable"
    assert failure_for(api_error(9006), None) is failure_for(api_error(9006), None)  # made once
