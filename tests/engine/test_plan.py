"""Scenario parsing, overrides and the split over processes, without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import Target as ApiTarget
from harness.api import _worker_plans
from harness.engine import Model
from harness.errors import ConfigError
from harness.options import BY_KEY, OPTIONS, SECTIONS, default_load
from harness.pacing import ConstantPacer, SinePacer, StagesPacer
from harness.plan import Override, load_plan
from harness.transport import Origin


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_one_table() -> None:
    plan = load_plan(None, {"load.procs": 1})
    assert plan.model is Model.OPEN and isinstance(plan.pacer, ConstantPacer)
    assert (plan.pacer.rate, plan.pacer.duration) == (100, 10)
    assert plan.load.connections == 64 and plan.load.timeout == 10 and plan.load.drain == 11
    assert plan.target.client == "OC_TOMA" and plan.target.token_env == "OPSCOM_API_TOKEN"
    assert plan.name == "adhoc" and plan.output == Path("reports/adhoc")
    assert default_load().max_backlog == 100_000
    # Every [load] row is a LoadSettings field; every row's key is in its section.
    assert {o.name for o in OPTIONS if o.section == "load"} <= set(plan.load.__dataclass_fields__)
    assert all(o.name in SECTIONS[o.section] for o in OPTIONS)


def test_flags_beat_the_file_which_beats_the_defaults(tmp_path: Path) -> None:
    path = _scenario(tmp_path, '[load]\nrate = 40\nduration = "5s"\nconnections = 8\n')
    plan = load_plan(path, {"load.rate": Override("70", "--rate"), "load.procs": 1})
    assert plan.pacer.rate == 70 and plan.pacer.duration == 5 and plan.load.connections == 8  # type: ignore[union-attr]
    assert plan.overrides == ("--rate 70", "override load.procs 1")
    assert plan.name == "s"


def test_duration_scales_sine_with_its_period(tmp_path: Path) -> None:
    path = _scenario(tmp_path, '[load]\narrival = "sine"\nrate = 100\namplitude = 50\nperiod = "30m"\nduration = "2h"\n')
    plan = load_plan(path, {"load.duration": Override("10m", "--duration"), "load.procs": 1})
    assert isinstance(plan.pacer, SinePacer)
    assert plan.pacer.duration == 600 and plan.pacer.period == pytest.approx(150)
    assert any("period 30m -> 150s" in n for n in plan.notes), plan.notes


def test_duration_in_a_stages_file_scales_the_stages(tmp_path: Path) -> None:
    path = _scenario(tmp_path, '[load]\narrival = "stages"\nduration = "10s"\n'
                               'stages = [{duration = "30s", target = 10}, {duration = "10s", target = 10}]\n')
    plan = load_plan(path, {"load.procs": 1})
    assert isinstance(plan.pacer, StagesPacer)
    assert [s.duration for s in plan.pacer.stages] == [7.5, 2.5] and plan.duration == 10


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[load]\nrate = "fast"\n', "s.toml:2: [load] rate: expected a positive rate"),
        ('[load]\nrtae = 5\n', "s.toml:2: [load] rtae: unknown key"),
        ('[laod]\nrate = 5\n', "s.toml:1: laod: unknown key"),
        ('[load]\narrival = "stages"\n', "arrival = \"stages\" needs [load] stages"),
        ('[load]\narrival = "sine"\nrate = 10\namplitude = 20\n', "expected an amplitude of at most the mean rate"),
        ('[mix]\nenforcement = 0\n', "every weight is 0"),
        ('[target]\nclient = "OC/TOMA"\n', "cannot contain '/'"),
        ('[target]\nurl = "http://u:p@127.0.0.1"\n', "credentials in the URL"),
        ('[checks]\nthresholds = ["codes.9999==0"]\n', "s.toml:2): '9999' is not an OPSCOM error code"),
        ('[traffic.meters]\nfollowup_delay = "soon"\n', "followup_delay"),
        ('name = "../x"\n', "s.toml:1: name: expected a name"),
    ],
)
def test_scenario_mistakes_name_file_line_and_key(tmp_path: Path, text: str, says: str) -> None:
    path = _scenario(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_plan(path, {"load.procs": 1})
    assert says in str(err.value) and "\n" not in str(err.value)


def test_the_unknown_key_hint_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'rate'"):
        load_plan(_scenario(tmp_path, "[load]\nrtae = 5\n"))


def test_an_api_caller_gets_the_same_errors() -> None:
    with pytest.raises(ConfigError, match="override load.rtae: unknown setting 'load.rtae'"):
        load_plan(None, {"load.rtae": 5})


def test_the_split_over_processes_is_even_and_exact() -> None:
    plan = load_plan(None, {"load.procs": 3, "load.connections": 10, "load.rate": 30, "load.duration": "1s"})
    origin = Origin.parse("http://127.0.0.1:9")
    plans = _worker_plans(plan, ApiTarget(controller=origin, plate_service=origin, token="t"), "run1")
    assert [p.transport_config.connections for p in plans] == [4, 3, 3]
    assert [(p.worker, p.workers) for p in plans] == [(0, 3), (1, 3), (2, 3)]
    hits = sorted(n for p in plans for n, _ in p.engine.pacer.schedule(p.worker, p.workers))  # type: ignore[union-attr]
    assert hits == list(range(30))
    closed = load_plan(None, {"load.procs": 2, "load.users": 5, "load.duration": "1s"})
    users = [p.engine.load.users for p in _worker_plans(closed, ApiTarget(controller=origin, plate_service=origin,
                                                                              token="t"), "r")]
    assert users == [3, 2]


def test_shards_of_a_distributed_run_take_disjoint_hits() -> None:
    plan = load_plan(None, {"load.procs": 2, "load.rate": 40, "load.duration": "1s"})
    origin = Origin.parse("http://127.0.0.1:9")
    target = ApiTarget(controller=origin, plate_service=origin, token="t")
    hits = []
    for k in range(3):  # three machines, two processes each
        for p in _worker_plans(plan, target, "r", shard=(k, 3)):
            assert p.workers == 6
            hits += [n for n, _ in p.engine.pacer.schedule(p.worker, p.workers)]  # type: ignore[union-attr]
    assert sorted(hits) == list(range(40))


def test_every_option_row_parses_its_own_default() -> None:
    for o in OPTIONS:
        if o.default is not None:
            o.parse(o.default)
    assert BY_KEY["load.rate"].flag == "--rate"
