"""HdrHistogram's percentile-distribution text (``.hgrm``), two files per name.

``<name>.hgrm`` holds latency from the intended send time, ``<name>.service.hgrm``
service time from the actual send; both over answered and timed-out requests (the
statistics the checks read), values in milliseconds, plus ``all`` for every name.

The format is the one HdrHistogram's ``outputPercentileDistribution`` writes, so
the files open in the HdrHistogram plotter and wrk2-era tools. It is written here
rather than by ``hdrh``'s ``output_percentile_distribution``, whose footer prints
the standard deviation unscaled (in microseconds next to a mean in milliseconds).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

from hdrh.histogram import HdrHistogram

from harness.metrics import Metrics, new_hdr

MICROS_PER_MS = 1000.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_percentiles(hdr: HdrHistogram, out: IO[bytes], scale: float = MICROS_PER_MS,
                      ticks_per_half_distance: int = 5) -> None:
    sig = hdr.significant_figures
    out.write(b"%12s %14s %10s %14s\n\n" % (b"Value", b"Percentile", b"TotalCount", b"1/(1-Percentile)"))
    line = f"%12.{sig}f %2.12f %10d %14.2f\n".encode()
    last = f"%12.{sig}f %2.12f %10d\n".encode()
    if hdr.get_total_count():
        for it in hdr.get_percentile_iterator(ticks_per_half_distance):
            value = it.value_iterated_to / scale
            pct = it.percentile_level_iterated_to / 100
            if it.percentile_level_iterated_to != 100:
                out.write(line % (value, pct, it.total_count_to_this_value, 1 / (1 - pct)))
            else:
                out.write(last % (value, pct, it.total_count_to_this_value))
    mean = hdr.get_mean_value() / scale if hdr.get_total_count() else 0.0
    stddev = hdr.get_stddev() / scale if hdr.get_total_count() else 0.0
    out.write(f"#[Mean    = %12.{sig}f, StdDeviation   = %12.{sig}f]\n".encode() % (mean, stddev))
    max_value = hdr.get_max_value() / scale if hdr.get_total_count() else 0.0
    out.write(f"#[Max     = %12.{sig}f, Total count    = %12d]\n".encode() % (max_value, hdr.get_total_count()))
    out.write(b"#[Buckets = %12d, SubBuckets     = %12d]\n" % (hdr.bucket_count, hdr.sub_bucket_count))


def write_hgrm(hdr: HdrHistogram, path: Path) -> None:
    with path.open("wb") as out:
        write_percentiles(hdr, out)


def file_stem(name: str) -> str:
    """A request name as a file name (``GET /healthz`` -> ``GET_healthz``)."""
    return _UNSAFE.sub("_", name).strip("_.") or "unnamed"


def write_all(metrics: Metrics, out_dir: Path) -> list[Path]:
    """``<name>.hgrm`` and ``<name>.service.hgrm`` for each name with timed answers,
    and ``all.hgrm``/``all.service.hgrm``."""
    written = []
    total, total_svc = new_hdr(), new_hdr()
    for e in metrics.active():
        lat, svc = e.latency(), e.latency(service=True)
        if not lat.get_total_count():
            continue
        total.add(lat)
        total_svc.add(svc)
        for hdr, suffix in ((lat, ".hgrm"), (svc, ".service.hgrm")):
            path = out_dir / f"{file_stem(e.name)}{suffix}"
            write_hgrm(hdr, path)
            written.append(path)
    if total.get_total_count():
        for hdr, suffix in ((total, ".hgrm"), (total_svc, ".service.hgrm")):
            path = out_dir / f"all{suffix}"
            write_hgrm(hdr, path)
            written.append(path)
    return written
