"""The histogram wire format and statistics read from the non-zero counts only
(``harness.hdrcodec``, ``Recorder``, ``Buckets``), against the hdrh library itself:
the same bytes out, the same counts in, the same percentiles, max and mean."""

from __future__ import annotations

import base64
import random
import struct
import zlib

import pytest
from hdrh.histogram import HdrHistogram

from harness import hdrcodec
from harness.metrics import (
    COUNTS_LEN,
    Buckets,
    Metrics,
    Recorder,
    Tick,
    bucket_index,
    new_hdr,
    percentiles_ms,
)
from harness.opscom import ENDPOINTS, OK, TIMEOUT
from harness.opscom.outcome import CONNECT_ERROR
from harness.timeline import Timeline

LAYOUT_ERROR = "a histogram of another layout (lowest 1 us, highest 1 h, 3 significant figures)"


# --- the reference: the library's own histogram -------------------------------------------

def hdrh_of(counts: list[int]) -> HdrHistogram:
    """An hdrh histogram holding ``counts``, recorded through the library's own API:
    the reference (``Recorder.encode`` used to load its counts into one and encode it)."""
    h = new_hdr()
    for index, n in enumerate(counts):
        if n:
            assert h.record_value(h.get_value_from_index(index), n)
    return h


def hdrh_counts(blob: str) -> list[int]:
    return list(HdrHistogram.decode(blob).counts)


# --- count patterns ---------------------------------------------------------------------------

def _empty(rnd: random.Random) -> list[int]:
    return [0] * COUNTS_LEN


def _at(index: int, n: int = 1):
    def make(rnd: random.Random) -> list[int]:
        counts = [0] * COUNTS_LEN
        counts[index] = n
        return counts
    return make


def _huge(rnd: random.Random) -> list[int]:
    counts = [0] * COUNTS_LEN
    for _ in range(50):
        counts[rnd.randrange(COUNTS_LEN)] = rnd.randint(1, 2**40)
    counts[rnd.randrange(100)] = 2**40
    return counts


def _dense(rnd: random.Random) -> list[int]:
    """Every index of a stretch counted, some counts over 63 (varints of two bytes and more)."""
    counts = [0] * COUNTS_LEN
    start = rnd.randrange(COUNTS_LEN - 3000)
    for i in range(start, start + 3000):
        counts[i] = rnd.choice((1, 2, 5, 63, 64, 65, 200, 8191, 8192, 70_000))
    return counts


def _everything(rnd: random.Random) -> list[int]:
    return [rnd.randint(1, 3) for _ in range(COUNTS_LEN)]


def _sparse(rnd: random.Random) -> list[int]:
    counts = [0] * COUNTS_LEN
    for _ in range(rnd.randint(1, 40)):
        counts[rnd.randrange(COUNTS_LEN)] += rnd.randint(1, 5)
    return counts


def _single_zero_runs(rnd: random.Random) -> list[int]:
    counts = [0] * COUNTS_LEN
    start = rnd.randrange(2000)
    for i in range(start, start + 4000, 2):
        counts[i] = rnd.randint(1, 3)
    return counts


def _run_lengths(rnd: random.Random) -> list[int]:
    """Zero runs at the varint boundaries (a run of 64 is one byte, 65 two)."""
    counts = [0] * COUNTS_LEN
    i = rnd.randrange(10)
    for gap in (1, 2, 63, 64, 65, 66, 8192, 8193, 1, 1, 2):
        counts[i] = 1
        i += gap + 1
    return counts


def _latencies(rnd: random.Random) -> list[int]:
    """A second of a server: log-normal latencies around 0.7 ms, 1% slow ones."""
    counts = [0] * COUNTS_LEN
    for _ in range(rnd.choice((1, 10, 2000, 20_000))):
        us = int(rnd.uniform(2_000, 5_000_000)) if rnd.random() < 0.01 else int(rnd.lognormvariate(6.55, 0.4))
        counts[bucket_index(us)] += 1
    return counts


