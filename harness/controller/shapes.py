"""The JSON shapes answers take, copied key for key from the vendor's samples.

Two are large enough to live apart from the handlers:

- a collections record (``overdue_violations``): the violation with its vehicle
  (drivers, make, colour, type, plate type, province), location, details (each with
  its violation type), attachments and category, every key of the seeds' sample in
  the sample's order, columns the controller does not model filled with the
  sample's neutral values (null, 0);
- a plate-validation answer: the ``response`` text and ``responseJSON`` object,
  built exactly as the seeds' samples concatenate them.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

_ID_LIST = "(SELECT value FROM json_each(?))"  # one parameter for any number of ids


def api_time(db_value: str | None) -> str | None:
    """``2016-05-03 20:00:00`` -> ``2016-05-03T20:00:00.000000Z`` (the samples' form)."""
    return None if db_value is None else db_value.replace(" ", "T") + ".000000Z"


def _rows(conn: sqlite3.Connection, sql: str, ids: Iterable[int]) -> list[sqlite3.Row]:
    cur = conn.execute(sql.replace("(?ids)", _ID_LIST), (orjson.dumps(sorted(set(ids))).decode(),))
    cur.row_factory = sqlite3.Row
    return cur.fetchall()


def _by_id(rows: Iterable[sqlite3.Row], key: str = "id") -> dict[int, sqlite3.Row]:
    return {r[key]: r for r in rows}


def collections_records(conn: sqlite3.Connection, violation_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The full nested records of ``violation_ids``, in that order."""
    if not violation_ids:
        return []
    violations = _by_id(_rows(conn, "SELECT * FROM violations WHERE id IN (?ids)", violation_ids))
    vehicle_ids = {v["vehicle_id"] for v in violations.values()}
    vehicles = _by_id(_rows(conn, "SELECT v.*, (SELECT COUNT(*) FROM violations x WHERE x.vehicle_id = v.id)"
                                  " AS total_vio FROM vehicles v WHERE v.id IN (?ids)", vehicle_ids))
    drivers: dict[int, list[sqlite3.Row]] = {}
    for row in _rows(conn, "SELECT d.vehicle_id, u.* FROM vehicle_drivers d JOIN users u ON u.id = d.user_id"
                           " WHERE d.vehicle_id IN (?ids) ORDER BY d.vehicle_id, u.id", vehicle_ids):
        drivers.setdefault(row["vehicle_id"], []).append(row)
    catalogues = {
        table: _by_id(_rows(conn, f"SELECT * FROM {table} WHERE id IN (?ids)",
                            (v[column] for v in vehicles.values() if v[column] is not None)))
        for table, column in (("makes", "make_id"), ("colours", "colour_id"), ("vehicle_types", "type_id"),
                              ("plate_types", "plate_type_id"), ("provinces", "prov_id"))
    }
    provinces_by_code = {r[1].upper(): r[0] for r in conn.execute("SELECT id, code FROM provinces")}
    locations = _by_id(_rows(conn, "SELECT * FROM locations WHERE id IN (?ids)", (v["location_id"] for v in violations.values())))
    categories = _by_id(_rows(conn, "SELECT * FROM ticket_categories WHERE id IN (?ids)", (v["ticket_type"] for v in violations.values())))
    details: dict[int, list[sqlite3.Row]] = {}
    for row in _rows(conn, "SELECT d.*, t.descr, t.default_cost, t.discount_amount, t.discount_hours, t.category_id,"
                           " t.bylawcode, t.created AS type_created, t.modified AS type_modified"
                           " FROM violation_details d JOIN violation_types t ON t.id = d.violation_type_id"
                           " WHERE d.violation_id IN (?ids) ORDER BY d.id", violation_ids):
        details.setdefault(row["violation_id"], []).append(row)
    attachments: dict[int, list[sqlite3.Row]] = {}
    for row in _rows(conn, "SELECT * FROM attachments WHERE violation_id IN (?ids) ORDER BY id", violation_ids):
        attachments.setdefault(row["violation_id"], []).append(row)

    out = []
    for vid in violation_ids:
        v = violations[vid]
        vehicle = vehicles[v["vehicle_id"]]
        out.append(_violation(
            v,
            vehicle=_vehicle(vehicle, [_driver(u, vehicle["id"], provinces_by_code) for u in drivers.get(vehicle["id"], [])],
                             catalogues),
            location=_location(locations[v["location_id"]]),
            details=[_detail(d, v) for d in details.get(vid, [])],
            attachments=[_attachment(a, v) for a in attachments.get(vid, [])],
            category=_category(categories[v["ticket_type"]]),
        ))
    return out


def _violation(v: sqlite3.Row, **nested: Any) -> dict[str, Any]:
    return {
        "ViolationID": v["id"], "SemPermitID": 0, "Ticket": v["ticket"], "VehicleID": v["vehicle_id"],
        "Spoiled": 0, "TicketType": v["ticket_type"], "Issued": api_time(v["issued"]), "convNotice": None,
        "Due": api_time(v["due"]), "ViolationTypeID": -1, "Fine": v["fine"], "AdjustedFine": 0, "Towing": 0,
        "taxAmount": "0.0000", "Writer": v["writer"], "LocationID": v["location_id"], "Comment": None,
        "TicketAppeal": None, "appealType": 0, "appealFormat": None, "AccessAdminID": v["access_admin_id"],
        "ActionedPer": None, "Created": api_time(v["created"]), "AppealUserID": 0, "AppealProcessDate": None,
        "AppealAdminID": 0, "AppealComment": None, "AppealAdminComment": None, "AutoNotice": 2,
        "ProcessedByCollection": None,
        # As in the sample: the record shows the row as it was before this hand-over.
        "SentToCollections": api_time(v["sent_to_collections"]),
        "PrivateComments": None, "DriveAway": 0, "UUID": v["uuid"], "VioNotice": None, "latitude": None,
        "longitude": None, "Warning": None, "userid": None, "incidentID": None, "failToIdentify": None,
        "pin": None, "duplicate": None, "AdjustmentReason": None, "user": None,
        **nested,
    }


def _vehicle(v: sqlite3.Row, drivers: list[dict[str, Any]], catalogues: dict[str, dict[int, sqlite3.Row]]) -> dict[str, Any]:
    make = catalogues["makes"].get(v["make_id"])
    colour = catalogues["colours"].get(v["colour_id"])
    vtype = catalogues["vehicle_types"].get(v["type_id"])
    ptype = catalogues["plate_types"][v["plate_type_id"]]
    prov = catalogues["provinces"][v["prov_id"]]
    return {
        "VehicleID": v["id"], "Active": 1, "lastUpdate": api_time(v["modified"]), "Plate": v["plate"],
        "PlateTypeID": v["plate_type_id"], "ProvID": v["prov_id"], "MakeID": v["make_id"], "TypeID": v["type_id"],
        "ColourID": v["colour_id"], "Year": v["year"], "TotalVio": v["total_vio"], "TotalUnpaid": 0,
        "TotalWarning": 0, "created": api_time(v["created"]), "externallookupdate": None,
        "externallookupRequestID": None, "modified": api_time(v["modified"]), "vehicleAlert": None,
        "vin": v["vin"], "drivers": drivers,
        "make": make and {"MakeID": make["id"], "MakeName": make["name"], "modified": api_time(make["modified"])},
        "colour": colour and {"ColourID": colour["id"], "ColourName": colour["name"], "ColourKey": None,
                              "modified": api_time(colour["modified"])},
        "vehicle_type": vtype and {"TypeID": vtype["id"], "TypeName": vtype["name"], "modified": api_time(vtype["modified"])},
        "plate_type": {"TypeID": ptype["id"], "TypeName": ptype["name"], "modified": api_time(ptype["modified"]),
                       "typeCode": ptype["type_code"]},
        "province": {"ProvID": prov["id"], "ProvName": prov["name"], "Country": prov["country"],
                     "ProvCode": prov["code"], "modified": api_time(prov["modified"]), "payments": 1},
    }


def _driver(u: sqlite3.Row, vehicle_id: int, provinces: dict[str, int]) -> dict[str, Any]:
    def prov(code: str | None) -> int | None:
        return None if code is None else provinces.get(code.upper())

    user_uuid = u["uuid"]
    return {
        "UserID": u["id"], "enabled": None, "salutation": None, "firstName": u["first_name"], "middleName": None,
        "lastName": u["last_name"], "username": u["user_name"], "email": u["email"], "street": u["street"],
        "city": u["city"], "prov": prov(u["province"]), "postal": u["postal_code"], "street2": u["street2"],
        "city2": u["city2"], "prov2": prov(u["province2"]), "postal2": u["postal_code2"],
        "phonecell": u["phone_cell"], "status": 1, "UserTypeID": u["user_type_id"], "employNo": u["employ_no"],
        "deptNameID": None, "ePhone": u["employee_phone"], "staffFacultyFlag": 0, "studentNo": u["student_no"],
        "sPhone": u["student_phone"], "sPhone2": None, "lastUpdated": api_time(u["modified"]),
        "created": api_time(u["created"]), "privateComment": None, "publicComment": None,
        "DLNum": u["driver_licence_num"],
        "DOB": None if u["date_of_birth"] is None else f"{u['date_of_birth']}T00:00:00.000000Z",
        "StaffMailPermit": 0, "ExtendedID": None, "UserUUID": user_uuid, "CampusBox": None, "newEmail": None,
        "ReadOnlyUserID": None, "studentNo_int": None, "employNo_int": None, "StuCampusLocation": None,
        "EmpCampusLocation": None, "MailPermitTo": "Permanent Mailing Address", "isCloudAccount": None,
        "lastSelfUpdated": None, "emailConsent": None, "T2P_reminders": None, "reminderTime": None,
        "lockerUserTypeID": u["locker_user_type_id"],
        # Derived from the user's uuid, so they are stable without more columns.
        "encid": hashlib.md5(user_uuid.encode(), usedforsecurity=False).hexdigest().upper(),
        "preferredname": None, "plateAlert": 0, "peopleAlert": 0,
        "salt": str(uuid.uuid5(uuid.NAMESPACE_OID, user_uuid)), "forcePasswordChange": 1,
        "lastpasswordchange": None, "DLprov": prov(u["driver_licence_prov"]), "loginSource": u["login_source"],
        "company_id": None, "taxexemption": None, "company_manager": None, "receives_invoice": None,
        "account_number": None, "company_bill_recipient": None, "kais_employer": None, "kais_building": None,
        "kais_supervisor_name": None, "kais_supervisor_title": None, "register_token": None, "api_token": None,
        "modified": api_time(u["modified"]), "bambora_customer_code": None, "language": "en",
        "preferred_communication_method": None, "laravel_through_key": vehicle_id,
    }


def _location(loc: sqlite3.Row) -> dict[str, Any]:
    return {"LocationID": loc["id"], "LocationName": loc["name"], "WriterVisible": loc["writer_visible"],
            "GisNo": loc["gis_no"], "modified": api_time(loc["modified"])}


def _detail(d: sqlite3.Row, v: sqlite3.Row) -> dict[str, Any]:
    discount = 1 if d["discount_amount"] else 0
    return {
        "ViolationsDetailID": d["id"], "ViolationID": v["id"], "Ticket": v["ticket"],
        "ViolationTypeID": d["violation_type_id"], "LocationID": v["location_id"], "offenceFine": d["offence_fine"],
        "discountFlag": discount, "discountAmount": d["discount_amount"], "discountHours": d["discount_hours"],
        "created": api_time(d["created"]),
        "type": {
            "ViolationTypeID": d["violation_type_id"], "ViolationDescr": d["descr"], "DefaultCost": d["default_cost"],
            "created": api_time(d["type_created"]), "discountFlag": bool(discount),
            "discountAmount": d["discount_amount"], "discountHours": d["discount_hours"], "adminOnly": False,
            "violationkey": None, "modified": api_time(d["type_modified"]), "category_id": d["category_id"],
            "adjustable": False, "bylawcode": d["bylawcode"],
        },
    }


def _attachment(a: sqlite3.Row, v: sqlite3.Row) -> dict[str, Any]:
    return {"attachID": a["id"], "storageLocation": a["storage_location"], "attachName": a["name"],
            "attachExt": a["ext"], "attachMime": a["mime"], "relatedType": "VIOLATIONS", "relatedID": v["id"],
            "relatedNote": v["ticket"], "created": api_time(a["created"]), "archived": None,
            "uniqueid": a["uniqueid"]}


def _category(c: sqlite3.Row) -> dict[str, Any]:
    return {"TicketTypeID": c["id"], "TicketTypeName": c["name"], "HandHeldVisible": c["handheld_visible"],
            "modified": api_time(c["modified"]), "archived": None, "appliesTo": c["applies_to"],
            "enableFailToIdentify": 0}


# --- plate validation -----------------------------------------------------------------

# One statement for the hot path: every row a plate has, tagged by kind and in the
# order the answer lists them. ?1 = plate key, ?2 = now.
PLATE_QUERY = """
SELECT 0 AS kind, id, short_name, expires, NULL, NULL FROM standard_permits
 WHERE plate_key = ?1 AND expires > ?2
UNION ALL
SELECT 1, id, COALESCE(NULLIF(zone, ''), 'TEMP'), "end", NULL, NULL FROM pushed_permits
 WHERE plate_key = ?1 AND deleted = 0 AND start <= ?2 AND "end" > ?2
UNION ALL
SELECT 2, 0, text, NULL, NULL, NULL FROM alarms WHERE plate_key = ?1
UNION ALL
SELECT 3, id, location, start, "end", notes FROM dntt
 WHERE plate_key = ?1 AND start <= ?2 AND "end" >= ?2
ORDER BY kind, id
"""
_PERMIT_TYPE = ("standard", "temp")


def plate_answer(plate: str, rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The plate service's success body for the rows ``PLATE_QUERY`` returned (keys
    in the samples' order: error, data {response, plate, responseJSON}, message)."""
    if not rows:
        return {"error": 0, "data": {"response": "", "plate": plate, "responseJSON": {}}, "message": ""}
    text: list[str] = []
    permits: list[dict[str, str]] = []
    dntt: list[dict[str, str]] = []
    alarm = None
    for kind, _id, a, b, c, d in rows:
        if kind <= 1:
            permits.append({"expires": b, "type": _PERMIT_TYPE[kind], "shortName": a})
            text.append(f"{_PERMIT_TYPE[kind]}: {a}\n Expires: {b}\n")
        elif kind == 2:
            alarm = a
        else:
            dntt.append({"notes": d, "start": b, "location": a, "end": c})
    if permits:
        text.append("\n")
    if alarm is not None:
        text.append(f"ALARM: {alarm}\n\n")
    for entry in dntt:
        text.append(f"DNTT: {entry['location']}\n{entry['start']}-{entry['end']} \n{entry['notes']}\n\n")
    # Key order and the DNTT extras ("permits": [] and "active": "1") follow the samples.
    result: dict[str, Any] = {}
    if permits or dntt:
        result["permits"] = permits
    if dntt:
        result["dntt"] = dntt
        result["active"] = "1"
    if alarm is not None:
        result["alarm"] = alarm
    return {"error": 0, "data": {"response": "".join(text), "plate": plate, "responseJSON": result}, "message": ""}
