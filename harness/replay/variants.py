"""Copies of a recorded call that do not collide: ``--rate-multiplier`` and ``--loop``.

Variant 0 is the recording as it was. Variant v > 0 (copy c of loop l is variant
``l * multiplier + c``) gets its own plates, e-mails, user names and unique ids,
derived from the recorded ones, so two copies of a vehicle push are two vehicles
(no 9012), two copies of a new user two users (no 9019/9020), and each copy's
permits are its own. The mapping is a function of (value, variant): every call
of a copy sees the same plate for the same recorded plate, so a copy's pushes,
lookups and deletes stay consistent with each other; and it keeps each field
within its limit. Reference ids need no mapping: each copy's pushes get their own
from the target, and correlation is per variant.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from harness.traffic.ids import base36

# body key -> the field's maximum length (the strictest endpoint's, for plates)
_PLATE_KEYS: Final = {"plate": 25, "LicencePlate": 25}
_UNIQUE_KEYS: Final = {"user_name": 50, "unique_id": 50}
_EMAIL_MAX: Final = 100


def _hashed(value: str, variant: int, length: int) -> str:
    digest = hashlib.blake2b(f"{variant}\x00{value}".encode(), digest_size=12).digest()
    return base36(int.from_bytes(digest, "big"))[:length].upper().rjust(length, "0")


def plate(value: str, variant: int, limit: int = 25) -> str:
    """``ABC123`` -> ``1VABC123`` (variant 1): a prefix no recorded plate is likely
    to start with; a plate too long for it is hashed instead, same length."""
    mark = f"{base36(variant)}V"
    if len(value) + len(mark) <= limit:
        return mark + value
    return mark + _hashed(value, variant, max(len(value) - len(mark), 2))


def unique(value: str, variant: int, limit: int) -> str:
    suffix = f".v{base36(variant).lower()}"
    if len(value) + len(suffix) <= limit:
        return value + suffix
    return _hashed(value, variant, limit - len(suffix)).lower() + suffix


def email(value: str, variant: int) -> str:
    local, at, domain = value.rpartition("@")
    if not at:
        return unique(value, variant, _EMAIL_MAX)
    tagged = f"{local}+v{base36(variant).lower()}@{domain}"
    return tagged if len(tagged) <= _EMAIL_MAX else unique(value, variant, _EMAIL_MAX)


def apply(body: Any, variant: int) -> None:
    """Give a parsed request body variant ``variant``'s identities (in place)."""
    if variant == 0 or type(body) is not dict:
        return
    for key, value in body.items():
        if type(value) is not str or not value:
            continue
        limit = _PLATE_KEYS.get(key)
        if limit is not None:
            body[key] = plate(value, variant, limit)
        elif key == "email":
            body[key] = email(value, variant)
        else:
            limit = _UNIQUE_KEYS.get(key)
            if limit is not None:
                body[key] = unique(value, variant, limit)
