"""Generate the lab's Grafana dashboards (JSON) from one small description per dashboard.

    python -m observability.grafana.dashboards          # rewrite dashboards/*.json
    python -m observability.grafana.dashboards --check  # exit 1 when a file is stale

Dashboards as code keep every panel's datasource uid and units consistent, and let the
tests run each panel's PromQL against a real Prometheus. Every red threshold line is a target
of `lab/targets.toml` (read through `lab.targets`), so a changed target changes the dashboards
the next time they are generated (and `--check` fails until then). A panel draws one kind of
request (pages or API) when it has a latency line: one line cannot be both targets.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.targets import load_targets

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
PANEL_WIDTH = 12
PANEL_HEIGHT = 8

# The lab's targets (lab/targets.toml), in the units the panels use.
TARGETS = load_targets()
DB_QUERY_P95_S = TARGETS.db_query_p95_ms / 1000
FAILURE_RATIO = TARGETS.failure_ratio


def _promql_regex(literal: str) -> str:
    """`literal` matched as itself in a PromQL regex inside a double-quoted string."""
    return re.escape(literal).replace("\\", "\\\\")


# Locust names and app routes under the API prefix are API requests; the rest are pages
# (lab.targets.Targets.kind_of; PromQL regexes match the whole name, so `.*` ends a prefix).
API_NAMES = f"{_promql_regex(TARGETS.api_prefix)}.*"
# Django's server spans are named "<METHOD> <route>", the route without its leading slash.
API_SPAN_NAMES = f".* {_promql_regex(TARGETS.api_prefix.lstrip('/'))}.*"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    exemplar: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    # Red threshold line at a target (in the panel's unit), when the panel has one.
    target: float | None = None


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[str, ...] = ()
    time_from: str = "now-1h"
    refresh: str = "10s"
    tags: tuple[str, ...] = field(default=("jewelry-lab",))


def run_variable(name: str, label: str) -> dict[str, Any]:
    """A run id picked from the run_id label Locust puts on every series."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROMETHEUS,
        "query": {"query": "label_values(locust_requests_total, run_id)", "refId": name},
        "definition": "label_values(locust_requests_total, run_id)",
        "refresh": 2,
        "sort": 2,
        "includeAll": False,
        "multi": False,
        "current": {},
    }


def panel_json(panel: Panel, index: int) -> dict[str, Any]:
    thresholds: dict[str, Any] = {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    custom: dict[str, Any] = {}
    if panel.target is not None:
        thresholds["steps"].append({"color": "red", "value": panel.target})
        if panel.kind == "timeseries":
            custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "id": index + 1,
        "title": panel.title,
        "description": panel.description,
        "type": panel.kind,
        "datasource": PROMETHEUS,
        "gridPos": {
            "x": (index % 2) * PANEL_WIDTH,
            "y": (index // 2) * PANEL_HEIGHT,
            "w": PANEL_WIDTH,
            "h": PANEL_HEIGHT,
        },
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": thresholds, "custom": custom},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}
        }
        if panel.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}},
        "targets": [
            {
                "refId": chr(ord("A") + number),
                "datasource": PROMETHEUS,
                "expr": query.expr,
                "legendFormat": query.legend,
                "exemplar": query.exemplar,
                "range": panel.kind == "timeseries",
                "instant": panel.kind != "timeseries",
            }
            for number, query in enumerate(panel.queries)
        ],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": dashboard.refresh,
        "time": {"from": dashboard.time_from, "to": "now"},
        "templating": {
            "list": [run_variable(name, label) for name, label in _variable_labels(dashboard)]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": [panel_json(panel, index) for index, panel in enumerate(dashboard.panels)],
    }


def _variable_labels(dashboard: Dashboard) -> list[tuple[str, str]]:
    labels = {"run_id": "Run", "A": "Run A (baseline)", "B": "Run B (candidate)"}
    return [(name, labels[name]) for name in dashboard.variables]


def p95_over_range(run_variable_name: str, api: bool | None = None) -> str:
    """Worst 1-minute p95 per request name of one run over the dashboard's time range (only
    API names or only page names when `api` says which)."""
    kind = "" if api is None else f",{name_of_kind(api)}"
    return (
        "max by (method, name) (max_over_time(name:locust_request_duration_seconds:p95_1m"
        f'{{run_id="${run_variable_name}"{kind}}}[$__range]))'
    )