PATTERNS = {
    "empty": _empty,
    "one at index 0": _at(0),
    "many at index 0": _at(0, 2**40),
    "one at the last index": _at(COUNTS_LEN - 1),
    "2**40 at the last index": _at(COUNTS_LEN - 1, 2**40),
    "huge counts": _huge,
    "dense": _dense,
    "every index": _everything,
    "sparse": _sparse,
    "runs of single zeros": _single_zero_runs,
    "run lengths at varint boundaries": _run_lengths,
    "latencies": _latencies,
}
CASES = [(name, seed) for name in PATTERNS for seed in range(3)]


def counts_of(name: str, seed: int) -> list[int]:
    return PATTERNS[name](random.Random(f"{name}/{seed}"))


# --- encode / decode ----------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "seed"), CASES)
def test_encoding_is_byte_for_byte_the_librarys(pattern: str, seed: int) -> None:
    counts = counts_of(pattern, seed)
    expected = hdrh_of(counts).encode().decode("ascii")
    assert Recorder(counts).encode() == expected  # counts searched for
    assert Recorder.decode(expected).encode() == expected  # non-zero counts known


@pytest.mark.parametrize(("pattern", "seed"), CASES)
def test_decoding_gives_the_librarys_counts(pattern: str, seed: int) -> None:
    counts = counts_of(pattern, seed)
    blob = hdrh_of(counts).encode()
    decoded = Recorder.decode(blob)
    assert decoded._counts == hdrh_counts(blob) == counts
    assert decoded._nonzero == [i for i, n in enumerate(counts) if n]
    buckets = Buckets.decode(blob)
    assert (buckets.indices, buckets.counts) == (decoded._nonzero, [n for n in counts if n])
    assert Recorder.decode(blob.decode("ascii"))._counts == counts  # str or bytes


def test_a_histogram_of_another_layout_is_refused_as_before() -> None:
    for other in (HdrHistogram(1, 60_000_000, 3), HdrHistogram(1, 3_600_000_000, 2), HdrHistogram(2, 3_600_000_000, 3)):
        other.record_value(1000)
        with pytest.raises(ValueError) as refused:
            Recorder.decode(other.encode())
        assert str(refused.value) == LAYOUT_ERROR


def test_a_layout_with_the_same_counts_is_read_as_before() -> None:
    # Highest 3e9 instead of 3.6e9 has the same 23,552 counts: HdrHistogram-based
    # decoding accepted it, and so does this one.
    other = HdrHistogram(1, 3_000_000_000, 3)
    other.record_value(1234, 7)
    other.record_value(2_000_000_000)
    assert Recorder.decode(other.encode())._counts == hdrh_counts(other.encode())


def _blob(varints: bytes, *, cookie: int = hdrcodec.ENCODING_COOKIE, figures: int = 3, lowest: int = 1,
          highest: int = 3_600_000_000) -> str:
    """A histoblob with a hand-made counts stream."""
    payload = struct.pack(">IIIIQQd", cookie, len(varints), 0, figures, lowest, highest, 1.0) + varints
    compressed = zlib.compress(payload)
    return base64.b64encode(struct.pack(">II", hdrcodec.COMPRESSION_COOKIE, len(compressed)) + compressed).decode()


def _as_hdrh_reads(blob: str) -> list[int] | None:
    """hdrh's counts, or None when it refuses the blob (whatever it raises)."""
    try:
        return hdrh_counts(blob)
    except Exception:  # noqa: BLE001 - hdrh raises several kinds; refusing is what matters
        return None


def _as_recorder_reads(blob: str) -> list[int] | None:
    try:
        return Recorder.decode(blob)._counts
    except ValueError:  # the only exception decode raises for bad input
        return None


def _zigzag(value: int) -> bytes:
    return hdrcodec.varint(value)


