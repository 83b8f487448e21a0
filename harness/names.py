"""Request names: the key under which a call is measured.

A name is an OPSCOM endpoint (``plate_validate``) or whatever a source calls a
request that is not one (``GET /healthz`` from a recording, a Locust task's own
name). Each name gets a small integer, process-wide, so the hot path indexes a list
instead of hashing a string; the nine catalogue endpoints are registered first, in
catalogue order, so their numbers are ``Endpoint.index`` and never change.

Numbers are local to a process. Anything that crosses a process boundary (encoded
metrics, worker ticks) carries names, and the receiver registers them again.
"""

from __future__ import annotations

from harness.opscom.endpoints import ENDPOINT_LIST

_NUMBERS: dict[str, int] = {}
NAMES: list[str] = []  # number -> name


def name_number(name: str) -> int:
    """The number of ``name``, registering it on first sight."""
    number = _NUMBERS.get(name)
    if number is None:
        if not name:
            raise ValueError("a request name must not be empty")
        number = _NUMBERS[name] = len(NAMES)
        NAMES.append(name)
    return number


for _endpoint in ENDPOINT_LIST:
    assert name_number(_endpoint.name) == _endpoint.index, "catalogue endpoints come first"
CATALOGUE_SIZE = len(ENDPOINT_LIST)
