"""What the report asks Prometheus for: PgBouncer wait and saturation, cache hits, generator CPU."""

from __future__ import annotations

from dataclasses import dataclass

from lab.prometheus import Prometheus, PrometheusUnavailable


@dataclass(frozen=True)
class PromFigure:
    label: str
    query: str
    value: float | None
    unit: str
    note: str  # why there is no value, empty when there is one


def figures(prom: Prometheus, run_id: str, start: float, end: float) -> list[PromFigure]:
    """Each figure fetched independently; any failure becomes a note, never an exception."""
    window = f"{max(1, int(end - start))}s"
    wanted = [
        (
            # Microsecond counters, identical on both image sets (see lab.soak).
            "PgBouncer mean client wait per transaction",
            f"sum(increase(pgbouncer_stats_client_wait_seconds_total[{window}])) "
            f"/ sum(increase(pgbouncer_stats_sql_transactions_pooled_total[{window}]))",
            "s",
        ),
        (
            "PgBouncer max waiting clients (pool saturation)",
            f"max(max_over_time(pgbouncer_pools_client_waiting_connections[{window}]))",
            "clients",
        ),
        (
            "Cache hit ratio",
            f'sum(increase(jewelry_cache_requests_total{{result="hit"}}[{window}])) '
            f"/ sum(increase(jewelry_cache_requests_total[{window}]))",
            "ratio",
        ),
        (
            "Load generator max CPU",
            f'max(max_over_time(locust_cpu_percent{{run_id="{run_id}"}}[{window}]))',
            "%",
        ),
    ]
    result = []
    unreachable: str | None = None
    for label, query, unit in wanted:
        if unreachable:
            result.append(PromFigure(label, query, None, unit, unreachable))
            continue
        try:
            series = prom.instant(query, at=end)
        except PrometheusUnavailable as exc:
            if "unreachable" in exc.message:
                unreachable = exc.message
            result.append(PromFigure(label, query, None, unit, exc.message))
            continue
        if not series or series[0].points[0][1] != series[0].points[0][1]:  # empty or NaN
            result.append(
                PromFigure(label, query, None, unit, "no data in Prometheus for this window")
            )
        else:
            result.append(PromFigure(label, query, series[0].points[0][1], unit, ""))
    return result
