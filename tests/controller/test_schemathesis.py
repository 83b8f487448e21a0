"""Property-based tests from the controller's own ``/openapi.json``, with every check.

Schemathesis reads the document a real ``harness serve`` serves on a loopback port
and, per operation, sends the schema's examples, its coverage cases (boundaries,
each constraint broken in turn, undeclared methods) and fuzzed positive and
negative cases, all as real HTTP requests, and applies all of its checks to every
answer. What a schema cannot say (credentials, rows that must exist, cross-field and
state rules) is in ``support/schemathesis_rules.py``.

Bounded and reproducible: a fixed number of fuzzed examples per operation,
derandomized generation, a per-example deadline and a timeout for the whole test
(about 15 s here, some 1,300 requests). The stateful checks (use_after_free,
ensure_resource_availability) are enabled too but have nothing to follow: the
document declares no links between operations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import settings
from support.api import Target
from support.schemathesis_rules import register

# Fuzzed examples per operation, on top of the coverage phase's own cases.
MAX_EXAMPLES = 25
# A request takes milliseconds; seconds only on a machine that is badly overloaded.
DEADLINE = timedelta(seconds=5)


@pytest.fixture
def fuzz_target(controller_factory: Callable[..., Target]) -> Target:
    """A controller of the test's own: the fuzzing creates users and vehicles and pushes
    permits, which must not disturb the session controller's seeded rows."""
    return controller_factory()


@pytest.fixture
def controller_schema(fuzz_target: Target) -> schemathesis.BaseSchema:
    """The document the target serves, with every check and the rules of schemathesis_rules."""
    config = schemathesis.Config.from_dict({
        "base-url": fuzz_target.url,
        "request-timeout": 10,
        # Generation slowed by a loaded CI machine is not the controller's fault; the
        # other health checks (a schema hard to satisfy) stay on.
        "suppress-health-check": ["too_slow"],
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        # Every check schemathesis has (max_response_time needs a limit, so it is left out).
        "checks": {"enabled": True},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    })
    schema = schemathesis.openapi.from_url(f"{fuzz_target.url}/openapi.json", config=config)
    register(schema, token=fuzz_target.token, client=fuzz_target.client)
    return schema


schema = schemathesis.pytest.from_fixture("controller_schema")


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(deadline=DEADLINE)
def test_the_controller_meets_its_own_openapi_document(case: schemathesis.Case, fuzz_target: Target) -> None:
    response = case.call_and_validate()
    # base-url is the target's; this keeps every generated request on loopback.
    assert urlsplit(response.request.url).hostname == "127.0.0.1"
