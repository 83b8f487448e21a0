"""Load goes to loopback only, unless the user names the host.

Checked on the literal host of each base URL before any connection (and before any
name resolution): a typo'd or production host must never receive load because a
DNS entry happened to point somewhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from harness.errors import UnsafeTargetError
from harness.transport.base import Origin

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_targets(origins: Iterable[Origin], allowed: Iterable[str], *, scenario: str | None) -> None:
    """Raise UnsafeTargetError for the first origin that is neither loopback nor allowed."""
    allow = {h.strip("[]").lower() for h in allowed}
    for origin in origins:
        host = origin.host.lower()
        if is_loopback(host) or host in allow:
            continue
        where = f' or allow_hosts = ["{origin.host}"] in [target] of {scenario}' if scenario else ""
        raise UnsafeTargetError(
            f"refusing to send load to {origin.host} ({origin.url}): it is not loopback; "
            f"name it with --allow-host {origin.host}{where} if you mean it"
        )
