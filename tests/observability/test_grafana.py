"""Grafana provisioning: dashboards are fresh, reference real datasource uids, and every
panel's PromQL is accepted by a real Prometheus (template variables substituted)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.grafana import dashboards as generator
from tests.harness.environment import REPO_ROOT
from tests.observability.prometheus_api import query

GRAFANA_DIR = REPO_ROOT / "observability" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
# What Grafana puts in place of its variables before a query reaches Prometheus.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$run_id": "20260101-000000-load-beef",
    "$A": "20260101-000000-load-aaaa",
    "$B": "20260101-000000-load-bbbb",
}


def load_dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARD_FILES]


def datasource_uids() -> set[str]:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/datasources.yml").read_text())
    return {source["uid"] for source in config["datasources"]}


def referenced_uids(node: Any) -> set[str]:
    """Every `datasource.uid` anywhere in a dashboard."""
    found: set[str] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and "uid" in source:
            found.add(source["uid"])
        for value in node.values():
            found |= referenced_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= referenced_uids(value)
    return found


def panel_exprs() -> list[tuple[str, str, str]]:
    return [
        (dashboard["uid"], panel["title"], target["expr"])
        for dashboard in load_dashboards()
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def substitute(expr: str) -> str:
    for variable in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(variable, SUBSTITUTIONS[variable])
    return expr


def test_the_four_dashboards_exist_and_are_generated_fresh() -> None:
    assert {path.stem for path in DASHBOARD_FILES} == {
        "lab-run-overview",
        "lab-compare-runs",
        "lab-database-and-pool",
        "lab-soak",
    }
    assert generator.main(["--check"]) == 0, (
        "regenerate: python -m observability.grafana.dashboards"
    )


def test_datasources_have_fixed_uids_and_exemplars_link_to_jaeger() -> None:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/datasources.yml").read_text())
    by_uid = {source["uid"]: source for source in config["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["jaeger"]["type"] == "jaeger"
    assert by_uid["jaeger"]["url"] == "http://jaeger:16686"
    (exemplar,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplar == {"name": "trace_id", "datasourceUid": "jaeger"}
    # Evicted traces open from the archive's Jaeger query API (the trace-query service).
    archive = by_uid["trace-archive"]
    assert archive["type"] == "jaeger"
    assert archive["name"] == "Trace archive"
    assert archive["url"] == "http://trace-query:16687"


def test_trace_query_service_serves_the_archive_datasource() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.perf.yml").read_text())
    service = compose["services"]["trace-query"]
    assert "grafana" in service["profiles"]  # it starts whenever Grafana does
    assert service["environment"]["LAB_TRACE_QUERY_PORT"] == "16687"
    assert service["command"] == ["python", "-m", "observability.trace_archive.query"]
    assert any(v.endswith(":/srv/lab/runs:ro") for v in service["volumes"])


def test_dashboard_provider_reads_the_mounted_folder() -> None:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/dashboards.yml").read_text())
    (provider,) = config["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.stem)
def test_dashboard_references_only_existing_datasources_and_variables(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert referenced_uids(dashboard) <= datasource_uids()
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {
                "__rate_interval",
                "__range",
                "__interval",
            }
            assert used <= defined, f"{panel['title']}: undefined variables {used - defined}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_compare_dashboard_has_run_variables_a_and_b() -> None:
    compare = json.loads((GRAFANA_DIR / "dashboards/lab-compare-runs.json").read_text())
    variables = {variable["name"]: variable for variable in compare["templating"]["list"]}
    assert set(variables) == {"A", "B"}
    assert variables["A"]["definition"] == "label_values(locust_requests_total, run_id)"


@pytest.mark.slow
def test_every_panel_query_parses_in_a_real_prometheus(
    prometheus_server: Callable[[str], Any],
) -> None:
    server = prometheus_server(yaml.safe_dump({"global": {"scrape_interval": "15s"}}))
    failures = []
    for uid, title, expr in panel_exprs():
        answer = query(server.url, substitute(expr))
        if answer.get("status") != "success":
            failures.append(f"{uid} / {title}: {answer.get('error')} in {expr}")
    assert not failures, "\n".join(failures)
    assert len(panel_exprs()) > 40
