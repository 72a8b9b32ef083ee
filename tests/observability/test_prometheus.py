"""Prometheus config and rules: promtool checks, rule unit tests, and a real Prometheus."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.observability.metrics_target import GrowingMetrics, serve_metrics
from tests.observability.prometheus_api import (
    PROMETHEUS_DIR,
    lab_config_for_test,
    rules_dir,
    wait_for_vector,
)

RULE_FILES = sorted(rules_dir().glob("*.rules.yml"))
RULE_TESTS = sorted(rules_dir().glob("*_test.yml"))
SCRAPED_SERVICES = {
    "localhost:9090",
    "app:8000",
    "locust-master:9646",
    "postgres-exporter:9187",
    "pgbouncer-exporter:9127",
    "redis-exporter:9121",
    "jaeger:8889",
    "trace-archive:4318",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("promtool")
    assert program, "promtool not found: run `make bootstrap` (Debian package prometheus)"
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=120, cwd=rules_dir()
    )


def test_promtool_check_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    assert RULE_FILES
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_test_rules(rule_test: Path) -> None:
    result = promtool("test", "rules", rule_test.name)
    assert result.returncode == 0, result.stdout + result.stderr


def _rules(kind: str) -> set[str]:
    names = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule[kind] for rule in group["rules"] if kind in rule)
    return names


def test_every_recording_rule_and_alert_has_a_unit_test() -> None:
    tests = [yaml.safe_load(path.read_text()) for path in RULE_TESTS]
    tested_exprs = " ".join(
        case["expr"]
        for doc in tests
        for test in doc["tests"]
        for case in test.get("promql_expr_test", [])
    )
    tested_alerts = {
        case["alertname"]
        for doc in tests
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
    }
    untested = sorted(record for record in _rules("record") if record not in tested_exprs)
    assert not untested, f"recording rules without a promql_expr_test: {untested}"
    assert _rules("alert") - tested_alerts == set()


def test_recording_rules_follow_the_naming_convention() -> None:
    for record in _rules("record"):
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", record), record


def test_every_lab_service_is_scraped() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets == SCRAPED_SERVICES
    assert config["global"]["scrape_interval"] == "5s"


@pytest.mark.slow
def test_real_prometheus_evaluates_the_lab_rules(
    prometheus_server: Callable[[str], object],
) -> None:
    metrics = GrowingMetrics()
    metrics.histogram(
        "jewelry_http_request_duration_seconds",
        'route="/inventory/",method="GET",status="200"',
        {"0.1": 0, "0.5": 10, "2": 0, "+Inf": 0},
    )
    metrics.histogram(
        "jewelry_db_queries_per_request",
        'route="/inventory/"',
        {"1": 0, "5": 10, "+Inf": 0},
    )
    metrics.counter('jewelry_cache_requests_total{cache="dashboard",result="hit"}', 3)
    metrics.counter('jewelry_cache_requests_total{cache="dashboard",result="miss"}', 1)
    metrics.counter('locust_requests_total{run_id="r1",name="/inventory/",method="GET"}', 50)
    metrics.counter('locust_failures_total{run_id="r1",name="/inventory/",method="GET"}', 1)
    with serve_metrics(metrics) as target:
        server = prometheus_server(lab_config_for_test(target))
        url = server.url  # type: ignore[attr-defined]
        # All requests in (0.1 s, 0.5 s]: p95 = 0.1 + 0.4 * 0.95.
        (p95,) = wait_for_vector(
            url, 'route:jewelry_http_request_duration_seconds:p95_5m{route="/inventory/"}'
        )
        assert float(p95["value"][1]) == pytest.approx(0.48)
        (queries,) = wait_for_vector(url, "route:jewelry_db_queries_per_request:p95_5m")
        assert float(queries["value"][1]) == pytest.approx(4.8)
        (hits,) = wait_for_vector(url, "cache:jewelry_cache_requests:hit_ratio_rate5m")
        assert hits["metric"] == {
            "__name__": "cache:jewelry_cache_requests:hit_ratio_rate5m",
            "cache": "dashboard",
        }
        assert float(hits["value"][1]) == pytest.approx(0.75)
        (failures,) = wait_for_vector(url, "run_id:locust_failures:ratio_rate1m")
        assert failures["metric"]["run_id"] == "r1"
        assert float(failures["value"][1]) == pytest.approx(0.02)
