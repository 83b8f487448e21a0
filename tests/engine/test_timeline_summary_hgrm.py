"""Unit tests of the run's tail: the timeline merge, the summary's accounting and
shape, and the .hgrm writer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.metrics import Metrics, Recorder, Tick, bucket_index, new_hdr
from harness.opscom import ENDPOINTS, OK, TIMEOUT, api_error, http_error
from harness.opscom.outcome import CONNECT_ERROR, DROPPED, UNSENT
from harness.report import hgrm
from harness.report.summary import RunInfo, build_summary
from harness.timeline import NAME_HISTOGRAMS_KEPT_S, Timeline

PV, PP = ENDPOINTS["plate_validate"].index, ENDPOINTS["permit_push"].index


def _tick(second: int, values_ms: list[float], errors: int = 0, name: str = "plate_validate") -> Tick:
    r = Recorder()
    for v in values_ms:
        r._counts[bucket_index(int(v * 1000))] += 1
    return Tick(second, len(values_ms), errors, r.encode(),
                {name: {"requests": len(values_ms), "errors": errors, "latency": r.encode(), "outcomes": {}}})


def test_a_second_completes_when_every_worker_reported_it() -> None:
    t = Timeline(2)
    assert t.add(0, _tick(0, [1.0] * 10)) == []
    assert t.add(0, _tick(1, [2.0] * 10)) == []
    done = t.add(1, _tick(0, [100.0] * 10, errors=3))
    assert [row.t for row in done] == [0]
    row = done[0]
    assert (row.requests, row.errors) == (20, 3)
    assert row.p50_ms == pytest.approx(1.0, rel=0.01) and row.max_ms == pytest.approx(100.0, rel=0.01)
    assert row.names["plate_validate"].requests == 20 and row.names["plate_validate"].p99_ms == pytest.approx(100, rel=0.01)
    assert [r.t for r in t.finish()] == [1]


def test_a_late_tick_is_folded_into_its_second_not_appended() -> None:
    t = Timeline(1)
    t.add(0, _tick(0, [1.0] * 5))
    t.add(0, _tick(1, [1.0] * 5))
    t.add(0, _tick(0, [50.0] * 5))  # a straggler for second 0
    rows = t.rows
    assert [r.t for r in rows] == [0, 1] and rows[0].requests == 10 and rows[0].max_ms == pytest.approx(50, rel=0.01)


def test_old_seconds_shed_their_per_name_histograms_but_keep_their_percentiles() -> None:
    t = Timeline(1)
    last = NAME_HISTOGRAMS_KEPT_S + 10
    for s in range(last + 1):
        t.add(0, _tick(s, [float(s % 7 + 1)] * 4))
    rows = t.rows
    old, recent = rows[0].names["plate_validate"], rows[-1].names["plate_validate"]
    assert old.latency == "" and recent.latency != ""  # memory stays flat over a soak
    assert rows[0].latency != ""  # the row's own histogram is persisted: always kept
    assert old.p99_ms == pytest.approx(1.0, rel=0.01) and old.requests == 4
    # A tick for a shed second (a worker over a minute behind): counts add up, and the
    # per-name percentiles keep what the second had, raised by the newcomer's worst.
    t.add(0, _tick(0, [30.0] * 4))
    row = t.rows[0].names["plate_validate"]
    assert row.requests == 8 and row.max_ms == pytest.approx(30.0, rel=0.01)
    assert row.p50_ms == pytest.approx(1.0, rel=0.01) and row.p99_ms == pytest.approx(30.0, rel=0.01)


def test_the_timeline_round_trips_through_its_encoding() -> None:
    t = Timeline(1)
    for s in range(NAME_HISTOGRAMS_KEPT_S + 40):  # packed seconds and whole ones
        tick = _tick(s, [float(s % 9 + 1)] * 4, errors=s % 3, name="plate_validate" if s % 4 else "permit_push")
        if s % 5 == 0:
            next(iter(tick.names.values()))["outcomes"] = {"timeout": 1, "9006": s}
        t.add(0, tick)
    t.finish()
    encoded = t.encode()
    assert [row["t"] for row in encoded] == list(range(NAME_HISTOGRAMS_KEPT_S + 40))
    assert encoded[5]["names"]["plate_validate"]["outcomes"] == {"timeout": 1, "9006": 5}
    assert "permit_push" in encoded[4]["names"] and "permit_push" not in encoded[5]["names"]
    again = Timeline.decode(encoded)
    assert again.encode() == encoded
    assert [r.brief() for r in again.rows] == [r.brief() for r in t.rows]


def _info(**over: object) -> RunInfo:
    base = dict(started="2026-01-01T00:00:00Z", duration_s=10.0, elapsed_s=10.5, target="http://127.0.0.1:1",
                plate_service="http://127.0.0.1:1", client="OC_TOMA", model="open", arrival="constant 1/s for 10s",
                intended_requests=8, intended_rate=0.8, users=None, connections=4, procs=1, transport="fast",
                interrupted=False, reason=None, scenario=None, seed=1, run_id="abc123", embedded_target=False)
    base.update(over)
    return RunInfo(**base)  # type: ignore[arg-type]


def test_the_summary_accounts_for_every_hit_and_all_has_an_endpoints_shape() -> None:
    m = Metrics()
    m.window_end_ns = 10**10
    m.record(PV, OK, None, 0, 0, 2_000_000)
    m.record(PV, api_error(9006), None, 0, 0, 3_000_000)
    m.record(PV, TIMEOUT, None, 0, 0, 1_000_000_000)
    m.record(PV, CONNECT_ERROR, None, 0, 0, 1000)
    m.record_not_sent(PV, DROPPED, None)
    m.record(PP, api_error(9007), api_error(9007), 0, 0, 4_000_000)
    m.record(PP, http_error(503), api_error(9007), 0, 0, 5_000_000)
    m.record_not_sent(PP, UNSENT, api_error(9007))
    s = build_summary(m, _info())
    pv, pp, everything = s["endpoints"]["plate_validate"], s["endpoints"]["permit_push"], s["all"]
    assert pv["outcomes"] == {"ok": 1, "9006": 1, "connect_error": 1, "dropped": 1, "timeout": 1}
    assert (pv["requests"], pv["sent"], pv["answered"], pv["ok"], pv["errors"]) == (5, 4, 2, 1, 4)
    assert pv["latency_ms"]["count"] == 3  # ok, 9006 and the timeout; not the refusal
    assert (pp["expected"], pp["errors"], pp["contract_violations"], pp["unsent"]) == (1, 2, 0, 1)
    assert set(everything) == set(pv) and everything["outcomes"]["dropped"] == 1
    assert everything["requests"] == s["totals"]["requests"] == 8 == s["run"]["intended_requests"]
    assert s["totals"]["achieved_rate"] == pytest.approx(6 / 8)  # sent in the window / intended
    assert s["codes"] == {"9006": 1} and s["expected_codes"] == {"9007": 1}
    assert s["schema"] == 2 and s["harness"]["version"]


def test_a_closed_run_has_no_achieved_rate() -> None:
    m = Metrics()
    m.record(PV, OK, None, 0, 0, 1000)
    s = build_summary(m, _info(model="closed", intended_rate=None, intended_requests=1))
    assert s["totals"]["achieved_rate"] is None


def test_hgrm_footers_are_in_the_unit_of_the_values(tmp_path: Path) -> None:
    hdr = new_hdr()
    for v in (1000, 2000, 3000, 4000, 100_000):  # 1..100 ms in microseconds
        hdr.record_value(v)
    out = io.BytesIO()
    hgrm.write_percentiles(hdr, out)
    lines = out.getvalue().decode().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    mean = float(lines[-3].split("Mean")[1].split("=")[1].split(",")[0])
    stddev = float(lines[-3].split("StdDeviation")[1].split("=")[1].rstrip("]"))
    assert mean == pytest.approx(22.0, rel=0.01) and stddev == pytest.approx(39.0, rel=0.02)  # ms, both
    assert lines[-2].startswith("#[Max     =") and "Total count    =            5" in lines[-2]
    first, last = lines[2].split(), lines[-4].split()
    assert float(first[0]) == pytest.approx(1.0, rel=0.01) and float(last[0]) == pytest.approx(100, rel=0.01)


def test_hgrm_files_per_name_with_service_time_beside(tmp_path: Path) -> None:
    m = Metrics()
    m.record(PV, OK, None, 0, 5_000_000, 6_000_000)  # 6 ms from intended, 1 ms from sent
    m.endpoint("GET /healthz")
    m.record(m.endpoints.index(m.endpoint("GET /healthz")), OK, None, 0, 0, 1_000_000)
    written = {p.name for p in hgrm.write_all(m, tmp_path)}
    assert written == {"plate_validate.hgrm", "plate_validate.service.hgrm", "GET_healthz.hgrm",
                       "GET_healthz.service.hgrm", "all.hgrm", "all.service.hgrm"}
    lat = (tmp_path / "plate_validate.hgrm").read_text().splitlines()[2].split()[0]
    svc = (tmp_path / "plate_validate.service.hgrm").read_text().splitlines()[2].split()[0]
    assert float(lat) == pytest.approx(6.0, rel=0.01) and float(svc) == pytest.approx(1.0, rel=0.01)
