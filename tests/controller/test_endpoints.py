"""What each endpoint does when the request is valid: answers and stored effects."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from support.api import Api, fresh
from support.values import HOUR, at, push_permit, valid_values

from harness.opscom.builders import Ref
from harness.opscom.reference_data import PERMIT_SHORT_NAMES, USER_TYPES, reference_data

REF = reference_data(1)


def validate(api: Api, plate: str) -> dict[str, Any]:
    answer = api.ok("plate_validate", {"plate": plate})
    assert answer["error"] == 0 and answer["message"] == ""
    assert list(answer) == ["error", "data", "message"]
    assert list(answer["data"]) == ["response", "plate", "responseJSON"]
    return answer["data"]


def expected_response(rj: dict[str, Any]) -> str:
    """The seeds' concatenation of ``response`` from ``responseJSON``."""
    text = "".join(f"{p['type']}: {p['shortName']}\n Expires: {p['expires']}\n" for p in rj.get("permits", []))
    if rj.get("permits"):
        text += "\n"
    if "alarm" in rj:
        text += f"ALARM: {rj['alarm']}\n\n"
    for d in rj.get("dntt", []):
        text += f"DNTT: {d['location']}\n{d['start']}-{d['end']} \n{d['notes']}\n\n"
    return text


# --- plate_validate ---------------------------------------------------------------------


def test_seeded_permit_plates_show_standard_permits(api: Api) -> None:
    for plate in REF.permit_plates[:20]:
        data = validate(api, plate)
        rj = data["responseJSON"]
        assert data["plate"] == plate and set(rj) == {"permits"}
        assert 1 <= len(rj["permits"]) <= 2
        for p in rj["permits"]:
            assert p["type"] == "standard" and p["shortName"] in PERMIT_SHORT_NAMES
            assert re.fullmatch(r"20[3-9]\d-04-30 23:59:59", p["expires"])
        assert data["response"] == expected_response(rj)


def test_alarm_dntt_and_unknown_plates(api: Api) -> None:
    alarm = validate(api, REF.alarm_plates[0])
    assert set(alarm["responseJSON"]) == {"alarm"}
    assert alarm["response"] == f"ALARM: {alarm['responseJSON']['alarm']}\n\n"

    dntt = validate(api, REF.dntt_plates[0])
    rj = dntt["responseJSON"]
    assert rj["permits"] == [] and rj["active"] == "1" and len(rj["dntt"]) == 1
    entry = rj["dntt"][0]
    assert list(entry) == ["notes", "start", "location", "end"]
    assert entry["start"] < at(timedelta()).replace("T", " ") < entry["end"]
    assert dntt["response"] == f"DNTT: {entry['location']}\n{entry['start']}-{entry['end']} \n{entry['notes']}\n\n"

    for plate in (REF.unknown_plates[0], REF.vehicle_plates[0]):
        assert validate(api, plate) == {"response": "", "plate": plate, "responseJSON": {}}


def test_plate_lookups_ignore_case(api: Api) -> None:
    plate = REF.permit_plates[5]
    upper, lower = validate(api, plate), validate(api, plate.lower())
    assert lower["plate"] == plate.lower()
    assert lower["responseJSON"] == upper["responseJSON"] and lower["responseJSON"]


def test_a_pushed_permit_validates_as_temp_while_it_runs(api: Api) -> None:
    plate = fresh()
    api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": "2099-01-01T00:00:00", "zone": "Lot 04"})
    data = validate(api, plate.lower())
    assert data["responseJSON"] == {"permits": [{"expires": "2099-01-01 00:00:00", "type": "temp", "shortName": "Lot 04"}]}
    assert data["response"] == "temp: Lot 04\n Expires: 2099-01-01 00:00:00\n\n"
    # No zone: the short name is TEMP. Not started yet, or ended: not shown.
    plate2 = fresh()
    api.ok("permit_push", {"plate": plate2, "start": at(-HOUR), "end": at(HOUR)})
    assert validate(api, plate2)["responseJSON"]["permits"][0]["shortName"] == "TEMP"
    later, ended = fresh(), fresh()
    api.ok("permit_push", {"plate": later, "start": at(HOUR), "end": at(2 * HOUR)})
    api.ok("permit_push", {"plate": ended, "start": at(-2 * HOUR), "end": at(-HOUR)})
    assert validate(api, later)["responseJSON"] == {} and validate(api, ended)["responseJSON"] == {}


