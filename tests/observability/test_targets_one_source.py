"""lab/targets.toml is the one source of the lab's thresholds: the Grafana dashboards' red lines
and the Prometheus target alerts say the same numbers, and a latency line is drawn only over
requests of its own kind (pages: page_p95_ms, API: api_p95_ms).

Each check is a function that lists what differs, tested both ways: the repository's files
pass, a planted drift (the old "Page and API p95" panel with the API line over pages, an
alert left at an old number) is found.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import fields
from typing import Any

import yaml

from lab.targets import BUDGETS_SECTION, Targets, load_targets
from locustfiles._targets import RunTargets
from observability.grafana import dashboards as generator
from tests.harness.environment import REPO_ROOT

TARGETS = load_targets()
RULES_FILE = REPO_ROOT / "observability" / "prometheus" / "rules" / "targets.rules.yml"
API = re.escape(TARGETS.api_prefix)
# Selectors that restrict a latency query to one kind of request, as the dashboards write them.
API_ONLY = (f'name=~"{API}.*"', 'kind="api"', 'span_name=~".* api/.*"')
PAGE_ONLY = (f'name!~"{API}.*"', 'kind="page"', 'span_name!~".* api/.*"')
LATENCY_METRICS = ("request_duration_seconds", "span_metrics_duration")


def _red_line(panel: dict[str, Any]) -> float | None:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    reds = [step["value"] for step in steps if step["color"] == "red"]
    return reds[0] if reds else None


def latency_line_problems(dashboards: list[dict[str, Any]]) -> list[str]:
    """Request-latency panels whose red line is not the target of the one kind they draw."""
    scale = {"s": 1000.0, "ms": 1.0}
    problems = []
    for dashboard in dashboards:
        for panel in dashboard["panels"]:
            line = _red_line(panel)
            exprs = [target["expr"] for target in panel["targets"]]
            unit = panel["fieldConfig"]["defaults"]["unit"]
            if line is None or unit not in scale:
                continue  # no line, or not a time (a ratio of two runs, a percentage)
            if not any(m in e for e in exprs for m in LATENCY_METRICS):
                continue
            where = f"{dashboard['uid']} / {panel['title']}"
            kinds = {
                "api" if any(s in e for s in API_ONLY) else "page" if any(s in e for s in PAGE_ONLY)
                else "both"
                for e in exprs
            }  # fmt: skip
            if kinds != {"api"} and kinds != {"page"}:
                problems.append(f"{where}: one line over pages and API requests")
                continue
            wanted = TARGETS.api_p95_ms if kinds == {"api"} else TARGETS.page_p95_ms
            if line * scale[unit] != wanted:
                problems.append(f"{where}: line at {line} {unit}, target is {wanted} ms")
    return problems


def threshold_line_problems(dashboards: list[dict[str, Any]]) -> list[str]:
    """Failure-ratio and DB-query panels whose red line is not their target."""
    problems = []
    for dashboard in dashboards:
        for panel in dashboard["panels"]:
            line = _red_line(panel)
            exprs = " ".join(target["expr"] for target in panel["targets"])
            where = f"{dashboard['uid']} / {panel['title']}"
            if "locust_failures:ratio" in exprs and line != TARGETS.failure_ratio:
                problems.append(f"{where}: line at {line}, target {TARGETS.failure_ratio}")
            if "db_query_duration_seconds" in exprs and line != TARGETS.db_query_p95_ms / 1000:
                problems.append(f"{where}: line at {line} s, target {TARGETS.db_query_p95_ms} ms")
    return problems


def _seconds(ms: float) -> str:
    """How the alert summaries spell a target: 2s, 500ms."""
    return f"{ms / 1000:g}s" if ms >= 1000 else f"{ms:g}ms"


# alert name -> (selector the expr must hold, threshold, how the summary names the target)
EXPECTED_ALERTS = {
    "PageLatencyP95AboveTarget": (
        f'route!~"{TARGETS.api_prefix}.*',
        TARGETS.page_p95_ms / 1000,
        _seconds(TARGETS.page_p95_ms),
    ),
    "ApiLatencyP95AboveTarget": (
        f'route=~"{TARGETS.api_prefix}.*"',
        TARGETS.api_p95_ms / 1000,
        _seconds(TARGETS.api_p95_ms),
    ),
    "DbQueryP95AboveTarget": (
        "jewelry_db_query_duration_seconds",
        TARGETS.db_query_p95_ms / 1000,
        _seconds(TARGETS.db_query_p95_ms),
    ),
    "LocustPageLatencyP95AboveTarget": (
        f'name!~"{TARGETS.api_prefix}.*"',
        TARGETS.page_p95_ms / 1000,
        _seconds(TARGETS.page_p95_ms),
    ),
    "LocustApiLatencyP95AboveTarget": (
        f'name=~"{TARGETS.api_prefix}.*"',
        TARGETS.api_p95_ms / 1000,
        _seconds(TARGETS.api_p95_ms),
    ),
    "FailureRatioAboveTarget": (
        "locust_failures:ratio",
        TARGETS.failure_ratio,
        f"{TARGETS.failure_ratio * 100:g}%",
    ),
}


def alert_problems(rules: dict[str, Any]) -> list[str]:
    """Target alerts whose threshold, selector or summary is not lab/targets.toml's."""
    alerts = {
        rule["alert"]: rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("labels", {}).get("severity") == "target"
    }
    problems = [f"missing alert {name}" for name in EXPECTED_ALERTS.keys() - alerts.keys()]
    problems += [f"alert {name} has no target here" for name in alerts.keys() - EXPECTED_ALERTS]
    for name, (selector, threshold, spelled) in EXPECTED_ALERTS.items():
        rule = alerts.get(name)
        if rule is None:
            continue
        match = re.fullmatch(r"(.*) > ([0-9.]+)", rule["expr"].strip())
        if not match or float(match.group(2)) != threshold:
            problems.append(f"{name}: `{rule['expr']}` is not `... > {threshold:g}`")
        elif selector not in match.group(1):
            problems.append(f"{name}: `{rule['expr']}` does not select {selector}")
        if f"target < {spelled}" not in rule["annotations"]["summary"]:
            problems.append(f"{name}: summary does not say 'target < {spelled}'")
    return problems


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(generator.render(d)) for d in generator.DASHBOARDS]


