"""PgBouncer metrics under prometheuscommunity/pgbouncer-exporter's names, for the offline images.

Debian packages no exporter with those names (its prometheus-pgbouncer-exporter names series
differently), and the lab's recording rules, report and dashboards read
`pgbouncer_pools_client_maxwait_seconds`, `pgbouncer_stats_client_wait_seconds_total`, …
This is the subset the lab uses, from SHOW POOLS / STATS / DATABASES / CONFIG on the admin
console, behind the same command-line interface:

    pgbouncer_exporter --pgBouncer.connectionString=postgres://USER:PASS@HOST:PORT/pgbouncer
                       [--web.listen-address=:9127] [--web.telemetry-path=/metrics]

Needs only Debian's python3-psycopg2 and python3-prometheus-client.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg2
from prometheus_client import make_wsgi_app
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

LOG = logging.getLogger("pgbouncer_exporter")
NAMESPACE = "pgbouncer"
DEFAULT_CONNECTION = "postgres://postgres:@localhost:6543/pgbouncer?sslmode=disable"

# SHOW POOLS column -> (metric, help); labels database, user. maxwait is whole seconds only,
# as upstream publishes it (pgbouncer_exporter v0.10.2 collector.go maps `maxwait` and never
# reads `maxwait_us`), so the series means the same on both image sets; the lab reads client
# wait from the microsecond counter pgbouncer_stats_client_wait_seconds_total instead.
POOL_GAUGES = {
    "cl_active": ("client_active_connections", "Client connections linked to a server connection"),
    "cl_waiting": ("client_waiting_connections", "Client connections waiting for a server"),
    "sv_active": ("server_active_connections", "Server connections linked to a client"),
    "sv_idle": ("server_idle_connections", "Server connections idle and ready for a client"),
    "sv_used": ("server_used_connections", "Server connections idle longer than the check"),
    "sv_tested": ("server_testing_connections", "Server connections being tested"),
    "sv_login": ("server_login_connections", "Server connections logging in"),
}
# SHOW STATS column -> (metric, help, divisor to base units); label database.
STATS_COUNTERS = {
    "total_query_count": ("queries_pooled_total", "SQL queries pooled", 1),
    "total_xact_count": ("sql_transactions_pooled_total", "SQL transactions pooled", 1),
    "total_received": ("received_bytes_total", "Bytes received from clients", 1),
    "total_sent": ("sent_bytes_total", "Bytes sent to clients", 1),
    "total_query_time": ("queries_duration_seconds_total", "Time spent on queries", 1e6),
    "total_xact_time": (
        "server_in_transaction_seconds_total",
        "Time spent by servers in transactions",
        1e6,
    ),
    "total_wait_time": ("client_wait_seconds_total", "Time clients waited for a server", 1e6),
}
# SHOW DATABASES column -> (metric, help); labels name, host, port, database, pool_mode.
DATABASE_GAUGES = {
    "pool_size": ("pool_size", "Maximum number of server connections"),
    "reserve_pool": ("reserve_pool", "Maximum number of additional connections"),
    "max_connections": ("max_connections", "Maximum number of allowed connections"),
    "current_connections": ("current_connections", "Current number of connections"),
    "paused": ("paused", "1 if this database is paused"),
    "disabled": ("disabled", "1 if this database is disabled"),
}
DATABASE_LABELS = ("name", "host", "port", "database", "pool_mode")
CONFIG_GAUGES = {
    "max_client_conn": ("max_client_connections", "Maximum number of client connections"),
    "max_user_connections": ("max_user_connections", "Maximum number of connections per user"),
}


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


class PgBouncerCollector:
    """Reads the admin console on every scrape, over one kept connection."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connection: Any = None
        self.lock = threading.Lock()

    def _rows(self, command: str) -> list[dict[str, Any]]:
        if self.connection is None or self.connection.closed:
            self.connection = psycopg2.connect(self.dsn)
            # The admin console accepts no transactions.
            self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute(command)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily(f"{NAMESPACE}_up", "1 if PgBouncer answered the last scrape")
        with self.lock:
            try:
                families = list(self._families())
            except psycopg2.Error as error:
                LOG.warning("scrape failed: %s", str(error).strip().splitlines()[0])
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                up.add_metric([], 0)
                yield up
                return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pools = self._rows("SHOW POOLS")
        for column, (name, doc) in POOL_GAUGES.items():
            family = GaugeMetricFamily(
                f"{NAMESPACE}_pools_{name}", doc, labels=["database", "user"]
            )
            for row in pools:
                family.add_metric([row["database"], row["user"]], _number(row.get(column)))
            yield family
        maxwait = GaugeMetricFamily(
            f"{NAMESPACE}_pools_client_maxwait_seconds",
            "Age of the oldest waiting client, in whole seconds",
            labels=["database", "user"],
        )
        for row in pools:
            maxwait.add_metric([row["database"], row["user"]], _number(row.get("maxwait")))
        yield maxwait

        stats = self._rows("SHOW STATS")
        for column, (name, doc, divisor) in STATS_COUNTERS.items():
            # CounterMetricFamily appends _total itself.
            family = CounterMetricFamily(
                f"{NAMESPACE}_stats_{name.removesuffix('_total')}", doc, labels=["database"]
            )
            for row in stats:
                if column in row:
                    family.add_metric([row["database"]], _number(row[column]) / divisor)
            yield family

        databases = self._rows("SHOW DATABASES")
        for column, (name, doc) in DATABASE_GAUGES.items():
            family = GaugeMetricFamily(
                f"{NAMESPACE}_databases_{name}", doc, labels=list(DATABASE_LABELS)
            )
            for row in databases:
                labels = [str(row.get(label) or "") for label in DATABASE_LABELS]
                family.add_metric(labels, _number(row.get(column)))
            yield family

        config = {row["key"]: row["value"] for row in self._rows("SHOW CONFIG")}
        for key, (name, doc) in CONFIG_GAUGES.items():
            if key in config:
                yield GaugeMetricFamily(
                    f"{NAMESPACE}_config_{name}", doc, value=_number(config[key])
                )


