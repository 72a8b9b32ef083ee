"""A scrape target served from inside a test: fixed-shape counters that grow on every scrape."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GrowingMetrics:
    """Renders each registered series as `per_scrape * scrapes_so_far`, so rates are steady."""

    def __init__(self) -> None:
        self._series: list[tuple[str, float]] = []
        self._scrapes = 0
        self._lock = threading.Lock()

    def counter(self, series: str, per_scrape: float) -> None:
        self._series.append((series, per_scrape))

    def histogram(self, name: str, labels: str, buckets: dict[str, float]) -> None:
        """`buckets` maps each `le` (ending with "+Inf") to the observations added per scrape."""
        cumulative = 0.0
        for le, added in buckets.items():
            cumulative += added
            self.counter(f'{name}_bucket{{{labels},le="{le}"}}', cumulative)
        self.counter(f"{name}_count{{{labels}}}", cumulative)

    def render(self) -> str:
        with self._lock:
            self._scrapes += 1
            scrapes = self._scrapes
        return "".join(f"{series} {per * scrapes}\n" for series, per in self._series)


@contextmanager
def serve_metrics(metrics: GrowingMetrics) -> Iterator[str]:
    """Serve `metrics` at http://127.0.0.1:<free port>/metrics; yields host:port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
