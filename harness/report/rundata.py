"""What a run directory holds, read back: the documents every report is made from.

Every output that is not written by the run loop itself (``report.html``,
``junit.xml``, the CSV files, ``harness compare``, ``harness history``) reads a run
directory through this module, so ``harness report RUN_DIR`` rebuilds exactly what
the run wrote, and a report of a run measured elsewhere (a CI artifact) is made the
same way.

- ``summary.json`` is required (the verdict, the checks, the per-endpoint figures);
- ``metrics.json`` (the exact encoded histograms and the per-second timeline with its
  per-endpoint rows) is optional: without it a report leaves out what only it holds
  (the percentile distributions and the per-endpoint timelines) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from harness.errors import ConfigError
from harness.metrics import Metrics
from harness.report.rundir import resolve_run


@dataclass
class RunData:
    path: Path  # the run directory
    summary: dict[str, Any]

    @cached_property
    def _metrics_file(self) -> tuple[dict[str, Any] | None, str | None]:
        """metrics.json (read when first needed: a soak's is several MB), or why not."""
        path = self.path / "metrics.json"
        if not path.is_file():
            return None, f"{path}: missing"
        try:
            return read_json(path, "a run's metrics.json"), None
        except ConfigError as exc:
            return None, str(exc)

    @property
    def metrics_doc(self) -> dict[str, Any] | None:
        return self._metrics_file[0]

    @property
    def problem(self) -> str | None:
        """Why metrics.json could not be used, or None."""
        return self._metrics_file[1]

    @cached_property
    def metrics(self) -> Metrics | None:
        """The merged metrics (exact histograms), or None without metrics.json."""
        if self.metrics_doc is None:
            return None
        return Metrics.from_encoded([self.metrics_doc["metrics"]])

    @property
    def timeline(self) -> list[dict[str, Any]]:
        """Per-second rows with per-endpoint detail when metrics.json has them, else
        summary.json's rows (totals only)."""
        if self.metrics_doc is not None and self.metrics_doc.get("timeline") is not None:
            return self.metrics_doc["timeline"]
        return self.summary.get("timeline") or []

    @property
    def name(self) -> str:
        return str(self.summary.get("plan", {}).get("name") or self.path.parent.name)

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run", {}).get("run_id") or self.path.name)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); expected {what}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object ({what})")
    return doc


def load_run(where: Path | str) -> RunData:
    """The run at ``where``: a run directory, a summary.json, or a scenario's reports
    root (its latest run). A path that is none of these is a ConfigError."""
    try:
        path = resolve_run(Path(where))
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    summary = read_json(path / "summary.json", "a run's summary.json")
    if "endpoints" not in summary or "run" not in summary:
        raise ConfigError(f"{path / 'summary.json'}: not a harness summary (no run or endpoints)")
    return RunData(path=path, summary=summary)


def as_run(where: RunData | Path | str) -> RunData:
    """``where`` itself when already read, else ``load_run(where)``."""
    return where if isinstance(where, RunData) else load_run(where)
