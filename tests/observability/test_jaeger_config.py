"""Jaeger v2 config: structure and wiring, checked without a Jaeger binary (none can run here).

The reference is Jaeger's own v2 configuration documentation and examples: the
"Configuration" page of the Jaeger v2 docs (jaeger_storage / jaeger_query extensions,
jaeger_storage_exporter) and the SPM example `cmd/jaeger/config-spm.yaml` in the Jaeger
repository (spanmetrics connector from the traces pipeline into a `metrics/spanmetrics`
pipeline ending in the prometheus exporter, metric_backends.prometheus for the Monitor
tab). Jaeger v2 is an OpenTelemetry Collector distribution, so the collector's rules
apply too: every component a pipeline names is defined, a connector is an exporter of
one pipeline and a receiver of another, `type/name` ids name instances. Component types
are limited to those Jaeger's distribution builds in (its `cmd/jaeger/builder.yaml`).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.harness.environment import REPO_ROOT

CONFIG_PATH = REPO_ROOT / "observability" / "jaeger" / "config.yaml"
PROMETHEUS_CONFIG = REPO_ROOT / "observability" / "prometheus" / "prometheus.yml"

SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
# Component types compiled into the Jaeger v2 distribution (its builder manifest).
JAEGER_COMPONENT_TYPES = {
    "receivers": {"otlp", "jaeger", "zipkin", "kafka", "nop"},
    "processors": {
        "batch",
        "memory_limiter",
        "tail_sampling",
        "attributes",
        "filter",
        "adaptive_sampling",
    },
    "exporters": {
        "debug",
        "otlp",
        "otlphttp",
        "nop",
        "jaeger_storage_exporter",
        "kafka",
        "prometheus",
    },
    "connectors": {"forward", "spanmetrics"},
    "extensions": {
        "healthcheckv2",
        "pprof",
        "zpages",
        "basicauth",
        "sigv4auth",
        "jaeger_mcp",
        "jaeger_query",
        "jaeger_storage",
        "remote_sampling",
        "expvar",
        "remote_storage",
    },
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(CONFIG_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_only_collector_sections_at_top_level(config: dict[str, Any]) -> None:
    assert set(config) == {"service", *SECTIONS}


def test_every_component_is_a_type_jaeger_ships(config: dict[str, Any]) -> None:
    for section in SECTIONS:
        for component_id in config[section]:
            assert component_type(component_id) in JAEGER_COMPONENT_TYPES[section], (
                f"{section}.{component_id} is not built into Jaeger v2"
            )


def test_pipelines_reference_defined_components(config: dict[str, Any]) -> None:
    service = config["service"]
    for extension in service["extensions"]:
        assert extension in config["extensions"]
    assert set(service["extensions"]) == set(config["extensions"]), "defined but not enabled"
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for name, pipeline in service["pipelines"].items():
        assert component_type(name) in {"traces", "metrics", "logs"}
        for role in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(role, []):
                if component_id in config["connectors"]:
                    used["connectors"].add(component_id)
                    continue
                assert component_id in config[role], f"{name}: {role} {component_id} undefined"
                used[role].add(component_id)
    for section in ("receivers", "processors", "exporters", "connectors"):
        assert used[section] == set(config[section]), f"unused {section}"


def test_spanmetrics_connector_joins_traces_to_prometheus(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert "spanmetrics" in pipelines["traces"]["exporters"]
    metrics = pipelines["metrics/spanmetrics"]
    assert metrics["receivers"] == ["spanmetrics"]
    assert metrics["exporters"] == ["prometheus"]
    buckets = config["connectors"]["spanmetrics"]["histogram"]["explicit"]["buckets"]
    assert {"100ms", "500ms", "2s"} <= set(buckets), "bucket bounds at the lab's targets"


def test_span_metric_exemplars_reach_prometheus(config: dict[str, Any]) -> None:
    # The connector attaches exemplars, but the prometheus exporter writes them only in the
    # OpenMetrics format (opentelemetry-collector-contrib v0.129.0,
    # exporter/prometheusexporter/README.md, `enable_open_metrics`, default false).
    assert config["connectors"]["spanmetrics"]["exemplars"]["enabled"] is True
    assert config["exporters"]["prometheus"]["enable_open_metrics"] is True


def test_traces_go_to_memory_store_and_to_the_trace_archive(config: dict[str, Any]) -> None:
    exporters = config["service"]["pipelines"]["traces"]["exporters"]
    assert "jaeger_storage_exporter" in exporters
    assert "otlphttp/archive" in exporters
    archive = config["exporters"]["otlphttp/archive"]
    # otlphttp appends /v1/traces to the base endpoint.
    assert archive["endpoint"] == "http://trace-archive:4318"
    assert archive["encoding"] == "proto"
    assert archive["retry_on_failure"]["enabled"] is True
    assert archive["sending_queue"]["enabled"] is True


def test_storage_names_resolve(config: dict[str, Any]) -> None:
    storage = config["extensions"]["jaeger_storage"]
    query = config["extensions"]["jaeger_query"]
    trace_store = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert trace_store == query["storage"]["traces"]
    memory = storage["backends"][trace_store]["memory"]
    assert isinstance(memory["max_traces"], int)
    assert memory["max_traces"] > 0
    metric_backend = storage["metric_backends"][query["storage"]["metrics"]]["prometheus"]
    assert metric_backend["endpoint"] == "http://prometheus:9090"


def test_ports_match_the_rest_of_the_lab(config: dict[str, Any]) -> None:
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    health = config["extensions"]["healthcheckv2"]
    assert health["http"]["endpoint"] == "0.0.0.0:13133"
    assert health["http"]["status"]["path"] == "/status"
    # Prometheus scrapes the span metrics where the prometheus exporter listens.
    port = config["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert f"jaeger:{port}" in targets
