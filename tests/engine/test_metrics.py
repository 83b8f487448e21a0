"""Metrics: the recording code that runs writes what HdrHistogram would, every hit
ends in one outcome, the contract rule, and merging encoded metrics is exact."""

from __future__ import annotations

import random

import pytest

from harness.metrics import HIGHEST_US, Metrics, bucket_index, new_hdr, percentiles_ms
from harness.names import name_number
from harness.opscom import ENDPOINTS, OK, TIMEOUT, api_error, http_error
from harness.opscom.outcome import CONNECT_ERROR, DISCONNECTED, DROPPED, UNDECODABLE, UNSENT

PV, PP = ENDPOINTS["plate_validate"].index, ENDPOINTS["permit_push"].index


def test_metrics_record_matches_hdrhistogram_bucket_for_bucket() -> None:
    # Through Metrics.record, the code every request runs (its bucket arithmetic is inlined).
    rng = random.Random(5)
    values = [0, 1, 2047, 2048, 2049, 10**6, HIGHEST_US] + [rng.randrange(0, 10**8) for _ in range(20_000)]
    m, reference = Metrics(), new_hdr()
    for v in values:
        m.record(PV, OK, None, 0, 0, v * 1000)
        reference.record_value(v)
    latency = m.endpoints[PV].latency()
    assert list(latency.counts) == list(reference.counts)
    assert latency.get_total_count() == reference.get_total_count()
    assert latency.get_max_value() == reference.get_max_value()
    assert latency.get_value_at_percentile(99) == reference.get_value_at_percentile(99)
    assert all(bucket_index(v) == reference._counts_index_for(v) for v in values[:7])


def test_out_of_range_values_are_clamped_not_lost() -> None:
    m = Metrics()
    m.record(PV, OK, None, 0, 0, HIGHEST_US * 10_000)
    m.record(PV, OK, None, 5000, 5000, 0)  # an answer "before" its send: clamped to 0
    assert m.endpoints[PV].latency().get_total_count() == 2


def _metrics(seed: int) -> Metrics:
    rng = random.Random(seed)
    m = Metrics()
    for _ in range(5000):
        intended = rng.randrange(10**9)
        sent = intended + rng.randrange(20_000_000)
        done = sent + rng.randrange(50_000_000)
        m.record(PV, rng.choice([OK, OK, OK, api_error(9006), TIMEOUT]), None, intended, sent, done)
        m.record(PP, api_error(9007), api_error(9007), intended, sent, done)  # deliberate, answered right
    m.record(PP, OK, api_error(9004), 0, 1000, 2000)  # deliberate, answered wrong
    m.record_not_sent(PV, DROPPED, None)
    return m


def test_merge_of_encoded_metrics_is_exact() -> None:
    a, b = _metrics(1), _metrics(2)
    merged = Metrics.from_encoded([a.encode(), b.encode()])
    assert merged.requests == a.requests + b.requests == 20_004
    ea, eb, em = a.endpoints[PV], b.endpoints[PV], merged.endpoints[PV]
    assert em.codes[9006] == ea.codes[9006] + eb.codes[9006]
    assert em.late == ea.late + eb.late and em.dropped == 2
    whole = new_hdr()
    whole.add(ea.latency())
    whole.add(eb.latency())
    assert percentiles_ms(em.latency()) == percentiles_ms(whole)
    pp = merged.endpoints[PP]
    assert pp.expected == {9007: 10_000} and pp.violations == 2 and pp.errors == 0


def test_take_encodes_and_starts_again() -> None:
    m = _metrics(3)
    first = m.take()
    assert m.requests == 0 and not list(m.active())
    m.record(PV, OK, None, 0, 0, 1000)
    total = Metrics.from_encoded([first, m.take()])
    assert total.requests == 10_003


def test_any_request_name_is_measured_and_merged_by_name() -> None:
    m = Metrics()
    key = name_number("GET /healthz")
    m.record(key, OK, None, 0, 0, 1000)
    m.record(key, http_error(503), None, 0, 0, 2000)
    other = Metrics()
    other.merge(m.encode())
    ep = other.endpoint("GET /healthz")
    assert ep.outcome_counts() == {"ok": 1, "http_503": 1} and ep.errors == 1


def test_a_merge_never_mixes_latency_bases() -> None:
    paced, unpaced = Metrics(basis="intended"), Metrics(basis="sent")
    paced.record(PV, OK, None, 0, 0, 1000)
    unpaced.record(PV, OK, None, 0, 0, 1000)
    total = Metrics.from_encoded([paced.encode()])
    with pytest.raises(ValueError, match="cannot merge latency measured from the sent time"):
        total.merge(unpaced.encode())
    assert Metrics.from_encoded([unpaced.encode()]).endpoint("plate_validate").basis == "sent"


def test_contract_violations_are_about_the_contract_only() -> None:
    m = Metrics()
    expect = api_error(9006)
    m.record(PP, api_error(9006), expect, 0, 0, 1000)  # the contract held
    m.record(PP, OK, expect, 0, 0, 1000)  # a 2xx: violated
    m.record(PP, api_error(9007), expect, 0, 0, 1000)  # the wrong code: violated
    m.record(PP, http_error(404), expect, 0, 0, 1000)  # a well-formed wrong answer: violated
    for failure in (http_error(500), http_error(503), http_error(429), TIMEOUT, DISCONNECTED, CONNECT_ERROR,
                    UNDECODABLE):
        m.record(PP, failure, expect, 0, 0, 1000)  # the target failed under load: load errors
    m.record_not_sent(PP, UNSENT, expect)  # never sent: a load error
    m.record(PP, api_error(9006), None, 0, 0, 1000)  # an ordinary call refused: an error
    m.record(PP, OK, OK, 0, 0, 1000)  # a set-up call that had to succeed
    e = m.endpoints[PP]
    assert (e.expected, e.violations, e.errors, e.codes, e.ok) == ({9006: 1}, 3, 9, {9006: 1}, 1)
    assert e.requests == 14 and e.sent == 13


def test_latency_statistics_are_over_answers_and_timeouts_only() -> None:
    m = Metrics()
    m.record(PV, OK, None, 0, 0, 5_000_000)  # 5 ms answer
    m.record(PV, TIMEOUT, None, 0, 0, 2_000_000_000)  # 2 s of waiting
    m.record(PV, CONNECT_ERROR, None, 0, 0, 10_000)  # refused at once: not a fast answer
    m.record_not_sent(PV, DROPPED, None)
    e = m.endpoints[PV]
    assert e.latency().get_total_count() == 2
    assert percentiles_ms(e.latency())["p50"] == pytest.approx(5.0, rel=0.01)
    assert e.answered == 1 and e.sent == 3 and e.requests == 4 and e.errors == 3


def test_ticks_count_every_outcome_per_name() -> None:
    m = Metrics()
    m.record(PV, OK, None, 0, 0, 1000)
    m.record_not_sent(PP, DROPPED, None)
    tick = m.tick(0)
    assert (tick.requests, tick.errors) == (2, 1)
    assert {n: (d["requests"], d["errors"], d["outcomes"]) for n, d in tick.names.items()} == {
        "plate_validate": (1, 0, {}), "permit_push": (1, 1, {"dropped": 1})}
    assert tick.names["plate_validate"]["latency"] and not tick.names["permit_push"]["latency"]
    assert m.tick(1).names == {}