def test_permits_alarm_and_dntt_merge_in_the_seeds_order(api: Api) -> None:
    plate = REF.dntt_plates[1]
    api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": "2099-02-03T04:05:06", "zone": "Red Lot"})
    data = validate(api, plate)
    rj = data["responseJSON"]
    assert list(rj) == ["permits", "dntt", "active"]
    assert rj["permits"] == [{"expires": "2099-02-03 04:05:06", "type": "temp", "shortName": "Red Lot"}]
    assert data["response"].startswith("temp: Red Lot\n Expires: 2099-02-03 04:05:06\n\nDNTT: ")
    assert data["response"] == expected_response(rj)

    plate = REF.alarm_plates[1]
    api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": "2099-02-03T04:05:06"})
    data = validate(api, plate)
    assert list(data["responseJSON"]) == ["permits", "alarm"]
    assert data["response"] == expected_response(data["responseJSON"])
    assert "\n\nALARM: " in data["response"]


# --- permits ----------------------------------------------------------------------------


def test_permit_push_answers_a_reference_id_under_both_names(api: Api) -> None:
    answer = api.ok("permit_push", valid_values(api, "permit_push"))
    assert set(answer) == {"status", "reference_id", "InternalReferenceID"} and answer["status"] == "success"
    assert answer["reference_id"] == answer["InternalReferenceID"]
    uuid.UUID(answer["reference_id"])


def test_permit_push_under_the_second_aliases_is_stored(api: Api) -> None:
    plate = fresh()
    api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": "2099-03-01T10:00:00", "amount": "1.00",
                           "currency": "USD", "ticket": fresh("T"), "zone": "Main Campus"}, alias=1)
    rj = validate(api, plate)["responseJSON"]
    assert rj == {"permits": [{"expires": "2099-03-01 10:00:00", "type": "temp", "shortName": "Main Campus"}]}


def test_the_same_ticket_may_be_reused_once_the_first_permit_is_gone(api: Api) -> None:
    plate, ticket = fresh(), fresh("T")
    values = {"plate": plate, "start": at(-HOUR), "end": at(HOUR), "ticket": ticket}
    ref = api.ok("permit_push", values)["reference_id"]
    assert api.call("permit_push", values).code == 9022
    assert api.call("permit_push", {**values, "plate": plate.lower()}).code == 9022
    api.ok("permit_push", {**values, "plate": fresh()})  # another plate, same ticket
    api.ok("permit_push", {k: v for k, v in values.items() if k != "ticket"})  # no ticket: no duplicate
    api.ok("permit_delete", {"reference_id": ref})
    api.ok("permit_push", values)


def test_permit_update_extends_and_moves_a_permit(api: Api) -> None:
    plate, new_plate = fresh(), fresh()
    for alias in (0, 1, 2):  # referenceid, referenceID, reference_id
        ref = push_permit(api, plate=plate)
        answer = api.ok("permit_update", {"reference_id": ref, "end": "2099-05-05T05:05:05"}, alias=alias)
        assert answer == {"status": "success", "reference_id": ref, "InternalReferenceID": ref}
        api.ok("permit_delete", {"reference_id": ref})
    ref = push_permit(api, plate=plate, zone="Lot 06")
    api.ok("permit_update", {"reference_id": ref, "end": "2099-06-06T06:06:06", "plate": new_plate,
                             "amount": "3.50", "currency": "CAD"})
    assert validate(api, plate)["responseJSON"] == {}
    assert validate(api, new_plate)["responseJSON"]["permits"] == [
        {"expires": "2099-06-06 06:06:06", "type": "temp", "shortName": "Lot 06"}]
    # Only the reference id: nothing changes, the id is echoed.
    assert api.ok("permit_update", {"reference_id": ref})["reference_id"] == ref


def test_permit_delete_hides_the_permit_and_frees_the_reference(api: Api) -> None:
    plate = fresh()
    ref = push_permit(api, plate=plate)
    assert validate(api, plate)["responseJSON"]["permits"]
    assert api.ok("permit_delete", {"reference_id": ref}, alias=1) == {
        "status": "success", "reference_id": ref, "InternalReferenceID": ref}
    assert validate(api, plate)["responseJSON"] == {}
    assert api.call("permit_update", {"reference_id": ref, "end": at(HOUR)}).code == 9009
    assert api.call("permit_delete", {"reference_id": ref}).code == 9009


def test_permit_stats_counts_live_pushed_permits_per_zone(api: Api) -> None:
    zone_a, zone_b = f"Zone {fresh()}", f"Zone {fresh()}"
    refs = [push_permit(api, zone=zone_a) for _ in range(3)] + [push_permit(api, zone=zone_b)]
    answer = api.ok("permit_stats", {"zones": f" {zone_a} ,{zone_b.lower()}, Nowhere "})
    assert answer == {"data": [{"type": "temp", "zone": zone_a, "total": "3"},
                               {"type": "temp", "zone": zone_b, "total": "1"}]}
    api.ok("permit_delete", {"reference_id": refs[0]})
    assert api.ok("permit_stats", {"zones": zone_a})["data"] == [{"type": "temp", "zone": zone_a, "total": "2"}]
    everything = api.ok("permit_stats", {})["data"]
    assert {"type": "temp", "zone": zone_b, "total": "1"} in everything
    assert all(isinstance(row["total"], str) for row in everything)
    assert api.ok("permit_stats", {"zones": "Nowhere At All"}) == {"data": []}
    api.ok("permit_delete", {"reference_id": refs[3]})  # a zone with none left is not listed
    assert api.ok("permit_stats", {"zones": zone_b})["data"] == []


