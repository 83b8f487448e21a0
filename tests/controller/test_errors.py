"""Every error code of every endpoint, and the order the checks run in.

The cases come from the catalogue (``tests/support/cases.py``); the coverage test
fails when ``Endpoint.codes`` gains a code no case provokes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
from support.api import Api, Reply
from support.cases import Case, catalogue_cases, codes_by_endpoint, run_case
from support.values import HOUR, VALID, at, field_of, valid_body, with_field

from harness.opscom.endpoints import ENDPOINT_LIST, ENDPOINTS, Endpoint, Service
from harness.opscom.errors import http_status_for, message_for
from harness.opscom.outcome import api_error, classify
from harness.opscom.reference_data import reference_data

CASES = catalogue_cases()


def assert_refused(reply: Reply, endpoint: Endpoint | str, code: int) -> None:
    ep = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
    assert reply.status == http_status_for(code), (reply.status, reply.raw[:200])
    assert reply.content_type.startswith("application/json")
    if ep.service is Service.PLATE:
        assert reply.json == {"error": code, "message": message_for(code), "data": None}
    else:
        assert reply.json == {"ErrorCode": code, "ErrorMessage": message_for(code)}
    assert classify(reply.status, reply.raw) is api_error(code)


def test_samples_name_every_catalogue_field() -> None:
    for ep in ENDPOINT_LIST:
        assert set(VALID[ep.name]) == {f.name for f in ep.fields}, ep.name


def test_every_code_of_every_endpoint_is_provoked_by_a_case() -> None:
    covered = codes_by_endpoint(CASES)
    for ep in ENDPOINT_LIST:
        assert ep.codes - covered[ep.name] == set(), f"{ep.name}: codes without a case"
        assert covered[ep.name] - ep.codes == set(), f"{ep.name}: cases claim codes the catalogue does not list"


@pytest.mark.parametrize("endpoint", [e.name for e in ENDPOINT_LIST if e.name != "overdue_violations"])
def test_the_valid_sample_body_succeeds(api: Api, endpoint: str) -> None:
    reply = api.post(api.path(endpoint), valid_body(api, endpoint))
    assert reply.status == 200 and reply.code == 0, reply.raw[:300]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_answers_its_code(api: Api, case: Case) -> None:
    assert_refused(run_case(api, case), case.endpoint, case.code)


# --- check order ------------------------------------------------------------------------


def _stage_requests(api: Api, ep: Endpoint) -> list[tuple[str, str, bytes, int]]:
    """(label, path, body, expected code): each request breaks two adjacent stages."""
    tf = ep.token_field
    plate = ep.service is Service.PLATE
    sub = ep.path.removeprefix("/api/{client}")
    no_client_path = ep.path if plate else "/api" + sub
    other_client_path = ep.path if plate else ep.path_for("OTHER_CLIENT")
    lacking = api.target.lacking[ep.permission]
    first_field_broken: dict[str, Any] = {}
    if ep.fields:
        first_field_broken = with_field({}, ep.fields[0], ep.fields[0].aliases[0], [1])
    client_other = {"client": "OTHER_CLIENT"} if plate else {}
    good_client = {"client": api.target.client} if plate else {}
    return [
        ("9003-before-9000", no_client_path, b"[not json", 9003),
        ("9000-before-9001", no_client_path, orjson.dumps({}), 9000),
        ("9001-before-9034", other_client_path, orjson.dumps({**client_other}), 9001),
        ("9034-before-9002", other_client_path, orjson.dumps({tf: lacking, **client_other}), 9034),
        ("9002-before-fields", api.path(ep), orjson.dumps({tf: lacking, **good_client, **first_field_broken}), 9002),
    ]


@pytest.mark.parametrize("endpoint", [e.name for e in ENDPOINT_LIST])
def test_credential_checks_run_in_order(api: Api, endpoint: str) -> None:
    ep = ENDPOINTS[endpoint]
    for label, path, raw, code in _stage_requests(api, ep):
        reply = api.post_raw(path, raw)
        assert reply.code == code, (label, reply.raw)
        assert_refused(reply, ep, code)


def _field_pairs() -> list[tuple[str, int, int]]:
    """(endpoint, i, j): break fields i < j together; field i must answer."""
    out = []
    for ep in ENDPOINT_LIST:
        n = len(ep.fields)
        pairs = {(i, i + 1) for i in range(n - 1)} | ({(0, n - 1)} if n > 2 else set())
        out += [(ep.name, i, j) for i, j in sorted(pairs)]
    return out


@pytest.mark.parametrize(("endpoint", "i", "j"), _field_pairs(), ids=lambda v: str(v))
def test_the_first_failing_field_in_catalogue_order_answers(api: Api, endpoint: str, i: int, j: int) -> None:
    ep = ENDPOINTS[endpoint]
    first, later = ep.fields[i], ep.fields[j]
    body = valid_body(api, endpoint)
    body = with_field(body, later, later.aliases[0], [1])
    body = with_field(body, first, first.aliases[0], [1])
    assert_refused(api.post(api.path(endpoint), body), ep, first.invalid_code)


def test_a_missing_field_before_a_malformed_one(api: Api) -> None:
    body = valid_body(api, "permit_push")
    body = with_field(body, field_of("permit_push", "plate"), None, None)
    body = with_field(body, field_of("permit_push", "start"), "startTime", "yesterday")
    assert_refused(api.post(api.path("permit_push"), body), "permit_push", 9006)


def test_rules_run_right_after_their_field(api: Api) -> None:
    # permit_push: end before start (rule after "end") beats a malformed amount.
    body = valid_body(api, "permit_push")
    body["endTime"] = at(-2 * HOUR)
    body["amount"] = "x"
    assert_refused(api.post(api.path("permit_push"), body), "permit_push", 9005)
    # ... but the duplicate rule runs after "zone", the last field: a malformed amount wins.
    body = valid_body(api, "permit_push")
    assert api.post(api.path("permit_push"), body).code == 0
    body["amount"] = "x"
    assert_refused(api.post(api.path("permit_push"), body), "permit_push", 9033)
    # permit_update: an unknown reference id (rule after reference_id) beats a bad end.
    body = valid_body(api, "permit_update")
    body["referenceid"] = "no-such-reference"
    body["endTime"] = "bad"
    assert_refused(api.post(api.path("permit_update"), body), "permit_update", 9009)
    # vehicle_push: a seeded vehicle (rule after vin) loses to a malformed year.
    seeded = reference_data(1).vehicle_plates[3]
    body = valid_body(api, "vehicle_push")
    body.update(plate=seeded, provID="9", year="20x1")
    assert_refused(api.post(api.path("vehicle_push"), body), "vehicle_push", 9033)
    body["year"] = "2011"
    assert_refused(api.post(api.path("vehicle_push"), body), "vehicle_push", 9012)
    # profile_push: a taken user name (rule after user_name) beats a missing e-mail,
    # and a missing first name (before user_name) beats the taken user name.
    body = valid_body(api, "profile_push")
    body["user_name"] = reference_data(1).seeded_user_names[2]
    del body["email"]
    assert_refused(api.post(api.path("profile_push"), body), "profile_push", 9020)
    del body["first_name"]
    assert_refused(api.post(api.path("profile_push"), body), "profile_push", 9017)


@pytest.mark.parametrize("client", ["oc-toma", "Oc_Toma"])
def test_client_codes_ignore_case_and_dash_or_underscore(api: Api, client: str) -> None:
    body = valid_body(api, "plate_validate")
    assert api.post(api.path("plate_validate"), {**body, "client": client}).code == 0
    assert api.post(api.path("permit_stats", client), valid_body(api, "permit_stats")).code == 0


@pytest.mark.parametrize("client", [" OC_TOMA", "OC_TOMA\n", "OC TOMA", "OC.TOMA", "ÖC_TOMA"])
def test_a_client_code_of_another_form_names_no_client(api: Api, client: str) -> None:
    # The OpenAPI document gives the form as ^[A-Za-z0-9_-]+$; nothing else is this client.
    body = valid_body(api, "plate_validate")
    assert_refused(api.post(api.path("plate_validate"), {**body, "client": client}), "plate_validate", 9034)
    path = api.path("permit_stats", quote(client, safe=""))
    assert_refused(api.post(path, valid_body(api, "permit_stats")), "permit_stats", 9034)
