"""The recording format: the streaming writer and reader, plain and zstd, the
truncated last line, a corrupt line's error, ordering, and uses/chain."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from harness.errors import ConfigError
from harness.recording import Capture, RecordingWriter, read_calls, read_header, scan
from harness.recording.correlate import IdIndex

REF = "11111111-2222-3333-4444-555555555555"
T0 = 1_800_000_000.0


def _push(started: float, ref: str = REF, status: int = 200) -> Capture:
    body = orjson.dumps({"apiToken": "tok-123456", "plate": "ABC123", "startTime": "2026-01-01T00:00:00",
                         "endTime": "2026-01-01T02:00:00"})
    answer = orjson.dumps({"status": "success", "reference_id": ref, "InternalReferenceID": ref})
    return Capture(started=started, method="POST", path="/api/OC_TOMA/v1/permits/push", body=body,
                   status=status, answer=answer, latency_us=1500)


def _update(started: float, ref: str = REF) -> Capture:
    body = orjson.dumps({"apiToken": "tok-123456", "referenceid": ref, "endTime": "2026-01-01T03:00:00"})
    return Capture(started=started, method="POST", path="/api/OC_TOMA/v1/permits/update", body=body,
                   status=200, answer=orjson.dumps({"status": "success", "reference_id": ref}))


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.zst"])
def test_round_trip_plain_and_zstd(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with RecordingWriter(path, source="record", origin="http://127.0.0.1:1") as w:
        w.write(_push(T0))
        w.write(_update(T0 + 1.5))
        w.write(Capture(started=T0 + 2, method="GET", path="/healthz", status=503, answer=b"down"))
    if name.endswith(".zst"):
        assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic
    header = read_header(path)
    assert (header.source, header.client, header.origin) == ("record", "OC_TOMA", "http://127.0.0.1:1")
    push, update, health = list(read_calls(path))
    assert (push.line, push.t_us, push.endpoint, push.recorded_outcome) == (0, 0, "permit_push", "ok")
    assert push.recorded_ids == {"reference_id": REF, "InternalReferenceID": REF}
    assert push.answer == {"status": 200, "outcome": "ok", "ids": push.recorded_ids, "latency_us": 1500}
    assert (update.t_us, update.uses, update.chain, update.shard_key) == (1_500_000, [REF], 0, 0)
    assert (health.endpoint, health.name, health.recorded_outcome) == (None, "GET /healthz", "http_503")


def test_a_base_path_stays_with_the_target(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        c = _push(T0)
        c.path = "/opscom/prod/api/OC_TOMA/v1/permits/push"
        w.write(c)
    assert next(read_calls(path)).path == "/api/OC_TOMA/v1/permits/push"


def test_calls_handed_in_out_of_order_are_written_in_start_order(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        for started in (T0 + 0.3, T0, T0 + 0.2, T0 + 0.1):
            w.add(_push(started, ref=f"{started:.1f}-reference-id-value"))
        w.advance(T0 + 0.15)  # the two oldest may go; the others wait for the close
    assert [c.t_us for c in read_calls(path)] == [0, 100_000, 200_000, 300_000]


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        for i in range(5):
            w.write(_push(T0 + i, ref=f"ref-{i}-aaaaaaaaaaaaaaaaaaaa"))
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # the recorder died in the middle of its last line
    warnings: list[str] = []
    calls = list(read_calls(path, warnings.append))
    assert len(calls) == 4
    assert warnings == [f"{path}:6: the last line is cut short (a recorder that stopped mid-write?); it is skipped"]


def test_a_truncated_zstd_stream_is_read_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.zst"
    with RecordingWriter(path, source="record") as w:
        for i in range(2000):
            w.write(_push(T0 + i, ref=f"ref-{i}-aaaaaaaaaaaaaaaaaaaa"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    warnings: list[str] = []
    calls = list(read_calls(path, warnings.append))
    assert 0 < len(calls) < 2000 and [c.line for c in calls] == list(range(len(calls)))
    assert len(warnings) == 1 and "cut short" in warnings[0]


def test_any_other_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        for i in range(5):
            w.write(_push(T0 + i))
    lines = path.read_bytes().split(b"\n")
    lines[3] = b'{"t_us": "soon", "path": "/x"}'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match=rf"^{path}:4: t_us: expected int, got 'soon'$"):
        list(read_calls(path))
    lines[3] = b"{not json"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match=rf"^{path}:4: not JSON"):
        scan(path)
    lines[0] = b'{"hello": 1}'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match=rf"^{path}:1: not a recording header"):
        read_header(path)


def test_an_unknown_endpoint_or_outcome_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    header = b'{"format":"opscom-recording","version":1,"source":"record","started":"2026-01-01T00:00:00Z","client":null}'
    path.write_bytes(header + b'\n{"t_us":0,"endpoint":"permit_pull","path":"/x"}\n')
    with pytest.raises(ConfigError, match="2: endpoint: unknown OPSCOM endpoint 'permit_pull'"):
        list(read_calls(path))
    path.write_bytes(header + b'\n{"t_us":0,"endpoint":null,"name":"GET /","path":"/","answer":{"outcome":"meh"}}\n')
    with pytest.raises(ConfigError, match="2: answer.outcome: not an outcome key"):
        list(read_calls(path))


def test_reading_is_streaming(tmp_path: Path) -> None:
    """The reader holds one line: a generator that has yielded the first call of a
    file being written can read calls appended afterwards."""
    path = tmp_path / "r.jsonl"
    w = RecordingWriter(path, source="record")
    w.write(_push(T0))
    w.write(_push(T0 + 1))
    w.flush()
    it = read_calls(path)
    assert next(it).line == 0
    w.write(_push(T0 + 2))
    w.close()
    assert [c.line for c in it] == [1, 2]


def test_the_id_index_is_bounded_and_keeps_the_newest() -> None:
    index = IdIndex(capacity=3)
    for i in range(5):
        index.add({"reference_id": f"id-{i}"}, chain=i)
    assert len(index) == 3
    assert index.uses({"referenceid": "id-0"}, "/", "") == ([], None)
    assert index.uses({"referenceid": "id-4"}, "/", "") == (["id-4"], 4)
    index.add({"reference_id": 44}, chain=9)  # a profile's integer id
    assert index.uses({"profile_id": "44"}, "/", "") == (["44"], 9)
    # Outside reference keys only long strings count: a year is not an id.
    index.add({"vehicle_id_id": "2019"}, chain=10)
    assert index.uses({"year": "2019"}, "/", "") == ([], None)


def test_scan_counts_a_window(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        for i in range(10):
            w.write(_push(T0 + i, ref=f"ref-{i}-aaaaaaaaaaaaaaaaaaaa"))
    s = scan(path, start_us=2_000_000, end_us=5_000_000)
    assert (s.total, s.calls, s.first_us, s.last_us, s.answered) == (10, 3, 2_000_000, 4_000_000, 3)


def test_the_header_is_written_even_when_nothing_was_recorded(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.zst"
    RecordingWriter(path, source="record").close()
    assert read_header(path).client is None and list(read_calls(path)) == []


def test_a_header_written_at_the_first_call_takes_its_time(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    before = time.time()
    with RecordingWriter(path, source="record") as w:
        w.write(_push(before))
    assert read_header(path).started.startswith(time.strftime("%Y-%m-%dT", time.gmtime(before)))