ODD_STREAMS = {
    "nothing": b"",
    "a literal zero count": _zigzag(0) + _zigzag(5),
    "a two-byte zero count": b"\x80\x00" + _zigzag(3),
    "a run past the end, last": _zigzag(-COUNTS_LEN - 100),
    "a run past the end, then a count": _zigzag(-COUNTS_LEN) + _zigzag(1),
    "counts up to the end exactly": _zigzag(-(COUNTS_LEN - 1)) + _zigzag(9),
    "one count too many": _zigzag(-(COUNTS_LEN - 1)) + _zigzag(9) + _zigzag(1),
    "a run longer than an int": _zigzag(-(2**31) - 1) + _zigzag(1),
    "the longest run": _zigzag(-(2**31)),
    "a varint cut short": _zigzag(4) + b"\x81",
    "a nine-byte varint": b"\xff" * 8 + b"\x01" + _zigzag(2),
    "a nine-byte varint with its high bit": b"\x82" * 8 + b"\x83" + _zigzag(2),
    "a nine-byte varint last": _zigzag(1) + b"\x82" * 9,
    "ten continuation bytes": b"\x81" * 10 + b"\x01",
    "a count of 2**62 - 1": _zigzag(2**62 - 1),
}


@pytest.mark.parametrize("stream", ODD_STREAMS)
def test_odd_count_streams_are_read_as_the_library_reads_them(stream: str) -> None:
    blob = _blob(ODD_STREAMS[stream])
    assert _as_recorder_reads(blob) == _as_hdrh_reads(blob)


@pytest.mark.parametrize("seed", range(200))
def test_random_count_streams_are_read_as_the_library_reads_them(seed: int) -> None:
    rnd = random.Random(seed)
    noisy = seed % 2  # half the streams well-formed, half with random bytes among the varints
    tokens = []
    for _ in range(rnd.randint(1, 60)):
        kind = rnd.random() if noisy else rnd.random() * 0.9
        if kind < 0.45:
            tokens.append(_zigzag(rnd.choice((0, 1, 2, 63, 64, 65, 1000, 2**20, 2**40))))
        elif kind < 0.9:
            tokens.append(_zigzag(-rnd.choice((1, 2, 63, 64, 65, 66, 300, 2000, 20_000))))
        else:
            tokens.append(bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 11))))
    blob = _blob(b"".join(tokens))
    assert _as_recorder_reads(blob) == _as_hdrh_reads(blob)


