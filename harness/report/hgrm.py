"""HdrHistogram's percentile-distribution text (``.hgrm``), one file per endpoint.

The format is the one HdrHistogram's ``outputPercentileDistribution`` writes, values
in milliseconds, so the files open in the HdrHistogram plotter and in wrk2-era tools.
"""

from __future__ import annotations

from pathlib import Path

from hdrh.histogram import HdrHistogram

from harness.metrics import Metrics, new_hdr

MICROS_PER_MS = 1000.0


def write_hgrm(hdr: HdrHistogram, path: Path) -> None:
    with path.open("wb") as out:
        hdr.output_percentile_distribution(out, MICROS_PER_MS)


def write_all(metrics: Metrics, out_dir: Path) -> list[Path]:
    """``<endpoint>.hgrm`` (latency from the intended send time, every outcome)
    for each endpoint with traffic, and ``all.hgrm``."""
    written = []
    total = new_hdr()
    for e in metrics.active():
        if not e.hist:
            continue
        hdr = e.merged(0)
        total.add(hdr)
        path = out_dir / f"{e.name}.hgrm"
        write_hgrm(hdr, path)
        written.append(path)
    if total.get_total_count():
        path = out_dir / "all.hgrm"
        write_hgrm(total, path)
        written.append(path)
    return written
