"""Two tabs beside Locust's own, and their JSON endpoint.

- **OPSCOM latency (HDR)**: per endpoint, requests, errors and p50 / p90 / p95 / p99 /
  p99.9 / max in milliseconds from the harness's HDR histograms (corrected for
  coordinated omission where the users pace), instead of Locust's rounded buckets.
- **OPSCOM answers**: per endpoint, each answer (ok, ``9006 Plate is a required
  field``, ``HTTP 500``, ``timeout``, ...) with its count and share: the 9000-code
  distribution.

Both update as the run goes: Locust's UI polls ``/stats/requests`` every couple of
seconds, and its answer gains ``extended_stats`` rows for the two tabs (the
extension point of Locust's React UI: ``extended_tabs`` / ``extended_tables`` in
the template arguments). ``GET <web base path>/opscom/live`` returns the whole live
document (``harness.locust.board.LiveBoard.document``) as JSON, for scripts and tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

LATENCY_TAB = "opscom-latency"
ANSWERS_TAB = "opscom-answers"
LIVE_PATH = "/opscom/live"

_LATENCY_COLUMNS = [
    ("name", "Endpoint"), ("requests", "Requests"), ("errors", "Errors"), ("error_pct", "Error %"),
    ("p50", "p50 ms"), ("p90", "p90 ms"), ("p95", "p95 ms"), ("p99", "p99 ms"), ("p999", "p99.9 ms"),
    ("max", "max ms"), ("basis", "Latency from"),
]  # fmt: skip
_ANSWER_COLUMNS = [("endpoint", "Endpoint"), ("answer", "Answer"), ("text", "Meaning"), ("count", "Count"),
                   ("share_pct", "Share %")]


def latency_rows(doc: dict[str, Any], bases: dict[str, str]) -> list[dict[str, Any]]:
    return [{**row, "error_pct": round(100 * row["error_rate"], 3), "basis": bases.get(row["name"], "")}
            for row in doc["endpoints"]]


def answer_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**row, "share_pct": round(100 * row["share"], 3)} for row in doc["codes"]]


def install(environment: Any, live: Callable[[], dict[str, Any]], bases: Callable[[], dict[str, str]]) -> bool:
    """Add the tabs and the JSON endpoint to Locust's web UI (if it runs here)."""
    web_ui = getattr(environment, "web_ui", None)
    if web_ui is None:
        return False
    from flask import Blueprint, jsonify, request

    base = (environment.parsed_options.web_base_path if environment.parsed_options else "") or ""
    blueprint = Blueprint("opscom", __name__, url_prefix=base or None)

    @blueprint.route(LIVE_PATH)
    @web_ui.auth_required_if_enabled
    def opscom_live() -> Any:
        return jsonify(live())

    web_ui.app.register_blueprint(blueprint)
    web_ui.template_args["extended_tabs"] = [
        {"title": "OPSCOM latency (HDR)", "key": LATENCY_TAB},
        {"title": "OPSCOM answers", "key": ANSWERS_TAB},
    ]
    web_ui.template_args["extended_tables"] = [
        {"key": LATENCY_TAB, "structure": [{"key": k, "title": t} for k, t in _LATENCY_COLUMNS]},
        {"key": ANSWERS_TAB, "structure": [{"key": k, "title": t} for k, t in _ANSWER_COLUMNS]},
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": base + LIVE_PATH, "title": "Download the OPSCOM live document (JSON)"},
    ]

    @web_ui.app.after_request
    def add_extended_stats(response: Any) -> Any:
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        doc = live()
        data = response.get_json(silent=True) or {}
        data["extended_stats"] = [
            {"key": LATENCY_TAB, "data": latency_rows(doc, bases())},
            {"key": ANSWERS_TAB, "data": answer_rows(doc)},
        ]
        response.set_data(json.dumps(data))
        return response

    return True