GARBAGE = {
    "empty": "",
    "not base64": "not a histogram!",
    "short": base64.b64encode(b"\x1c\x84\x93").decode(),
    "another cookie": base64.b64encode(struct.pack(">II", 0x12345678, 0)).decode(),
    "a wrong length": base64.b64encode(struct.pack(">II", hdrcodec.COMPRESSION_COOKIE, 99) + b"xx").decode(),
    "not zlib": base64.b64encode(struct.pack(">II", hdrcodec.COMPRESSION_COOKIE, 4) + b"abcd").decode(),
    "a short payload": base64.b64encode(struct.pack(">II", hdrcodec.COMPRESSION_COOKIE, len(zlib.compress(b"x" * 10)))
                                        + zlib.compress(b"x" * 10)).decode(),
    "another payload cookie": _blob(b"", cookie=0x1C849301),
    "a layout HdrHistogram refuses": _blob(b"", figures=0),
    "a lowest of 0": _blob(b"", lowest=0),
}


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_is_refused_with_a_value_error(garbage: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - hdrh refuses it too, with one exception or another
        HdrHistogram.decode(GARBAGE[garbage])
    with pytest.raises(ValueError):
        Recorder.decode(GARBAGE[garbage])


def test_every_blob_truncated_or_flipped_is_read_as_the_library_reads_it() -> None:
    rnd = random.Random(7)
    blob = hdrh_of(counts_of("latencies", 1)).encode().decode()
    for cut in range(0, len(blob), 7):
        assert _as_recorder_reads(blob[:cut]) == _as_hdrh_reads(blob[:cut])
    raw = bytearray(base64.b64decode(blob))
    for _ in range(100):
        flipped = bytearray(raw)
        flipped[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
        mangled = base64.b64encode(bytes(flipped)).decode()
        assert _as_recorder_reads(mangled) == _as_hdrh_reads(mangled)


# --- statistics -----------------------------------------------------------------------------------

LEVELS = (0.0, 0.001, 1.0, 25.0, 33.3, 50.0, 90.0, 99.0, 99.9, 99.999, 100.0, 150.0, -5.0)


@pytest.mark.parametrize(("pattern", "seed"), CASES)
def test_percentiles_are_the_librarys(pattern: str, seed: int) -> None:
    counts = counts_of(pattern, seed)
    h = hdrh_of(counts)
    expected = percentiles_ms(h)
    searched, known = Recorder(counts), Recorder.decode(h.encode())
    for r in (searched, known):
        assert percentiles_ms(r) == expected
        assert percentiles_ms(r.hdr) == expected  # the HdrHistogram route is unchanged
        b = r.buckets()
        assert b.total == h.get_total_count() == r.count
        assert b.max_value() == h.get_max_value()
        assert b.mean_value() == h.get_mean_value()
        assert b.values_at_percentiles(LEVELS) == h.get_percentile_to_value_dict(list(LEVELS))
        assert [b.value_at_percentile(p) for p in LEVELS] == [h.get_value_at_percentile(p) for p in LEVELS]


def test_every_index_has_the_librarys_value_range() -> None:
    h = new_hdr()
    for index in range(COUNTS_LEN):
        b = Buckets([index], [1])
        low = h.get_value_from_index(index)
        assert (b.value_at_percentile(0.0), b.max_value()) == (low, h.get_highest_equivalent_value(low)), index
    assert Recorder(_everything(random.Random(1))).buckets().mean_value() == hdrh_of(_everything(random.Random(1))).get_mean_value()


# --- add ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_adding_gives_the_sum_and_touches_only_the_others_counts(seed: int) -> None:
    rnd = random.Random(seed)
    names = rnd.sample(list(PATTERNS), 3)
    parts = [counts_of(name, seed) for name in names]
    total = [sum(column) for column in zip(*parts, strict=True)]
    searched, accumulated = Recorder(), Recorder.accumulator()
    for part in parts:
        searched.add(Recorder(part))  # the other searched
        accumulated.add(Recorder.decode(Recorder(part).encode()))  # the other's non-zero counts known
    assert searched._counts == accumulated._counts == total
    assert accumulated._nonzero == [i for i, n in enumerate(total) if n]
    assert accumulated.encode() == searched.encode() == hdrh_of(total).encode().decode()
    assert percentiles_ms(accumulated) == percentiles_ms(hdrh_of(total))
    from_library = Recorder.accumulator()
    from_library.add(hdrh_of(parts[0]))  # an HdrHistogram is still added exactly
    assert from_library._counts == parts[0]


def test_an_accumulator_reset_is_empty() -> None:
    acc = Recorder.accumulator()
    acc.add(Recorder(counts_of("latencies", 0)))
    acc.reset()
    assert not acc and acc.count == 0 and acc.encode() == Recorder().encode() == hdrh_of([0] * COUNTS_LEN).encode().decode()


# --- the second's path: Metrics.tick and Timeline.add ----------------------------------------------

PV, PP, VP = (ENDPOINTS[n].index for n in ("plate_validate", "permit_push", "vehicle_push"))


def test_a_tick_encodes_each_histogram_exactly_even_after_a_take() -> None:
    rnd = random.Random(5)
    m = Metrics()
    for second in range(4):
        if second == 2:
            for _ in range(50):
                m.record(PV, OK, None, 0, 0, rnd.randint(100_000, 900_000))
            m.take()  # the names' intervals start again; the total's does not
        for _ in range(300):
            key, outcome = rnd.choice((PV, PP, VP)), rnd.choice((OK, OK, OK, TIMEOUT, CONNECT_ERROR))
            m.record(key, outcome, None, 0, 0, int(rnd.lognormvariate(13.5, 1.0)))
        expected = {ep.name: hdrh_of(ep.iv_hist._counts).encode().decode() for ep in m.endpoints
                    if ep.iv_requests and ep.iv_hist is not None and any(ep.iv_hist._counts)}
        total = hdrh_of(m._iv_hist._counts).encode().decode()
        tick = m.tick(second)
        assert tick.latency == total
        assert {n: d["latency"] for n, d in tick.names.items() if d["latency"]} == expected
        assert tick.buckets is not None and set(tick.buckets) == {"", *expected}
        for name, blob in [("", total), *expected.items()]:  # what Timeline reads instead of decoding
            b = Buckets.decode(blob)
            assert (tick.buckets[name].indices, tick.buckets[name].counts) == (b.indices, b.counts)
        assert not m._iv_hist and all(not ep.iv_hist for ep in m.endpoints if ep.iv_hist is not None)


def test_a_name_with_every_timed_hit_shares_the_seconds_encoding() -> None:
    rnd = random.Random(6)
    m = Metrics()
    for _ in range(500):
        m.record(PV, rnd.choice((OK, TIMEOUT)), None, 0, 0, int(rnd.lognormvariate(13.5, 1.0)))
        m.record(PP, CONNECT_ERROR, None, 0, 0, 5_000)  # not timed: no latency
    expected = hdrh_of(m._iv_hist._counts).encode().decode()
    tick = m.tick(0)
    assert tick.latency == expected and tick.names["plate_validate"]["latency"] is tick.latency
    assert tick.names["permit_push"]["latency"] == "" and tick.names["permit_push"]["requests"] == 500


def _tick(second: int, counts: list[int]) -> Tick:
    blob = hdrh_of(counts).encode().decode()
    return Tick(second, 1, 0, blob, {"plate_validate": {"requests": 1, "errors": 0, "latency": blob, "outcomes": {}}})


def test_a_second_from_one_worker_keeps_its_encoding_and_from_two_adds_them() -> None:
    one, two = counts_of("latencies", 0), counts_of("latencies", 2)
    single = Timeline(1)
    tick = _tick(0, one)
    row = single.add(0, tick)[0]
    assert row.latency is tick.latency and row.names["plate_validate"].latency is tick.latency
    expected = percentiles_ms(hdrh_of(one))
    assert (row.p50_ms, row.p99_ms, row.max_ms) == (expected["p50"], expected["p99"], expected["max"])

    pair = Timeline(2)
    pair.add(0, _tick(0, one))
    row = pair.add(1, _tick(0, two))[0]
    both = [a + b for a, b in zip(one, two, strict=True)]
    assert row.latency == row.names["plate_validate"].latency == hdrh_of(both).encode().decode()
    expected = percentiles_ms(hdrh_of(both))
    assert (row.p50_ms, row.p99_ms, row.max_ms) == (expected["p50"], expected["p99"], expected["max"])


def test_a_tick_from_this_process_and_one_from_a_worker_make_the_same_rows() -> None:
    rnd = random.Random(9)
    here, there = Timeline(1), Timeline(1)
    m = Metrics()
    for second in range(5):
        for _ in range(rnd.randint(0, 400)):
            m.record(rnd.choice((PV, PP, VP)), rnd.choice((OK, TIMEOUT, CONNECT_ERROR)), None, 0, 0,
                     int(rnd.lognormvariate(13.5, 1.0)))
        tick = m.tick(second)
        assert [r.encode() for r in here.add(0, tick)] == [r.encode() for r in there.add(0, tick.encode())]
    for _ in range(100):
        m.record(PV, OK, None, 0, 0, int(rnd.lognormvariate(15, 1.0)))
    late = m.tick(1)  # a straggler for a completed second: added, then encoded again
    assert [r.encode() for r in here.add(0, late)] == [r.encode() for r in there.add(0, late.encode())] == []
    assert [r.encode() for r in here.rows] == [r.encode() for r in there.rows]
