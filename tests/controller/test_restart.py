"""A controller restarted on the same --db keeps what it was told, and seeds nothing twice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.api import Api, fresh
from support.values import HOUR, at, valid_values

from harness.opscom.reference_data import reference_data

COUNTED = ("standard_permits", "users", "vehicles", "violations", "attachments", "makes")


def row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COUNTED}


def test_restart_keeps_state(controller_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "controller.db"
    first = controller_factory(db=db)
    api = Api(first)
    plate = fresh()
    ref = api.ok("permit_push", {"plate": plate, "start": at(-HOUR), "end": "2099-01-01T00:00:00"})["reference_id"]
    user = valid_values(api, "profile_push")
    user_id = api.ok("profile_push", user)["reference_id"]
    vehicle = valid_values(api, "vehicle_push")
    api.ok("vehicle_push", vehicle)
    pulled = api.ok("overdue_violations")["records"]
    assert len(pulled) == reference_data(1).overdue_violations
    api.close()
    assert first.process.stop() == 0
    before = row_counts(db)

    second = controller_factory(db=db)
    api = Api(second)
    permits = api.ok("plate_validate", {"plate": plate})["data"]["responseJSON"]["permits"]
    assert permits == [{"expires": "2099-01-01 00:00:00", "type": "temp", "shortName": "TEMP"}]
    assert api.ok("permit_update", {"reference_id": ref, "end": "2099-02-01T00:00:00"})["reference_id"] == ref
    assert api.ok("profile_push", {"unique_id": user["unique_id"], "login_source": "OPSCOM"})["reference_id"] == user_id
    assert api.call("profile_push", {**valid_values(api, "profile_push"), "email": user["email"]}).code == 9019
    assert api.call("vehicle_push", vehicle).code == 9012
    assert api.ok("overdue_violations")["records"] == []
    api.close()
    assert second.process.stop() == 0
    assert row_counts(db) == before


def test_a_database_seeded_with_another_seed_is_refused(controller_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "controller.db"
    assert controller_factory(db=db, seed=1).process.stop() == 0
    done = subprocess.run(
        [sys.executable, "-m", "harness", "serve", "--port", "0", "--db", str(db), "--seed", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["harness: error: --seed: this --db was seeded with --seed 1, not 2"]


def test_an_unusable_database_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database, " * 100)
    for db, why in ((tmp_path / "missing" / "c.db", "unable to open database file"),
                    (not_sqlite, "file is not a database")):
        done = subprocess.run([sys.executable, "-m", "harness", "serve", "--port", "0", "--db", str(db)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.splitlines() == [f"harness: error: --db: cannot use {db}: {why}"]
