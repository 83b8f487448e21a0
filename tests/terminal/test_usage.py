"""Every usage error is one line on stderr, ``harness: error: ...``, exit 2, with the
right "did you mean"; ``--version``; each verb's ``--help`` shows every default, its
exit codes and three examples. In process (``harness.cli.main``), plus the real
command once, since the console script is what users run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import __version__
from harness.checks import DEFAULT_CHECKS, FLOOR_CHECK
from harness.cli import VERBS, build_parser, main
from harness.usage import MIN_EXAMPLES, epilog
from tests.support.harness_cli import run_harness


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    assert "usage:" not in err and "Traceback" not in err
    return lines[0].removeprefix("harness: error: ")


@pytest.mark.parametrize(("argv", "says"), [
    (["run", "--rtae", "100", "scenarios/smoke.toml"],
     "unknown flag --rtae for harness run (did you mean --rate?); harness run --help lists them"),
    (["run", "--quite", "--dry-run"], "unknown flag --quite for harness run (did you mean --quiet?)"),
    (["run", "--dur=5s", "--dry-run"], "unknown flag --dur for harness run (did you mean --duration?)"),
    (["run", "--rat", "5", "--dry-run"], "unknown flag --rat for harness run (did you mean --rate?)"),  # no abbreviations
    (["run", "--zzzz", "--dry-run"], "unknown flag --zzzz for harness run; harness run --help lists them"),
    (["serve", "--prot", "8080"], "unknown flag --prot for harness serve (did you mean --port?)"),
    (["init", "--forse"], "unknown flag --forse for harness init (did you mean --force?)"),
    (["rnu", "scenarios/smoke.toml"], "unknown verb 'rnu' (did you mean 'run'?); expected one of serve, run, init"),
    (["serv"], "unknown verb 'serv' (did you mean 'serve'?)"),
    ([], f"no verb given; expected one of {', '.join(VERBS)} (harness --help says what each does)"),
    (["run", "--transport", "fats", "--dry-run"],
     "--transport: expected one of fast, aiohttp, got 'fats' (did you mean 'fast'?)"),
    (["run", "--arrival", "poison", "--dry-run"], "got 'poison' (did you mean 'poisson'?)"),
    (["run", "--rate"], "--rate: expected a value after it"),
    (["serve", "--port", "eighty"], "--port: expected an integer, got 'eighty'"),
    (["run", "a.toml", "b.toml"], "unexpected argument 'b.toml' for harness run"),
    (["run", "--mix", "enforcment=1", "--dry-run"], "enforcment: unknown generator (known: enforcement, meters, integrations, invalid) (did you mean 'enforcement'?)"),
    (["run", "--mix", "lunch=1", "--dry-run"], "lunch: unknown generator (known: enforcement, meters"),
    (["run", "--check", "plate_valdate.p99<3ms", "--dry-run"],
     "unknown endpoint 'plate_valdate'; expected all or one of"),
    (["run", "--check", "plate_valdate.p99<3ms", "--dry-run"], "(did you mean 'plate_validate'?)"),
    (["run", "--check", "plate_validate.p98<3ms", "--dry-run"], "(did you mean 'p99'?)"),
])
def test_usage_errors_are_one_line_with_a_suggestion(argv: list[str], says: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert says in _fails(argv, capsys)


@pytest.mark.parametrize(("text", "says"), [
    ('[lod]\nrate = 5\n', ": lod: unknown key; expected one of checks, description, load, mix, name, output, "
                          "target, traffic (did you mean 'load'?)"),
    ('[load]\nrate = 5\nduraton = "2s"\n', ":3: [load] duraton: unknown key; expected one of"),
    ('[load]\nrate = 5\nduraton = "2s"\n', "(did you mean 'duration'?)"),
    ('[mix]\nmeter = 1\n', "[mix] meter: unknown generator (known: enforcement, meters, integrations, invalid) "
                           "(did you mean 'meters'?)"),
    ('[mix]\nmeters = 1\n[traffic.meters]\nfollowup_dely = "2s..3s"\n',
     "[traffic.meters] followup_dely: unknown option (known: "),
    ('[mix]\nmeters = 1\n[traffic.meters]\nfollowup_dely = "2s..3s"\n', "(did you mean 'followup_delay'?)"),
    ('[mix]\nmeters = 1\n[traffic.meter]\nzones = ["a"]\n',
     "[traffic.meter]: unknown generator (the mix has: meters) (did you mean 'meters'?)"),
    ('[traffic.enforcement]\nweights = { permits = 0.5 }\n',
     "[traffic.enforcement] weights.permits: unknown name (known: permit, unknown, alarm, dntt, pushed) "
     "(did you mean 'permit'?)"),
    ('[checks]\nthresholds = ["permit_psh.p99<2s"]\n', "(did you mean 'permit_push'?)"),
])
def test_scenario_mistakes_name_the_place_and_suggest(tmp_path: Path, text: str, says: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    line = _fails(["run", str(scenario), "--dry-run"], capsys)
    assert str(scenario) in line and says in line, line


def test_the_real_command_says_it_in_one_line_and_exits_2() -> None:
    res = run_harness("run", "--rtae", "100", "scenarios/smoke.toml")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == ("harness: error: unknown flag --rtae for harness run (did you mean --rate?); "
                          "harness run --help lists them\n")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"harness {__version__}\n"


# --- help ------------------------------------------------------------------------------------


def _verb_parser(verb: str) -> argparse.ArgumentParser:
    parser = build_parser(verb)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subs.choices[verb]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_help_shows_defaults_exit_codes_and_examples(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = _verb_parser(verb)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or (not action.option_strings and action.nargs is None):
            continue
        assert "(default" in (action.help or ""), f"{verb} {action.option_strings or action.dest}: {action.help!r}"
    # Flags are grouped, unless there are only a handful.
    assert len(parser._action_groups) > 2 or len(parser._actions) <= 8, "flags are grouped"
    with pytest.raises(SystemExit) as stop:
        main([verb, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "\nexit status:\n  0 " in text and "\n  2    usage error" in text
    examples = text.split("\nexamples:\n", 1)[1].strip().splitlines()
    assert len(examples) >= MIN_EXAMPLES and all(e.startswith("  harness") or "harness " in e for e in examples)


def test_run_help_names_the_default_gate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{', '.join(DEFAULT_CHECKS)}; and always {FLOOR_CHECK}" in text
    assert "--rate N open model: requests per second (sine: the mean) (default: 100)" in text
    assert "--users N closed model: concurrent users (default: none: the open model, at --rate)" in text
    assert "130 interrupted" in text


def test_a_verb_without_three_examples_is_refused_when_its_help_is_built() -> None:
    with pytest.raises(ValueError, match="at least 3 examples"):
        epilog(exit_codes={0: "ok"}, examples=["harness x", "harness x --y"])
