"""permit_stats' per-zone totals are kept by SQLite triggers (no scan per call):
they must equal a direct count after any mix of writes, and a database written
without them is recounted when opened."""

from __future__ import annotations

import random
from pathlib import Path

from harness.controller.db import close, connect

COUNT = "SELECT COALESCE(zone, ''), COUNT(*) FROM pushed_permits WHERE deleted = 0 GROUP BY 1 ORDER BY 1"
KEPT = "SELECT zone, total FROM pushed_permit_zones WHERE total > 0 ORDER BY 1"


def _push(conn, i: int, zone: str | None) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        'INSERT INTO pushed_permits (reference_id, plate, plate_key, start, "end", zone, created, modified)'
        " VALUES (?, ?, ?, '2026-01-01 00:00:00', '2026-01-01 01:00:00', ?, 'x', 'x')",
        (f"R{i}", f"P{i}", f"P{i}", zone))


def test_kept_totals_equal_a_direct_count_after_random_writes(tmp_path: Path) -> None:
    conn = connect(tmp_path / "c.db")
    rng = random.Random(7)
    zones = ["Lot 1", "Lot 2", "", None, "lot 1"]
    for i in range(400):
        _push(conn, i, rng.choice(zones))
        r = rng.randrange(i + 1)
        action = rng.random()
        if action < 0.2:
            conn.execute("UPDATE pushed_permits SET deleted = 1 WHERE reference_id = ?", (f"R{r}",))
        elif action < 0.3:
            conn.execute("UPDATE pushed_permits SET zone = ? WHERE reference_id = ?", (rng.choice(zones), f"R{r}"))
        elif action < 0.35:
            conn.execute("DELETE FROM pushed_permits WHERE reference_id = ?", (f"R{r}",))
    assert conn.execute(KEPT).fetchall() == conn.execute(COUNT).fetchall()
    assert len(conn.execute(COUNT).fetchall()) == 4  # "" and NULL together; zones differ by case


def test_a_database_without_the_kept_totals_is_recounted_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = connect(path)
    for i in range(5):
        _push(conn, i, "Lot 9")
    conn.execute("DELETE FROM pushed_permit_zones")  # as a file from before the triggers
    close(conn)
    again = connect(path)
    assert again.execute(KEPT).fetchall() == [("Lot 9", 5)]
