"""Small helpers for a real Prometheus: render the lab's config for a test, query its API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.harness.environment import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "observability" / "prometheus"


def lab_config_for_test(target: str, interval: str = "1s") -> str:
    """The lab's prometheus.yml with its rules, scraping only `target`, at a test-friendly pace."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(
        {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval}
    )
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    config["scrape_configs"] = [
        {"job_name": "test-target", "static_configs": [{"targets": [target]}]}
    ]
    return yaml.safe_dump(config)


def query(base_url: str, expr: str) -> dict[str, Any]:
    response = requests.get(f"{base_url}/api/v1/query", params={"query": expr}, timeout=10)
    return dict(response.json())


def wait_for_vector(base_url: str, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll until `expr` returns a non-empty vector of finite numbers."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = query(base_url, expr)
        result = last.get("data", {}).get("result", [])
        if result and all(sample["value"][1] not in ("NaN", "+Inf", "-Inf") for sample in result):
            return list(result)
        time.sleep(0.5)
    raise AssertionError(f"{expr} gave no finite samples within {timeout}s: {last}")


def rules_dir() -> Path:
    return PROMETHEUS_DIR / "rules"
