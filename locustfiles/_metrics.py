"""Locust's live state for Prometheus, served by the master (or the local process).

Everything is read at scrape time from what the master already aggregates:
`runner.stats` (workers ship their stats to it) and `runner.clients` (worker
states and CPU from heartbeats). Nothing is counted twice and a worker that
disappears shows up as `locust_workers{state="missing"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Bucket boundaries include the targets: 0.1 s (reference), 0.5 s (API), 2 s (pages).
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
WORKER_STATES = ("ready", "spawning", "running", "cleanup", "stopping", "stopped", "missing")


def histogram_buckets(response_times: dict[int, int]) -> tuple[list[tuple[str, float]], int]:
    """Cumulative `(le, count)` pairs from Locust's {rounded ms: count} map."""
    counts = [0] * len(BUCKETS_S)
    total = 0
    for ms, n in response_times.items():
        total += n
        seconds = ms / 1000.0
        for i, bound in enumerate(BUCKETS_S):
            if seconds <= bound:
                counts[i] += n
                break
    cumulative: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip(BUCKETS_S, counts, strict=True):
        running += n
        cumulative.append((repr(bound), float(running)))
    cumulative.append(("+Inf", float(total)))
    return cumulative, total


class LocustCollector(Collector):
    def __init__(
        self, runner: Any, run_id: str, dropped_spans: Callable[[], dict[str, int]]
    ) -> None:
        self.runner = runner
        self.run_id = run_id
        self.dropped_spans = dropped_spans

    def collect(self) -> Iterator[Any]:
        run_id = self.run_id
        requests = CounterMetricFamily(
            "locust_requests", "Requests sent, by Locust name", labels=["name", "method", "run_id"]
        )
        failures = CounterMetricFamily(
            "locust_failures",
            "Failed requests, by Locust name",
            labels=["name", "method", "run_id"],
        )
        durations = HistogramMetricFamily(
            "locust_request_duration_seconds",
            "Response time (Locust's rounded samples)",
            labels=["name", "method", "run_id"],
        )
        for (name, method), entry in list(self.runner.stats.entries.items()):
            labels = [name, method or "", run_id]
            requests.add_metric(labels, entry.num_requests)
            failures.add_metric(labels, entry.num_failures)
            buckets, _ = histogram_buckets(dict(entry.response_times))
            durations.add_metric(labels, buckets, entry.total_response_time / 1000.0)
        yield requests
        yield failures
        yield durations

        users = GaugeMetricFamily("locust_users", "Running users", labels=["run_id"])
        users.add_metric([run_id], float(self.runner.user_count))
        yield users

        cpu = GaugeMetricFamily(
            "locust_cpu_percent", "CPU of each load generator process", labels=["worker", "run_id"]
        )
        clients = getattr(self.runner, "clients", None)
        if clients is not None:  # master: workers report CPU in their heartbeats
            workers = GaugeMetricFamily(
                "locust_workers", "Workers by state", labels=["state", "run_id"]
            )
            by_state = dict.fromkeys(WORKER_STATES, 0)
            for node in list(clients.values()):
                by_state[node.state] = by_state.get(node.state, 0) + 1
                cpu.add_metric([node.id, run_id], float(node.cpu_usage))
            for state, count in by_state.items():
                workers.add_metric([state, run_id], float(count))
            yield workers
            cpu.add_metric(["master", run_id], float(self.runner.current_cpu_usage))
        else:
            cpu.add_metric(["local", run_id], float(self.runner.current_cpu_usage))
        yield cpu

        dropped = CounterMetricFamily(
            "locust_trace_spans_dropped",
            "Spans dropped by the load generator's exporter (queue full or backend down)",
            labels=["worker", "run_id"],
        )
        for worker, count in sorted(self.dropped_spans().items()):
            dropped.add_metric([worker, run_id], float(count))
        yield dropped


def serve_metrics(collector: LocustCollector, host: str, port: int) -> tuple[Any, int]:
    """Start a gevent WSGI server for `/metrics`; returns (server, bound port)."""
    from gevent.pywsgi import WSGIServer

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/metrics/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"see /metrics\n"]
        return metrics_app(environ, start_response)

    server = WSGIServer((host, port), app, log=None)
    server.start()
    return server, server.server_port
