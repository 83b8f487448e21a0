"""Small recordings made with the real writer, for the replay tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from harness.recording import Capture, RecordingWriter

T0 = time.time()
_DATE = "%Y-%m-%dT%H:%M:%S"


def _when(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime(_DATE)


def push_body(plate: str, ticket: str) -> dict[str, Any]:
    return {"apiToken": "recorded-token-abcdef", "plate": plate, "startTime": _when(-0.1), "endTime": _when(2),
            "permitNo": ticket}


def capture(t: float, endpoint_path: str, body: Any, outcome: str = "ok", doc: Any = None,
            client: str = "OC_TOMA") -> Capture:
    path = endpoint_path if endpoint_path.startswith("/api/v1") else f"/api/{client}/v1/{endpoint_path}"
    return Capture(started=T0 + t, method="POST", path=path, body=orjson.dumps(body), status=200,
                   outcome=outcome, doc=doc if doc is not None else {"status": "success"})


def chains(path: Path, n: int, *, gap: float = 0.02, followup: float = 0.005, plate_prefix: str = "CH",
           bad_push: set[int] | None = None) -> Path:
    """n permit pushes, each followed ``followup`` s later by an update and 2x later
    by a delete of the same permit (recorded reference ids are made up)."""
    with RecordingWriter(path, source="record") as w:
        captures = []
        for i in range(n):
            ref = f"recorded-ref-{i:04d}-0000-0000-000000000000"
            plate = ("X" * 30) if bad_push and i in bad_push else f"{plate_prefix}{i:04d}Q"
            t = i * gap
            captures.append(capture(t, "permits/push", push_body(plate, f"T-{plate_prefix}-{i}"), doc={
                "status": "success", "reference_id": ref, "InternalReferenceID": ref}))
            captures.append(capture(t + followup, "permits/update", {
                "apiToken": "recorded-token-abcdef", "referenceid": ref, "endTime": _when(3)},
                doc={"status": "success", "reference_id": ref}))
            captures.append(capture(t + 2 * followup, "permits/delete", {
                "apiToken": "recorded-token-abcdef", "reference_id": ref},
                doc={"status": "success", "reference_id": ref}))
        for c in sorted(captures, key=lambda c: c.started):
            w.write(c)
    return path


def identities(path: Path, n: int, tag: str) -> Path:
    """n vehicles and n new users, each unique within the recording."""
    with RecordingWriter(path, source="record") as w:
        for i in range(n):
            w.write(capture(i * 0.01, "vehicles/push", {
                "apiToken": "recorded-token-abcdef", "plate": f"V{tag}{i:03d}", "plateType": "Commercial",
                "prov": "ON"}, doc={"status": "success", "vehicle_id_id": str(100 + i)}))
            w.write(capture(i * 0.01 + 0.005, "profiles/push", {
                "apiToken": "recorded-token-abcdef", "unique_id": f"U{tag}{i}", "login_source": "OPSCOM",
                "email": f"user{tag}{i}@example.org", "first_name": "A", "last_name": "B",
                "user_name": f"user{tag}{i}"}, doc={"status": "success", "reference_id": 1000 + i}))
    return path
