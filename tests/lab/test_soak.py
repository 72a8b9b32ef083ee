"""Soak verdicts against a real Prometheus holding hours of backfilled memory series."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lab.synthetic import request_rows, write_meta, write_request_part
from tests.lab.conftest import BackfilledPrometheus, CliResult

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


def _soak_run(root: Path, run_id: str, start: int, latency_growth: float) -> Path:
    run_dir = root / run_id
    iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
    write_meta(run_dir, profile="soak", started_at=iso(start), ended_at=iso(start + HOURS * 3600))
    rng = random.Random(9)
    n = 3000
    spacing = HOURS * 3600 * 1_000_000 // n
    latencies = [rng.lognormvariate(4, 0.3) * (1 + latency_growth * i / n) for i in range(n)]
    write_request_part(
        run_dir,
        request_rows("/dashboard/", latencies, start_us=start * 1_000_000, spacing_us=spacing),
    )
    return run_dir


def _start(prom: Callable[[str], BackfilledPrometheus], start: int, leaking: bool) -> str:
    series: dict[str, Callable[[float], float]] = {
        'jewelry_worker_resident_memory_bytes{pid="102"}': lambda h: 180 * MIB,
        # Prometheus's own head grows during any run: never reported as a leak.
        'process_resident_memory_bytes{job="prometheus"}': lambda h: 100 * MIB + 50 * MIB * h,
        'pgbouncer_pools_client_maxwait_seconds{database="jewelry"}': lambda h: 0.002,
    }
    if leaking:
        series['jewelry_worker_resident_memory_bytes{pid="101"}'] = lambda h: (
            200 * MIB + 30 * MIB * h
        )
    return prom(_openmetrics(start, series)).url


def _window_start() -> int:
    # Recent, whole minutes, ending an hour ago: inside the TSDB's retention.
    return (int(time.time()) - (HOURS + 1) * 3600) // 60 * 60


def test_planted_leak_fails_with_slope_and_projection(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    start = _window_start()
    url = _start(backfilled_prometheus, start, leaking=True)
    run_dir = _soak_run(runs_root, "20260101-000000-soak-1ea0", start, latency_growth=1.0)
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url, "--memory-limit", "1GiB")
    assert result.code == 1, result.out + result.err
    leak_lines = [line for line in result.out.splitlines()[1:] if line.endswith("LEAK")]
    assert len(leak_lines) == 1
    assert 'pid="101"' in leak_lines[0]
    slope = float(leak_lines[0].split(": ")[1].split(" MiB/h")[0])
    assert 29 < slope < 31
    assert "limit reached in" in leak_lines[0]
    assert 'pid="102"' in result.out  # the flat worker is listed, not flagged
    assert "latency p95 degrades" in result.out
    assert "FAIL" in result.out.splitlines()[0]


def test_flat_process_passes(
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    backfilled_prometheus: Callable[[str], BackfilledPrometheus],
) -> None:
    start = _window_start()
    url = _start(backfilled_prometheus, start, leaking=False)
    run_dir = _soak_run(runs_root, "20260101-000000-soak-f1a7", start, latency_growth=0.0)
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url)
    assert result.code == 0, result.out + result.err
    assert "PASS" in result.out.splitlines()[0]
    assert 'jewelry_worker_resident_memory_bytes{pid="102"}' in result.out
    assert "PgBouncer client wait: first vs last fifth: 2.0 -> 2.0 ms" in result.out
    # The soak run's report includes the verdict when Prometheus is given.
    report = lab_cli("report", run_dir.name, "--prometheus", url)
    assert "Soak verdict" in (run_dir / "report.html").read_text()
    assert report.code == 0, report.out + report.err
