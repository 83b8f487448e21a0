"""summary.json's ``diff`` section: how replayed answers differ from the recorded.

The replay sources count, in each worker's ``Metrics`` (merged exactly across
workers): ``diff|compared|<name>``, ``diff|changed|<name>``,
``diff|change|<recorded>|<replayed>|<name>``, examples under
``diff|example|<name>``, and orphans under ``replay|orphaned|<why>``. The section::

    "diff": {
      "compared": 1200,            # answers compared with a recorded one
      "changed_requests": 3,       # ... that differ (outcome key: ok, 9009, http_500, timeout, ...)
      "changed": 0.0025,           # changed_requests / compared: the check diff.changed<0.1%
      "orphaned": 1, "orphaned_why": {"its parent failed": 1},
      "endpoints": {"permit_update": {"compared": 100, "changed": 3, "changes": {"ok -> 9009": 3},
                                      "examples": [{"line": 17, "copy": 0, "method": "POST", "path": "...",
                                                    "recorded": "ok", "replayed": "9009"}]}}
    }

``changed`` is null when nothing was compared, so a gate on it fails rather than
passing on nothing. The section is absent from runs that replayed nothing.
"""

from __future__ import annotations

from typing import Any

from harness.metrics import Metrics
from harness.report.summary import SECTION_HOOKS, RunInfo

SECTION = "diff"


def diff_section(metrics: Metrics, run: RunInfo) -> tuple[str, dict[str, Any]] | None:
    counters = metrics.counters
    if not any(k.startswith(("diff|", "replay|")) for k in counters):
        return None
    endpoints: dict[str, dict[str, Any]] = {}

    def ep(name: str) -> dict[str, Any]:
        return endpoints.setdefault(name, {"compared": 0, "changed": 0, "changes": {}, "examples": []})

    orphaned: dict[str, int] = {}
    for key, n in sorted(counters.items()):
        head = key.split("|", 2)  # a request name may hold a "|": it is always last
        if len(head) < 3:
            continue
        if head[0] == "diff" and head[1] in ("compared", "changed"):
            ep(head[2])[head[1]] += n
        elif head[:2] == ["diff", "change"]:
            recorded, replayed, name = head[2].split("|", 2)
            ep(name)["changes"][f"{recorded} -> {replayed}"] = n
        elif head[:2] == ["replay", "orphaned"]:
            orphaned[head[2]] = n
    for key, examples in metrics.examples.items():
        if key.startswith("diff|example|"):
            ep(key.split("|", 2)[2])["examples"] = list(examples)
    for section in endpoints.values():
        section["changes"] = dict(sorted(section["changes"].items(), key=lambda kv: -kv[1]))
    compared = sum(e["compared"] for e in endpoints.values())
    changed = sum(e["changed"] for e in endpoints.values())
    orphan_examples = [x for k, v in metrics.examples.items() if k.startswith("replay|orphaned|") for x in v]
    return SECTION, {
        "compared": compared,
        "changed_requests": changed,
        "changed": changed / compared if compared else None,
        "orphaned": sum(orphaned.values()),
        "orphaned_why": orphaned,
        "orphaned_examples": orphan_examples[:5],
        "endpoints": dict(sorted(endpoints.items())),
    }


def register() -> None:
    """Add the section to every summary built in this process (idempotent)."""
    if diff_section not in SECTION_HOOKS:
        SECTION_HOOKS.append(diff_section)