# Exemplars come from Jaeger's span metrics: the app's own histogram is multiprocess
# (prometheus_client cannot attach exemplars there). The spanmetrics connector (v0.129.0,
# the one Jaeger v2.8.0 builds in) names the series `traces.span.metrics.duration` in ms,
# labels span_kind with the OTLP enum name, and its exemplars carry `trace_id`.
SPAN_METRICS_SERVER_BUCKETS = (
    "traces_span_metrics_duration_milliseconds_bucket"
    '{{service_name="jewelry-app", span_kind="SPAN_KIND_SERVER", span_name{match}"{names}"}}'
)


def route_p95_with_exemplars(api: bool) -> Query:
    buckets = SPAN_METRICS_SERVER_BUCKETS.format(match="=~" if api else "!~", names=API_SPAN_NAMES)
    return Query(
        f"histogram_quantile(0.95, sum by (span_name, le) (rate({buckets}[$__rate_interval])))",
        "{{span_name}}",
        exemplar=True,
    )


def by_kind(
    title: str,
    query: Callable[[bool], Query],
    unit: str = "s",
    kind: str = "timeseries",
    description: str = "",
) -> tuple[Panel, Panel]:
    """The same panel for page requests and for API requests, each under its own target line.

    `title` and `description` may name the kind as {kind} (page, API) or {Kind} (Page, API).
    """
    ms_per_unit = {"s": 1000.0, "ms": 1.0}[unit]
    return tuple(  # type: ignore[return-value]
        Panel(
            title.format(kind=name, Kind=name[0].upper() + name[1:]),
            (query(api),),
            unit=unit,
            kind=kind,
            target=(TARGETS.api_p95_ms if api else TARGETS.page_p95_ms) / ms_per_unit,
            description=description.format(kind=name, Kind=name[0].upper() + name[1:]),
        )
        for api, name in ((False, "page"), (True, "API"))
    )


def name_of_kind(api: bool) -> str:
    """A PromQL matcher of Locust request names: API names, or page names."""
    return f'name{"=~" if api else "!~"}"{API_NAMES}"'


def app_p95_of_kind(api: bool) -> Query:
    kind = "api" if api else "page"
    return Query(
        f'kind:jewelry_http_request_duration_seconds:p95_5m{{kind="{kind}"}}',
        "API" if api else "pages",
    )


RUN_OVERVIEW = Dashboard(
    uid="lab-run-overview",
    title="Run overview",
    description=(
        "One load run: Locust's view per request name, the app's per route, and the traces."
    ),
    variables=("run_id",),
    panels=(
        Panel(
            "Requests per second (Locust)",
            (Query('name:locust_requests:rate1m{run_id="$run_id"}', "{{method}} {{name}}"),),
            unit="reqps",
        ),
        Panel(
            "Failure ratio (Locust)",
            (Query('run_id:locust_failures:ratio_rate1m{run_id="$run_id"}', "all requests"),),
            unit="percentunit",
            target=FAILURE_RATIO,
        ),
        *by_kind(
            "p95 response time per {kind} name (Locust)",
            lambda api: Query(
                f'name:locust_request_duration_seconds:p95_1m{{run_id="$run_id",{name_of_kind(api)}}}',
                "{{method}} {{name}}",
            ),
            description="Red line: the {kind} target (lab/targets.toml).",
        ),
        Panel(
            "p50 and p99 response time per name (Locust)",
            (
                Query(
                    'name:locust_request_duration_seconds:p50_1m{run_id="$run_id"}', "p50 {{name}}"
                ),
                Query(
                    'name:locust_request_duration_seconds:p99_1m{run_id="$run_id"}', "p99 {{name}}"
                ),
            ),
            unit="s",
        ),
        Panel(
            "Users and workers",
            (
                Query('locust_users{run_id="$run_id"}', "users"),
                Query('sum by (state) (locust_workers{run_id="$run_id"})', "workers {{state}}"),
            ),
        ),
        Panel(
            "Locust CPU per worker",
            (Query('locust_cpu_percent{run_id="$run_id"}', "{{worker}}"),),
            unit="percent",
            target=90,
            description="Above 90 % the load generator, not the app, limits the run.",
        ),
        *by_kind(
            "App p95 per {kind} route, traced requests (exemplars open the trace in Jaeger)",
            route_p95_with_exemplars,
            unit="ms",
            description=(
                "Jaeger's span metrics of the app's SERVER spans (sampled requests only); "
                "each dot is an exemplar whose trace_id opens the trace."
            ),
        ),
        *by_kind("{Kind} p95 (app)", app_p95_of_kind),
        Panel(
            "DB query p95 per route",
            (Query("route:jewelry_db_query_duration_seconds:p95_5m", "{{route}}"),),
            unit="s",
            target=DB_QUERY_P95_S,
        ),
        Panel(
            "Queries per request p95 per route",
            (Query("route:jewelry_db_queries_per_request:p95_5m", "{{route}}"),),
            description="An N+1 pattern shows as a route whose queries grow with the page size.",
        ),
        Panel(
            "Cache hit ratio",
            (Query("cache:jewelry_cache_requests:hit_ratio_rate5m", "{{cache}}"),),
            unit="percentunit",
        ),
        Panel(
            "Trace archive: spans written and refused",
            (
                Query("rate(trace_archive_spans_written_total[$__rate_interval])", "written/s"),
                Query("rate(trace_archive_spans_dropped_total[$__rate_interval])", "refused/s"),
                Query("trace_archive_queue_spans", "queued"),
            ),
        ),
    ),
)

