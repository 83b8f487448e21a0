"""The live view on a real pseudo-terminal: ``harness run`` draws it, a VT100 screen
(pyte) shows what a person would see, and the test reads that screen while the run
goes on: the progress bar advances, the endpoint table shows, a stall of the target
shows in the max, a check goes red; at the end, the coloured tables and the verdict.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.harness_cli import harness_env, read_summary, stall_server
from tests.terminal.pty_screen import harness_on_pty

_PROGRESS = re.compile(r"^(connecting|running|draining|stopping|done)\s.*?(\d+)s / 8s\s+left (\d+)s", re.M)
_COLOUR = re.compile(rb"\x1b\[([0-9;]*)m")


def _row(screen: str, name: str) -> list[str] | None:
    """The cells of ``name``'s row in the live table (below its "last second" header)."""
    lines = screen.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("last second")), None)
    if head is None:
        return None
    for line in lines[head + 1:]:
        if line.startswith(name + " "):
            return line.split()
    return None


def _number(cell: str) -> float:
    return float(cell.replace(",", "")) if cell != "-" else 0.0


def _bar(screen: str) -> int:
    """How much of the progress bar is drawn (its first line's bar characters)."""
    line = next((line for line in screen.splitlines() if re.match(r"(running|draining)\s", line)), "")
    return line.count("━") + line.count("╸")


def _colours(raw: bytes) -> set[str]:
    """SGR colour parameters used (foreground/background, any palette)."""
    found = set()
    for params in _COLOUR.findall(raw):
        for p in params.decode().split(";"):
            if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107):
                found.add(p)
    return found


def test_progress_table_and_a_stall_on_a_real_terminal(tmp_path: Path) -> None:
    # The stall server holds every request arriving 2 s to 3.5 s after the first one:
    # those answers all come out at 3.5 s, up to 1.5 s late.
    with stall_server("2:1.5") as server, harness_on_pty(
        "run", "--target", server.url, "--mix", "enforcement=1", "--rate", "50", "--duration", "8s",
        "--procs", "1", "--out", str(tmp_path), "--check", "all.max<500ms", "--check", "plate_validate.p50<400ms",
        env=harness_env(),
    ) as pty:
        early = pty.wait_for(lambda s: _PROGRESS.search(s) is not None and _row(s, "plate_validate") is not None,
                             timeout=30)
        first = int(_PROGRESS.search(early).group(2))

        # The stall's answers end in one second: that second's max is the stall.
        stalled = pty.wait_for(lambda s: (r := _row(s, "plate_validate")) is not None and _number(r[4]) >= 1000,
                               timeout=30)
        row = _row(stalled, "plate_validate")
        assert 1000 <= _number(row[4]) < 3000, stalled  # max of the last second
        assert _number(row[-1]) >= 1000, stalled  # and the run's max
        assert re.search(r"^all\s", stalled, re.M) is None  # one name: no "all" row to repeat it

        later = int(_PROGRESS.search(stalled).group(2))
        assert later > first, (early, stalled)
        assert re.search(r"^rate [\d,]+ req/s of 50 intended", stalled, re.M), stalled

        # The checks so far: the max is over its threshold now, the median is not.
        judged = pty.wait_for(lambda s: re.search(r"FAIL\s+all\.max<500ms", s) is not None, timeout=15)
        assert re.search(r"PASS\s+plate_validate\.p50<400ms\s+[\d.]+ ms so far", judged), judged
        assert re.search(r"wait\s+contract_violations==0\s+judged at the end", judged), judged

        code = pty.wait(timeout=60)
        end = pty.text()
        raw = bytes(pty.raw)
    assert code == 1, end
    # The end of the run: the table, each check with its measured value and
    # threshold, the verdict and the report's path; the live frame is gone.
    assert re.search(r"^plate_validate\s+400\s", end, re.M), end
    assert re.search(r"FAIL\s+all\.max<500ms\s+measured 1,[0-9]{3} ms, threshold < 500 ms", end), end
    assert re.search(r"PASS\s+plate_validate\.p50<400ms\s+measured [\d.]+ ms, threshold < 400 ms", end), end
    assert "verdict: FAIL" in end and f"report: {tmp_path}" in end
    assert "last second" not in end and "checks so far" not in end
    assert {"31", "32"} <= _colours(raw)  # FAIL red, PASS green
    summary = read_summary(tmp_path)
    assert summary["all"]["latency_ms"]["max"] >= 1000


def test_no_color_on_a_terminal_keeps_the_words_and_drops_the_colours(tmp_path: Path) -> None:
    with stall_server() as server, harness_on_pty(
        "run", "--target", server.url, "--mix", "enforcement=1", "--rate", "20", "--duration", "4s",
        "--procs", "1", "--out", str(tmp_path), env=harness_env(NO_COLOR="1"),
    ) as pty:
        first = _bar(pty.wait_for(lambda s: _bar(s) > 0, timeout=30))
        # Without colour the bar's remaining part is blank, so its drawn length is the progress.
        assert _bar(pty.wait_for(lambda s: _bar(s) > first, timeout=10)) > first
        code = pty.wait(timeout=60)
        end = pty.text()
        raw = bytes(pty.raw)
    assert code == 0, end
    assert re.search(r"PASS\s+all\.error_rate<1%", end) and "verdict: PASS" in end
    assert _colours(raw) == set(), raw[-2000:]


def test_ctrl_c_takes_the_frame_down_and_shows_the_interrupted_run(tmp_path: Path) -> None:
    import signal

    with stall_server() as server, harness_on_pty(
        "run", "--target", server.url, "--mix", "enforcement=1", "--rate", "50", "--duration", "60s",
        "--procs", "1", "--out", str(tmp_path), env=harness_env(),
    ) as pty:
        pty.wait_for(lambda s: (r := _row(s, "plate_validate")) is not None and _number(r[1]) > 0, timeout=30)
        pty.proc.send_signal(signal.SIGINT)
        code = pty.wait(timeout=30)
        end = pty.text()
    assert code == 130, end
    assert "INTERRUPTED (interrupted by SIGINT)" in end and "verdict: INTERRUPTED" in end
    assert "last second" not in end and "Traceback" not in end
    assert read_summary(tmp_path)["verdict"] == "interrupted"


def test_a_usage_error_on_a_terminal_is_one_plain_line(tmp_path: Path) -> None:
    env = harness_env()
    env.pop("OPSCOM_API_TOKEN")
    with harness_on_pty("run", "--target", "http://127.0.0.1:9", "--out", str(tmp_path), env=env) as pty:
        code = pty.wait(timeout=30)
        raw = bytes(pty.raw)
    assert code == 2
    assert raw == (b"harness: error: environment variable OPSCOM_API_TOKEN is empty or unset: export the API "
                   b"token there (it is never written anywhere)\r\n")  # no frame was drawn first
