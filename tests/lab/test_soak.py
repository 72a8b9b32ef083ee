"""Soak verdicts against a real Prometheus holding hours of backfilled memory series.

Exact, planted series: each rule of the verdict is shown both ways (a leak, a flat process,
slow growth under the threshold, a one-off step, infrastructure growth, drift of latency,
errors and PgBouncer wait, and a run too short to judge).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.lab.conftest import BackfilledPrometheus, CliResult
from tests.synthetic import request_rows, write_meta, write_request_part

MIB = 1024 * 1024
HOURS = 3
STEP_S = 15


def _openmetrics(start: int, series: dict[str, Callable[[float], float]]) -> str:
    """Gauges sampled every 15 s for HOURS hours; `series` maps 'name{labels}' to f(hours)."""
    rng = random.Random(5)
    families: dict[str, list[str]] = {}
    for selector, value_at in series.items():
        family = selector.split("{")[0]
        lines = families.setdefault(family, [])
        for t in range(start, start + HOURS * 3600, STEP_S):
            value = value_at((t - start) / 3600) + rng.gauss(0, 0.002) * value_at(0)
            lines.append(f"{selector} {value!r} {t}")
    text = []
    for family, lines in families.items():
        text += [f"# TYPE {family} gauge", *lines]
    return "\n".join([*text, "# EOF", ""])


def _soak_run(
    root: Path,
    run_id: str,
    start: int,
    *,
    latency_growth: float = 0.0,
    late_failures: float = 0.0,
    hours: float = HOURS,
) -> Path:
    """Records over `hours`; the last fifth fails with probability `late_failures`."""
    run_dir = root / run_id
    iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
    end = start + int(hours * 3600)
    write_meta(run_dir, profile="soak", started_at=iso(start), ended_at=iso(end))
    rng = random.Random(9)
    n = 3000
    spacing = int(hours * 3600 * 1_000_000) // n
    latencies = [rng.lognormvariate(4, 0.3) * (1 + latency_growth * i / n) for i in range(n)]
    rows = request_rows("/dashboard/", latencies, start_us=start * 1_000_000, spacing_us=spacing)
    for i, row in enumerate(rows):
        if i > 0.8 * n and rng.random() < late_failures:
            row.update(status=500, failure="HTTPError 500")
    write_request_part(run_dir, rows)
    return run_dir


WORKER = "jewelry_worker_resident_memory_bytes"
TRANSACTIONS_PER_S = 100


def _pgbouncer_counters(wait_growth_s_per_h: float) -> dict[str, Callable[[float], float]]:
    """PgBouncer's SHOW STATS counters as the exporter publishes them: 100 transactions/s,
    each waiting 2 ms at the start plus `wait_growth_s_per_h` more per hour."""
    rate = TRANSACTIONS_PER_S * 3600  # transactions per hour
    return {
        'pgbouncer_stats_sql_transactions_pooled_total{database="jewelry"}': lambda h: rate * h,
        # Integral of rate * (0.002 + growth * h) over [0, h].
        'pgbouncer_stats_client_wait_seconds_total{database="jewelry"}': lambda h: (
            rate * (0.002 * h + wait_growth_s_per_h * h * h / 2)
        ),
    }


def _healthy_series() -> dict[str, Callable[[float], float]]:
    return {
        f'{WORKER}{{pid="102"}}': lambda h: 180 * MIB,
        # Slow growth, a sure trend but under any threshold: not a leak.
        f'{WORKER}{{pid="103"}}': lambda h: 200 * MIB + 2 * MIB * h,
        # One step (a cache filled once) mid-run: the whole-run slope and its CI lie above a
        # 1 GiB limit's threshold, but each half is flat: not a leak.
        f'{WORKER}{{pid="104"}}': lambda h: 150 * MIB + (150 * MIB if h > 1.5 else 0),
        # Swings of +-30 MiB (a garbage collector's rhythm) around a rise that, taken at face
        # value, is above the threshold in both halves: its CI is not, so no verdict of leak.
        f'{WORKER}{{pid="105"}}': lambda h: (
            100 * MIB + 20 * MIB * h + 30 * MIB * math.sin(2 * math.pi * h / 0.6)
        ),
        # The lab's own Prometheus grows during any run: shown, never a leak.
        'process_resident_memory_bytes{job="prometheus",instance="localhost:9090"}': lambda h: (
            100 * MIB + 50 * MIB * h
        ),
        'process_resident_memory_bytes{job="locust",instance="locust-master:9646"}': lambda h: (
            120 * MIB
        ),
        **_pgbouncer_counters(0.0),
    }


def _window_start() -> int:
    # Recent, whole minutes, ending an hour ago: inside the TSDB's retention.
    return (int(time.time()) - (HOURS + 1) * 3600) // 60 * 60


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(title))
    rest = lines[first + 1 :]
    end = next((i for i, line in enumerate(rest) if not line.startswith("  ")), len(rest))
    return rest[:end]


def test_planted_leak_and_drift_fail_with_slope_and_projection(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    start = _window_start()
    series = _healthy_series()
    del series[f'{WORKER}{{pid="105"}}']  # the container's headroom is what this test sets
    series[f'{WORKER}{{pid="101"}}'] = lambda h: 200 * MIB + 30 * MIB * h
    locust = 'process_resident_memory_bytes{job="locust",instance="locust-master:9646"}'
    series[locust] = lambda h: 120 * MIB + 80 * MIB * h  # > 25 % of its size per hour
    series.update(_pgbouncer_counters(0.1))  # clients wait ever longer
    url = backfilled_prometheus(_openmetrics(start, series)).url
    run_dir = _soak_run(
        runs_root, "20260101-000000-soak-1ea0", start, latency_growth=1.0, late_failures=0.05
    )
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url, "--memory-limit", "1GiB")
    assert result.code == 1, result.out + result.err
    assert result.out.startswith(f"soak verdict for {run_dir.name}: FAIL")
    leak_lines = [line for line in result.out.splitlines()[1:] if line.endswith("LEAK")]
    assert len(leak_lines) == 2, result.out
    sut = _section(result.out, "memory, system under test")
    (worker,) = [line for line in sut if "pid 101" in line]
    assert worker.endswith("LEAK")
    slope = float(worker.split(": ")[1].split(" MiB/h")[0])
    assert 29 < slope < 31
    # 1 GiB less the four workers' ~800 MiB, filled at 30 MiB/h.
    assert "limit reached in" in worker
    assert "fills the" in worker  # the limit, not the relative rule, set the threshold here
    generator = _section(result.out, "memory, load generator")
    assert len(generator) == 1
    assert generator[0].endswith("LEAK")
    assert "PgBouncer client wait degrades" in result.out.splitlines()[0]
    assert "failure ratio degrades" in result.out.splitlines()[0]
    assert "latency p95 degrades" in result.out.splitlines()[0]


def test_healthy_soak_passes_both_ways(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    start = _window_start()
    url = backfilled_prometheus(_openmetrics(start, _healthy_series())).url
    run_dir = _soak_run(runs_root, "20260101-000000-soak-f1a7", start)
    # Locust's history: users ramp to 50 over the first 10 minutes (a slow spawn rate).
    history = run_dir / "locust" / "stats_stats_history.csv"
    history.parent.mkdir()
    rows = [f"{start + t},{min(50, t // 12)},Aggregated" for t in range(0, 1200, 60)]
    history.write_text("Timestamp,User Count,Name\n" + "\n".join(rows) + "\n")
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url, "--memory-limit", "1GiB")
    assert result.code == 0, result.out + result.err
    assert result.out.startswith(f"soak verdict for {run_dir.name}: PASS")
    assert "window: 600 s warm-up left out" in result.out
    assert "note: warm-up: Locust reached 50 users after 600 s" in result.out
    assert "LEAK" not in result.out
    sut = _section(result.out, "memory, system under test")
    assert len(sut) == 4, result.out
    slow = next(line for line in sut if "pid 103" in line)
    # A real, significant slope (CI above zero) that is still no leak: under the threshold.
    lo = float(slow.split("95% CI ")[1].split(" to ")[0])
    assert lo > 0, slow
    step = next(line for line in sut if "pid 104" in line)
    step_lo = float(step.split("95% CI ")[1].split(" to ")[0])
    step_threshold = float(step.split("threshold ")[1].split(" MiB/h")[0])
    assert step_lo > step_threshold, step  # the whole-run CI alone would call it a leak
    assert "fills the" in step
    swings = next(line for line in sut if "pid 105" in line)
    threshold = float(swings.split("threshold ")[1].split(" MiB/h")[0])
    halves = swings.split("halves ")[1].split(")")[0].split(", ")
    assert all(float(h) > threshold for h in halves), swings
    assert float(swings.split("95% CI ")[1].split(" to ")[0]) < threshold, swings
    infra = _section(result.out, "memory, lab infrastructure")
    assert len(infra) == 1
    assert "grows, but lab infrastructure does not decide" in infra[0]
    drift = _section(result.out, "drift:")
    assert [line.split(":")[0].strip() for line in drift] == [
        "latency p95",
        "failure ratio",
        "PgBouncer client wait",
    ]
    assert not any("DEGRADED" in line for line in drift), drift
    assert "PgBouncer client wait: first vs last fifth: 2.0 -> 2.0 ms" in result.out
    # The soak run's report includes the verdict when Prometheus is given.
    report = lab_cli("report", run_dir.name, "--prometheus", url)
    assert "Soak verdict" in (run_dir / "report.html").read_text()
    assert report.code == 0, report.out + report.err


def test_short_soak_is_too_short_to_judge_even_while_leaking(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    start = _window_start()
    series = _healthy_series()
    series[f'{WORKER}{{pid="101"}}'] = lambda h: 200 * MIB + 300 * MIB * h
    url = backfilled_prometheus(_openmetrics(start, series)).url
    run_dir = _soak_run(runs_root, "20260101-000000-soak-5407", start, hours=4 / 60)
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith(f"soak verdict for {run_dir.name}: TOO SHORT TO JUDGE")
    assert "0 s of steady load after the warm-up, 300 s needed" in result.out
    assert "LEAK" not in result.out
    # The same 4 minutes judged with a shorter warm-up and minimum do show the leak.
    shorter = ("--set", "soak_warmup_s=60", "--set", "soak_min_steady_s=60")
    judged = lab_cli("soak-verdict", run_dir.name, "--prometheus", url, *shorter)
    assert judged.code == 1, judged.out
    assert "pid 101" in next(line for line in judged.out.splitlines() if line.endswith("LEAK"))


def test_container_limits_from_compose_meta_and_the_command_line() -> None:
    from lab.soak import container_limits

    compose = container_limits({"mode": "compose"}, None)
    assert compose["app"] == 1024 * MIB  # docker-compose.perf.yml: ${LAB_APP_MEM:-1g}
    assert compose["redis"] == 320 * MIB
    recorded = container_limits({"mode": "compose", "limits": {"app": {"memory": "2g"}}}, None)
    assert recorded["app"] == 2048 * MIB  # meta.json (from .env) wins over Compose's default
    assert container_limits({"mode": "local"}, None) == {}  # a local app's limit is unknown
    assert container_limits({"mode": "local"}, "512MiB") == {"app": 512 * MIB}


def test_pool_wait_drift_from_the_microsecond_counters_fails(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    # Mean wait per transaction grows 40 ms an hour: ~14 ms in the first fifth, ~110 ms in
    # the last, beyond the 50 ms limit. (A whole-second maxwait gauge would read 0 all along.)
    start = _window_start()
    series = _healthy_series()
    series.update(_pgbouncer_counters(0.04))
    url = backfilled_prometheus(_openmetrics(start, series)).url
    run_dir = _soak_run(runs_root, "20260101-000000-soak-9a17", start)
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url)
    assert result.code == 1, result.out + result.err
    (line,) = [row for row in result.out.splitlines() if row.startswith("  PgBouncer client wait")]
    assert line.endswith("DEGRADED"), line
    first_ms, last_ms = (float(x) for x in line.split(": ")[-1].split(" ms")[0].split(" -> "))
    assert 8 < first_ms < 30, line
    assert 95 < last_ms < 125, line
