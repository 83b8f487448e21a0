"""overdue_violations: the seeds' full record shape, and exactly-once hand-over.

These tests use their own controllers: a pull changes state for good.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from support.api import Target
from support.overdue_sample import SAMPLE_RECORD, SAMPLE_STATE_KEYS

from harness.opscom.endpoints import ENDPOINTS
from harness.opscom.reference_data import reference_data

EP = ENDPOINTS["overdue_violations"]
CALLERS = 24
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000000Z$")


async def pull(session: aiohttp.ClientSession, target: Target) -> dict[str, Any]:
    async with session.post(target.url + EP.path_for(target.client), data=orjson.dumps({"apiToken": target.token}),
                            headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 200
        return orjson.loads(await resp.read())


async def pull_concurrently(targets: list[Target], callers: int = CALLERS) -> list[list[int]]:
    """``callers`` simultaneous pulls spread over ``targets``; each caller's ids."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        answers = await asyncio.gather(*(pull(session, targets[i % len(targets)]) for i in range(callers)))
    return [[r["ViolationID"] for r in a["records"]] for a in answers]


def assert_same_shape(ours: Any, sample: Any, where: str = "record") -> None:
    """Same keys in the same order; the same JSON type wherever both are not null."""
    if isinstance(sample, dict):
        assert isinstance(ours, dict), where
        assert list(ours) == list(sample), where
        for key in sample:
            assert_same_shape(ours[key], sample[key], f"{where}.{key}")
    elif isinstance(sample, list):
        assert isinstance(ours, list), where
        for i, item in enumerate(ours):
            assert_same_shape(item, sample[0], f"{where}[{i}]")
    elif sample is not None and ours is not None:
        assert type(ours) is type(sample), (where, ours, sample)
        if isinstance(sample, str) and _TIMESTAMP.match(sample):
            assert _TIMESTAMP.match(ours), (where, ours)


async def test_records_have_the_full_shape_of_the_seeds_sample(controller_factory: Any) -> None:
    target = controller_factory()
    async with aiohttp.ClientSession() as session:
        answer = await pull(session, target)
    assert list(answer) == ["records", "state"] and tuple(answer["state"]) == SAMPLE_STATE_KEYS
    records = answer["records"]
    assert len(records) == reference_data(1).overdue_violations
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    with_drivers = with_attachments = 0
    for record in records:
        assert_same_shape(record, SAMPLE_RECORD)
        assert record["Due"] < now and record["SentToCollections"] is None
        assert record["vehicle"]["VehicleID"] == record["VehicleID"]
        assert record["location"]["LocationID"] == record["LocationID"]
        assert record["category"]["TicketTypeID"] == record["TicketType"]
        assert record["details"] and all(d["ViolationID"] == record["ViolationID"] for d in record["details"])
        assert all(d["type"]["ViolationTypeID"] == d["ViolationTypeID"] for d in record["details"])
        assert record["Fine"] == sum(d["offenceFine"] for d in record["details"])
        assert all(a["relatedID"] == record["ViolationID"] for a in record["attachments"])
        vehicle = record["vehicle"]
        assert vehicle["province"]["ProvName"] == "Ontario" and vehicle["Plate"] in reference_data(1).vehicle_plates
        assert all(d["laravel_through_key"] == vehicle["VehicleID"] for d in vehicle["drivers"])
        with_drivers += bool(vehicle["drivers"])
        with_attachments += bool(record["attachments"])
    assert with_drivers == len(records) and with_attachments > 0
    # Deterministic from the seed: a second controller with seed 1 holds the same tickets.
    other = controller_factory()
    async with aiohttp.ClientSession() as session:
        again = await pull(session, other)
    assert [r["Ticket"] for r in again["records"]] == [r["Ticket"] for r in records]


async def test_concurrent_pulls_hand_each_violation_over_exactly_once(controller_factory: Any) -> None:
    target = controller_factory()
    per_caller = await pull_concurrently([target])
    ids = [i for batch in per_caller for i in batch]
    assert len(ids) == len(set(ids)) == reference_data(1).overdue_violations
    # Later pulls, concurrent or not, find nothing: pending violations are not due.
    assert all(batch == [] for batch in await pull_concurrently([target], 16))


async def test_two_controllers_on_one_database_share_the_hand_over(controller_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first = controller_factory(db=db)
    second = controller_factory(db=db)
    per_caller = await pull_concurrently([first, second], 32)
    ids = [i for batch in per_caller for i in batch]
    assert len(ids) == len(set(ids)) == reference_data(1).overdue_violations
    assert await pull_concurrently([second, first], 4) == [[], [], [], []]
