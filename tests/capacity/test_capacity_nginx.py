"""harness capacity against nginx's limit_req (100 req/s, then 503): the search finds
the limit, names the SLO that breaks first, measures the generator's CPU per step
and keeps one run directory with the knee."""

from __future__ import annotations

from pathlib import Path

import jsonschema_rs
import orjson
import pytest

from tests.capacity.conftest import Nginx
from tests.support.harness_cli import ROOT, read_summary, run_dir, run_harness


def _capacity(nginx: Nginx, out: Path, *extra: str) -> tuple[int, str, str]:
    res = run_harness("capacity", "--target", nginx.url, "--mix", "enforcement=1", "--procs", "1",
                      "--slo", "error_rate<1%", "--slo", "all.p99<500ms", "--hold", "3s", "--start-rate", "25",
                      "--out", str(out), *extra, timeout=300)
    return res.returncode, res.stdout, res.stderr


def test_the_search_finds_the_limit_and_says_what_breaks_first(limited_nginx: Nginx, tmp_path: Path) -> None:
    code, out, err = _capacity(limited_nginx, tmp_path)
    assert code == 0, out + err
    s = read_summary(tmp_path)
    cap = s["capacity"]
    limit = limited_nginx.limit_rps
    # Above the limit, (rate - limit) of every rate's requests are refused; the burst of
    # 20 absorbs the first excess, so a 3 s step holds a little above 100 req/s.
    assert 0.7 * limit <= cap["max_rate"] <= 1.5 * limit, cap["conclusion"]
    assert cap["breaks_at"] > cap["max_rate"]
    assert cap["first_broken"]["expr"] == "error_rate<1%"
    assert "error_rate<1% failed first" in cap["conclusion"] and "the limit is the target's" in cap["conclusion"]
    assert not cap["generator_bound"]
    steps = cap["steps"]
    assert [st["phase"] for st in steps][:3] == ["ramp", "ramp", "ramp"] and "bisect" in [st["phase"] for st in steps]
    for st in steps:
        assert st["passed"] == (st["rate"] <= cap["max_rate"]) or st["rate"] > cap["max_rate"] >= 0
        cpu = st["generator_cpu"]
        assert cpu["procs"] == 1 and 0 < cpu["seconds"] and 0 < cpu["utilization"] < 1
    failing = [st for st in steps if not st["passed"]]
    assert all("error_rate<1%" in st["failed"] for st in failing)
    assert all(st["error_rate"] > 0.01 for st in failing)
    # The kept run is the one at the maximum rate, with the capacity check and report.
    assert s["plan"]["arrival"].startswith(f"constant {cap['max_rate']:g}/s")
    assert s["verdict"] == "pass"
    assert any(c["expr"] == "capacity.max_rate>0" and c["passed"] for c in s["checks"])
    html = (run_dir(tmp_path) / "report.html").read_text()
    assert 'id="chart-capacity-latency"' in html and 'id="chart-capacity-errors"' in html
    schema = orjson.loads((ROOT / "schemas" / "summary.v2.json").read_bytes())
    assert list(jsonschema_rs.validator_for(schema).iter_errors(s)) == []
    assert "Maximum sustainable rate" in out


def test_require_fails_when_the_rate_found_is_lower(limited_nginx: Nginx, tmp_path: Path) -> None:
    code, out, err = _capacity(limited_nginx, tmp_path, "--max-steps", "2", "--require", "1000")
    assert code == 1, out + err
    s = read_summary(tmp_path)
    assert s["capacity"]["max_rate"] == 50 and len(s["capacity"]["steps"]) == 2
    check = next(c for c in s["checks"] if c["expr"] == "capacity.max_rate>=1000")
    assert not check["passed"] and s["verdict"] == "fail"
    assert "used its 2 steps" in s["capacity"]["conclusion"]


def test_capacity_needs_an_slo(tmp_path: Path) -> None:
    res = run_harness("capacity", "--target", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert res.returncode == 2 and "name at least one SLO" in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize(("args", "where"), [
    (("--slo", "error_rate<1%", "--factor", "1"), "capacity search"),
    (("--slo", "error_rate<1%", "--hold", "fast"), "--hold"),
    (("--slo", "error_rate<1%", "--hold", "0.5s"), "--hold"),
    (("--slo", "nonsense<1",), "nonsense"),
])
def test_capacity_refuses_bad_settings(tmp_path: Path, args: tuple[str, ...], where: str) -> None:
    res = run_harness("capacity", "--target", "http://127.0.0.1:9", *args, "--out", str(tmp_path))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("harness: error: ") and where in res.stderr and res.stderr.count("\n") == 1