COMPARE_RUNS = Dashboard(
    uid="lab-compare-runs",
    title="Compare two runs",
    description=(
        "Run A (baseline) against run B (candidate), as Locust measured them. Pick a time range "
        "that covers both runs. `make compare A=... B=...` gives the verdict with confidence "
        "intervals."
    ),
    variables=("A", "B"),
    time_from="now-24h",
    refresh="",
    panels=(
        *by_kind(
            "p95 per {kind} name over the whole range: A",
            lambda api: Query(p95_over_range("A", api), "{{method}} {{name}}"),
            kind="bargauge",
        ),
        *by_kind(
            "p95 per {kind} name over the whole range: B",
            lambda api: Query(p95_over_range("B", api), "{{method}} {{name}}"),
            kind="bargauge",
        ),
        Panel(
            "p95 per name: B / A (above 1 is slower)",
            (Query(f"{p95_over_range('B')} / {p95_over_range('A')}", "{{method}} {{name}}"),),
            unit="x",
            kind="bargauge",
            target=1.1,
        ),
        Panel(
            "Failure ratio: A and B",
            (
                Query('run_id:locust_failures:ratio_rate1m{run_id="$A"}', "A"),
                Query('run_id:locust_failures:ratio_rate1m{run_id="$B"}', "B"),
            ),
            unit="percentunit",
            target=FAILURE_RATIO,
        ),
        Panel(
            "Throughput: A and B",
            (
                Query('run_id:locust_requests:rate1m{run_id="$A"}', "A"),
                Query('run_id:locust_requests:rate1m{run_id="$B"}', "B"),
            ),
            unit="reqps",
        ),
        Panel(
            "p95 per name over time: A and B",
            (
                Query('name:locust_request_duration_seconds:p95_1m{run_id="$A"}', "A {{name}}"),
                Query('name:locust_request_duration_seconds:p95_1m{run_id="$B"}', "B {{name}}"),
            ),
            unit="s",
        ),
        Panel(
            "Users: A and B",
            (
                Query('locust_users{run_id="$A"}', "A"),
                Query('locust_users{run_id="$B"}', "B"),
            ),
        ),
    ),
)

