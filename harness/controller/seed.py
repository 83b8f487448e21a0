"""Fill a new database from ``reference_data(seed)``, deterministically.

The plate populations, user e-mails and violation counts come from
``harness.opscom.reference_data``, which traffic generators read too; everything
else (names, dates, drivers, attachments) is drawn here from a generator seeded
with the same number, so two controllers started with ``--seed 7`` hold the same
rows with the same ids. Dates are absolute, not relative to today: seeded
permits and DNTT entries run until the 2030s, overdue violations fell due
between 2016 and 2024, and pending ones fall due in 2099.

A database that was seeded already is left alone (a restart keeps its state);
one seeded with another seed is refused.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from harness.controller.db import DB_TIME, write_transaction
from harness.errors import ConfigError
from harness.opscom.reference_data import (
    COLOURS,
    MAKES,
    PERMIT_SHORT_NAMES,
    PLATE_TYPES,
    PROVINCES,
    USER_TYPES,
    VEHICLE_TYPES,
    ZONES,
    ReferenceData,
    reference_data,
)

ONTARIO = 9  # the seeds' sample vehicle, and every seeded vehicle_plates row
PASSENGER = 4
CATALOGUE_MODIFIED = "2020-10-15 20:13:11"

LOCATIONS: tuple[tuple[int, str], ...] = (
    (1, "Main Campus"), (2, "Lot 01"), (3, "Lot 02"), (4, "Red Lot"),
    (5, "Street Parking"), (6, "Downtown Business District"),
)
# (id, name, handheld_visible, applies_to)
TICKET_CATEGORIES: tuple[tuple[int, str, int, int], ...] = ((1, "Campus", 1, 1), (2, "Municipal", 0, 1))
# (id, description, default cost, discount amount, discount hours, category, bylaw code)
VIOLATION_TYPES: tuple[tuple[int, str, int, int, int, int, str], ...] = (
    (1, "No Valid Permit", 40, 10, 168, 1, "BL-11"),
    (2, "Expired Meter", 30, 5, 72, 2, "BL-12"),
    (3, "Fire Route", 100, 0, 0, 2, "BL-20"),
    (4, "Accessible Space Without Permit", 300, 0, 0, 2, "BL-31"),
    (5, "Parked Over Time Limit", 35, 10, 168, 2, "BL-44"),
    (9, "Parked in Loading Zone", 50, 10, 168, 1, "BL-78"),
)
ALARMS: tuple[str, ...] = (
    "Wanted to talk with.",
    "15-AS123 Lex Luthor (08 JUL 84) wanted by OPS.\r\n\r\n*** Violence / Weapons ***",
    "Reported stolen. Do not approach; call dispatch.",
    "Unpaid fines over limit: tow on sight.",
    "Plate reported lost by owner.",
)
DNTT_NOTES: tuple[str, ...] = (
    "CLEAR FOR ANY PAY AREA",
    "Hertz truck has permission to park overnight in lot 6. Rental for We-Move-It Services",
    "Contractor vehicle: roof repairs on the library.",
    "Visiting speaker, approved by the Dean's office.",
)
FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
LAST_NAMES = ("Tremblay", "Gagnon", "Roy", "Cote", "Bouchard", "Smith", "Brown", "Wilson", "Martin", "Lee")
CITIES = ("Ottawa", "Toronto", "Kingston", "Montreal", "Gatineau")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _time(moment: datetime) -> str:
    return moment.strftime(DB_TIME)


def seed_database(conn: sqlite3.Connection, seed: int) -> bool:
    """Seed ``conn`` unless it already is; True when rows were written."""
    data = reference_data(seed)
    rng = random.Random(f"opscom-controller-{seed}")
    # The check is inside the write transaction: two controllers starting on one
    # new file seed it once.
    with write_transaction(conn):
        row = conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
        if row is not None:
            if row[0] != str(seed):
                raise ConfigError(f"--seed: this --db was seeded with --seed {row[0]}, not {seed}")
            return False
        _catalogues(conn)
        user_ids = _users(conn, data, rng)
        vehicle_ids = _vehicles(conn, data, rng)
        _plates(conn, data, rng)
        _violations(conn, data, rng, vehicle_ids, user_ids)
        conn.execute("INSERT INTO meta (key, value) VALUES ('seed', ?)", (str(seed),))
    return True


def _catalogues(conn: sqlite3.Connection) -> None:
    m = CATALOGUE_MODIFIED
    conn.executemany("INSERT INTO zones (id, name) VALUES (?, ?)", enumerate(ZONES, start=1))
    conn.executemany("INSERT INTO user_types VALUES (?, ?, ?)", USER_TYPES)
    conn.executemany("INSERT INTO plate_types VALUES (?, ?, ?, ?)", [(*p, m) for p in PLATE_TYPES])
    conn.executemany("INSERT INTO provinces VALUES (?, ?, ?, ?, ?)", [(*p, m) for p in PROVINCES])
    for table, rows in (("makes", MAKES), ("vehicle_types", VEHICLE_TYPES), ("colours", COLOURS)):
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", [(*r, m) for r in rows])
    conn.executemany("INSERT INTO locations VALUES (?, ?, 1, 0, ?)", [(*loc, m) for loc in LOCATIONS])
    conn.executemany("INSERT INTO ticket_categories VALUES (?, ?, ?, ?, ?)", [(*c, m) for c in TICKET_CATEGORIES])
    conn.executemany("INSERT INTO violation_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*t, m, m) for t in VIOLATION_TYPES])


def _users(conn: sqlite3.Connection, data: ReferenceData, rng: random.Random) -> list[int]:
    rows = []
    for i, (email, user_name) in enumerate(zip(data.seeded_emails, data.seeded_user_names, strict=True)):
        created = _time(datetime(2020, 10, 15, 20, 12, 57) + timedelta(days=i))
        user_type = rng.choice(USER_TYPES)[0]
        rows.append((
            i + 1, f"seed-{i}", "OPSCOM", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), user_name, email,
            f"{rng.randint(1, 9999)} Main Street", rng.choice(CITIES), "ON", "K1A0B1", "613555" + f"{rng.randint(0, 9999):04d}",
            user_type, f"staff{rng.randint(10000, 99999)}", f"DL {rng.randint(10**8, 10**9 - 1)}",
            f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "ON",
            _uuid(rng), created, created,
        ))
    conn.executemany(
        "INSERT INTO users (id, unique_id, login_source, first_name, last_name, user_name, email, street, city,"
        " province, postal_code, phone_cell, user_type_id, employ_no, driver_licence_num, date_of_birth,"
        " driver_licence_prov, uuid, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return [r[0] for r in rows]


def _vehicles(conn: sqlite3.Connection, data: ReferenceData, rng: random.Random) -> list[int]:
    rows = []
    for i, plate in enumerate(data.vehicle_plates):
        created = _time(datetime(2020, 10, 15, 20, 13, 3) + timedelta(hours=i))
        vin = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(17)) if rng.random() < 0.5 else None
        rows.append((
            i + 1, plate, plate.upper(), PASSENGER if rng.random() < 0.8 else rng.choice(PLATE_TYPES)[0], ONTARIO,
            rng.choice(MAKES)[0], rng.choice(VEHICLE_TYPES)[0], rng.choice(COLOURS)[0],
            rng.randint(2000, 2023), vin, created, created,
        ))
    conn.executemany("INSERT INTO vehicles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return [r[0] for r in rows]


def _plates(conn: sqlite3.Connection, data: ReferenceData, rng: random.Random) -> None:
    permits = []
    for plate in data.permit_plates:
        for short_name in rng.sample(PERMIT_SHORT_NAMES, rng.choice((1, 1, 2))):
            permits.append((plate.upper(), short_name, f"{rng.randint(2030, 2035)}-04-30 23:59:59"))
    conn.executemany("INSERT INTO standard_permits (plate_key, short_name, expires) VALUES (?, ?, ?)", permits)
    conn.executemany(
        "INSERT INTO alarms (plate_key, text) VALUES (?, ?)",
        [(plate.upper(), rng.choice(ALARMS)) for plate in data.alarm_plates],
    )
    dntt = []
    for plate in data.dntt_plates:
        start = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 00:00:00"
        end = f"{rng.randint(2030, 2035)}-04-30 23:59:00"
        dntt.append((plate.upper(), rng.choice(ZONES), start, end, rng.choice(DNTT_NOTES)))
    conn.executemany("INSERT INTO dntt (plate_key, location, start, \"end\", notes) VALUES (?, ?, ?, ?, ?)", dntt)


def _violations(
    conn: sqlite3.Connection, data: ReferenceData, rng: random.Random,
    vehicle_ids: Sequence[int], user_ids: Sequence[int],
) -> None:
    violations, details, attachments, drivers = [], [], [], set()
    total = data.overdue_violations + data.pending_violations
    for i in range(total):
        vid = i + 1
        overdue = i < data.overdue_violations
        if overdue:
            issued = datetime(2016, 1, 4, 20) + timedelta(days=rng.randint(0, 8 * 365 - 60), minutes=rng.randint(0, 600))
            due = issued + timedelta(days=20)
        else:
            issued = datetime(2025, 1, 6, 9) + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 600))
            due = datetime(2099, issued.month, min(issued.day, 28), 20)
        vehicle = vehicle_ids[i % len(vehicle_ids)]
        for user in rng.sample(user_ids, rng.choice((1, 1, 2))):
            drivers.add((vehicle, user))
        types = rng.sample(VIOLATION_TYPES, rng.choice((1, 1, 2)))
        fine = sum(t[2] for t in types)
        ticket = f"1-{100000 + vid}"
        created = _time(issued + timedelta(minutes=7))
        violations.append((
            vid, ticket, vehicle, types[0][5], rng.choice(LOCATIONS)[0], _time(issued), _time(due),
            fine, rng.randint(1, 20), rng.randint(1, 10), _uuid(rng), created,
        ))
        for t in types:
            details.append((vid, t[0], t[2], created))
        for _ in range(rng.choice((0, 1, 1, 2))):
            name = f"index-{rng.getrandbits(32):08x}"
            day = issued + timedelta(days=1)
            attachments.append((
                vid, name, "png", "image/png",
                f"oc_tomahawk/VIOLATIONS/{day:%Y/%m/%d}/{name}.png", _uuid(rng), _time(day),
            ))
    conn.executemany("INSERT INTO vehicle_drivers VALUES (?, ?)", sorted(drivers))
    conn.executemany(
        "INSERT INTO violations (id, ticket, vehicle_id, ticket_type, location_id, issued, due, fine, writer,"
        " access_admin_id, uuid, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        violations,
    )
    conn.executemany(
        "INSERT INTO violation_details (violation_id, violation_type_id, offence_fine, created) VALUES (?, ?, ?, ?)",
        details,
    )
    conn.executemany(
        "INSERT INTO attachments (violation_id, name, ext, mime, storage_location, uniqueid, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        attachments,
    )
