"""What each of the nine endpoints does once the caller is authorised.

``Handlers`` maps an endpoint name to a function ``body -> answer``: it validates
the body against the catalogue (``validation.py``), reads or writes the database
and returns the JSON document to send, or raises ``ApiError``. HTTP, credentials
and fault injection are ``app.py``'s and ``faults.py``'s business, so these
functions can be read as the API's semantics and nothing else.

Writes validate inside their ``BEGIN IMMEDIATE`` transaction, so an existence or
uniqueness rule cannot be invalidated between its check and the write, even by a
second controller sharing the file.
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from harness import __version__
from harness.controller.db import db_time, now_text, plate_key, write_transaction
from harness.controller.shapes import PLATE_QUERY, collections_records, plate_answer
from harness.controller.validation import Checked, EndpointValidator, NewName
from harness.opscom.endpoints import ENDPOINTS, GROWING_REFS

Answer = dict[str, Any]
Handler = Callable[[Mapping[str, Any]], Answer]

# REF tables (Field.ref) and how a name is looked up in each.
_REF_NAME_SQL: Final = {
    "plate_types": "SELECT id FROM plate_types WHERE name = ?1",
    "provinces": "SELECT id FROM provinces WHERE name = ?1 OR code = ?1",  # "Ontario" or "ON"
    "makes": "SELECT id FROM makes WHERE name = ?1",
    "vehicle_types": "SELECT id FROM vehicle_types WHERE name = ?1",
    "colours": "SELECT id FROM colours WHERE name = ?1",
}
_SUCCESS: Final = "success"


class DbRefs:
    """``validation.Refs`` over the catalogue tables (names compare case-insensitively)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def has_id(self, table: str, row_id: int) -> bool:
        if table not in _REF_NAME_SQL:  # only known table names are interpolated
            raise KeyError(table)
        return self._conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None

    def id_for_name(self, table: str, name: str) -> int | None:
        row = self._conn.execute(_REF_NAME_SQL[table], (name,)).fetchone()
        return None if row is None else row[0]

    def grows(self, table: str) -> bool:
        return table in GROWING_REFS


def _reference_answer(reference_id: str) -> Answer:
    return {"status": _SUCCESS, "reference_id": reference_id, "InternalReferenceID": reference_id}


