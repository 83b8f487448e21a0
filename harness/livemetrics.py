"""Live Prometheus metrics of a run, served on loopback (``--metrics-port PORT``).

For capacity-planning meetings that watch a Grafana board while the load goes:
``http://127.0.0.1:PORT/metrics`` in Prometheus's text format, from
``prometheus-client`` (the Prometheus project's own Python client), with a
registry of its own (nothing else of the process leaks into it):

    harness_requests_total{endpoint}             counter, every hit that ended (any outcome)
    harness_errors_total{endpoint}               counter, load errors
    harness_outcomes_total{endpoint,outcome}     counter, outcomes other than ok (9006, http_503, timeout, ...)
    harness_requests_per_second{endpoint}        gauge, the last complete second
    harness_latency_seconds{endpoint,quantile}   gauge, the last second's p50 (0.5), p99 (0.99), max (1),
                                                 from the intended send time
    harness_intended_rate                        gauge, requests/s the schedule asks for now (open model)
    harness_elapsed_seconds                      gauge, seconds of the run completed
    harness_run_info{name,run,model}             gauge 1

``endpoint="all"`` is every endpoint together. Figures come from the per-second
timeline (``execute``'s rows), off the hot path; a scrape reads the latest snapshot,
swapped in whole, so it never sees half a second. The port is bound on 127.0.0.1
only: the figures describe the target, and are nobody else's business.
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from harness.errors import ConfigError
from harness.timeline import Second

ADDRESS = "127.0.0.1"


class _Snapshot:
    """Cumulative counters and the last second's figures, per endpoint."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.outcomes: dict[tuple[str, str], int] = {}
        self.last: dict[str, tuple[int, float, float, float]] = {}  # endpoint -> rps, p50, p99, max (ms)
        self.elapsed = 0
        self.intended_rate: float | None = None

    def advanced(self, row: Second, intended_rate: float | None) -> _Snapshot:
        """A new snapshot: this one plus ``row`` (the old one stays intact for a scrape)."""
        new = _Snapshot()
        new.requests, new.errors, new.outcomes = dict(self.requests), dict(self.errors), dict(self.outcomes)
        new.last = {"all": (row.requests, row.p50_ms, row.p99_ms, row.max_ms)}
        new.requests["all"] = new.requests.get("all", 0) + row.requests
        new.errors["all"] = new.errors.get("all", 0) + row.errors
        for name, ns in row.names.items():
            new.requests[name] = new.requests.get(name, 0) + ns.requests
            new.errors[name] = new.errors.get(name, 0) + ns.errors
            new.last[name] = (ns.requests, ns.p50_ms, ns.p99_ms, ns.max_ms)
            for key, n in ns.outcomes.items():
                for who in (name, "all"):
                    new.outcomes[(who, key)] = new.outcomes.get((who, key), 0) + n
        for name in self.requests:  # endpoints idle this second: 0 req/s, no latency
            new.last.setdefault(name, (0, 0.0, 0.0, 0.0))
        new.elapsed = row.t + 1
        new.intended_rate = intended_rate
        return new


class _RunCollector(Collector):
    def __init__(self, labels: dict[str, str]) -> None:
        self.snapshot = _Snapshot()
        self.labels = labels

    def collect(self) -> Iterator[Any]:
        s = self.snapshot  # one read: a consistent second
        info = GaugeMetricFamily("harness_run_info", "The run being measured", labels=list(self.labels))
        info.add_metric(list(self.labels.values()), 1)
        yield info
        requests = CounterMetricFamily("harness_requests", "Hits that ended, any outcome", labels=["endpoint"])
        errors = CounterMetricFamily("harness_errors", "Load errors", labels=["endpoint"])
        for name, n in s.requests.items():
            requests.add_metric([name], n)
            errors.add_metric([name], s.errors.get(name, 0))
        yield requests
        yield errors
        outcomes = CounterMetricFamily("harness_outcomes", "Outcomes other than ok",
                                       labels=["endpoint", "outcome"])
        for (name, key), n in sorted(s.outcomes.items()):
            outcomes.add_metric([name, key], n)
        yield outcomes
        rps = GaugeMetricFamily("harness_requests_per_second", "Requests in the last complete second",
                                labels=["endpoint"])
        latency = GaugeMetricFamily("harness_latency_seconds",
                                    "Latency from the intended send time in the last second",
                                    labels=["endpoint", "quantile"])
        for name, (n, p50, p99, mx) in s.last.items():
            rps.add_metric([name], n)
            if n:
                for q, v in (("0.5", p50), ("0.99", p99), ("1", mx)):
                    latency.add_metric([name, q], v / 1000.0)
        yield rps
        yield latency
        yield GaugeMetricFamily("harness_elapsed_seconds", "Seconds of the run completed", value=s.elapsed)
        if s.intended_rate is not None:
            yield GaugeMetricFamily("harness_intended_rate", "Requests/s the schedule asks for now",
                                    value=s.intended_rate)


class MetricsServer:
    """The endpoint, started on creation; ``second(row)`` feeds it, ``close()`` stops it."""

    def __init__(self, port: int, *, name: str, model: str, run: str = "", pacer: Any = None,
                 announce: bool = True) -> None:
        self.pacer = pacer
        self.collector = _RunCollector({"name": name, "run": run or secrets.token_hex(3), "model": model})
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.collector)
        try:
            self._server, self._thread = start_http_server(port, addr=ADDRESS, registry=registry)
        except OSError as exc:
            raise ConfigError(f"--metrics-port {port}: cannot listen on {ADDRESS}:{port}: "
                              f"{exc.strerror or exc}") from None
        self.port = int(self._server.server_port)
        self._lock = threading.Lock()
        if announce:
            print(f"harness: live metrics on http://{ADDRESS}:{self.port}/metrics", file=sys.stderr, flush=True)

    @property
    def url(self) -> str:
        return f"http://{ADDRESS}:{self.port}/metrics"

    def second(self, row: Second) -> None:
        rate = None
        if self.pacer is not None:
            try:
                rate = float(self.pacer.rate_at(row.t + 1))
            except (AttributeError, TypeError, ValueError):
                rate = None
        with self._lock:
            self.collector.snapshot = self.collector.snapshot.advanced(row, rate)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def finish(self, result: Any) -> None:
        pass


def server_for(plan: Any, control: Any) -> MetricsServer | None:
    """The live observer of ``harness.api.execute`` for a plan with a metrics port."""
    port = getattr(plan.outputs, "metrics_port", None)
    if port is None:
        return None
    return MetricsServer(port, name=plan.name, model=plan.model.value, pacer=plan.pacer)
