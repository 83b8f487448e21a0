"""The harness as a benchmark peer, driven through its library API (``harness.api``).

Each run happens in a fresh process (spawned, so no state carries from one run to
the next), pinned to the load core, which builds a plan with ``load_plan``, points
it at the target with ``external_target`` and runs it with ``run``: the same code
path as ``harness run``, without a command line to parse or a report to write. The
parent gets the summary's totals back over a pipe, and kills a run that outlives
its bound.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from typing import Any

from machine import LOAD_CORE, BenchError, Sample


def _run_in_child(conn: multiprocessing.connection.Connection, overrides: dict[str, Any]) -> None:
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    try:
        from harness.api import external_target, load_plan, run

        plan = load_plan(None, overrides)
        result = run(plan, external_target(plan, environ={"OPSCOM_API_TOKEN": "bench"}))
        s = result.summary
        conn.send(("ok", {"totals": s["totals"], "run": s["run"], "verdict": result.verdict,
                          "errors": result.errors}))
    except BaseException as exc:  # noqa: BLE001 - one line back to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def overrides_for(base: str, transport: str, duration: int, connections: int, rate: int | None) -> dict[str, Any]:
    """One process, plate validations only, closed model (``rate`` None: as many users
    as connections) or open model at ``rate``."""
    load: dict[str, Any] = {"load.rate": rate} if rate is not None else {"load.users": connections}
    return {
        "target.url": base,
        "target.client": "OC_TOMA",
        "mix": "enforcement=1",
        "load.connections": connections,
        "load.duration": f"{duration}s",
        "load.procs": 1,
        "load.transport": transport,
        **load,
    }


def run_harness(base: str, transport: str, duration: int, connections: int, rate: int | None = None) -> Sample:
    """One run; its achieved rate and the figures the report shows."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run_in_child, args=(child, overrides_for(base, transport, duration, connections, rate)))
    proc.start()
    child.close()
    try:
        if not parent.poll(duration + 90):
            raise BenchError(f"harness ({transport}) did not finish within {duration + 90} s")
        kind, payload = parent.recv()
    except EOFError:
        raise BenchError(f"harness ({transport}) exited with code {proc.exitcode} and no result") from None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    if kind != "ok":
        raise BenchError(f"harness ({transport}): {payload}")
    totals, info = payload["totals"], payload["run"]
    return Sample(
        float(totals["achieved_rps"]),
        totals["requests"],
        totals["errors"],
        {
            "intended_rate": info.get("intended_rate"),
            "duration_s": info.get("duration_s"),
            "elapsed_s": info.get("elapsed_s"),
            "late": totals.get("late"),
            "dropped": totals.get("dropped"),
            "unsent": totals.get("unsent"),
            "verdict": payload["verdict"],
        },
    )