class Handlers:
    """The nine endpoint functions over one database connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        refs = DbRefs(conn)
        for ep in ENDPOINTS.values():
            for f in ep.fields:
                if f.ref is not None and f.ref not in _REF_NAME_SQL:
                    raise ValueError(f"{ep.name}.{f.name}: no table for REF {f.ref!r}")
        v = {
            "permit_push": EndpointValidator(ENDPOINTS["permit_push"], refs=refs, rules={
                9005: lambda c: c.values["end"] <= c.values["start"],
                9022: self._duplicate_permit,
            }),
            "permit_update": EndpointValidator(ENDPOINTS["permit_update"], refs=refs, rules={
                9009: self._find_permit,
                9005: lambda c: "end" in c.values and c.values["end"] <= c.context["permit"][1],
            }),
            "permit_delete": EndpointValidator(ENDPOINTS["permit_delete"], refs=refs, rules={9009: self._find_permit}),
            "permit_stats": EndpointValidator(ENDPOINTS["permit_stats"], refs=refs),
            "vehicle_push": EndpointValidator(ENDPOINTS["vehicle_push"], refs=refs, rules={9012: self._vehicle_exists}),
            "user_types": EndpointValidator(ENDPOINTS["user_types"], refs=refs),
            "profile_push": EndpointValidator(
                ENDPOINTS["profile_push"], refs=refs,
                rules={9020: self._taken("user_name"), 9019: self._taken("email")},
                field_checks={"user_type_id": self._user_type_exists},
                creating=self._creating_user,
            ),
            "overdue_violations": EndpointValidator(ENDPOINTS["overdue_violations"], refs=refs),
            "plate_validate": EndpointValidator(ENDPOINTS["plate_validate"], refs=refs),
        }
        self._validators = v
        self._profile_columns = tuple(f.name for f in ENDPOINTS["profile_push"].fields)
        self.by_name: Mapping[str, Handler] = {
            "permit_push": self.permit_push,
            "permit_update": self.permit_update,
            "permit_delete": self.permit_delete,
            "permit_stats": self.permit_stats,
            "vehicle_push": self.vehicle_push,
            "user_types": self.user_types,
            "profile_push": self.profile_push,
            "overdue_violations": self.overdue_violations,
            "plate_validate": self.plate_validate,
        }
        assert set(self.by_name) == set(ENDPOINTS), "one handler per catalogue endpoint"

    # --- permits ------------------------------------------------------------------

    def _duplicate_permit(self, c: Checked) -> bool:
        ticket = c.values.get("ticket")
        if not ticket:
            return False
        row = self._conn.execute(
            'SELECT 1 FROM pushed_permits WHERE plate_key = ? AND ticket = ? AND deleted = 0 AND "end" > ?',
            (plate_key(c.values["plate"]), ticket, c.context["now"]),
        ).fetchone()
        return row is not None

    def _find_permit(self, c: Checked) -> bool:
        row = self._conn.execute(
            "SELECT reference_id, start FROM pushed_permits WHERE reference_id = ? AND deleted = 0",
            (c.values["reference_id"].strip(),),
        ).fetchone()
        if row is None:
            return True
        c.context["permit"] = (row[0], datetime.fromisoformat(row[1]))
        return False

    def _zone_name(self, zone: str) -> str:
        """A known zone under its catalogue spelling; an unknown one as sent ("disconnected")."""
        row = self._conn.execute("SELECT name FROM zones WHERE name = ?", (zone.strip(),)).fetchone()
        return zone if row is None else row[0]

    def permit_push(self, body: Mapping[str, Any]) -> Answer:
        now = now_text()
        with write_transaction(self._conn):
            v = self._validators["permit_push"].validate(body, {"now": now}).values
            reference_id = str(uuid.uuid4())
            zone = v.get("zone")
            self._conn.execute(
                'INSERT INTO pushed_permits (reference_id, plate, plate_key, start, "end", amount, currency,'
                " ticket, zone, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (reference_id, v["plate"], plate_key(v["plate"]), db_time(v["start"]), db_time(v["end"]),
                 v.get("amount"), v.get("currency"), v.get("ticket"),
                 None if zone is None else self._zone_name(zone), now, now),
            )
        return _reference_answer(reference_id)

    def permit_update(self, body: Mapping[str, Any]) -> Answer:
        now = now_text()
        with write_transaction(self._conn):
            c = self._validators["permit_update"].validate(body, {"now": now})
            reference_id = c.context["permit"][0]
            changes: dict[str, Any] = {}
            if "end" in c.values:
                changes['"end"'] = db_time(c.values["end"])
            if "plate" in c.values:
                changes["plate"] = c.values["plate"]
                changes["plate_key"] = plate_key(c.values["plate"])
            for name in ("amount", "currency"):
                if name in c.values:
                    changes[name] = c.values[name]
            changes["modified"] = now
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self._conn.execute(
                f"UPDATE pushed_permits SET {assignments} WHERE reference_id = ?",
                (*changes.values(), reference_id),
            )
        return _reference_answer(reference_id)

    def permit_delete(self, body: Mapping[str, Any]) -> Answer:
        now = now_text()
        with write_transaction(self._conn):
            c = self._validators["permit_delete"].validate(body, {"now": now})
            reference_id = c.context["permit"][0]
            self._conn.execute(
                "UPDATE pushed_permits SET deleted = 1, modified = ? WHERE reference_id = ?", (now, reference_id)
            )
        return _reference_answer(reference_id)

    def permit_stats(self, body: Mapping[str, Any]) -> Answer:
        v = self._validators["permit_stats"].validate(body).values
        wanted = {z.casefold() for z in v.get("zones", ())}
        rows = self._conn.execute(  # kept per zone by triggers (db.py): no scan of the permits
            "SELECT zone, total FROM pushed_permit_zones WHERE total > 0 ORDER BY 1"
        ).fetchall()
        # Filtered here rather than with IN (...): the list is as long as the caller likes.
        return {"data": [
            {"type": "temp", "zone": zone, "total": str(total)}
            for zone, total in rows
            if not wanted or zone.casefold() in wanted
        ]}

    # --- vehicles -----------------------------------------------------------------

    def _vehicle_exists(self, c: Checked) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM vehicles WHERE plate_key = ? AND prov_id = ?",
            (plate_key(c.values["plate"]), c.values["province"]),
        ).fetchone()
        return row is not None

    def _ref_id(self, table: str, value: int | NewName | None, now: str) -> int | None:
        if not isinstance(value, NewName):
            return value
        self._conn.execute(f"INSERT OR IGNORE INTO {table} (name, modified) VALUES (?, ?)", (value.name, now))
        return self._conn.execute(f"SELECT id FROM {table} WHERE name = ?", (value.name,)).fetchone()[0]

    def vehicle_push(self, body: Mapping[str, Any]) -> Answer:
        now = now_text()
        with write_transaction(self._conn):
            c = self._validators["vehicle_push"].validate(body, {"now": now})
            v = c.values
            cur = self._conn.execute(
                "INSERT INTO vehicles (plate, plate_key, plate_type_id, prov_id, make_id, type_id, colour_id,"
                " year, vin, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (v["plate"], plate_key(v["plate"]), v["plate_type"], v["province"],
                 self._ref_id("makes", v.get("make"), now), self._ref_id("vehicle_types", v.get("type"), now),
                 self._ref_id("colours", v.get("colour"), now), v.get("year"), v.get("vin"), now, now),
            )
        return {"status": _SUCCESS, "vehicle_id_id": str(cur.lastrowid), "warnings": c.warnings}

    # --- users --------------------------------------------------------------------

    def user_types(self, body: Mapping[str, Any]) -> Answer:
        self._validators["user_types"].validate(body)
        rows = self._conn.execute("SELECT id, type_name, ext_info FROM user_types ORDER BY id").fetchall()
        return {"status": _SUCCESS,
                "user_types": [{"id": str(i), "type_name": name, "ext_info": ext} for i, name, ext in rows]}

    def _user_id(self, c: Checked) -> int | None:
        """The id of the user this request's unique_id names (None: a new user), looked up once."""
        if "user_id" not in c.context:
            row = self._conn.execute("SELECT id FROM users WHERE unique_id = ?", (c.values["unique_id"],)).fetchone()
            c.context["user_id"] = None if row is None else row[0]
        return c.context["user_id"]

    def _creating_user(self, c: Checked) -> bool:
        return self._user_id(c) is None

    def _taken(self, column: str) -> Callable[[Checked], bool]:
        """A rule: ``column``'s value belongs to another user (case-insensitive)."""

        def broken(c: Checked) -> bool:
            value = c.values.get(column)
            if value is None:
                return False
            row = self._conn.execute(
                f"SELECT 1 FROM users WHERE {column} = ? AND id IS NOT ?", (value, self._user_id(c))
            ).fetchone()
            return row is not None

        return broken

    def _user_type_exists(self, value: int, c: Checked) -> bool:
        return self._conn.execute("SELECT 1 FROM user_types WHERE id = ?", (value,)).fetchone() is not None

    def profile_push(self, body: Mapping[str, Any]) -> Answer:
        now = now_text()
        with write_transaction(self._conn):
            c = self._validators["profile_push"].validate(body, {"now": now})
            values = {k: c.values[k] for k in self._profile_columns if k in c.values}
            user_id = self._user_id(c)
            if user_id is None:
                values.update(uuid=str(uuid.uuid4()), created=now, modified=now)
                columns = ", ".join(values)
                cur = self._conn.execute(
                    f"INSERT INTO users ({columns}) VALUES ({', '.join('?' * len(values))})", tuple(values.values())
                )
                user_id = cur.lastrowid
            else:
                values["modified"] = now
                assignments = ", ".join(f"{k} = ?" for k in values)
                self._conn.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*values.values(), user_id))
        return {"status": _SUCCESS, "reference_id": user_id}

    # --- violations ---------------------------------------------------------------

    def overdue_violations(self, body: Mapping[str, Any]) -> Answer:
        self._validators["overdue_violations"].validate(body)
        now = now_text()
        # Select, render and mark in one write transaction: a concurrent or repeated
        # call waits for the lock and then finds these rows already sent.
        with write_transaction(self._conn):
            ids = [r[0] for r in self._conn.execute(
                "SELECT id FROM violations WHERE sent_to_collections IS NULL AND due < ? ORDER BY due, id", (now,)
            )]
            records = collections_records(self._conn, ids)
            self._conn.execute(
                "UPDATE violations SET sent_to_collections = ? WHERE id IN (SELECT value FROM json_each(?))",
                (now, "[" + ",".join(map(str, ids)) + "]"),
            )
        return {"records": records,
                "state": {"version": f"harness-reference-{__version__}", "csrf_token": secrets.token_urlsafe(30)}}

    # --- plates -------------------------------------------------------------------

    def plate_validate(self, body: Mapping[str, Any]) -> Answer:
        plate = self._validators["plate_validate"].validate(body).values["plate"]
        rows = self._conn.execute(PLATE_QUERY, (plate_key(plate), now_text())).fetchall()
        return plate_answer(plate, rows)
