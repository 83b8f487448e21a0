"""Option parsing: durations, ranges, typed getters and one-line errors naming the key."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.traffic.options import Options, parse_duration, parse_range

WHERE = "scenarios/x.toml: [traffic.meters]"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", 2.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        ("1h", 3600.0),
        (3, 3.0),
        ("7", 7.0),
        (" 4s ", 4.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["x", "-1s", "2 days", True, None, [1], float("nan")])
def test_bad_durations(text: object) -> None:
    assert parse_duration(text) is None


def test_ranges() -> None:
    assert parse_range("2s..20s") == (2.0, 20.0)
    assert parse_range("1m..5m") == (60.0, 300.0)
    assert parse_range("5s") == (5.0, 5.0)
    assert parse_range("20s..2s") is None
    assert parse_range("2s..") is None


def test_range_error_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        Options({"followup_delay": "x"}, WHERE).duration_range("followup_delay", "2s..20s")
    assert str(info.value) == (
        "scenarios/x.toml: [traffic.meters] followup_delay: expected a range such as '2s..20s', got 'x'"
    )


def test_unknown_key_is_refused_with_the_known_ones() -> None:
    opts = Options({"update_shar": 0.5}, WHERE)
    opts.probability("update_share", 0.3)
    with pytest.raises(
        ConfigError, match=r"\[traffic.meters\] update_shar: unknown option \(known: update_share\)"
    ):
        opts.finish()


@pytest.mark.parametrize(
    ("call", "value", "fragment"),
    [
        (lambda o: o.probability("k", 0.1), 1.5, "k: expected a number between 0 and 1, got 1.5"),
        (lambda o: o.probability("k", 0.1), True, "k: expected a number between 0 and 1, got True"),
        (lambda o: o.number("k", 1.0, above=True), 0, "k: expected a number above 0, got 0"),
        (lambda o: o.integer("k", 1, minimum=1), 0, "k: expected an integer of at least 1, got 0"),
        (lambda o: o.boolean("k", True), "yes", "k: expected true or false, got 'yes'"),
        (
            lambda o: o.strings("k", ("a",)),
            [1],
            "k: expected a list of at least 1 non-empty string(s), got [1]",
        ),
        (
            lambda o: o.alias("k"),
            "any",
            "k: expected 'random' or an alias index (0, 1, ...), got 'any'",
        ),
        (
            lambda o: o.choice_list("k", {1, 2}, "codes"),
            [1, 3],
            "k: expected a list of codes (1, 2), got 3",
        ),
    ],
)
def test_typed_getters_refuse_bad_values(call, value, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        call(Options({"k": value}, WHERE))
    assert str(info.value) == f"{WHERE} {fragment}"


def test_weights_merge_defaults_and_refuse_unknown_names() -> None:
    defaults = {"a": 1.0, "b": 2.0}
    assert Options({"w": {"b": 0}}, WHERE).weights("w", defaults) == {"a": 1.0, "b": 0.0}
    with pytest.raises(ConfigError, match=r"w.c: unknown name \(known: a, b\)"):
        Options({"w": {"c": 1}}, WHERE).weights("w", defaults)
    with pytest.raises(ConfigError, match=r"w.a: expected a non-negative number, got -1"):
        Options({"w": {"a": -1}}, WHERE).weights("w", defaults)
    with pytest.raises(ConfigError, match=r"w: expected weights with a positive total"):
        Options({"w": {"a": 0, "b": 0}}, WHERE).weights("w", defaults)


def test_options_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="expected a table of options"):
        Options(["x"], WHERE)  # type: ignore[arg-type]
