"""Waterfalls as inline HTML (no script, no external file): a table per trace, bars in CSS."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from lab.waterfall import Waterfall

WATERFALL_CSS = """
table.wf{width:100%;table-layout:fixed;margin:.3em 0 1em}
table.wf td{border:none;border-bottom:1px solid #eee;padding:1px 5px;white-space:nowrap;
overflow:hidden;text-overflow:ellipsis;font-size:12px}
table.wf col.l{width:44%}table.wf col.s{width:9%}table.wf col.n{width:6.5%}
.wf .track{position:relative;height:12px;background:#fafafa}
.wf .b{position:absolute;top:1px;height:10px;min-width:1px;border-radius:1px}
.b.task{background:#9467bd}.b.request{background:#1f77b4}.b.server{background:#d62728}
.b.sql{background:#2ca02c}.b.redis{background:#ff7f0e}
.b.gap{background:repeating-linear-gradient(45deg,#bbb 0 3px,#eee 3px 6px)}
tr.gap td{color:#777;font-style:italic}
details.trace{margin:.4em 0;border-left:3px solid #ddd;padding-left:.6em}
details.trace:target{border-left-color:#d62728}
details.trace summary{cursor:pointer;font-size:13px}
"""

LEGEND = (
    "<span style='color:#9467bd'>&#9632; Locust task</span> "
    "<span style='color:#1f77b4'>&#9632; client request</span> "
    "<span style='color:#d62728'>&#9632; Django server</span> "
    "<span style='color:#2ca02c'>&#9632; SQL</span> "
    "<span style='color:#ff7f0e'>&#9632; Redis</span> "
    "<span style='color:#777'>&#9638; gap: time no child span covers (in the server: app code)"
    "</span>"
)


def anchor(trace_id: str) -> str:
    """The in-page id of a trace's waterfall (`#trace-<id>` links to it)."""
    return f"trace-{trace_id}"


def _bar(w: Waterfall, offset_ms: float, duration_ms: float, category: str) -> str:
    total = w.total_ms or 1.0
    left = min(100.0, 100.0 * offset_ms / total)
    width = min(100.0 - left, 100.0 * duration_ms / total)
    return (
        f"<div class='track'><span class='b {category}' "
        f"style='left:{left:.2f}%;width:{width:.2f}%'></span></div>"
    )


def render(w: Waterfall, heading: str, *, open_: bool = True) -> str:
    """One trace as a `<details>` block with id `trace-<trace id>`."""
    rows = []
    for row in w.rows:
        indent = 4 + 14 * row.depth
        status = f" [{escape(row.status)}]" if row.status else ""
        label = escape(row.label)
        rows.append(
            f"<tr class='{row.category}'>"
            f"<td style='padding-left:{indent}px' title='{label}'>{label}{status}</td>"
            f"<td>{escape(row.service)}</td>"
            f"<td class='n'>{row.offset_ms:.1f}</td><td class='n'>{row.duration_ms:.1f}</td>"
            f"<td>{_bar(w, row.offset_ms, row.duration_ms, row.category)}</td></tr>"
        )
    if w.hidden_rows:
        rows.append(
            f"<tr><td colspan='5' class='note'>… {w.hidden_rows} more rows not drawn "
            f"(lab trace {escape(w.trace_id)} prints them all)</td></tr>"
        )
    summary = (
        f"{escape(heading)}: <b>{w.total_ms:.1f} ms</b>, {w.span_count} spans, "
        f"trace <code>{escape(w.trace_id)}</code>"
    )
    return (
        f"<details class='trace' id='{anchor(w.trace_id)}'{' open' if open_ else ''}>"
        f"<summary>{summary}</summary>"
        "<table class='wf'><colgroup><col class='l'><col class='s'><col class='n'>"
        "<col class='n'><col></colgroup>"
        "<tr><th>span</th><th>service</th><th>start ms</th><th>ms</th><th>timeline</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def section(groups: Sequence[tuple[str, Sequence[tuple[str, Waterfall]]]], note: str) -> str:
    """The report's waterfall section: (group title, [(heading, waterfall)]) in order.

    A trace listed twice (the slowest request of its route and an N+1 example) is drawn
    once; its second mention links to the first.
    """
    out = [
        "<h2 id='waterfalls'>Trace waterfalls</h2>",
        f"<p class='note'>{escape(note)}</p>",
        f"<p class='note'>{LEGEND}</p>",
    ]
    if not any(items for _, items in groups):
        out.append("<p class='note'>no traced requests in this run</p>")
    drawn: set[str] = set()
    for title, items in groups:
        if not items:
            continue
        out.append(f"<h3>{escape(title)}</h3>")
        for heading, w in items:
            if w.trace_id in drawn:
                out.append(
                    f"<p class='note'>{escape(heading)}: the trace "
                    f"<a href='#{anchor(w.trace_id)}'><code>{escape(w.trace_id)}</code></a> "
                    "drawn above</p>"
                )
                continue
            drawn.add(w.trace_id)
            out.append(render(w, heading))
    return "\n".join(out)
