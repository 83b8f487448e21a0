"""Fixtures of the traffic tests: a run context over the reference data of seed 1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.opscom.reference_data import reference_data
from harness.traffic.call import TrafficContext

WALL_START = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def make_ctx(**overrides: Any) -> TrafficContext:
    kw: dict[str, Any] = {
        "client": "OC_TOMA",
        "token": "main-token",
        "seed": 1,
        "worker": 0,
        "workers": 4,
        "run_id": "t1",
        "wall_start": WALL_START,
        "reference": reference_data(1),
        "restricted_token": "restricted-token",
    }
    kw.update(overrides)
    return TrafficContext(**kw)


@pytest.fixture
def ctx() -> TrafficContext:
    return make_ctx()


@pytest.fixture
def ctx_factory() -> Callable[..., TrafficContext]:
    return make_ctx
