"""summary.md: the report for CI logs and pull requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.report_open_model import markdown_lines

if TYPE_CHECKING:
    from lab.report import Report


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_markdown(r: Report) -> str:
    meta = r.meta
    lines = [
        f"# Run {r.run_id}: {r.verdict}",
        "",
        f"profile `{meta.get('profile', '?')}`, scale `{meta.get('scale', '?')}`, "
        f"users {meta.get('users', '?')}, {r.duration_s:.0f} s, status `{r.health.status}`; "
        f"{r.totals.count} requests, {r.totals.rps:.1f} req/s, "
        f"{r.totals.failure_ratio:.2%} failed, p95 {r.totals.p95_ms:.0f} ms",
        "",
    ]
    if r.health.partial:
        lines += ["**PARTIAL run**: " + "; ".join(r.health.partial_reasons), ""]
    if r.health.aborted_on_breach is not None:
        lines += [f"**ABORTED on breach**: {r.health.aborted_on_breach}", ""]
    if r.health.untrustworthy_reasons:
        lines += ["**Load generator unhealthy**: " + "; ".join(r.health.untrustworthy_reasons), ""]
    for part in r.skipped_parts:
        lines.append(f"- warning: skipped corrupted part {part}")
    if r.trace_loss is not None and r.trace_loss.partial:
        lines += [
            "**Traces partial** (span-based sections cover what reached the archive): "
            + r.trace_loss.describe(),
            "",
        ]
    if r.faults:
        lines += ["## Faults injected during the run", ""]
        lines += [
            f"- {name}: from {a:.1f} s to {b:.1f} s after the first request ({b - a:.1f} s)"
            for a, b, name in r.fault_bands
        ]
        lines.append("")
    if r.breaches:
        lines += ["## Breaches", ""] + [f"- {b}" for b in r.breaches] + [""]
    lines += [
        "## Requests",
        "",
        "| request | count | fail | p50 ms | p95 ms | p99 ms | max ms | req/s | target p95 | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in r.names:
        lines.append(
            f"| {s.method} {s.name} | {s.count} | {s.failures} | {s.p50_ms:.1f} | {s.p95_ms:.1f} | "
            f"{s.p99_ms:.1f} | {s.max_ms:.1f} | {s.rps:.2f} | {s.target_p95_ms:.0f} | "
            f"{'pass' if s.passed else 'FAIL'} |"
        )
    lines += _workflow_lines(r)
    lines += _browser_lines(r)
    if not r.open_model.empty:
        lines += ["", *markdown_lines(r.open_model)]
    if r.failure_reasons:
        lines += ["", "## Failures by reason", "", "| reason | count | first s | last s |"]
        lines.append("|---|---:|---:|---:|")
        lines += [
            f"| `{f.reason.replace('|', '/')}` | {f.count} | {f.first_s:.1f} | {f.last_s:.1f} |"
            for f in r.failure_reasons
        ]
    lines += [
        "",
        f"Database query p95: {_ms(r.db_p95_ms)} ms over {r.db_spans} spans "
        f"(target < {r.targets.db_query_p95_ms:.0f} ms)",
        "",
    ]
    for key_label, breakdown in (("route", r.breakdown), ("request name", r.breakdown_by_name)):
        if not breakdown:
            continue
        lines += [
            f"## Where the time goes, by {key_label} (mean ms per request, from spans)",
            "",
            f"| {key_label} | traced | network+queue | app | db | redis | db stmts/req | db p95 "
            "| dominant |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for b in breakdown:
            lines.append(
                f"| {b.route} | {b.requests} | {_ms(b.network_ms)} | {b.app_ms:.1f} "
                f"| {b.db_ms:.1f} | {b.redis_ms:.1f} | {b.db_statements:.1f} "
                f"| {_ms(b.db_query_p95_ms)} | {b.dominant} |"
            )
        lines.append("")
    lines += _n_plus_one_lines(r)
    lines += _statement_budget_lines(r)
    if r.prometheus:
        lines += ["## From Prometheus", ""]
        for p in r.prometheus:
            value = f"{p.value:.3g} {p.unit}" if p.value is not None else f"not available: {p.note}"
            lines.append(f"- {p.label}: {value}")
        lines.append("")
    elif r.prometheus_note:
        lines += [f"_{r.prometheus_note}_", ""]
    if r.soak is not None:
        lines += ["## Soak verdict", "", r.soak.summary_line(), ""]
    return "\n".join(lines) + "\n"


def _n_plus_one_lines(r: Report) -> list[str]:
    if not r.n_plus_one:
        return []
    lines = ["## N+1 findings (by total time)", ""]
    for label, findings in (("route", r.n_plus_one), ("request name", r.n_plus_one_by_name)):
        for f in findings:
            fix = f"; likely fix: {f.fix}" if f.fix else ""
            lines.append(
                f"- {label} `{f.route}`: `{f.statement[:160]}` {f.where()}, "
                f"{f.mean_repeats:.0f}x per request (max {f.max_repeats}), "
                f"{f.mean_total_ms:.1f} ms per request ({f.share_of_time:.0%} of its time), "
                f"{f.total_ms:.0f} ms in all; example trace `{f.example_trace_id}`{fix}"
            )
    return [*lines, ""]


def _statement_budget_lines(r: Report) -> list[str]:
    budgeted = [c for c in r.statement_counts if c.budget is not None]
    if not budgeted:
        return []
    lines = [
        "## Query budgets (statements per traced request, p95)",
        "",
        "| route | traced | median | p95 | budget | ok |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in budgeted:
        lines.append(
            f"| {c.route} | {c.requests} | {c.median:g} | {c.p95} | {c.budget} "
            f"| {'FAIL' if c.breached else 'pass'} |"
        )
    return [*lines, ""]


def _workflow_lines(r: Report) -> list[str]:
    if not r.workflows:
        return []
    lines = [
        "",
        "## Workflows (one transaction per workflow task, end to end)",
        "",
        "| workflow | count | failed | success | p50 ms | p95 ms | p99 ms | max ms | per s "
        "| requests each | slowest trace | most frequent failure |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for w in r.workflows:
        failure = (w.top_failure or "").replace("|", "/")[:120]
        lines.append(
            f"| {w.name} | {w.count} | {w.failures} | {w.success_ratio:.1%} | {w.p50_ms:.1f} "
            f"| {w.p95_ms:.1f} | {w.p99_ms:.1f} | {w.max_ms:.1f} | {w.per_s:.2f} "
            f"| {w.mean_requests:.1f} | {f'`{w.slowest_trace_id}`' if w.slowest_trace_id else '-'} "
            f"| {f'`{failure}`' if failure else '-'} |"
        )
    return lines


def _pair(values: tuple[float | None, float | None]) -> str:
    return f"{_ms(values[0])} / {_ms(values[1])}"


def _browser_lines(r: Report) -> list[str]:
    """Page load (browser): the table and the asset findings (lab/page_loads.py)."""
    b = r.browser
    if b is None:
        return []
    lines = [
        "",
        "## Page load (browser)",
        "",
        "ms, p50 / p95; HTML = the HTTP users' request for the same page; "
        "front end = load - TTFB (p50s)",
        "",
        "| page | loads | fail | TTFB | DOMContentLoaded | load | LCP | HTML | front end "
        "| target p95 | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in b.pages:
        share = "-" if p.front_end_share is None else f"{p.front_end_share:.0%}"
        lines.append(
            f"| {p.page} | {p.loads} | {p.failures} | {_pair(p.ttfb_ms)} | "
            f"{_pair(p.dom_content_loaded_ms)} | {_pair(p.load_ms)} | {_pair(p.lcp_ms)} | "
            f"{_pair(p.html_ms)} | {_ms(p.front_end_ms)} ({share}) | {p.target_ms:.0f} | "
            f"{'pass' if p.ok else 'FAIL'} |"
        )
    median, peak = b.memory_mib
    if median is not None:
        lines += ["", f"Chromium memory per browser user (PSS): median {median:.0f} MiB, "
                  f"max {peak:.0f} MiB"]  # fmt: skip
    lines += ["", f"### Asset findings ({b.assets} assets, {b.repeat_loads} repeat loads)", ""]
    lines += [f"- {f.line()}" for f in b.findings] or ["- none found"]
    lines += [f"- note: {note}" for note in b.notes + b.skipped_parts]
    return lines
