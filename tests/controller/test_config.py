"""``harness serve`` flags: parsing, checking, and one-line errors (in-process)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.controller.config import (
    ControllerConfig,
    Faults,
    Latency,
    Stall,
    normalise_client,
    parse_duration,
    parse_rate,
    parse_tokens,
)
from harness.controller.serve import add_arguments, config_from_args
from harness.errors import ConfigError
from harness.opscom.endpoints import PERMISSIONS


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(("text", "seconds"), [
    ("40ms", 0.04), ("250us", 0.00025), ("1.5s", 1.5), ("2m", 120.0), ("0ms", 0.0), (" 10s ", 10.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("--x", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["40", "ms", "-5ms", "1h", "5 sec", "", "1e3ms"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--x: expected a duration"):
        parse_duration("--x", text)


def test_latency_stall_and_rates() -> None:
    assert Latency.parse("40ms") == Latency(base=0.04, jitter=0.0)
    assert Latency.parse("20ms~10ms") == Latency(base=0.02, jitter=0.01)
    assert Stall.parse("10s:1s") == Stall(every=10.0, duration=1.0)
    assert parse_rate("--error-rate", "0.02") == 0.02 and parse_rate("--drop-rate", "1") == 1.0
    for bad in ("20ms~", "~10ms", "20ms~x"):
        with pytest.raises(ConfigError, match=r"^--latency: "):
            Latency.parse(bad)
    for bad in ("10s", "10s:", ":1s", "1s:1s", "1s:0s", "x:y"):
        with pytest.raises(ConfigError, match=r"^--stall: "):
            Stall.parse(bad)
    for bad in ("-0.1", "1.01", "nan", "x", ""):
        with pytest.raises(ConfigError, match=r"^--error-rate: expected a share between 0 and 1"):
            parse_rate("--error-rate", bad)
    assert not Faults().active and Faults(error_rate=0.1).active


def test_tokens_with_and_without_permissions() -> None:
    tokens = parse_tokens(["full", "ro:plate-validate", "two:permit-push, permit-stats", "none:", "ro:user-types"])
    assert tokens["full"] == PERMISSIONS
    assert tokens["ro"] == {"plate-validate", "user-types"}  # given twice: the union
    assert tokens["two"] == {"permit-push", "permit-stats"}
    assert tokens["none"] == frozenset()
    with pytest.raises(ConfigError, match=r"^--token: entry 1: unknown permission 'fly'; expected some of "):
        parse_tokens(["t:fly"])
    with pytest.raises(ConfigError, match=r"^--token: entry 2: expected TOKEN"):
        parse_tokens(["a", ":permit-push"])


def test_tokens_from_the_environment_and_never_in_messages_or_repr() -> None:
    ns = args("--token", "argv-token", "--token-env", "TOKS")
    config = config_from_args(ns, {"TOKS": "env-secret\n ro-secret:plate-validate "})
    assert dict(config.tokens) == {"argv-token": PERMISSIONS, "env-secret": PERMISSIONS,
                                   "ro-secret": frozenset({"plate-validate"})}
    assert "secret" not in repr(config) and "argv-token" not in repr(config)
    with pytest.raises(ConfigError, match=r"^--token-env: environment variable 'NOPE' is not set$"):
        config_from_args(args("--token-env", "NOPE"), {})
    with pytest.raises(ConfigError) as info:
        config_from_args(args("--token-env", "TOKS"), {"TOKS": "secret-value:bad-perm"})
    assert "secret-value" not in str(info.value)


def test_client_codes_are_normalised() -> None:
    assert normalise_client("OC-TOMA") == normalise_client("oc_toma") == "OC_TOMA"
    assert ControllerConfig(client="OC-TOMA").client == "OC_TOMA"
    for bad in ("", "OC TOMA", "OC/TOMA"):
        with pytest.raises(ConfigError, match=r"^--client: "):
            ControllerConfig(client=bad)


def test_defaults() -> None:
    config = config_from_args(args(), {})
    assert (config.host, config.port, config.db, config.client, config.seed) == ("127.0.0.1", 8080, None, "OC_TOMA", 1)
    assert config.max_body == 1024 * 1024 and config.faults == Faults() and not config.tokens
    full = config_from_args(args("--port", "0", "--db", "x.db", "--client", "OC-X", "--seed", "7", "--latency",
                                 "20ms~10ms", "--error-rate", "0.02", "--stall", "10s:1s", "--drop-rate", "0.01",
                                 "--max-body", "2048"), {})
    assert full.db == Path("x.db") and full.client == "OC_X" and full.seed == 7 and full.max_body == 2048
    assert full.faults == Faults(latency=Latency(base=0.02, jitter=0.01), error_rate=0.02,
                                 stall=Stall(every=10.0, duration=1.0), drop_rate=0.01)


@pytest.mark.parametrize(("argv", "message"), [
    (["--stall", "x"], "--stall: expected EVERY:FOR such as 10s:1s, got 'x'"),
    (["--latency", "fast"], "--latency: expected a duration such as 40ms, 1.5s or 250us, got 'fast'"),
    (["--error-rate", "1.5"], "--error-rate: expected a share between 0 and 1 such as 0.02, got '1.5'"),
    (["--drop-rate", "often"], "--drop-rate: expected a share between 0 and 1 such as 0.02, got 'often'"),
    (["--token", "t:nope"], "--token: entry 1: unknown permission 'nope'; expected some of "
                            + ", ".join(sorted(PERMISSIONS))),
    (["--client", "a b"], "--client: expected letters, digits, '-' or '_' such as OC_TOMA, got 'a b'"),
    (["--max-body", "0"], "--max-body: expected a positive number of bytes, got 0"),
    (["--port", "70000"], "--port: expected 0..65535, got 70000"),
])
def test_bad_flags_end_with_one_line_and_exit_2(argv: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"harness: error: {message}\n"
