"""Metrics: the fast recorder writes what HdrHistogram would, and merging encoded
metrics is exact."""

from __future__ import annotations

import random

from harness.metrics import HIGHEST_US, Metrics, Recorder, new_hdr, percentiles_ms
from harness.opscom import ENDPOINTS, OK, TIMEOUT, api_error


def test_recorder_matches_hdrhistogram_bucket_for_bucket() -> None:
    rng = random.Random(5)
    values = [0, 1, 2047, 2048, 2049, 10**6, HIGHEST_US] + [rng.randrange(0, 10**8) for _ in range(20_000)]
    fast, reference = Recorder(), new_hdr()
    for v in values:
        fast.record(v)
        reference.record_value(v)
    assert list(fast.hdr.counts) == list(reference.counts)
    assert fast.hdr.get_total_count() == reference.get_total_count()
    assert fast.hdr.get_max_value() == reference.get_max_value()
    assert fast.hdr.get_value_at_percentile(99) == reference.get_value_at_percentile(99)


def test_out_of_range_values_are_clamped_not_lost() -> None:
    r = Recorder()
    r.record(HIGHEST_US * 10)
    r.record(-5)
    assert r.count == 2


def _metrics(seed: int) -> Metrics:
    rng = random.Random(seed)
    m = Metrics()
    pv, pp = ENDPOINTS["plate_validate"].index, ENDPOINTS["permit_push"].index
    for _ in range(5000):
        intended = rng.randrange(10**9)
        sent = intended + rng.randrange(20_000_000)
        done = sent + rng.randrange(50_000_000)
        m.record(pv, rng.choice([OK, OK, OK, api_error(9006), TIMEOUT]), None, intended, sent, done)
        m.record(pp, api_error(9007), api_error(9007), intended, sent, done)  # deliberate, answered right
    m.record(pp, OK, api_error(9004), 0, 1000, 2000)  # deliberate, answered wrong
    m.record_dropped(pv)
    return m


def test_merge_of_encoded_metrics_is_exact() -> None:
    a, b = _metrics(1), _metrics(2)
    merged = Metrics.merged([a.encode(), b.encode()])
    assert merged.requests == a.requests + b.requests == 20_002
    pv = ENDPOINTS["plate_validate"].index
    ea, eb, em = a.endpoints[pv], b.endpoints[pv], merged.endpoints[pv]
    assert em.codes[9006] == ea.codes[9006] + eb.codes[9006]
    assert em.late == ea.late + eb.late and em.dropped == 2
    whole = new_hdr()
    whole.add(ea.merged(0))
    whole.add(eb.merged(0))
    assert percentiles_ms(em.merged(0)) == percentiles_ms(whole)
    pp = merged.endpoints[ENDPOINTS["permit_push"].index]
    assert pp.expected == {9007: 10_000} and pp.violations == 2 and pp.errors == 0


def test_deliberate_errors_are_not_load_errors() -> None:
    m = Metrics()
    pp = ENDPOINTS["permit_push"].index
    m.record(pp, api_error(9006), api_error(9006), 0, 0, 1000)  # the contract held
    m.record(pp, OK, api_error(9006), 0, 0, 1000)  # contract violated
    m.record(pp, TIMEOUT, api_error(9006), 0, 0, 1000)  # no answer: a load error
    m.record(pp, api_error(9006), None, 0, 0, 1000)  # a real error
    m.record(pp, OK, OK, 0, 0, 1000)  # a set-up call that had to succeed
    m.record(pp, api_error(9012), OK, 0, 0, 1000)  # ... and did not
    e = m.endpoints[pp]
    assert (e.expected, e.violations, e.errors, e.codes, e.ok) == ({9006: 1}, 2, 2, {9006: 1}, 1)
