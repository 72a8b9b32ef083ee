"""report.html: one self-contained page (inline CSS and SVG, opens offline)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

from lab.report_open_model import html_section
from lab.svg import line_chart, stacked_bar
from lab.waterfall_html import WATERFALL_CSS, anchor
from lab.waterfall_html import section as waterfall_section

if TYPE_CHECKING:
    from lab.report import Report

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.PASS{color:#070}.FAIL,.UNTRUSTWORTHY{color:#b00}.PARTIAL{color:#b60}.fail{background:#fdd}
code{font-size:12px}.note{color:#666;font-style:italic}
.banner{padding:.6em;border:2px solid #b60;background:#fff5e0}
"""
CSS += WATERFALL_CSS


def _e(value: object) -> str:
    return escape(str(value))


def _n(value: float | None, fmt: str = "{:.1f}") -> str:
    return '<td class="n">-</td>' if value is None else f'<td class="n">{fmt.format(value)}</td>'


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _trace_cell(r: Report, trace_id: str | None) -> str:
    if not trace_id:
        return "<td>-</td>"
    link = r.jaeger_link(trace_id)
    inner = f"<code>{_e(trace_id)}</code>"
    if r.waterfalls.has(trace_id):
        # One click to the waterfall drawn in this page; Jaeger beside it when configured.
        inner = f'<a href="#{anchor(trace_id)}">{inner}</a>'
        return (
            f'<td>{inner} (<a href="{_e(link)}">Jaeger</a>)</td>' if link else f"<td>{inner}</td>"
        )
    return f'<td><a href="{_e(link)}">{inner}</a></td>' if link else f"<td>{inner}</td>"


