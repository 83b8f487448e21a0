"""``harness generate``: the generators' calls at the pacer's offsets, with simulated
answers whose ids make chains, written faster than real time."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from support.harness_cli import ROOT, harness_env, run_harness

from harness.recording import read_calls, read_header


def test_an_hour_of_meters_in_seconds_with_chains(tmp_path: Path) -> None:
    out = tmp_path / "meters.jsonl.zst"
    r = run_harness("generate", "--rate", "5", "--duration", "1h", "--mix", "meters=100", "--seed", "3",
                    "--out", str(out), timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"18000 calls over 3600s written to {out}" in r.stderr
    header = read_header(out)
    assert header.source == "generate" and header.client == "OC_TOMA"
    calls = list(read_calls(out))
    assert len(calls) == 18000 and calls[-1].t_us == 3599_800_000
    pushes = {c.line: c for c in calls if c.endpoint == "permit_push"}
    followups = [c for c in calls if c.endpoint in ("permit_update", "permit_delete")]
    assert followups and all(c.chain in pushes and c.uses for c in followups)
    for c in followups[:50]:
        assert c.uses == [pushes[c.chain].recorded_ids["reference_id"]]
    assert all(c.body["apiToken"] == "<token>" for c in calls)


def test_deliberate_errors_are_recorded_with_the_code_they_must_get(tmp_path: Path) -> None:
    out = tmp_path / "invalid.jsonl"
    assert run_harness("generate", "--rate", "50", "--duration", "4s", "--mix", "invalid=100",
                       "--out", str(out)).returncode == 0
    outcomes = {c.recorded_outcome for c in read_calls(out)}
    assert len(outcomes - {"ok"}) > 10 and all(o == "ok" or o.isdigit() for o in outcomes)


def test_the_closed_model_is_refused(tmp_path: Path) -> None:
    r = run_harness("generate", "--users", "5", "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "give --rate" in r.stderr and not (tmp_path / "x.jsonl").exists()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a full disk, as far as the harness can tell


def test_a_full_disk_is_one_line_and_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "full.jsonl"
    r = subprocess.run([sys.executable, "-m", "harness", "generate", "--rate", "50", "--duration", "60s",
                        "--out", str(out)], cwd=ROOT, env=harness_env(), capture_output=True, text=True,
                       timeout=60, preexec_fn=_limit_file_size)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"harness: error: {out}: cannot write the recording (File too large); what was written before is kept"]
    warnings: list[str] = []
    assert len(list(read_calls(out, warnings.append))) > 0  # the calls before it are readable
