"""What every run gets beyond the engine: its reports and its live observers.

Registered into ``harness.api`` (imported at the end of it, so a caller of the
library API gets the same run directory as ``harness run``):

- ``EXTRA_WRITERS``: ``report.html`` and ``junit.xml`` always, the CSV files when
  the plan asks (``--csv``). They read the run directory (summary.json and
  metrics.json are written before them), so ``harness report RUN_DIR`` rebuilds
  the same files from a kept run;
- ``LIVE_OBSERVERS``: the live gates (checks with ``abort_on_fail``) and the
  Prometheus endpoint (``--metrics-port``).

A report that cannot be rendered (a bug of ours) must not cost the run: the error
goes into ``report-error.log`` beside the summary and the metrics, which are kept.
A full disk (OSError) is left to the run directory's own fallback.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from harness import api
from harness.livegates import gates_for
from harness.livemetrics import server_for

REPORT_ERROR_FILE = "report-error.log"


def write_reports(run_dir: Path, result: Any = None, *, csv: bool | None = None) -> list[Path]:
    """report.html, junit.xml and (when asked, or when the run asked) the CSV files,
    from what ``run_dir`` holds."""
    from harness.report import csvfiles, html, junit
    from harness.report.rundata import load_run

    run = load_run(run_dir)
    if csv is None:
        csv = bool(result is not None and getattr(result.plan.outputs, "csv", False))
    (run.path / REPORT_ERROR_FILE).unlink(missing_ok=True)  # a rebuild starts afresh
    written: list[Path] = []
    for name, make in (("junit.xml", lambda: [junit.write_junit(run)]),
                       ("report.html", lambda: [html.write_report(run)]),
                       ("CSV", lambda: csvfiles.write_csv(run) if csv else [])):
        try:
            written += make()
        except OSError:
            raise
        except Exception:  # noqa: BLE001 - a bug in one report must not lose the run
            with (run.path / REPORT_ERROR_FILE).open("a") as f:
                f.write(f"{name} could not be written:\n{traceback.format_exc()}\n")
    return written


def _writer(run_dir: Path, result: Any) -> None:
    write_reports(run_dir, result)


def register() -> None:
    if _writer not in api.EXTRA_WRITERS:
        api.EXTRA_WRITERS.append(_writer)
    for observer in (gates_for, server_for):
        if observer not in api.LIVE_OBSERVERS:
            api.LIVE_OBSERVERS.append(observer)


register()
