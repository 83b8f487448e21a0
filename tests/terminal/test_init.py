"""``harness init``: a commented starter scenario with every key at its default, that
runs and passes against the embedded reference controller."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.init import EXAMPLE_ONLY, generator_options, starter
from harness.options import OPTIONS
from harness.plan import load_plan
from tests.support.harness_cli import harness_env, read_summary, run_harness


def test_init_writes_a_starter_and_will_not_overwrite_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "wrote starter.toml" in capsys.readouterr().out
    assert (tmp_path / "starter.toml").read_text() == starter("starter")

    (tmp_path / "starter.toml").write_text("# mine\n")
    assert main(["init"]) == 2
    assert capsys.readouterr().err == ("harness: error: starter.toml exists; choose another NAME or add --force "
                                       "to overwrite it\n")
    assert (tmp_path / "starter.toml").read_text() == "# mine\n"
    assert main(["init", "--force"]) == 0 and (tmp_path / "starter.toml").read_text() == starter("starter")

    assert main(["init", "scenarios/nightly"]) == 0
    assert tomllib.loads((tmp_path / "scenarios/nightly.toml").read_text())["name"] == "nightly"
    capsys.readouterr()
    assert main(["init", "night.toml", "--stdout"]) == 0
    assert capsys.readouterr().out == starter("night") and not (tmp_path / "night.toml").exists()

    assert main(["init", "my scenario"]) == 2
    assert capsys.readouterr().err.startswith("harness: error: NAME 'my scenario': expected a name of letters")


def _sections(text: str, *, uncomment: bool) -> dict[str, Any]:
    """The TOML, optionally with every commented-out key (and table) switched on."""
    if uncomment:
        text = re.sub(r"^# (\[[a-z_.]+\]|[a-z_]+ = .*)$", r"\1", text, flags=re.M)
    return tomllib.loads(text)


def test_the_starter_holds_every_key_at_its_default(tmp_path: Path) -> None:
    text = starter("starter")
    everything = _sections(text, uncomment=True)
    for o in OPTIONS:
        table = everything.get(o.section, {}) if o.section else everything
        assert o.name in table, f"{o.key} is missing from the starter"
    path = tmp_path / "starter.toml"
    path.write_text(text)
    plan, bare = load_plan(path), load_plan(None)
    # As written, it is the plan of no scenario at all: every setting at its default.
    assert plan.describe() | {"name": "adhoc", "scenario": None} == bare.describe()
    assert plan.notes == () and plan.name == "starter"


def test_the_generator_options_shown_are_valid_and_are_the_generators_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.traffic import options as traffic_options

    text = starter("starter")
    traffic = _sections(text, uncomment=True)["traffic"]
    assert set(traffic) == set(generator_options()) == {"enforcement", "meters", "integrations", "invalid"}
    # Every option shown, switched on, is accepted by its generator...
    path = tmp_path / "all.toml"
    path.write_text(re.sub(r"^# (\[traffic\.[a-z]+\]|[a-z_]+ = .*)$", r"\1", text, flags=re.M))
    load_plan(path)
    # ...and, but for the examples, holds the value the generator uses when it is left out.
    used: dict[tuple[str, str], Any] = {}
    raw = traffic_options.Options.raw

    def record(self: Any, key: str, default: Any = None) -> Any:
        used.setdefault((self._where.rpartition("traffic.")[2].rstrip("]"), key), default)
        return raw(self, key, default)

    weights = traffic_options.Options.weights

    def record_weights(self: Any, key: str, defaults: Any) -> Any:  # its default is the table given
        used.setdefault((self._where.rpartition("traffic.")[2].rstrip("]"), key), dict(defaults))
        return weights(self, key, defaults)

    monkeypatch.setattr(traffic_options.Options, "raw", record)
    monkeypatch.setattr(traffic_options.Options, "weights", record_weights)
    load_plan(None)
    for generator, options in traffic.items():
        for key, shown in options.items():
            if (generator, key) not in EXAMPLE_ONLY:
                assert used[(generator, key)] == shown, f"[traffic.{generator}] {key}"


def test_the_starter_runs_and_passes_against_the_embedded_controller(tmp_path: Path) -> None:
    res = run_harness("init", str(tmp_path / "first"))
    assert res.returncode == 0, res.stderr
    res = run_harness("run", str(tmp_path / "first.toml"), "--out", str(tmp_path / "out"),
                      env=harness_env(), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "note:" not in res.stderr and "verdict: PASS" in res.stdout
    summary = read_summary(tmp_path / "out")
    assert summary["verdict"] == "pass" and summary["totals"]["requests"] == 1000
    assert summary["run"]["embedded_target"] is True
