"""The reference controller's deterministic seed data, as plain values.

Both sides read it: the controller fills its database from it (``harness serve
--seed N``), and the traffic generators use it to know which plates have permits,
alarms or DNTT entries and which are unknown, without asking the target. It is a
pure function of the seed, so a load run against ``harness serve --seed 7`` can
predict every answer.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache

# (id, name, ext_info) as in the seeds' user-type sample.
USER_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "Full Time Student", "Student"),
    (6, "Demo", "Public"),
    (7, "Full Time Staff", "Staff"),
    (8, "Part Time Staff", "Staff"),
    (9, "Part Time Student", "Student"),
    (10, "Exchange Student", "Student"),
    (11, "Athletics Member", "Athletics"),
    (12, "Complimentary", "Public"),
    (13, "Daily Reserved", "Public"),
)

# (id, name, typeCode); 4 = Passenger as in the violations sample.
PLATE_TYPES: tuple[tuple[int, str, str], ...] = (
    (1, "Commercial", "commercial"),
    (2, "Motorcycle", "motorcycle"),
    (3, "Trailer", "trailer"),
    (4, "Passenger", "passenger"),
    (5, "Dealer", "dealer"),
    (6, "Diplomat", "diplomat"),
)

# (id, name, code, country); 9 = Ontario as in the violations sample. Country 1 = Canada.
PROVINCES: tuple[tuple[int, str, str, int], ...] = (
    (1, "Alberta", "AB", 1),
    (2, "British Columbia", "BC", 1),
    (3, "Manitoba", "MB", 1),
    (4, "New Brunswick", "NB", 1),
    (5, "Newfoundland and Labrador", "NL", 1),
    (6, "Nova Scotia", "NS", 1),
    (7, "Northwest Territories", "NT", 1),
    (8, "Nunavut", "NU", 1),
    (9, "Ontario", "ON", 1),
    (10, "Prince Edward Island", "PE", 1),
    (11, "Quebec", "QC", 1),
    (12, "Saskatchewan", "SK", 1),
    (13, "Yukon", "YT", 1),
    (60, "Massachusetts", "MA", 2),
    (61, "New York", "NY", 2),
    (62, "Michigan", "MI", 2),
    (63, "Vermont", "VT", 2),
    (64, "Maine", "ME", 2),
    (65, "Washington", "WA", 2),
    (66, "California", "CA", 2),
)

MAKES: tuple[tuple[int, str], ...] = (
    (8, "Kia"), (11, "Ford"), (12, "Toyota"), (13, "Chevrolet"), (14, "Honda"),
    (15, "Nissan"), (16, "Hyundai"), (17, "Volkswagen"), (18, "Subaru"), (19, "Mazda"),
)
COLOURS: tuple[tuple[int, str], ...] = (
    (10, "Black"), (11, "White"), (12, "Silver"), (13, "Blue"), (14, "Red"),
    (15, "Green"), (16, "Grey"), (17, "Yellow"),
)
VEHICLE_TYPES: tuple[tuple[int, str], ...] = (
    (1, "Sedan"), (2, "SUV"), (3, "Truck"), (4, "Van"), (5, "Compact"), (6, "Motorcycle"),
)

LOGIN_SOURCES: tuple[str, ...] = ("OPSCOM", "LDAP", "SAML")

# Standard permit short names, as in the plate-validation samples.
PERMIT_SHORT_NAMES: tuple[str, ...] = ("LOT3", "BIKE", "MOTO-S", "GOLD", "RES-A", "STAFF", "EVE")

ZONES: tuple[str, ...] = (
    "Lot 01", "Lot 02", "Lot 03", "Lot 04", "Lot 05", "Lot 06", "Red Lot",
    "Main Campus", "Street Parking", "Downtown Business District",
)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Disjoint plate populations and the counts of seeded rows.

    - ``permit_plates``: each holds one or two standard permits valid for years;
    - ``alarm_plates``: an alarm and no permit;
    - ``dntt_plates``: an active do-not-ticket-or-tow entry and no permit;
    - ``vehicle_plates``: registered vehicles (province Ontario) with nothing else,
      so vehicle_push of one of them answers 9012;
    - ``unknown_plates``: guaranteed absent from the database.
    """

    seed: int
    permit_plates: tuple[str, ...]
    alarm_plates: tuple[str, ...]
    dntt_plates: tuple[str, ...]
    vehicle_plates: tuple[str, ...]
    unknown_plates: tuple[str, ...]
    overdue_violations: int  # due in the past and not yet sent to collections
    pending_violations: int  # due in the future: never returned by overdue_violations
    seeded_emails: tuple[str, ...]  # existing users, so profile_push can meet 9019
    seeded_user_names: tuple[str, ...]  # and 9020

    @property
    def zones(self) -> tuple[str, ...]:
        return ZONES


def _plate(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.choice((3, 4))))
    digits = "".join(rng.choice(string.digits) for _ in range(3))
    return letters + digits


@lru_cache(maxsize=8)
def reference_data(seed: int = 1, scale: int = 1) -> ReferenceData:
    """The seed data for ``seed``; ``scale`` multiplies every population."""
    rng = random.Random(f"opscom-reference-{seed}")
    sizes = {"permit": 2000, "alarm": 100, "dntt": 100, "vehicle": 500, "unknown": 2000}
    seen: set[str] = set()
    pools: dict[str, list[str]] = {}
    for name, size in sizes.items():
        pool: list[str] = []
        while len(pool) < size * scale:
            plate = _plate(rng)
            if plate not in seen:
                seen.add(plate)
                pool.append(plate)
        pools[name] = pool
    users = 50 * scale
    return ReferenceData(
        seed=seed,
        permit_plates=tuple(pools["permit"]),
        alarm_plates=tuple(pools["alarm"]),
        dntt_plates=tuple(pools["dntt"]),
        vehicle_plates=tuple(pools["vehicle"]),
        unknown_plates=tuple(pools["unknown"]),
        overdue_violations=60 * scale,
        pending_violations=40 * scale,
        seeded_emails=tuple(f"seed.user{i}@example.edu" for i in range(users)),
        seeded_user_names=tuple(f"seeduser{i}" for i in range(users)),
    )
