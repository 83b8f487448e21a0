"""``harness replay`` as a command: exit codes, one-line errors naming the file and
line, the warning for a truncated last line, the run directory, --dry-run."""

from __future__ import annotations

from pathlib import Path

from support.harness_cli import read_summary, run_dir, run_harness

from tests.replay.recordings import chains


def test_a_replay_writes_the_run_directory_of_a_run(tmp_path: Path) -> None:
    path = chains(tmp_path / "r.jsonl", 5, plate_prefix="CL")
    r = run_harness("replay", str(path), "--speed", "2", "--procs", "1", "--quiet", "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    d = run_dir(tmp_path / "rep")
    assert {p.name for p in d.iterdir()} >= {"summary.json", "metrics.json", "permit_push.hgrm", "all.hgrm"}
    s = read_summary(tmp_path / "rep")
    assert s["verdict"] == "pass" and s["exit_code"] == 0 and s["totals"]["requests"] == 15
    assert s["plan"]["traffic"]["kind"] == "replay" and s["diff"]["changed"] == 0.0


def test_a_corrupt_line_is_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    path = chains(tmp_path / "r.jsonl", 3)
    lines = path.read_text().splitlines()
    lines[4] = lines[4][:20] + "}"
    path.write_text("\n".join(lines) + "\n")
    r = run_harness("replay", str(path), "--quiet", "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"harness: error: {path}:5: not JSON") and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "rep").exists()


def test_a_truncated_last_line_is_a_warning_and_the_rest_replays(tmp_path: Path) -> None:
    path = chains(tmp_path / "r.jsonl", 3, plate_prefix="TR")
    path.write_bytes(path.read_bytes()[:-30])
    r = run_harness("replay", str(path), "--speed", "4", "--procs", "1", "--quiet", "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    assert f"harness: warning: {path}:10: the last line is cut short" in r.stderr
    assert read_summary(tmp_path / "rep")["totals"]["requests"] == 8


def test_bad_flags_are_exit_2(tmp_path: Path) -> None:
    path = chains(tmp_path / "r.jsonl", 1)
    for args, message in ((["--speed", "fast"], "--speed: expected a positive factor"),
                          (["--rate-multiplier", "0"], "expected a positive"),
                          (["--max-rate", "-3"], "--max-rate: expected a positive"),
                          (["--from", "2s", "--to", "1s"], "--to: the window ends"),
                          (["--duration", "5s"], "--duration: a paced replay lasts"),
                          (["--target", "http://10.1.2.3:80"], "10.1.2.3"),
                          (["--check", "diff.changd<1%"], "unknown metric 'diff.changd'")):
        r = run_harness("replay", str(path), *args)
        assert r.returncode == 2 and message in r.stderr and r.stderr.startswith("harness: error:"), (args, r.stderr)
    r = run_harness("replay", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "missing.jsonl: cannot read the recording" in r.stderr


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    path = chains(tmp_path / "r.jsonl", 4)
    r = run_harness("replay", str(path), "--speed", "2", "--rate-multiplier", "2", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "recording x2, 2 copies: 24 calls" in r.stdout and "nothing was sent" in r.stdout


def test_no_token_in_any_file_written_or_printed(tmp_path: Path) -> None:
    from support.harness_cli import harness_env

    from harness.api import embedded_controller

    path = chains(tmp_path / "r.jsonl", 3, plate_prefix="TK")
    with embedded_controller(seed=1) as target:
        r = run_harness("replay", str(path), "--target", target.controller.url, "--speed", "4", "--procs", "1",
                        "--quiet", "--out", str(tmp_path / "rep"), env=harness_env(OPSCOM_API_TOKEN=target.token))
        assert r.returncode == 0, r.stderr
        assert read_summary(tmp_path / "rep")["totals"]["ok"] == 9  # the token was used, and accepted
        token = target.token.encode()
        assert token not in r.stdout.encode() and token not in r.stderr.encode()
        written = [f for f in tmp_path.rglob("*") if f.is_file()]
        assert len(written) >= 5 and all(token not in f.read_bytes() for f in written)
