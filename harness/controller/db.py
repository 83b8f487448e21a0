"""The controller's SQLite database: schema, connection settings, transactions.

One connection, used from the event loop's thread only. Every statement is an
indexed lookup or a small write that takes microseconds, which is cheaper than
handing it to a thread pool; and with a single connection the handlers, which
never await between their reads and writes, are serialised for free. Write
transactions still take the write lock up front (``BEGIN IMMEDIATE``), so two
controllers sharing one ``--db`` cannot interleave a read-then-write either.

WAL with ``synchronous=NORMAL``: a commit is an append to the log, not an fsync,
and a crash can lose the last commits but never corrupt the file.

Times are stored as UTC text ``YYYY-MM-DD HH:MM:SS``, which sorts and compares as
text, so "now" is one string parameter.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"
DB_TIME = "%Y-%m-%d %H:%M:%S"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Catalogues. makes, vehicle_types and colours grow when vehicle_push names a new one.
CREATE TABLE IF NOT EXISTS zones (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS user_types (id INTEGER PRIMARY KEY, type_name TEXT NOT NULL, ext_info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plate_types (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, type_code TEXT NOT NULL,
    modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS provinces (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    code TEXT NOT NULL COLLATE NOCASE, country INTEGER NOT NULL, modified TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS provinces_code ON provinces (code);
CREATE TABLE IF NOT EXISTS makes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vehicle_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS colours (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, modified TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    unique_id TEXT NOT NULL UNIQUE,
    login_source TEXT NOT NULL,
    first_name TEXT, last_name TEXT,
    user_name TEXT COLLATE NOCASE, email TEXT COLLATE NOCASE,
    street TEXT, city TEXT, province TEXT, postal_code TEXT,
    street2 TEXT, city2 TEXT, province2 TEXT, postal_code2 TEXT,
    phone_cell TEXT, user_type_id INTEGER, employ_no TEXT, employee_phone TEXT,
    student_no TEXT, student_phone TEXT, driver_licence_num TEXT, date_of_birth TEXT,
    locker_user_type_id INTEGER, driver_licence_prov TEXT,
    uuid TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS users_user_name ON users (user_name) WHERE user_name IS NOT NULL;

-- plate_key is the plate as looked up: trimmed, upper case.
CREATE TABLE IF NOT EXISTS vehicles (
    id INTEGER PRIMARY KEY, plate TEXT NOT NULL, plate_key TEXT NOT NULL,
    plate_type_id INTEGER NOT NULL REFERENCES plate_types (id),
    prov_id INTEGER NOT NULL REFERENCES provinces (id),
    make_id INTEGER REFERENCES makes (id), type_id INTEGER REFERENCES vehicle_types (id),
    colour_id INTEGER REFERENCES colours (id), year INTEGER, vin TEXT,
    created TEXT NOT NULL, modified TEXT NOT NULL,
    UNIQUE (plate_key, prov_id));
CREATE TABLE IF NOT EXISTS vehicle_drivers (
    vehicle_id INTEGER NOT NULL REFERENCES vehicles (id), user_id INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (vehicle_id, user_id));

-- Permits the seed gives (origin "standard") and permits pushed through the API
-- (shown as "temp") live apart: only pushed ones are updated, deleted and counted.
CREATE TABLE IF NOT EXISTS standard_permits (
    id INTEGER PRIMARY KEY, plate_key TEXT NOT NULL, short_name TEXT NOT NULL, expires TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS standard_permits_plate ON standard_permits (plate_key);
CREATE TABLE IF NOT EXISTS pushed_permits (
    id INTEGER PRIMARY KEY, reference_id TEXT NOT NULL UNIQUE,
    plate TEXT NOT NULL, plate_key TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL,
    amount TEXT, currency TEXT, ticket TEXT, zone TEXT,
    deleted INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, modified TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pushed_permits_plate ON pushed_permits (plate_key, ticket);
-- permit_stats' totals per zone, kept by triggers on every write to pushed_permits:
-- counting the table per call scans every permit ever pushed, which over a soak
-- (100,000 pushes in 10 minutes) makes the controller, not the code under test,
-- the bottleneck.
CREATE TABLE IF NOT EXISTS pushed_permit_zones (zone TEXT PRIMARY KEY, total INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS pushed_permit_zones_insert AFTER INSERT ON pushed_permits WHEN NEW.deleted = 0 BEGIN
    INSERT INTO pushed_permit_zones VALUES (COALESCE(NEW.zone, ''), 1)
        ON CONFLICT (zone) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER IF NOT EXISTS pushed_permit_zones_update AFTER UPDATE OF deleted, zone ON pushed_permits BEGIN
    UPDATE pushed_permit_zones SET total = total - 1 WHERE OLD.deleted = 0 AND zone = COALESCE(OLD.zone, '');
    INSERT INTO pushed_permit_zones SELECT COALESCE(NEW.zone, ''), 1 WHERE NEW.deleted = 0
        ON CONFLICT (zone) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER IF NOT EXISTS pushed_permit_zones_delete AFTER DELETE ON pushed_permits WHEN OLD.deleted = 0 BEGIN
    UPDATE pushed_permit_zones SET total = total - 1 WHERE zone = COALESCE(OLD.zone, '');
END;

CREATE TABLE IF NOT EXISTS alarms (plate_key TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dntt (
    id INTEGER PRIMARY KEY, plate_key TEXT NOT NULL, location TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL, notes TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dntt_plate ON dntt (plate_key);

-- Violations and what a collections record nests inside each.
CREATE TABLE IF NOT EXISTS locations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, writer_visible INTEGER NOT NULL,
    gis_no INTEGER NOT NULL, modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ticket_categories (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, handheld_visible INTEGER NOT NULL,
    applies_to INTEGER NOT NULL, modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS violation_types (
    id INTEGER PRIMARY KEY, descr TEXT NOT NULL, default_cost INTEGER NOT NULL,
    discount_amount INTEGER NOT NULL, discount_hours INTEGER NOT NULL,
    category_id INTEGER NOT NULL REFERENCES ticket_categories (id), bylawcode TEXT NOT NULL,
    created TEXT NOT NULL, modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS violations (
    id INTEGER PRIMARY KEY, ticket TEXT NOT NULL UNIQUE,
    vehicle_id INTEGER NOT NULL REFERENCES vehicles (id),
    ticket_type INTEGER NOT NULL REFERENCES ticket_categories (id),
    location_id INTEGER NOT NULL REFERENCES locations (id),
    issued TEXT NOT NULL, due TEXT NOT NULL, fine INTEGER NOT NULL,
    writer INTEGER NOT NULL, access_admin_id INTEGER NOT NULL, uuid TEXT NOT NULL,
    created TEXT NOT NULL,
    sent_to_collections TEXT);  -- NULL until overdue_violations hands it over
CREATE INDEX IF NOT EXISTS violations_unsent ON violations (due) WHERE sent_to_collections IS NULL;
CREATE TABLE IF NOT EXISTS violation_details (
    id INTEGER PRIMARY KEY, violation_id INTEGER NOT NULL REFERENCES violations (id),
    violation_type_id INTEGER NOT NULL REFERENCES violation_types (id),
    offence_fine INTEGER NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS violation_details_violation ON violation_details (violation_id);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY, violation_id INTEGER NOT NULL REFERENCES violations (id),
    name TEXT NOT NULL, ext TEXT NOT NULL, mime TEXT NOT NULL,
    storage_location TEXT NOT NULL, uniqueid TEXT NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_violation ON attachments (violation_id);
"""