def test_known_zones_are_counted_under_their_catalogue_spelling(api: Api) -> None:
    before = api.ok("permit_stats", {"zones": "Street Parking"})["data"]
    count = int(before[0]["total"]) if before else 0
    push_permit(api, zone="street parking")
    after = api.ok("permit_stats", {"zones": "STREET PARKING"})["data"]
    assert after == [{"type": "temp", "zone": "Street Parking", "total": str(count + 1)}]


# --- vehicles ---------------------------------------------------------------------------


def test_vehicle_push_creates_a_vehicle_once_per_plate_and_province(api: Api) -> None:
    values = valid_values(api, "vehicle_push")
    answer = api.ok("vehicle_push", values)
    assert answer["status"] == "success" and answer["warnings"] == []
    assert isinstance(answer["vehicle_id_id"], str) and int(answer["vehicle_id_id"]) > len(REF.vehicle_plates)
    assert api.call("vehicle_push", values).code == 9012
    assert api.call("vehicle_push", {**values, "province": Ref(60, "Massachusetts")}, alias=1).code == 9012
    other = api.ok("vehicle_push", {**values, "province": Ref(61, "NY")})
    assert int(other["vehicle_id_id"]) == int(answer["vehicle_id_id"]) + 1


def test_vehicle_push_by_names_creates_unknown_makes_and_truncates(api: Api) -> None:
    long_colour = "Iridescent " * 6  # 66 characters
    values = {"plate": fresh(), "plate_type": "passenger", "province": "Ontario", "make": f"Make {fresh()}",
              "type": "Commercial", "colour": long_colour, "year": 2021}
    answer = api.ok("vehicle_push", values)
    assert answer["warnings"] == ["The vehicle colour name was too long and has been truncated."]
    values.update(plate=fresh(), make=values["make"].upper(), type="x" * 51, colour="red")
    assert api.ok("vehicle_push", values)["warnings"] == [
        "The vehicle type name was too long and has been truncated."]


def test_seeded_vehicle_plates_are_taken_in_ontario_only(api: Api) -> None:
    plate = REF.vehicle_plates[10]
    base = {"plate": plate, "plate_type": Ref(4, "Passenger")}
    assert api.call("vehicle_push", {**base, "province": Ref(9, "Ontario")}).code == 9012
    assert api.call("vehicle_push", {**base, "province": "ontario"}).code == 9012
    api.ok("vehicle_push", {**base, "province": "QC"})


# --- users ------------------------------------------------------------------------------


def test_user_types_lists_the_reference_types(api: Api) -> None:
    assert api.ok("user_types") == {"status": "success", "user_types": [
        {"id": str(i), "type_name": name, "ext_info": ext} for i, name, ext in USER_TYPES]}


def test_profile_push_creates_then_updates_by_unique_id(api: Api) -> None:
    values = valid_values(api, "profile_push")
    created = api.ok("profile_push", values)
    assert set(created) == {"status", "reference_id"} and isinstance(created["reference_id"], int)
    user_id = created["reference_id"]
    # Update: only the keys are required; the user's own e-mail and name are not "taken".
    update = {"unique_id": values["unique_id"], "login_source": "LDAP", "city": "Elsewhere"}
    assert api.ok("profile_push", update)["reference_id"] == user_id
    assert api.ok("profile_push", {**update, "email": values["email"].upper(),
                                   "user_name": values["user_name"]})["reference_id"] == user_id
    # Sent empty on update, an on-create field still answers its code.
    assert api.call("profile_push", {**update, "first_name": ""}).code == 9017
    # Another user's e-mail or user name is taken, on update as on create.
    seeded_email, seeded_name = REF.seeded_emails[3], REF.seeded_user_names[3]
    assert api.call("profile_push", {**update, "email": seeded_email}).code == 9019
    assert api.call("profile_push", {**update, "user_name": seeded_name.upper()}).code == 9020
    other = valid_values(api, "profile_push")
    assert api.call("profile_push", {**other, "email": values["email"]}).code == 9019
    assert api.call("profile_push", {**other, "user_name": values["user_name"]}).code == 9020
    assert api.ok("profile_push", other)["reference_id"] > user_id


def test_profile_push_with_only_the_required_fields(api: Api) -> None:
    values = {"unique_id": fresh("U"), "login_source": "SAML", "first_name": "A", "last_name": "B",
              "email": f"{fresh().lower()}@example.org"}
    assert api.ok("profile_push", values)["status"] == "success"
