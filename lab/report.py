"""`lab report RUN`: build the report model from a run folder, write HTML, Markdown and JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import (
    page_loads,
    query_budget,
    report_open_model,
    report_waterfalls,
    request_stats,
    span_stats,
    trace_coverage,
    trace_loss,
    workflow_stats,
)
from lab.contract import RunFolder
from lab.errors import EXIT_BREACH, EXIT_OK, EXIT_UNTRUSTWORTHY
from lab.health import Health, assess
from lab.n_plus_one import NPlusOne, find_n_plus_one
from lab.prometheus import Prometheus
from lab.report_prometheus import PromFigure, figures
from lab.run_events import FaultWindow, fault_windows
from lab.rundata import open_run
from lab.runs_dir import read_json, write_atomic
from lab.targets import Targets, load_targets
from lab.window import run_window


@dataclass
class Report:
    run_id: str
    meta: dict[str, Any]
    targets: Targets
    health: Health
    skipped_parts: list[str]
    start: float
    end: float
    totals: request_stats.Totals
    names: list[request_stats.NameStats]
    series_width_s: float
    series: list[request_stats.SeriesPoint]
    users: list[tuple[float, float]]
    slowest: list[request_stats.SlowRequest]
    span_count: int
    breakdown: list[span_stats.Breakdown]
    breakdown_by_name: list[span_stats.Breakdown]
    db_spans: int
    db_p95_ms: float | None
    statements: list[span_stats.Statement]
    n_plus_one: list[NPlusOne]
    n_plus_one_by_name: list[NPlusOne]
    statement_counts: list[query_budget.RouteStatements]
    prometheus: list[PromFigure] = field(default_factory=list)
    prometheus_note: str = ""
    jaeger_url: str | None = None
    soak: Any = None  # lab.soak.SoakVerdict for soak runs when Prometheus is given
    waterfalls: report_waterfalls.ReportWaterfalls = field(
        default_factory=report_waterfalls.ReportWaterfalls
    )
    slowest_traced: trace_coverage.TraceCoverage = field(
        default_factory=lambda: trace_coverage.TraceCoverage([])
    )
    trace_loss: trace_loss.TraceLoss | None = None
    failure_reasons: list[request_stats.FailureReason] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    first_request_s: float = 0.0  # unix seconds of the first request: x = 0 of the charts
    workflows: list[workflow_stats.WorkflowStats] = field(default_factory=list)
    browser: page_loads.BrowserPageLoads | None = None  # runs with browser users (issue 16)
    # Corrected latency, late arrivals, rate steps, sign-in storm (lab/report_open_model.py).
    open_model: report_open_model.OpenModel = field(default_factory=report_open_model.OpenModel)

    @property
    def fault_bands(self) -> list[tuple[float, float, str]]:
        """The injected faults as (seconds since the first request, end, name), for charts."""
        return [
            (w.started_at - self.first_request_s, w.ended_at - self.first_request_s, w.fault)
            for w in self.faults
        ]

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def breaches(self) -> list[str]:
        found = []
        if self.health.aborted_on_breach is not None:  # the run stopped early on this breach
            found.append(f"aborted on breach: {self.health.aborted_on_breach}")
        for s in self.names:
            label = f"{s.method} {s.name}".strip()
            if not s.p95_ok:
                found.append(
                    f"{label}: p95 {s.p95_ms:.0f} ms >= {s.target_p95_ms:.0f} ms ({s.kind})"
                )
            if not s.failures_ok:
                found.append(
                    f"{label}: failure ratio {s.failure_ratio:.2%} >= {s.failure_ratio_target:.0%}"
                )
        if self.totals.count and self.totals.failure_ratio >= self.targets.failure_ratio:
            found.append(
                f"overall failure ratio {self.totals.failure_ratio:.2%} "
                f">= {self.targets.failure_ratio:.0%}"
            )
        if self.db_p95_ms is not None and self.db_p95_ms >= self.targets.db_query_p95_ms:
            found.append(
                f"database query p95 {self.db_p95_ms:.1f} ms "
                f">= {self.targets.db_query_p95_ms:.0f} ms"
            )
        found.extend(
            f"statements per request of {c.route}: p95 {c.p95} > budget {c.budget}"
            for c in self.statement_counts
            if c.breached
        )
        if self.soak is not None and not self.soak.passed:
            found.extend(f"soak: {p}" for p in self.soak.problems)
        return found

    @property
    def verdict(self) -> str:
        if self.health.partial:
            return "PARTIAL"
        if not self.health.trustworthy:
            return "UNTRUSTWORTHY"
        return "FAIL" if self.breaches else "PASS"

    @property
    def exit_code(self) -> int:
        if not self.health.trustworthy:
            return EXIT_UNTRUSTWORTHY
        return EXIT_BREACH if self.breaches else EXIT_OK

    def jaeger_link(self, trace_id: str | None) -> str | None:
        if not trace_id or not self.jaeger_url:
            return None
        return f"{self.jaeger_url.rstrip('/')}/trace/{trace_id}"


def build(
    run_dir: Path,
    *,
    targets: Targets | None = None,
    prometheus_url: str | None = None,
    jaeger_url: str | None = None,
) -> Report:
    meta = read_json(RunFolder(run_dir).meta)
    targets = targets or load_targets(run_dir)
    data = open_run(run_dir)
    con = data.con
    start, end = run_window(meta, request_stats.run_window_us(con))
    duration = end - start
    width, series = request_stats.time_series(con)
    span_stats.prepare(con)
    db_spans, db_p95 = span_stats.db_query_p95_ms(con)
    report = Report(
        run_id=run_dir.name,
        meta=meta or {},
        targets=targets,
        health=assess(run_dir, meta, len(data.request_parts)),
        skipped_parts=data.skipped,
        start=start,
        end=end,
        totals=request_stats.totals(con, duration),
        names=request_stats.per_name(con, targets, duration),
        series_width_s=width,
        series=series,
        users=request_stats.users_series(run_dir),
        slowest=request_stats.slowest(con),
        span_count=data.span_count,
        breakdown=span_stats.breakdown(con),
        breakdown_by_name=span_stats.breakdown(con, by="name"),
        db_spans=db_spans,
        db_p95_ms=db_p95,
        statements=span_stats.top_statements(con),
        n_plus_one=find_n_plus_one(con, targets),
        n_plus_one_by_name=find_n_plus_one(con, targets, by="name"),
        statement_counts=query_budget.per_route(con, targets),
        jaeger_url=jaeger_url,
        trace_loss=trace_loss.assess(run_dir, con, prometheus_url, start, end),
        faults=fault_windows(run_dir),
        failure_reasons=request_stats.failure_reasons(con),
        first_request_s=(con.execute("SELECT min(ts_start_us) FROM requests").fetchone()[0] or 0)
        / 1e6,
        workflows=workflow_stats.per_workflow(con, duration),
    )
    report.waterfalls = report_waterfalls.collect(
        con,
        n_plus_one=[(f.route, f.statement, f.example_trace_id) for f in report.n_plus_one],
        slowest=[(f"{s.method} {s.name}".strip(), s.trace_id) for s in report.slowest],
        workflows=[(w.name, w.slowest_trace_id) for w in report.workflows],
    )
    report.slowest_traced = trace_coverage.coverage(con)
    report.browser = page_loads.collect(run_dir, con, targets.page_p95_ms)
    report.open_model = report_open_model.collect(con, run_dir, targets)
    con.close()
    if prometheus_url:
        prom = Prometheus(prometheus_url)
        report.prometheus = figures(prom, report.run_id, start, end)
        missing = [f for f in report.prometheus if f.value is None]
        if missing:
            fetched = len(report.prometheus)
            report.prometheus_note = (
                f"{len(missing)} of {fetched} Prometheus figures could not be fetched"
            )
        if report.meta.get("profile") == "soak":
            from lab.soak import verdict_for_run  # soak analysis is only needed for soak runs

            report.soak = verdict_for_run(
                run_dir, prom, targets, warn=False, tolerate_unreachable=True
            )
    else:
        report.prometheus_note = (
            "Prometheus not queried (pass --prometheus URL for PgBouncer, cache and generator CPU)"
        )
    return report


def summary_json(report: Report) -> dict[str, Any]:
    """The machine-readable digest (`report.json`) that `lab runs` lists."""
    return {
        "run_id": report.run_id,
        "verdict": report.verdict,
        "profile": report.meta.get("profile"),
        "scale": report.meta.get("scale"),
        "duration_s": round(report.duration_s, 1),
        "requests": report.totals.count,
        "failures": report.totals.failures,
        "p95_ms": round(report.totals.p95_ms, 2),
        "rps": round(report.totals.rps, 2),
        "breaches": report.breaches,
        "partial": report.health.partial_reasons,
        "untrustworthy": report.health.untrustworthy_reasons,
        "aborted_on_breach": report.health.aborted_on_breach,
        "skipped_parts": report.skipped_parts,
        "names": [
            {**asdict(s), "failure_ratio": s.failure_ratio, "passed": s.passed}
            for s in report.names
        ],
        "db_query_p95_ms": report.db_p95_ms,
        "breakdown": [{**asdict(b), "dominant": b.dominant} for b in report.breakdown],
        "breakdown_by_name": [
            {**asdict(b), "dominant": b.dominant} for b in report.breakdown_by_name
        ],
        "statements": [asdict(st) for st in report.statements],
        "n_plus_one": [asdict(f) for f in report.n_plus_one],
        "slowest_traced": {
            "traced": report.slowest_traced.traced,
            "of": report.slowest_traced.slowest,
            "names": [asdict(n) for n in report.slowest_traced.names],
        },
        "n_plus_one_by_name": [asdict(f) for f in report.n_plus_one_by_name],
        "statements_per_request": [
            {**asdict(c), "breached": c.breached} for c in report.statement_counts
        ],
        "trace_loss": (
            {**asdict(report.trace_loss), "partial": report.trace_loss.partial}
            if report.trace_loss
            else None
        ),
        "faults": [{**asdict(w), "seconds": round(w.seconds, 1)} for w in report.faults],
        "failure_reasons": [asdict(f) for f in report.failure_reasons],
        "workflows": [
            {**asdict(w), "success_ratio": round(w.success_ratio, 4)} for w in report.workflows
        ],
        "browser": _browser_json(report.browser),
        "open_model": report.open_model.to_json(),
    }


def _browser_json(browser: page_loads.BrowserPageLoads | None) -> dict[str, Any] | None:
    if browser is None:
        return None
    return {
        "pages": [
            {
                **asdict(p),
                "front_end_ms": p.front_end_ms,
                "front_end_share": p.front_end_share,
                "ok": p.ok,
            }
            for p in browser.pages
        ],
        "findings": [asdict(f) for f in browser.findings],
        "assets": browser.assets,
        "repeat_loads": browser.repeat_loads,
        "memory_mib": {"median": browser.memory_mib[0], "max": browser.memory_mib[1]},
        "notes": browser.notes,
        "skipped_parts": browser.skipped_parts,
    }


def write(report: Report, run_dir: Path) -> list[Path]:
    """Write report.html, summary.md and report.json (the only files a report creates)."""
    from lab.render_html import render_html
    from lab.render_markdown import render_markdown

    folder = RunFolder(run_dir)
    outputs = {
        folder.report_html: render_html(report),
        folder.summary_md: render_markdown(report),
        folder.report_json: json.dumps(summary_json(report), indent=2, default=str),
    }
    for path, text in outputs.items():
        write_atomic(path, text)
    return list(outputs)


def run_report(
    run_dir: Path,
    *,
    targets: Targets,
    prometheus_url: str | None,
    jaeger_url: str | None,
    print_summary: bool = True,
) -> int:
    report = build(run_dir, targets=targets, prometheus_url=prometheus_url, jaeger_url=jaeger_url)
    paths = write(report, run_dir)
    if report.prometheus_note and prometheus_url:
        print(f"warning: {report.prometheus_note} (see the report)", file=sys.stderr)
    if print_summary:
        print(
            f"{report.verdict}: {report.run_id}: {report.totals.count} requests, "
            f"p95 {report.totals.p95_ms:.0f} ms, {report.totals.failure_ratio:.2%} failed, "
            f"{len(report.breaches)} breach(es), {len(report.n_plus_one)} N+1 finding(s)"
        )
        for line in (
            report.breaches + report.health.partial_reasons + report.health.untrustworthy_reasons
        ):
            print(f"  - {line}")
        print(f"  {report.slowest_traced.line()}")
        for w in report.workflows:
            print(
                f"  workflow {w.name}: {w.count} transactions, p50 {w.p50_ms:.0f} ms, "
                f"p95 {w.p95_ms:.0f} ms, {w.success_ratio:.1%} succeeded"
            )
        if report.browser is not None:
            print(f"  browser page loads: {len(report.browser.findings)} asset finding(s)")
            for finding in report.browser.findings:
                print(f"    - {finding.line()}")
        for counts in report.statement_counts:
            if counts.breached:
                print(counts.check_failed())
        print(f"report: {paths[0]}")
    return report.exit_code
