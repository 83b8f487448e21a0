"""The sample recordings under recordings/ are valid, carry no token, and replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.harness_cli import ROOT, read_summary, run_harness

from harness.recording import read_header, scan

SAMPLES = sorted(p for p in (ROOT / "recordings").iterdir() if ".jsonl" in p.name)


def test_there_are_samples() -> None:
    assert {p.name for p in SAMPLES} >= {"meters-morning.jsonl", "mixed-10m.jsonl.zst",
                                         "controller-session.jsonl.zst"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_sample_reads_cleanly(path: Path) -> None:
    found = scan(path)
    assert found.calls > 0 and found.warnings == [] and found.answered == found.calls
    assert read_header(path).redaction["credentials"] == "placeholder"


def test_the_recorded_session_replays_unchanged(tmp_path: Path) -> None:
    r = run_harness("replay", "recordings/controller-session.jsonl.zst", "--speed", "20", "--procs", "1",
                    "--quiet", "--out", str(tmp_path), "--check", "diff.changed<0.5%")
    assert r.returncode == 0, r.stdout + r.stderr
    s = read_summary(tmp_path)
    assert s["diff"]["compared"] == 600 and s["totals"]["contract_violations"] == 0
