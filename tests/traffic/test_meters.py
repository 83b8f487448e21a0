"""meters: permit pushes, and the extensions and refunds their answers release."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import orjson
import pytest

from harness.errors import ConfigError
from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.outcome import OK, api_error
from harness.traffic.meters import FollowUpTag, MeterTraffic, PushTag, format_amount
from harness.traffic.shared import Shared

PUSH = ENDPOINTS["permit_push"]
WHERE = "s.toml: [traffic.meters]"


def _value(body: dict, endpoint: str, name: str):  # type: ignore[no-untyped-def]
    """The value of canonical field ``name`` in ``body``, whichever alias carries it."""
    for alias in ENDPOINTS[endpoint].field(name).aliases:
        if alias in body:
            return body[alias]
    raise KeyError(name)


def _answer(gen: MeterTraffic, call, ref: str, now: float) -> None:  # type: ignore[no-untyped-def]
    gen.on_result(
        call, OK, {"status": "success", "reference_id": ref, "InternalReferenceID": ref}, now
    )


def test_push_body(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {}, WHERE)
    call = gen.next_call(0, 90.0)
    assert call.endpoint is PUSH and call.path == "/api/OC_TOMA/v1/permits/push"
    assert call.feedback and call.expect is None and isinstance(call.tag, PushTag)
    body = orjson.loads(call.body)
    assert body["apiToken"] == "main-token"
    start = datetime.strptime(_value(body, "permit_push", "start"), "%Y-%m-%dT%H:%M:%S")
    end = datetime.strptime(_value(body, "permit_push", "end"), "%Y-%m-%dT%H:%M:%S")
    assert start == ctx.wall_start.replace(tzinfo=None) + timedelta(seconds=90)
    assert timedelta(minutes=15) <= end - start <= timedelta(hours=3)
    assert _value(body, "permit_push", "zone") in ctx.reference.zones
    assert _value(body, "permit_push", "currency") == "CAD"
    amount = _value(body, "permit_push", "amount")
    whole, cents = amount.split(".")
    assert whole.isdigit() and len(cents) == 2
    plate = _value(body, "permit_push", "plate")
    assert (
        plate == call.tag.plate and len(plate) == 7 and plate[:3].isalpha() and plate[3:].isdigit()
    )


def test_every_alias_is_used(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {}, WHERE)
    seen: set[str] = set()
    for i in range(200):
        seen |= set(orjson.loads(gen.next_call(0, float(i)).body))
    for f in PUSH.fields:
        assert set(f.aliases) <= seen, f.name


def test_fixed_alias(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {"alias": 1}, WHERE)
    body = orjson.loads(gen.next_call(0, 0.0).body)
    assert {
        "LicencePlate",
        "StartDateUtc",
        "EndDateUtc",
        "Amount",
        "CurrencyID",
        "TicketNumber",
    } <= set(body)


def test_tickets_unique_within_and_across_workers(ctx_factory) -> None:  # type: ignore[no-untyped-def]
    tickets: list[str] = []
    for worker in range(4):
        gen = MeterTraffic(ctx_factory(worker=worker), {}, WHERE)
        for i in range(500):
            tickets.append(
                _value(orjson.loads(gen.next_call(0, float(i)).body), "permit_push", "ticket")
            )
    assert len(set(tickets)) == len(tickets)
    assert all(len(t) <= 50 and "T1" in t for t in tickets)


def test_followups_use_the_reference_id_and_wait(ctx) -> None:  # type: ignore[no-untyped-def]
    shared = Shared()
    gen = MeterTraffic(
        ctx,
        {"update_share": 1.0, "delete_share": 1.0, "followup_delay": "10s..20s"},
        WHERE,
        shared=shared,
    )
    push = gen.next_call(0, 5.0)
    tag = push.tag
    end = datetime.strptime(
        _value(orjson.loads(push.body), "permit_push", "end"), "%Y-%m-%dT%H:%M:%S"
    )
    _answer(gen, push, "ref-123", now=6.0)
    assert gen.pending() == 2
    assert shared.pushed.pick(0, 7.0) == tag.plate  # accepted plates become visible to enforcement
    # Before the delay, new pushes keep coming.
    assert gen.next_call(0, 6.0 + 9.9).endpoint is PUSH
    update = gen.next_call(0, 6.0 + tag.update_delay)
    assert update.endpoint is ENDPOINTS["permit_update"] and update.feedback
    body = orjson.loads(update.body)
    assert _value(body, "permit_update", "reference_id") == "ref-123"
    new_end = datetime.strptime(_value(body, "permit_update", "end"), "%Y-%m-%dT%H:%M:%S")
    assert new_end == end + timedelta(seconds=tag.extension)
    assert gen.next_call(0, 6.0 + tag.update_delay).endpoint is PUSH  # the delete waits another delay
    gen.on_result(update, OK, orjson.loads(b'{"status": "success"}'), 30.0)
    delete = gen.next_call(0, 6.0 + tag.update_delay + tag.delete_delay)
    assert delete.endpoint is ENDPOINTS["permit_delete"]
    assert _value(orjson.loads(delete.body), "permit_delete", "reference_id") == "ref-123"
    assert isinstance(delete.tag, FollowUpTag) and not delete.feedback
    assert tag.plate not in shared.pushed.live(40.0)  # a refund stops enforcement finding it
    assert gen.pending() == 0


def test_refused_push_has_no_followups(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {"update_share": 1.0, "delete_share": 1.0}, WHERE)
    push = gen.next_call(0, 0.0)
    gen.on_result(push, api_error(9006), {"ErrorCode": 9006}, 1.0)
    gen.on_result(gen.next_call(0, 0.0), OK, None, 1.0)  # undecodable answer: no reference id
    assert gen.pending() == 0 and len(gen.pushed) == 0


def test_followup_shares(ctx) -> None:  # type: ignore[no-untyped-def]
    gen = MeterTraffic(ctx, {}, WHERE)
    kinds: Counter[str] = Counter()
    for i in range(4000):
        tag = gen.next_call(0, float(i)).tag
        kinds["update"] += tag.update_delay is not None
        kinds["delete"] += tag.delete_delay is not None
        assert tag.update_delay is None or 2.0 <= tag.update_delay <= 20.0
    assert 0.27 < kinds["update"] / 4000 < 0.33
    assert 0.08 < kinds["delete"] / 4000 < 0.12


def test_share_of_pushes_stays_with_followups_due(ctx) -> None:  # type: ignore[no-untyped-def]
    """A due follow-up replaces a push: one call per next_call, never more."""
    gen = MeterTraffic(
        ctx, {"update_share": 1.0, "delete_share": 0.0, "followup_delay": "1s"}, WHERE
    )
    calls = []
    for i in range(100):
        call = gen.next_call(0, float(i))
        calls.append(call)
        if call.endpoint is PUSH:
            _answer(gen, call, f"r{i}", float(i))
    names = Counter(c.endpoint.name for c in calls)
    assert names["permit_push"] == 50 and names["permit_update"] == 50


def test_format_amount() -> None:
    assert format_amount(1450) == "14.50"
    assert format_amount(0) == "0.01"
    assert format_amount(10**12) == "999999.99"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"followup_delay": "x"},
            f"{WHERE} followup_delay: expected a range such as '2s..20s', got 'x'",
        ),
        ({"update_share": 2}, f"{WHERE} update_share: expected a number between 0 and 1, got 2"),
        (
            {"currency": ["EUR"]},
            f"{WHERE} currency: expected a list of currency codes (CAD, USD), got 'EUR'",
        ),
        (
            {"duration": "0s..1m"},
            f"{WHERE} duration: expected a range of positive durations such as '15m..3h', got '0s..1m'",
        ),
        ({"hourly_rate": 0}, f"{WHERE} hourly_rate: expected a number above 0, got 0"),
        ({"colour": "red"}, f"{WHERE} colour: unknown option"),
    ],
)
def test_config_errors_name_the_key(ctx, options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        MeterTraffic(ctx, options, WHERE)
    assert str(info.value).startswith(message)
