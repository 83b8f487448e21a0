"""Shared fixtures: the reference controller, started once, over real loopback HTTP.

- ``controller``: a session-wide ``harness serve`` child (seed 1, client OC_TOMA)
  with a full-permission token and, per permission, a token lacking just that one.
  Tests that change global state irreversibly (pulling the overdue violations)
  use their own controller from ``controller_factory`` instead.
- ``api``: a keep-alive client of ``controller`` (``tests/support/api.py``).
- ``controller_factory(extra_args=..., db=..., seed=...)``: a fresh controller with
  special flags, stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support.api import Api, Target, token_entries, tokens_for_session

from harness.controller.process import start_controller_process

CLIENT = "OC_TOMA"


def _start(*, seed: int = 1, db: Path | None = None, extra_args: Sequence[str] = (),
           client: str = CLIENT) -> Target:
    full, lacking = tokens_for_session()
    proc = start_controller_process(
        tokens=token_entries(full, lacking), client=client, seed=seed, db=db, extra_args=extra_args,
        startup_timeout=60.0,
    )
    return Target(process=proc, client=client, token=full, lacking=lacking, seed=seed)


@pytest.fixture(scope="session")
def controller() -> Iterator[Target]:
    target = _start()
    try:
        yield target
    finally:
        assert target.process.stop() == 0, "the controller must exit 0 on SIGINT"


@pytest.fixture
def api(controller: Target) -> Iterator[Api]:
    client = Api(controller)
    try:
        yield client
    finally:
        client.close()


StartController = Callable[..., Target]


@pytest.fixture
def controller_factory() -> Iterator[StartController]:
    started: list[Target] = []

    def start(**kw: object) -> Target:
        target = _start(**kw)  # type: ignore[arg-type]
        started.append(target)
        return target

    try:
        yield start
    finally:
        for target in started:
            target.process.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
