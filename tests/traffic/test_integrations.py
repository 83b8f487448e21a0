"""integrations: vehicle and user syncs, stats polls, user types and collections."""

from __future__ import annotations

import re
from collections import Counter

import orjson
import pytest

from harness.errors import ConfigError
from harness.opscom.outcome import OK, api_error
from harness.traffic.integrations import DEFAULT_WEIGHTS, IntegrationTraffic

WHERE = "s.toml: [traffic.integrations]"


def test_shares_follow_the_weights(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = IntegrationTraffic(ctx, {}, WHERE)
    names = Counter(gen.next_call(0, 0.0).endpoint.name for _ in range(20_000))
    for name, w in DEFAULT_WEIGHTS.items():
        assert names[name] / 20_000 == pytest.approx(w, abs=0.005), name
    assert names["overdue_violations"] < names["user_types"] / 10


def test_vehicle_plates_and_user_ids_are_unique_across_workers(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    plates, ids, names, emails = [], [], [], []
    for worker in range(4):
        gen = IntegrationTraffic(
            ctx_factory(worker=worker),
            {"weights": {"user_types": 0, "permit_stats": 0, "overdue_violations": 0}},
            WHERE,
        )
        for _ in range(2000):
            body = orjson.loads(gen.next_call(0, 0.0).body)
            if "unique_id" in body:
                ids.append(body["unique_id"])
                names.append(body["user_name"])
                emails.append(body["email"])
            else:
                plates.append(body["plate"])
    for values in (plates, ids, names, emails):
        assert len(values) > 3000 and len(set(values)) == len(values)
    assert all(re.fullmatch(r"VT1-0[0-3][0-9A-Z]+", p) and len(p) <= 25 for p in plates)
    seeded = set(ctx_factory().reference.vehicle_plates)
    assert not seeded & set(plates)
    assert not set(ctx_factory().reference.seeded_emails) & set(emails)


def test_vehicle_bodies_vary_aliases(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = IntegrationTraffic(
        ctx,
        {
            "weights": {
                "profile_push": 0,
                "user_types": 0,
                "permit_stats": 0,
                "overdue_violations": 0,
            }
        },
        WHERE,
    )
    keys: Counter[str] = Counter()
    for _ in range(500):
        call = gen.next_call(0, 0.0)
        assert call.endpoint.name == "vehicle_push"
        body = orjson.loads(call.body)
        keys.update(list(body))
        assert ("plateTypeID" in body) != ("plateType" in body)
        assert ("provID" in body) != ("prov" in body)
    for key in (
        "plateTypeID",
        "plateType",
        "provID",
        "prov",
        "makeID",
        "make",
        "colourID",
        "colour",
        "year",
        "vin",
    ):
        assert keys[key] > 0, key


def test_profile_updates_only_users_created_and_accepted(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = IntegrationTraffic(
        ctx,
        {
            "weights": {
                "vehicle_push": 0,
                "user_types": 0,
                "permit_stats": 0,
                "overdue_violations": 0,
            },
            "update_share": 0.5,
        },
        WHERE,
    )
    created: dict[str, dict] = {}
    updates = 0
    for i in range(1000):
        call = gen.next_call(0, float(i))
        body = orjson.loads(call.body)
        if call.feedback:  # a create
            assert {"first_name", "last_name", "email", "user_name"} <= set(body)
            # Refuse one create in ten: those users must never be updated.
            ok = i % 10 != 0
            gen.on_result(call, OK if ok else api_error(9019), {}, float(i))
            if ok:
                created[body["unique_id"]] = body
        else:
            updates += 1
            assert body["unique_id"] in created
            assert body["login_source"] == created[body["unique_id"]]["login_source"]
            assert "email" not in body and "first_name" not in body
            assert len(body) >= 4  # token, the two keys, and at least one change
    assert 300 < updates < 600


def test_stats_with_and_without_zones(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = IntegrationTraffic(
        ctx,
        {
            "weights": {
                "profile_push": 0,
                "vehicle_push": 0,
                "user_types": 0,
                "overdue_violations": 0,
            }
        },
        WHERE,
    )
    bodies = [orjson.loads(gen.next_call(0, 0.0).body) for _ in range(400)]
    with_zones = [b for b in bodies if "zones" in b]
    assert 150 < len(with_zones) < 250
    for b in with_zones:
        assert set(b["zones"].split(",")) <= set(ctx.reference.zones)


def test_reproducible(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    def bodies(worker: int) -> list[bytes]:
        gen = IntegrationTraffic(ctx_factory(worker=worker), {}, WHERE)
        return [gen.next_call(0, 0.0).body for _ in range(1000)]

    assert bodies(0) == bodies(0)
    assert bodies(0) != bodies(1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": {"vehicles": 1}}, "weights.vehicles: unknown name"),
        ({"update_share": -0.1}, "update_share: expected a number between 0 and 1, got -0.1"),
        ({"zones": []}, "zones: expected a list of at least 1 non-empty string(s), got []"),
        ({"batch": 5}, "batch: unknown option"),
    ],
)
def test_config_errors_name_the_key(ctx, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        IntegrationTraffic(ctx, options, WHERE)
    assert str(info.value).startswith(f"{WHERE} {message}")