def test_dashboard_lines_are_the_targets() -> None:
    dashboards = _dashboards()
    assert latency_line_problems(dashboards) == []
    assert threshold_line_problems(dashboards) == []
    drawn = [p for d in dashboards for p in d["panels"] if _red_line(p) is not None]
    assert len(drawn) >= 15  # the checks saw the panels with lines, not nothing


def test_a_mixed_or_drifted_dashboard_line_is_found() -> None:
    dashboards = _dashboards()
    overview = next(d for d in dashboards if d["uid"] == "lab-run-overview")
    # The panel as it was: both kinds of request under the API line.
    mixed = copy.deepcopy(next(p for p in overview["panels"] if p["title"] == "API p95 (app)"))
    mixed["targets"][0]["expr"] = "kind:jewelry_http_request_duration_seconds:p95_5m"
    mixed["title"] = "Page and API p95 (app)"
    pages = copy.deepcopy(next(p for p in overview["panels"] if p["title"] == "Page p95 (app)"))
    pages["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 0.5
    failures = next(p for p in overview["panels"] if p["title"] == "Failure ratio (Locust)")
    failures = copy.deepcopy(failures)
    failures["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 0.05
    planted = [{"uid": "planted", "panels": [mixed, pages, failures]}]
    assert latency_line_problems(planted) == [
        "planted / Page and API p95 (app): one line over pages and API requests",
        f"planted / Page p95 (app): line at 0.5 s, target is {TARGETS.page_p95_ms} ms",
    ]
    assert threshold_line_problems(planted) == [
        f"planted / Failure ratio (Locust): line at 0.05, target {TARGETS.failure_ratio}"
    ]


def test_prometheus_target_alerts_are_the_targets() -> None:
    assert alert_problems(yaml.safe_load(RULES_FILE.read_text())) == []


def test_a_drifted_alert_is_found() -> None:
    rules = yaml.safe_load(RULES_FILE.read_text())
    by_name = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    page = by_name["PageLatencyP95AboveTarget"]
    page["expr"] = re.sub(r"> [0-9.]+$", "> 0.5", page["expr"].strip())  # the API number
    failures = by_name["FailureRatioAboveTarget"]["annotations"]
    failures["summary"] = failures["summary"].replace("target <", "target under")
    assert alert_problems(rules) == [
        f"PageLatencyP95AboveTarget: `{page['expr']}` is not "
        f"`... > {TARGETS.page_p95_ms / 1000:g}`",
        "FailureRatioAboveTarget: summary does not say "
        f"'target < {TARGETS.failure_ratio * 100:g}%'",
    ]


def test_code_defaults_are_the_targets_file() -> None:
    """The dataclass defaults (used when the file is unreadable) say what the file says."""
    for field in fields(Targets):
        if field.name != BUDGETS_SECTION:
            assert getattr(Targets(), field.name) == getattr(TARGETS, field.name), field.name
    for field in fields(RunTargets):
        assert getattr(RunTargets(), field.name) == getattr(TARGETS, field.name), field.name
