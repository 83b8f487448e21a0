"""Identifiers that are unique per run, per worker and per call.

Pushed vehicles, users and permit tickets must never collide with another run's,
another worker's, or the seeded data (a collision would answer 9012/9019/9020/9022
where none was meant). Each is built from a short *run tag*, the worker's index in
fixed width and a per-generator counter, so the encoding is injective within a run:

    run_tag("2026-11-23T1200-ab") -> "K3F9QZ2A"  (hashed: not short alphanumeric)
    run_tag("smoke1")             -> "SMOKE1"
"""

from __future__ import annotations

import hashlib
import string

_B36 = string.digits + string.ascii_uppercase


def base36(n: int) -> str:
    """``n`` in upper-case base 36: short, plate-friendly digits."""
    if n < 0:
        raise ValueError("base36 of a negative number")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def run_tag(run_id: str) -> str:
    """At most 10 upper-case alphanumerics naming the run. A run id that already is
    one is kept readable; any other is hashed (two ids differing only in case share a
    tag — run ids are generated, so that is not a practical concern)."""
    up = run_id.upper()
    if up.isascii() and up.isalnum() and len(up) <= 10:
        return up
    digest = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big")
    return base36(digest)[:8].rjust(8, "0")


def worker_code(worker: int) -> str:
    """The worker index as two base-36 digits (fixed width keeps ids injective)."""
    if not 0 <= worker < 36 * 36:
        raise ValueError(f"worker {worker}: ids support at most 1296 workers")
    return base36(worker).rjust(2, "0")
