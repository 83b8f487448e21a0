"""Surviving real operators: signals, a parent that dies, crashes, a closed stdout,
reports that are never lost or misplaced, credentials in URLs, odd client codes,
and a process count that respects CPU affinity."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.api import load_plan, run, write_result
from harness.report.rundir import latest_run, write_run_dir
from tests.support.broken_sources import ExplodingSpec
from tests.support.harness_cli import (
    ROOT,
    harness_env,
    read_summary,
    run_harness,
    stall_server,
    start_harness,
)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (the embedded controller too: a new session, same parent)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _workers(pid: int) -> set[int]:
    """The worker processes below ``pid`` (not multiprocessing's resource tracker)."""
    out = set()
    for child in _descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            out.add(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return set()
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


def _start_embedded(tmp_path: Path) -> tuple[subprocess.Popen[str], set[int]]:
    proc = start_harness("run", "--rate", "100", "--duration", "60s", "--procs", "2",
                         "--mix", "enforcement=80,meters=20", "--out", str(tmp_path), "--quiet")
    deadline = time.monotonic() + 30
    started: set[int] = set()
    while time.monotonic() < deadline and len(started) < 3:  # two workers and the controller
        time.sleep(0.5)
        started = _descendants(proc.pid)
    assert len(started) >= 3, started
    time.sleep(2)  # running
    return proc, _descendants(proc.pid)


def test_sigterm_ends_every_process_and_keeps_the_report(tmp_path: Path) -> None:
    proc, started = _start_embedded(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert not _wait_gone(started | {proc.pid}, 5.0), "processes outlived the run"
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 130, err
    s = read_summary(tmp_path)
    assert s["verdict"] == "interrupted" and s["run"]["interrupted"]
    assert "SIGTERM" in s["run"]["reason"]
    assert s["totals"]["answered"] > 100
    # The target stayed up: the only errors are hits due at the signal and never sent.
    assert set(s["all"]["outcomes"]) <= {"ok", "unsent"} and s["totals"]["unsent"] <= 4


def test_sighup_is_like_ctrl_c(tmp_path: Path) -> None:
    with stall_server() as server:
        proc = start_harness("run", "--target", server.url, "--rate", "100", "--duration", "60s", "--procs", "1",
                             "--mix", "enforcement=1", "--out", str(tmp_path), "--quiet")
        time.sleep(3)
        proc.send_signal(signal.SIGHUP)
        proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert read_summary(tmp_path)["run"]["reason"] == "interrupted by SIGHUP"


def test_a_second_signal_ends_the_drain_at_once(tmp_path: Path) -> None:
    # A hung target: the first signal waits up to 2 s for answers in flight, the
    # second ends that wait; the report is still written.
    with stall_server(hang_after=0.5) as server:
        proc = start_harness("run", "--target", server.url, "--rate", "100", "--duration", "60s", "--procs", "2",
                             "--mix", "enforcement=1", "--timeout", "30s", "--out", str(tmp_path), "--quiet")
        time.sleep(4)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
        took = time.monotonic() - started
    assert proc.returncode == 130 and took < 8  # the wall clock also holds writing the report
    run = read_summary(tmp_path)["run"]
    # The drain (from the interrupt, the end of the schedule, to the run's end) lasted
    # about the 0.3 s between the two signals, not the first signal's 2 s grace. Judged
    # on the run's own clock: a loaded machine slows the report, not this.
    assert run["interrupted"] and run["elapsed_s"] - run["duration_s"] < 1.2


def test_workers_and_the_controller_never_outlive_a_killed_parent(tmp_path: Path) -> None:
    proc, started = _start_embedded(tmp_path)
    proc.kill()  # no chance to clean up: the children must notice on their own
    proc.wait(timeout=5)
    assert not _wait_gone(started, 5.0), "orphans left behind"


def test_a_worker_that_dies_is_an_error_not_an_interruption(tmp_path: Path) -> None:
    with stall_server() as server:
        proc = start_harness("run", "--target", server.url, "--rate", "100", "--duration", "30s", "--procs", "2",
                             "--mix", "enforcement=1", "--out", str(tmp_path), "--quiet")
        deadline = time.monotonic() + 30
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.5)
            workers = _workers(proc.pid)
        time.sleep(2)
        os.kill(min(workers), signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    s = read_summary(tmp_path)
    assert s["verdict"] == "error" and s["exit_code"] == 3
    assert any("exited without a result (killed by SIGKILL)" in e for e in s["errors"])
    assert "killed by SIGKILL" in err and "Traceback" not in err
    assert s["totals"]["answered"] > 50  # the other worker's measurements are kept


@pytest.mark.parametrize("procs", [1, 2])
def test_an_exception_in_a_source_ends_the_run_as_an_error_with_what_was_measured(tmp_path: Path, procs: int) -> None:
    from harness.api import Target
    from harness.transport import Origin

    with stall_server() as server:
        plan = load_plan(None, {"load.rate": 200, "load.duration": "5s", "load.procs": procs,
                                "target.url": server.url, "output.dir": str(tmp_path)},
                         source=ExplodingSpec(after=60))
        origin = Origin.parse(server.url)
        result = run(plan, Target(controller=origin, plate_service=origin, token="t"))
    assert result.verdict == "error" and result.exit_code == 3
    assert all("RuntimeError: source exploded after 60 calls" in e for e in result.errors)
    assert "Traceback" in result.log and "source exploded" in result.log
    assert result.summary["totals"]["answered"] == 60 * procs
    written = write_result(result)
    assert (written.path / "run.log").read_text().count("source exploded") >= procs
    assert read_summary(tmp_path)["verdict"] == "error"


def test_a_closed_stdout_loses_nothing(tmp_path: Path) -> None:
    with stall_server() as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--target", server.url, "--rate", "50", "--duration", "2s",
             "--procs", "1", "--mix", "enforcement=1", "--out", str(tmp_path), "--quiet"],
            cwd=ROOT, env=harness_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # as `| head -0` would
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.wait(timeout=30)
    assert "Traceback" not in err
    assert read_summary(tmp_path)["verdict"] == "pass"


def test_each_run_keeps_its_own_directory_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    with stall_server() as server:
        args = ("run", "--target", server.url, "--duration", "1s", "--procs", "1", "--out", str(tmp_path), "--quiet")
        run_harness(*args, "--rate", "30", "--mix", "enforcement=1,meters=1")
        first = latest_run(tmp_path)
        time.sleep(1.1)
        res = run_harness(*args, "--rate", "20", "--mix", "enforcement=1")
    second = latest_run(tmp_path)
    assert first and second and first != second and first.parent == second.parent == tmp_path
    assert (first / "permit_push.hgrm").exists() and not (second / "permit_push.hgrm").exists()
    assert read_summary(first)["run"]["intended_requests"] == 30
    assert read_summary(tmp_path)["run"]["intended_requests"] == 20
    assert f"report: {second}" in res.stdout


@pytest.mark.parametrize(
    ("toml", "says"),
    [('name = "../../tmp/x"\n', "expected a name of letters, digits"),
     ('name = "a/b"\n', "expected a name of letters"),
     ('[output]\ndir = "/tmp/elsewhere"\n', "expected a relative directory inside the working directory"),
     ('[output]\ndir = "reports/../../x"\n', "expected a relative directory")],
)
def test_a_scenario_cannot_place_a_report_outside_by_path_tricks(tmp_path: Path, toml: str, says: str) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(toml)
    res = run_harness("run", str(scenario), "--dry-run")
    assert res.returncode == 2 and says in res.stderr and f"{scenario}:" in res.stderr


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_report_that_cannot_be_written_leaves_the_previous_one_intact(tmp_path: Path) -> None:
    with stall_server() as server:
        args = ["run", "--target", server.url, "--duration", "1s", "--rate", "50", "--procs", "1",
                "--mix", "enforcement=1", "--out", str(tmp_path), "--quiet"]
        assert run_harness(*args).returncode == 0
        before = latest_run(tmp_path)
        # Files over 4 kB cannot be written: a full disk, as far as the harness can tell.
        res = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=harness_env(),
                             capture_output=True, text=True, timeout=60, preexec_fn=_limit_file_size)
    assert res.returncode == 3
    assert "harness: error: cannot write the report" in res.stderr and "Traceback" not in res.stderr
    assert "verdict: PASS" in res.stdout  # the figures are still shown
    assert latest_run(tmp_path) == before and (before / "summary.json").exists()  # type: ignore[operator]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]


def test_a_run_directory_falls_back_to_the_temporary_directory(tmp_path: Path) -> None:
    calls: list[Path] = []

    def fill(directory: Path) -> None:
        calls.append(directory)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        (directory / "summary.json").write_text("{}")

    name = f"20260101T000000Z-{os.urandom(4).hex()}"
    written = write_run_dir(tmp_path / "reports" / "smoke", name, fill)
    try:
        assert written.fallback and "No space left on device" in (written.problem or "")
        assert written.path.name == name and (written.path / "summary.json").exists()
        assert not (tmp_path / "reports" / "smoke" / name).exists()
    finally:
        import shutil

        shutil.rmtree(written.path, ignore_errors=True)


def test_credentials_in_a_url_are_refused_and_never_echoed(tmp_path: Path) -> None:
    res = run_harness("run", "--target", "http://user:s3cr3t-pass@127.0.0.1:9", "--duration", "1s",
                      "--out", str(tmp_path), "--quiet")
    assert res.returncode == 2
    assert "credentials in the URL" in res.stderr and "OPSCOM_API_TOKEN" in res.stderr
    assert "s3cr3t" not in res.stderr + res.stdout and not any(tmp_path.iterdir())


@pytest.mark.parametrize(("client", "segment"), [("OC TOMA", "OC%20TOMA"), ("OC_TÖMA", "OC_T%C3%96MA")])
def test_client_codes_are_percent_encoded_in_paths(tmp_path: Path, client: str, segment: str) -> None:
    with stall_server() as server:
        res = run_harness("run", "--target", server.url, "--client", client, "--rate", "40", "--duration", "1s",
                          "--procs", "1", "--mix", "meters=1", "--out", str(tmp_path), "--quiet")
        seen = server.seen()
    assert res.returncode == 0, res.stderr
    assert seen and all(line == f"POST /api/{segment}/v1/permits/push" for line in seen), seen[:3]
    assert read_summary(tmp_path)["all"]["outcomes"] == {"ok": 40}


@pytest.mark.parametrize("client", ["OC/TOMA", "OC?X", "  "])
def test_client_codes_that_cannot_be_a_path_segment_are_refused(client: str) -> None:
    res = run_harness("run", "--target", "http://127.0.0.1:9", "--client", client, "--dry-run")
    assert res.returncode == 2 and "--client" in res.stderr and "Traceback" not in res.stderr


def test_procs_default_to_the_cpus_this_process_may_use() -> None:
    import shutil

    if shutil.which("taskset") is None:
        pytest.fail("taskset (util-linux) is needed for this test")
    res = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "harness", "run", "--dry-run"],
                         cwd=ROOT, env=harness_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and ", 1 proc(s)," in res.stdout, res.stdout + res.stderr


def test_a_closed_split_the_user_never_asked_for_is_explained_not_refused() -> None:
    res = run_harness("run", "--users", "1", "--dry-run")
    if len(os.sched_getaffinity(0)) > 1:
        assert res.returncode == 0 and "note: 1 user(s): 1 process(es) instead of the" in res.stdout
    assert ", 1 proc(s)," in res.stdout
