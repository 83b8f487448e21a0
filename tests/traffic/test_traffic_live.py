"""The generators against the real reference controller, over HTTP.

Every invalid recipe (the sequenced ones driven through ``on_result``) must get
exactly the code it expects; meters' push -> update -> delete chains must succeed
and a pushed plate must validate with a ``temp`` permit; integrations and
enforcement traffic must be answered ``ok``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from harness.opscom.outcome import OK, Outcome, decode_and_classify
from harness.opscom.reference_data import reference_data
from harness.traffic.call import Call, TrafficContext, TrafficSource
from harness.traffic.enforcement import EnforcementTraffic
from harness.traffic.integrations import IntegrationTraffic
from harness.traffic.invalid import InvalidTraffic
from harness.traffic.meters import MeterTraffic
from harness.traffic.mix import build_source
from harness.traffic.shared import Shared

process = pytest.importorskip(
    "harness.controller.process", reason="the reference controller is not there yet"
)

TOKEN = "traffic-main-token"
RESTRICTED = "traffic-restricted-token"
WHERE = "live"


@pytest.fixture(scope="module")
def controller_url() -> Iterator[str]:
    with process.start_controller_process(
        tokens=[TOKEN, f"{RESTRICTED}:plate-validate"], seed=1
    ) as ctl:
        yield ctl.url


class Http:
    """A session and the controller's base URL: paths are sent exactly as written
    (the 9000 recipe's "%20" must reach the server so)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def send(self, call: Call) -> tuple[Outcome, Any, int]:
        url = URL(self.base + call.path, encoded=True)
        headers = {"Content-Type": "application/json"}
        async with self.session.post(url, data=call.body, headers=headers) as resp:
            raw = await resp.read()
            outcome, doc = decode_and_classify(resp.status, raw)
            return outcome, doc, resp.status


@pytest.fixture
async def http(controller_url: str) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(session, controller_url)


def live_ctx(run_id: str, worker: int = 0) -> TrafficContext:
    # Permits are checked against the controller's clock. The tests step run time
    # faster than the clock, so t=0 is a few minutes ago: pushed permits have begun.
    return TrafficContext(
        client="OC_TOMA",
        token=TOKEN,
        seed=1,
        worker=worker,
        workers=2,
        run_id=run_id,
        wall_start=datetime.now(UTC) - timedelta(minutes=5),
        reference=reference_data(1),
        restricted_token=RESTRICTED,
    )


async def exchange(
    http: Http, source: TrafficSource, call: Call, now: float = 0.0
) -> tuple[Outcome, Any]:
    """Send ``call`` and, as the engine does, hand its answer back if it asked."""
    outcome, doc, _ = await http.send(call)
    if call.feedback:
        source.on_result(call, outcome, doc, now)
    return outcome, doc


async def test_every_invalid_recipe_gets_its_code(http: Http) -> None:
    gen = InvalidTraffic(live_ctx("inv1"), {}, WHERE)
    wrong: list[str] = []
    for recipe in gen.recipes:
        call = gen.start(recipe)
        while call.expect is OK:  # setup calls: their success releases the invalid call
            outcome, doc = await exchange(http, gen, call)
            assert outcome is OK, f"{recipe}: setup {call} answered {outcome} {doc}"
            call = gen.take_ready() or gen.start(recipe)
        outcome, doc, status = await http.send(call)
        if outcome is not call.expect:
            wrong.append(
                f"{recipe}: got {outcome.key} (HTTP {status}) {doc} for {call.path} {call.body[:200]!r}"
            )
    assert not wrong, "\n".join(wrong)


async def test_invalid_generator_run_keeps_its_contract(http: Http) -> None:
    """next_call as the engine would use it, answers fed back: every call answers
    what it expects."""
    gen = InvalidTraffic(live_ctx("inv2"), {}, WHERE)
    got: Counter[str] = Counter()
    for i in range(600):
        call = gen.next_call(0, i * 0.01)
        outcome, doc = await exchange(http, gen, call, i * 0.01)
        assert outcome is call.expect, f"{call.tag}: {outcome} {doc}"
        got[outcome.key] += 1
    assert len(got) > 20


async def test_meter_chains_and_pushed_plates_validate(http: Http) -> None:
    shared = Shared()
    ctx = live_ctx("met1")
    meters = MeterTraffic(
        ctx,
        {"update_share": 0.6, "delete_share": 0.4, "followup_delay": "0s..1s"},
        WHERE,
        shared=shared,
    )
    enforcement = EnforcementTraffic(
        ctx,
        {"weights": {"permit": 0, "unknown": 0, "alarm": 0, "dntt": 0, "pushed": 1}},
        WHERE,
        shared=shared,
    )
    seen: Counter[str] = Counter()
    now = 0.0
    for _ in range(150):
        now += 0.05
        call = meters.next_call(0, now)
        outcome, doc = await exchange(http, meters, call, now)
        assert outcome is OK, f"{call} {call.body!r}: {outcome} {doc}"
        seen[call.endpoint.name] += 1
    # Drain the follow-ups still due.
    while meters.pending():
        now += 1.0
        call = meters.next_call(0, now)
        outcome, doc = await exchange(http, meters, call, now)
        assert outcome is OK, f"{call} {call.body!r}: {outcome} {doc}"
        seen[call.endpoint.name] += 1
    assert seen["permit_update"] > 10 and seen["permit_delete"] > 10
    # Plates whose permits are live validate with a temp permit.
    live = set(shared.pushed.live(now))
    assert live
    checked = 0
    for _ in range(200):
        call = enforcement.next_call(0, now)
        outcome, doc = await exchange(http, enforcement, call, now)
        assert outcome is OK
        if doc["data"]["plate"] in live:
            checked += 1
            permits = doc["data"]["responseJSON"].get("permits")
            assert permits, doc
            assert [p["type"] for p in permits] == ["temp"], doc
    assert checked > 100


async def test_integrations_are_answered_ok(http: Http) -> None:
    gen = IntegrationTraffic(
        live_ctx("int1"), {"weights": {"overdue_violations": 0.05}, "update_share": 0.4}, WHERE
    )
    seen: Counter[str] = Counter()
    for i in range(400):
        call = gen.next_call(0, float(i))
        outcome, doc = await exchange(http, gen, call, float(i))
        assert outcome is OK, f"{call} {call.body!r}: {outcome} {doc}"
        seen[call.endpoint.name] += 1
    assert set(seen) == {
        "profile_push",
        "vehicle_push",
        "permit_stats",
        "user_types",
        "overdue_violations",
    }


async def test_workers_do_not_collide(http: Http) -> None:
    """Two workers of one run push vehicles, users and permits: no duplicate errors."""
    for worker in (0, 1):
        src = build_source(
            live_ctx("wrk1", worker), {"integrations": 0.5, "meters": 0.5}, {}, WHERE
        )
        for i in range(200):
            call = src.next_call(0, float(i))
            outcome, doc = await exchange(http, src, call, float(i))
            assert outcome is OK, f"worker {worker}: {call} {call.body!r}: {outcome} {doc}"


async def test_enforcement_populations_answer_as_the_reference_says(http: Http) -> None:
    ref = reference_data(1)
    gen = EnforcementTraffic(live_ctx("enf1"), {}, WHERE)
    kinds = {
        **dict.fromkeys(ref.permit_plates, "permit"),
        **dict.fromkeys(ref.unknown_plates, "unknown"),
        **dict.fromkeys(ref.alarm_plates, "alarm"),
        **dict.fromkeys(ref.dntt_plates, "dntt"),
    }
    for _ in range(300):
        outcome, doc = await exchange(http, gen, gen.next_call(0, 0.0))
        assert outcome is OK
        data = doc["data"]["responseJSON"]
        kind = kinds[doc["data"]["plate"]]
        if kind == "unknown":
            assert data == {}
        elif kind == "permit":
            assert data["permits"]
        else:
            assert data.get(kind if kind == "alarm" else "dntt")


async def test_long_colour_names_are_truncated_with_a_warning(http: Http) -> None:
    options = {
        "weights": {"profile_push": 0, "permit_stats": 0, "user_types": 0, "overdue_violations": 0},
        "long_name_share": 1.0,
    }
    gen = IntegrationTraffic(live_ctx("int2"), options, WHERE)
    warned = 0
    for i in range(60):
        outcome, doc = await exchange(http, gen, gen.next_call(0, float(i)))
        assert outcome is OK, doc
        warned += bool(doc.get("warnings"))
    assert warned > 5