def plate_key(plate: str) -> str:
    """How plates are compared: case-insensitive, surrounding blanks ignored."""
    return plate.strip().upper()


def db_time(moment: datetime) -> str:
    return moment.strftime(DB_TIME)


_now_cache: list[Any] = [-1, ""]  # [whole second, its text]


def now_text() -> str:
    """The current UTC time in the database's form, formatted once per second (the
    hot path asks per request)."""
    second = int(time.time())
    if second != _now_cache[0]:
        _now_cache[1] = time.strftime(DB_TIME, time.gmtime(second))
        _now_cache[0] = second
    return _now_cache[1]


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` with the schema applied."""
    # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE.
    # check_same_thread stays on: only the event loop's thread may use it.
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=256)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # A second controller on the same file waits for the lock instead of failing.
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        # Recounted once at open: a --db written before the triggers existed is right too.
        conn.executescript(
            "BEGIN IMMEDIATE; DELETE FROM pushed_permit_zones;"
            " INSERT INTO pushed_permit_zones SELECT COALESCE(zone, ''), COUNT(*) FROM pushed_permits"
            " WHERE deleted = 0 GROUP BY 1; COMMIT;"
        )
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises.

    Handlers that refuse a request after reading (a failed validation) leave the
    block normally: there is nothing to undo, and COMMIT of no writes is free."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def close(conn: sqlite3.Connection) -> None:
    """Checkpoint the WAL into the main file and close, so a copied ``--db`` is whole."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
