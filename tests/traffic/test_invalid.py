"""invalid: the recipe table covers the catalogue, and each recipe's call carries its code."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINT_LIST, ENDPOINTS
from harness.opscom.outcome import OK, api_error
from harness.traffic.call import Call
from harness.traffic.invalid import InvalidTraffic
from harness.traffic.recipes import CATALOGUE_CODES, RECIPES, UNREACHABLE, Recipe

WHERE = "s.toml: [traffic.invalid]"


def _ok_doc(call: Call) -> dict[str, Any]:
    """What a target answers a successful setup call with."""
    if call.endpoint.name == "permit_push":
        return {"status": "success", "reference_id": "11111111-2222-4333-8444-555555555555"}
    return {"status": "success"}


def drive(gen: InvalidTraffic, recipe: Recipe) -> tuple[list[Call], Call]:
    """Run ``recipe`` to its invalid call, answering every setup call with success."""
    setups: list[Call] = []
    call = gen.start(recipe)
    while call.expect is OK:
        setups.append(call)
        gen.on_result(call, OK, _ok_doc(call), 0.0)
        ready = gen.take_ready()
        call = ready if ready is not None else gen.start(recipe)
    return setups, call


def test_every_code_an_endpoint_can_answer_has_a_recipe() -> None:
    for ep in ENDPOINT_LIST:
        for code in ep.codes:
            assert (ep.name, code) in RECIPES or (ep.name, code) in UNREACHABLE, (ep.name, code)
    assert {code for _, code in RECIPES} == CATALOGUE_CODES
    assert set(range(9000, 9035)) - CATALOGUE_CODES == set(range(9023, 9030))


def test_no_recipe_claims_a_code_its_endpoint_cannot_answer() -> None:
    for (name, code), recipes in RECIPES.items():
        assert code in ENDPOINTS[name].codes, (name, code)
        assert all(r.endpoint == name and r.code == code for r in recipes)


def test_every_recipe_makes_its_call(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {}, WHERE)
    assert {(r.endpoint, r.code) for r in gen.recipes} == set(RECIPES)
    for recipe in gen.recipes:
        setups, call = drive(gen, recipe)
        assert call.endpoint is ENDPOINTS[recipe.endpoint], recipe
        assert call.expect is api_error(recipe.code) and call.tag is recipe
        assert not call.feedback
        assert all(s.feedback and s.expect is OK for s in setups)


def _body(call: Call) -> dict[str, Any]:
    return orjson.loads(call.body)


def _recipe(endpoint: str, code: int, label: str) -> Recipe:
    return next(r for r in RECIPES[(endpoint, code)] if label in r.label)


def test_credential_recipes(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {}, WHERE)
    for r in RECIPES[("user_types", 9003)]:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(gen.start(r).body)
    assert (
        gen.start(_recipe("permit_stats", 9000, "blank client")).path == "/api/%20/v1/permits/stats"
    )
    assert "client" not in _body(gen.start(_recipe("plate_validate", 9000, "left out")))
    assert "apiToken" not in _body(gen.start(_recipe("vehicle_push", 9001, "left out")))
    assert (
        _body(gen.start(_recipe("overdue_violations", 9002, "restricted")))["apiToken"]
        == "restricted-token"
    )
    assert _body(gen.start(_recipe("plate_validate", 9034, "unknown")))["api_token"].startswith(
        "bogus-"
    )


def test_duplicates_repeat_the_accepted_call(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {}, WHERE)
    for endpoint, code in (("permit_push", 9022), ("vehicle_push", 9012)):
        setups, call = drive(gen, _recipe(endpoint, code, "twice"))
        assert len(setups) == 1 and setups[0].body == call.body
    setups, call = drive(gen, _recipe("profile_push", 9019, "another user"))
    first, second = _body(setups[0]), _body(call)
    assert first["email"] == second["email"] and first["unique_id"] != second["unique_id"]
    assert first["user_name"] != second["user_name"]
    setups, call = drive(gen, _recipe("profile_push", 9020, "another user"))
    assert _body(setups[0])["user_name"] == _body(call)["user_name"]


def test_refused_setup_releases_nothing(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {}, WHERE)
    setup = gen.start(_recipe("vehicle_push", 9012, "twice"))
    gen.on_result(setup, api_error(9030), {"ErrorCode": 9030}, 0.0)
    assert gen.take_ready() is None


def test_update_field_errors_wait_for_our_permit(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {}, WHERE)
    needing = [r for r in gen.recipes if r.needs_permit]
    assert needing and all(r.endpoint == "permit_update" for r in needing)
    assert {r.code for r in needing} == {9005, 9030, 9031, 9033}
    setup = gen.start(needing[0])
    assert setup.endpoint.name == "permit_push" and setup.expect is OK
    # While our permit is on its way, other recipes' calls are made instead.
    other = gen.start(needing[1])
    assert other.endpoint.name != "permit_push" or other.expect is not OK
    gen.on_result(setup, OK, _ok_doc(setup), 1.0)
    released = [gen.take_ready(), gen.take_ready()]
    assert [c.tag for c in released] == needing[:2]
    ref = "11111111-2222-4333-8444-555555555555"
    for c in released:
        assert ref in c.body.decode()
    # From now on, no more setup pushes.
    assert gen.start(needing[2]).expect is api_error(needing[2].code)


def test_reproducible(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    def calls(worker: int) -> list[tuple[str, bytes]]:
        gen = InvalidTraffic(ctx_factory(worker=worker), {}, WHERE)
        return [(c.path, c.body) for c in (gen.next_call(0, float(i)) for i in range(1000))]

    assert calls(0) == calls(0)
    assert calls(0) != calls(1)


def test_codes_and_endpoints_restrict(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(
        ctx, {"codes": [9030, 9033], "endpoints": ["permit_push", "vehicle_push"]}, WHERE
    )
    seen = Counter(
        (c.endpoint.name, c.expect.code) for c in (gen.next_call(0, 0.0) for _ in range(2000))
    )
    assert set(seen) == {
        ("permit_push", 9030),
        ("permit_push", 9033),
        ("vehicle_push", 9030),
        ("vehicle_push", 9033),
    }


def test_without_a_restricted_token_9002_is_left_out(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx_factory(restricted_token=None), {}, WHERE)
    assert 9002 not in {r.code for r in gen.recipes}
    with pytest.raises(ConfigError, match=r"codes: 9002 needs a restricted token"):
        InvalidTraffic(ctx_factory(restricted_token=None), {"codes": [9002]}, WHERE)


def test_use_reference_false_drops_the_seeded_variants(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = InvalidTraffic(ctx, {"use_reference": False}, WHERE)
    assert not any(r.needs_reference for r in gen.recipes)
    assert {9012, 9019, 9020} <= {r.code for r in gen.recipes}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"codes": [9999]}, "codes: expected a list of error codes the catalogue can produce"),
        ({"endpoints": ["permits"]}, "endpoints: expected a list of endpoint names"),
        (
            {"codes": [9012], "endpoints": ["user_types"]},
            "codes: no recipe provokes [9012] on ['user_types']",
        ),
        ({"share": 0.1}, "share: unknown option"),
    ],
)
def test_config_errors_name_the_key(ctx, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        InvalidTraffic(ctx, options, WHERE)
    assert str(info.value).startswith(f"{WHERE} {message}")