def render_html(r: Report) -> str:
    meta = r.meta
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Run {_e(r.run_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Run {_e(r.run_id)}: <span class='{r.verdict}'>{r.verdict}</span></h1>",
    ]
    if r.health.partial:
        out.append(
            f"<p class='banner'><b>PARTIAL</b>: {_e('; '.join(r.health.partial_reasons))}</p>"
        )
    if r.health.aborted_on_breach is not None:
        out.append(
            "<p class='banner'><b>ABORTED on breach</b> (--abort-on-breach): "
            f"{_e(r.health.aborted_on_breach)}; the run stopped early, the figures below "
            "cover it until then</p>"
        )
    if r.health.untrustworthy_reasons:
        out.append(
            "<p class='banner'><b>Load generator unhealthy</b>, numbers may reflect the generator: "
            f"{_e('; '.join(r.health.untrustworthy_reasons))}</p>"
        )
    for part in r.skipped_parts:
        out.append(f"<p class='banner'>warning: skipped corrupted part {_e(part)}</p>")
    facts = {
        "profile": meta.get("profile"),
        "scale": meta.get("scale"),
        "users": meta.get("users"),
        "target": meta.get("target"),
        "git": meta.get("git_rev"),
        "status": r.health.status,
        "window (UTC)": f"{datetime.fromtimestamp(r.start, UTC):%Y-%m-%d %H:%M:%S}"
        f" + {r.duration_s:.0f} s",
        "requests": f"{r.totals.count} ({r.totals.rps:.1f}/s), {r.totals.failure_ratio:.2%} failed",
        "p50 / p95 / p99 / max ms": f"{r.totals.p50_ms:.1f} / {r.totals.p95_ms:.1f} / "
        f"{r.totals.p99_ms:.1f} / {r.totals.max_ms:.1f}",
        "database query p95": "not measured (no spans)"
        if r.db_p95_ms is None
        else f"{r.db_p95_ms:.1f} ms over {r.db_spans} spans "
        f"(target < {r.targets.db_query_p95_ms:.0f} ms)",
    }
    out.append(
        _table(["", ""], [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts.items()])
    )
    if r.breaches:
        out.append(
            "<h2>Breaches</h2><ul>" + "".join(f"<li>{_e(b)}</li>" for b in r.breaches) + "</ul>"
        )

    out.append("<h2>Requests</h2>")
    rows = []
    for s in r.names:
        cls = "" if s.passed else " class='fail'"
        rows.append(
            f"<tr{cls}><td>{_e(s.method)} {_e(s.name)}</td>"
            f"{_n(s.count, '{:d}')}{_n(s.failures, '{:d}')}"
            f"{_n(s.p50_ms)}{_n(s.p95_ms)}{_n(s.p99_ms)}{_n(s.max_ms)}{_n(s.rps, '{:.2f}')}"
            f"<td>{s.kind} &lt; {s.target_p95_ms:.0f}</td>"
            f"<td>{'pass' if s.passed else 'FAIL'}</td></tr>"
        )
    out.append(
        _table(
            [
                "request",
                "count",
                "fail",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "req/s",
                "target",
                "",
            ],
            rows,
        )
    )

    out += _workflow_section(r)
    out += _browser_section(r)

    if r.failure_reasons:
        out.append("<h2>Failures by reason</h2>")
        out.append(
            _table(
                ["reason", "count", "first (s)", "last (s)"],
                [
                    f"<tr><td><code>{_e(f.reason)}</code></td>{_n(f.count, '{:d}')}"
                    f"{_n(f.first_s, '{:.1f}')}{_n(f.last_s, '{:.1f}')}</tr>"
                    for f in r.failure_reasons
                ],
            )
        )

    out.append(f"<h2>Over time</h2><p class='note'>buckets of {r.series_width_s:g} s</p>")
    bands = r.fault_bands
    out.append(
        line_chart(
            "p95 latency (ms)",
            [("p95", [(p.t_s, p.p95_ms) for p in r.series])],
            y_label="ms",
            bands=bands,
        )
    )
    out.append(
        line_chart(
            "Throughput and errors (per second)",
            [
                ("requests/s", [(p.t_s, p.rps) for p in r.series]),
                ("failures/s", [(p.t_s, p.failures_per_s) for p in r.series]),
            ],
            bands=bands,
        )
    )
    if r.faults:
        out.append(
            "<p class='note'>shaded: faults injected during the run (from events.jsonl)</p>"
            + _table(
                ["fault", "from (s)", "service back at (s)", "outage s"],
                [
                    f"<tr><td>{_e(name)}</td>{_n(a, '{:.1f}')}{_n(b, '{:.1f}')}"
                    f"{_n(b - a, '{:.1f}')}</tr>"
                    for a, b, name in bands
                ],
            )
        )
    out.append(
        line_chart("Users", [("users", r.users)])
        if r.users
        else "<p class='note'>no Locust user history</p>"
    )

    out.append("<h2>Where the time goes</h2>")
    if r.trace_loss is not None and r.trace_loss.partial:
        out.append(
            "<p class='banner'><b>Traces partial</b>: the sections computed from spans (where "
            "the time goes, database p95, statements, N+1) cover only what reached the trace "
            f"archive: {_e(r.trace_loss.describe())}</p>"
        )
    if r.breakdown:
        out.append(
            "<p class='note'>mean ms per traced request: "
            "network+queue = Locust client span - its server spans (a followed redirect has "
            "two; by route each gets an equal share, by request name the whole request counts); "
            "database / Redis = their spans inside the server span; app = the rest. Bar: "
            "<span style='color:#1f77b4'>network</span> <span style='color:#d62728'>app</span> "
            "<span style='color:#2ca02c'>db</span> <span style='color:#ff7f0e'>redis</span></p>"
        )
        for key_label, breakdown in (("route", r.breakdown), ("request name", r.breakdown_by_name)):
            if not breakdown:
                continue
            rows = [
                f"<tr><td>{_e(b.route)}</td>{_n(b.requests, '{:d}')}"
                f"{_n(b.server_p95_ms)}{_n(b.network_ms)}"
                f"{_n(b.app_ms)}{_n(b.db_ms)}{_n(b.redis_ms)}{_n(b.db_statements)}{_n(b.db_query_p95_ms)}"
                f"<td>{_e(b.dominant)}</td><td>"
                + stacked_bar(
                    [
                        ("network", b.network_ms or 0),
                        ("app", b.app_ms),
                        ("db", b.db_ms),
                        ("redis", b.redis_ms),
                    ]
                )
                + "</td></tr>"
                for b in breakdown
            ]
            out.append(
                _table(
                    [
                        key_label,
                        "traced",
                        "server p95",
                        "network+queue",
                        "app",
                        "db",
                        "redis",
                        "db stmts/req",
                        "db query p95",
                        "dominant",
                        "share",
                    ],
                    rows,
                )
            )
    else:
        out.append("<p class='note'>no spans in this run (trace archive empty or sampling off)</p>")

    if r.statements:
        out.append("<h2>Top statements by total time</h2>")
        rows = [
            f"<tr><td><code>{_e(s.statement[:300])}</code></td>"
            f"{_n(s.calls, '{:d}')}{_n(s.total_ms)}{_n(s.mean_ms, '{:.2f}')}"
            f"{_n(s.p95_ms, '{:.2f}')}<td>{_e(', '.join(s.routes[:8]))}</td></tr>"
            for s in r.statements
        ]
        out.append(
            _table(
                ["statement (normalised)", "calls", "total ms", "mean ms", "p95 ms", "called from"],
                rows,
            )
        )

    if not r.open_model.empty:
        out.append("<h2>Open model, rate steps and sign-ins</h2>")
        out += html_section(r.open_model)
    out += _n_plus_one_section(r)
    out += _statement_budget_section(r)

    out.append("<h2>Slowest requests</h2>")
    rows = [
        f"<tr><td>{datetime.fromtimestamp(s.ts_us / 1e6, UTC):%H:%M:%S.%f}</td>"
        f"<td>{_e(s.method)} {_e(s.name)}</td>"
        f"{_n(s.ms)}<td>{_e(s.status)}</td>{_trace_cell(r, s.trace_id)}</tr>"
        for s in r.slowest
    ]
    out.append(_table(["start (UTC)", "request", "ms", "status", "trace"], rows))

    coverage = r.slowest_traced
    out.append(f"<p><b>{_e(coverage.line())}</b></p>")
    missing = [n for n in coverage.names if n.traced < n.slowest]
    if missing:
        out.append(
            _table(
                ["request", "slowest traced"],
                [
                    f"<tr><td>{_e(n.method)} {_e(n.name)}</td>"
                    f"<td>{n.traced} of {n.slowest}</td></tr>"
                    for n in missing
                ],
            )
        )
    out.append(
        waterfall_section(
            r.waterfalls.drawn_groups(),
            "Each traced request from its Locust task to every SQL and Redis span, from the "
            "span archive; start ms is the offset from the trace's first span. The same "
            "waterfall in a terminal: lab trace TRACE_ID.",
        )
    )

    out.append("<h2>Infrastructure (Prometheus)</h2>")
    if r.prometheus:
        rows = [
            f"<tr><td>{_e(p.label)}</td>"
            f"<td>{'-' if p.value is None else f'{p.value:.3g} {_e(p.unit)}'}</td>"
            f"<td class='note'>{_e(p.note)}</td><td><code>{_e(p.query)}</code></td></tr>"
            for p in r.prometheus
        ]
        out.append(_table(["figure", "value", "note", "PromQL"], rows))
    if r.prometheus_note:
        out.append(f"<p class='note'>{_e(r.prometheus_note)}</p>")

    out.append("<h2>Load generator health</h2>")
    health = [f"<tr><td>status</td><td>{_e(r.health.status)}</td></tr>"]
    if r.health.locust_exit_code is not None:
        health.append(f"<tr><td>Locust exit code</td><td>{r.health.locust_exit_code}</td></tr>")
    for kind, count in sorted(r.health.event_counts.items()):
        health.append(
            f"<tr><td>event {_e(kind)}</td>"
            f"<td>{count} (e.g. {_e(r.health.event_examples[kind])})</td></tr>"
        )
    if r.health.bad_event_lines:
        health.append(
            f"<tr><td>unreadable event lines</td><td>{r.health.bad_event_lines}</td></tr>"
        )
    out.append(_table(["", ""], health))
    if r.soak is not None:
        out.append(f"<h2>Soak verdict</h2><pre>{_e(r.soak.text())}</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def _n_plus_one_section(r: Report) -> list[str]:
    """N+1 findings by route and by request name, ordered by total time across the run."""
    out = [
        "<h2>N+1 findings</h2>",
        "<p class='note'>rule: one normalised statement run "
        f"&ge; {r.targets.n_plus_one_min_repeats} times in one server span, sequentially "
        "(never overlapping), whatever the time"
        + (
            f" (and totalling &ge; {r.targets.n_plus_one_min_total_ms:g} ms)"
            if r.targets.n_plus_one_min_total_ms > 0
            else ""
        )
        + "; ordered by total time across the run</p>",
    ]
    if not r.n_plus_one:
        return [*out, "<p>none found</p>"]
    for label, findings in (("route", r.n_plus_one), ("request name", r.n_plus_one_by_name)):
        if not findings:
            continue
        rows = [
            f"<tr><td>{_e(f.route)}</td><td><code>{_e(f.statement[:300])}</code></td>"
            f"<td>{_e(f.where())}</td>{_n(f.mean_repeats)}{_n(f.max_repeats, '{:d}')}"
            f"{_n(f.mean_total_ms, '{:.2f}')}{_n(100 * f.share_of_time)}{_n(f.total_ms)}"
            f"<td>{_e(f.fix or '-')}</td>{_trace_cell(r, f.example_trace_id)}</tr>"
            for f in findings
        ]
        headers = [
            label,
            "statement (normalised)",
            "where",
            "repeats/req",
            "max",
            "ms/req",
            "% of time",
            "total ms",
            "likely fix",
            "example trace",
        ]
        out.append(_table(headers, rows))
    return out


def _statement_budget_section(r: Report) -> list[str]:
    """Statements per traced request by route, against the budgets of targets.toml."""
    if not r.statement_counts:
        return []
    rows = []
    for c in r.statement_counts:
        cls = " class='fail'" if c.breached else ""
        budget = "-" if c.budget is None else str(c.budget)
        verdict = "FAIL" if c.breached else ("pass" if c.budget is not None else "")
        rows.append(
            f"<tr{cls}><td>{_e(c.route)}</td>{_n(c.requests, '{:d}')}{_n(c.median, '{:g}')}"
            f"{_n(c.p95, '{:d}')}{_n(c.max, '{:d}')}<td>{_e(budget)}</td><td>{verdict}</td></tr>"
        )
    return [
        "<h2>Query budgets (statements per request)</h2>",
        "<p class='note'>PostgreSQL statements per traced request of each server route; the "
        "p95 must not exceed the route's budget ([statement_budgets] in targets.toml)</p>",
        _table(["route", "traced", "median", "p95", "max", "budget", ""], rows),
    ]


def _workflow_section(r: Report) -> list[str]:
    if not r.workflows:
        return []
    rows = [
        f"<tr><td>{_e(w.name)}</td>{_n(w.count, '{:d}')}{_n(w.failures, '{:d}')}"
        f"{_n(100 * w.success_ratio, '{:.1f} %')}"
        f"{_n(w.p50_ms)}{_n(w.p95_ms)}{_n(w.p99_ms)}{_n(w.max_ms)}{_n(w.per_s, '{:.2f}')}"
        f"{_n(w.mean_requests)}{_trace_cell(r, w.slowest_trace_id)}"
        f"<td>{'<code>' + _e(w.top_failure) + '</code>' if w.top_failure else '-'}</td></tr>"
        for w in r.workflows
    ]
    headers = ["workflow", "count", "failed", "success", "p50 ms", "p95 ms", "p99 ms"]
    headers += ["max ms", "per s", "requests each", "slowest trace", "most frequent failure"]
    return [
        "<h2>Workflows</h2>",
        "<p class='note'>One transaction per workflow task of the source document, timed from "
        "its first request to its last; it failed when a step failed or the workflow did not "
        "reach its end (a sale with nothing to sell). Its span is the task span of its trace.</p>",
        _table(headers, rows),
    ]


def _pair(values: tuple[float | None, float | None]) -> str:
    return _n(values[0], "{:.0f}") + _n(values[1], "{:.0f}")


def _browser_section(r: Report) -> list[str]:
    """Page load (browser): real Chromium users, per page, beside the HTML request time."""
    b = r.browser
    if b is None:
        return []
    rows = []
    for p in b.pages:
        cls = "" if p.ok else " class='fail'"
        share = "-" if p.front_end_share is None else f"{p.front_end_share:.0%}"
        rows.append(
            f"<tr{cls}><td>{_e(p.page)}</td>{_n(p.loads, '{:d}')}{_n(p.failures, '{:d}')}"
            f"{_pair(p.ttfb_ms)}{_pair(p.dom_content_loaded_ms)}{_pair(p.load_ms)}"
            f"{_pair(p.lcp_ms)}{_n(p.resources, '{:.0f}')}{_n(p.transfer_kib)}"
            f"{_pair(p.html_ms)}{_n(p.front_end_ms, '{:.0f}')}<td class='n'>{share}</td>"
            f"<td>&lt; {p.target_ms:.0f}</td><td>{'pass' if p.ok else 'FAIL'}</td></tr>"
        )
    headers = [
        "page", "loads", "fail", "TTFB p50", "TTFB p95", "DCL p50", "DCL p95",
        "load p50", "load p95", "LCP p50", "LCP p95", "resources", "KiB",
        "HTML p50", "HTML p95", "front end ms", "front end", "target", "",
    ]  # fmt: skip
    out = [
        "<h2 id='page-load-browser'>Page load (browser)</h2>",
        "<p class='note'>Chromium browser users; times in ms from the navigation's start. "
        "Target: load event p95. HTML = the HTTP users' request for the same page. "
        "Front end = load - TTFB (p50s).</p>",
        _table(headers, rows),
    ]
    median, peak = b.memory_mib
    if median is not None:
        out.append(
            f"<p>Chromium memory per browser user (PSS of its process tree): median "
            f"{median:.0f} MiB, max {peak:.0f} MiB.</p>"
        )
    out.append(f"<h3>Asset findings</h3><p>{b.assets} static assets seen, {b.repeat_loads} "
               "loads on repeat visits.</p>")  # fmt: skip
    if b.findings:
        out.append(
            "<ul class='asset-findings'>"
            + "".join(f"<li>{_e(f.line())}</li>" for f in b.findings)
            + "</ul>"
        )
    else:
        judged = (
            ""
            if b.notes
            else (": every asset compressed, cacheable and taken from the cache on repeat visits")
        )
        out.append(f"<p class='asset-findings'>none found{judged}.</p>")
    out += [f"<p class='note'>{_e(note)}</p>" for note in b.notes + b.skipped_parts]
    return out