DATABASE_AND_POOL = Dashboard(
    uid="lab-database-and-pool",
    title="Database and pool",
    description=(
        "Where database time goes: app-side query timings, PgBouncer waits, PostgreSQL and Redis."
    ),
    panels=(
        Panel(
            "DB query p95 per route",
            (
                Query("route:jewelry_db_query_duration_seconds:p95_5m", "{{route}}"),
                Query("job:jewelry_db_query_duration_seconds:p95_5m", "all routes"),
            ),
            unit="s",
            target=DB_QUERY_P95_S,
        ),
        Panel(
            "Queries per request (mean) per route",
            (Query("route:jewelry_db_queries_per_request:mean_5m", "{{route}}"),),
        ),
        Panel(
            "PgBouncer: clients waiting for a server connection",
            (Query("database:pgbouncer_client_waiting_connections:max", "{{database}} waiting"),),
        ),
        Panel(
            "PgBouncer: wait per transaction",
            (
                Query(
                    "database:pgbouncer_client_wait_seconds_per_transaction:ratio_rate1m",
                    "{{database}}",
                ),
            ),
            unit="s",
            description=(
                "Mean client wait per pooled transaction, from SHOW STATS total_wait_time "
                "(microseconds); the same on both image sets."
            ),
        ),
        Panel(
            "PgBouncer: connections",
            (
                Query(
                    "sum by (database) (pgbouncer_pools_client_active_connections)",
                    "{{database}} clients active",
                ),
                Query(
                    "sum by (database) (pgbouncer_pools_server_active_connections)",
                    "{{database}} servers active",
                ),
                Query(
                    "sum by (database) (pgbouncer_pools_server_idle_connections)",
                    "{{database}} servers idle",
                ),
            ),
        ),
        Panel(
            "PostgreSQL: transactions per second",
            (
                Query(
                    "sum by (datname) (rate(pg_stat_database_xact_commit[$__rate_interval]))",
                    "{{datname}} commits",
                ),
                Query(
                    "sum by (datname) (rate(pg_stat_database_xact_rollback[$__rate_interval]))",
                    "{{datname}} rollbacks",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "PostgreSQL: buffer cache hit ratio",
            (
                Query(
                    "sum by (datname) (rate(pg_stat_database_blks_hit[$__rate_interval])) / "
                    "(sum by (datname) (rate(pg_stat_database_blks_hit[$__rate_interval])) "
                    "+ sum by (datname) (rate(pg_stat_database_blks_read[$__rate_interval])))",
                    "{{datname}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "PostgreSQL: sessions by state",
            (Query("sum by (state) (pg_stat_activity_count)", "{{state}}"),),
        ),
        Panel(
            "pg_stat_statements: top 10 statements by time spent",
            (
                Query(
                    "topk(10, rate(pg_stat_statements_seconds_total[$__rate_interval]))",
                    "{{queryid}}",
                ),
            ),
            unit="s",
            description=(
                "Seconds of execution per second, per statement "
                "(postgres-exporter's stat_statements collector)."
            ),
        ),
        Panel(
            "Redis: memory and clients",
            (
                Query("redis_memory_used_bytes", "used memory"),
                Query("redis_connected_clients", "clients"),
            ),
            unit="bytes",
        ),
        Panel(
            "Redis: keyspace hit ratio",
            (
                Query(
                    "rate(redis_keyspace_hits_total[$__rate_interval])"
                    " / (rate(redis_keyspace_hits_total[$__rate_interval])"
                    " + rate(redis_keyspace_misses_total[$__rate_interval]))",
                    "hit ratio",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "App cache hit ratio",
            (Query("cache:jewelry_cache_requests:hit_ratio_rate5m", "{{cache}}"),),
            unit="percentunit",
        ),
    ),
)

SOAK = Dashboard(
    uid="lab-soak",
    title="Soak",
    description=(
        "Hours-long runs: memory growth and latency drift. A leak is a line that only goes up."
    ),
    variables=("run_id",),
    time_from="now-24h",
    refresh="1m",
    panels=(
        Panel(
            "gunicorn worker memory (RSS) per worker",
            (Query("jewelry_worker_resident_memory_bytes", "pid {{pid}}"),),
            unit="bytes",
        ),
        Panel(
            "gunicorn workers: total and largest RSS",
            (
                Query("job:jewelry_worker_resident_memory_bytes:sum", "total"),
                Query("job:jewelry_worker_resident_memory_bytes:max", "largest worker"),
            ),
            unit="bytes",
        ),
        *by_kind("{Kind} p95 (app)", app_p95_of_kind),
        Panel(
            "p95 per name (Locust)",
            (
                Query(
                    'name:locust_request_duration_seconds:p95_1m{run_id="$run_id"}',
                    "{{method}} {{name}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Failure ratio (Locust)",
            (Query('run_id:locust_failures:ratio_rate1m{run_id="$run_id"}', "failures"),),
            unit="percentunit",
            target=FAILURE_RATIO,
        ),
        Panel(
            "DB query p95 (all routes)",
            (Query("job:jewelry_db_query_duration_seconds:p95_5m", "p95"),),
            unit="s",
            target=DB_QUERY_P95_S,
        ),
        Panel(
            "PostgreSQL sessions and PgBouncer waiting clients",
            (
                Query("sum(pg_stat_activity_count)", "PostgreSQL sessions"),
                Query(
                    "sum(database:pgbouncer_client_waiting_connections:max)", "PgBouncer waiting"
                ),
            ),
        ),
        Panel(
            "Redis memory",
            (Query("redis_memory_used_bytes", "used"),),
            unit="bytes",
        ),
        Panel(
            "Trace archive queue and Prometheus series",
            (
                Query("trace_archive_queue_spans", "archive queue (spans)"),
                Query("prometheus_tsdb_head_series", "Prometheus head series"),
            ),
        ),
    ),
)

DASHBOARDS = (RUN_OVERVIEW, COMPARE_RUNS, DATABASE_AND_POOL, SOAK)


def render(dashboard: Dashboard) -> str:
    return json.dumps(dashboard_json(dashboard), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.grafana.dashboards")
    parser.add_argument("--check", action="store_true", help="fail when a JSON file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in DASHBOARDS:
        path = DASHBOARD_DIR / f"{dashboard.uid}.json"
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        path.write_text(text)
        print(f"wrote {path}")
    if stale:
        print(
            f"stale dashboards: {', '.join(stale)}; "
            "run `python -m observability.grafana.dashboards`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
