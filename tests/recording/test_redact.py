"""Redaction: no token in any line written, placeholders that say how the server
took the token, personal data masked consistently (masked e-mails stay unique)."""

from __future__ import annotations

from pathlib import Path

import orjson

from harness.recording import Capture, RecordingWriter, read_calls
from harness.recording.redact import REDACTED, Redactor

TOKEN = "secret-token-0123456789"
T0 = 1_800_000_000.0


def _profile(started: float, email: str, user: str, unique: str) -> Capture:
    body = orjson.dumps({"apiToken": TOKEN, "unique_id": unique, "login_source": "OPSCOM", "email": email,
                         "first_name": "Jane", "last_name": "Doe", "user_name": user, "phone_cell": "(555) 010-9999",
                         "date_of_birth": "1990-02-03", "driver_licence_num": "D1234-56789", "city": "Toronto"})
    return Capture(started=started, method="POST", path="/api/OC_TOMA/v1/profiles/push", body=body, status=200,
                   answer=b'{"status":"success","reference_id":44}')


def test_no_token_anywhere_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.zst"
    with RecordingWriter(path, source="record") as w:
        w.write(_profile(T0, "a@x.org", "alice", "S1"))
        # The token where it belongs, in headers, in a query, in a text body, pasted into a wrong field.
        w.write(Capture(started=T0 + 1, method="POST", path="/api/OC_TOMA/v1/permits/push",
                        headers=[("Authorization", f"Bearer {TOKEN}"), ("Cookie", f"s={TOKEN}"),
                                 ("X-Api-Key", TOKEN), ("User-Agent", "meter/2")],
                        body=orjson.dumps({"apiToken": TOKEN, "plate": TOKEN, "zone": f"z {TOKEN}"}),
                        status=200, answer=b'{"status":"success","reference_id":"r-1"}'))
        w.write(Capture(started=T0 + 2, method="GET", path="/other", query=f"api_token={TOKEN}&q=1",
                        body=f"token is {TOKEN}".encode(), status=200, answer=b"x"))
        w.write(Capture(started=T0 + 3, method="POST", path="/api/v1/validate/plate",
                        body=orjson.dumps({"api_token": TOKEN, "client": "OC_TOMA", "plate": "AB1"}),
                        status=200, answer=b'{"error":0}'))
    import zstandard

    text = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read()
    assert TOKEN.encode() not in text and b"secret-token" not in text
    calls = list(read_calls(path))
    assert calls[1].headers == [["authorization", REDACTED], ["cookie", REDACTED], ["x-api-key", REDACTED],
                                ["user-agent", "meter/2"]]
    assert calls[1].body["apiToken"] == "<token>" and calls[1].body["plate"] == REDACTED
    assert calls[2].query == f"api_token={REDACTED}&q=1"
    assert calls[3].body["api_token"] == "<token>"


def test_placeholders_say_how_the_server_took_the_token(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        for i, answer in enumerate((b'{"ErrorCode":9034}', b'{"ErrorCode":9002}', b'{"ErrorCode":9006}')):
            w.write(Capture(started=T0 + i, method="POST", path="/api/OC_TOMA/v1/permits/stats",
                            body=orjson.dumps({"apiToken": f"{TOKEN}-{i}"}), status=401, answer=answer))
    tokens = [c.body["apiToken"] for c in read_calls(path)]
    assert tokens == ["<rejected-token>", "<restricted-token>", "<token>"]


def test_personal_data_is_masked_consistently_and_stays_unique(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, source="record") as w:
        w.write(_profile(T0, "Jane.Doe@uni.ca", "jdoe", "S1"))
        w.write(_profile(T0 + 1, "jane.doe@uni.ca", "jdoe", "S1"))  # an update of the same user
        w.write(_profile(T0 + 2, "john@uni.ca", "jsmith", "S2"))
    a, b, c = (call.body for call in read_calls(path))
    assert a["email"] == b["email"] != c["email"]
    assert a["user_name"] == b["user_name"] != c["user_name"]
    assert a["unique_id"] == b["unique_id"] != c["unique_id"]
    for body in (a, b, c):
        assert body["email"].endswith("@masked.invalid") and "doe" not in body["email"].lower()
        assert body["first_name"] != "Jane" and body["last_name"] != "Doe"
        assert body["phone_cell"][0] == "(" and body["phone_cell"] != "(555) 010-9999"
        assert len(body["phone_cell"]) == len("(555) 010-9999")
        assert body["date_of_birth"] != "1990-02-03" and len(body["date_of_birth"]) == 10
        assert body["driver_licence_num"][0].isalpha() and body["driver_licence_num"][5] == "-"
        assert body["city"] == "Toronto"  # not personal on its own


def test_masks_differ_between_recordings() -> None:
    one, two = Redactor(), Redactor()
    body = {"unique_id": "S1", "login_source": "OPSCOM", "email": "a@b.c"}
    assert one.body(dict(body), "ok", "profile_push")["email"] != two.body(dict(body), "ok", "profile_push")["email"]


def test_the_none_profile_keeps_personal_data_but_never_tokens() -> None:
    body = Redactor("none").body({"apiToken": TOKEN, "email": "a@b.c"}, "ok", "profile_push")
    assert body == {"apiToken": "<token>", "email": "a@b.c"}