LANDING_PAGE = (
    "<html><head><title>PgBouncer Exporter</title></head><body><h1>PgBouncer Exporter</h1>"
    "<p><a href='{path}'>Metrics</a></p></body></html>"
)


def exporter_app(metrics_path: str) -> Any:
    """Metrics on `metrics_path` only, a static landing page on `/` (as upstream serves),
    which health checks probe without querying PgBouncer."""
    metrics = make_wsgi_app(REGISTRY)
    landing = LANDING_PAGE.format(path=metrics_path).encode()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO") or "/"
        if path == metrics_path:
            return metrics(environ, start_response)
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [landing]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pgbouncer_exporter", description=__doc__)
    parser.add_argument(
        "--pgBouncer.connectionString",
        dest="dsn",
        default=os.environ.get("PGBOUNCER_EXPORTER_CONNECTION_STRING", DEFAULT_CONNECTION),
    )
    parser.add_argument("--web.listen-address", dest="listen", default=":9127")
    parser.add_argument("--web.telemetry-path", dest="path", default="/metrics")
    parser.add_argument("--log.level", dest="level", default="info")
    parser.add_argument("--log.format", dest="format", default="logfmt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=getattr(logging, args.level.upper(), logging.INFO),
        format="ts=%(asctime)s level=%(levelname)s msg=%(message)r",
    )
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        print(
            f"pgbouncer_exporter: --web.listen-address={args.listen}: expected [HOST]:PORT",
            file=sys.stderr,
        )
        return 2
    REGISTRY.register(PgBouncerCollector(args.dsn))
    # An empty host (":9127", upstream's default) means every interface of the container.
    server = make_server(
        host.strip("[]") or "0.0.0.0",  # noqa: S104
        int(port),
        exporter_app(args.path),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    LOG.info("listening on %s", args.listen)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
