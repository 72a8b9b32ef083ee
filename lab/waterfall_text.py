"""Waterfalls for a terminal: one line per span or gap, a bar scaled to the trace."""

from __future__ import annotations

from lab.waterfall import Waterfall

BAR_WIDTH = 32
MIN_WIDTH = 80


def _bar(w: Waterfall, offset_ms: float, duration_ms: float, fill: str) -> str:
    total = w.total_ms or 1.0
    start = min(BAR_WIDTH - 1, int(BAR_WIDTH * offset_ms / total))
    end = max(start + 1, min(BAR_WIDTH, round(BAR_WIDTH * (offset_ms + duration_ms) / total)))
    return " " * start + fill * (end - start) + " " * (BAR_WIDTH - end)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


SOURCE_WIDTH = 18  # "jewelry-app SERVER"


def render(w: Waterfall, *, columns: int = 120, unicode: bool = True) -> str:
    columns = max(MIN_WIDTH, columns)
    span_fill, gap_fill = ("█", "░") if unicode else ("#", ".")
    # What is left once start, duration, source and the bar have their fixed widths.
    label_width = columns - 8 - 1 - 8 - 2 - SOURCE_WIDTH - 2 - 2 - BAR_WIDTH - 1
    lines = [
        _fit(
            f"trace {w.trace_id}  run {w.run_id or '-'}  {w.span_count} spans  "
            f"{w.total_ms:.1f} ms  {w.title}",
            columns,
        ),
        f"{'start ms':>8} {'ms':>8}  {'source':<{SOURCE_WIDTH}}  {'span':<{label_width}}"
        f" |{'timeline':<{BAR_WIDTH}}|",
    ]
    for row in w.rows:
        if row.is_gap:
            source, text = "", f"{'  ' * row.depth}· {row.label}"
        else:
            status = f" [{row.status}]" if row.status else ""
            source = row.db_system or f"{row.service} {row.kind}"
            text = f"{'  ' * row.depth}{row.label}{status}"
        bar = _bar(w, row.offset_ms, row.duration_ms, gap_fill if row.is_gap else span_fill)
        source = _fit(source, SOURCE_WIDTH)
        lines.append(
            f"{row.offset_ms:8.1f} {row.duration_ms:8.1f}  {source:<{SOURCE_WIDTH}}"
            f"  {_fit(text, label_width):<{label_width}} |{bar}|"
        )
    if w.hidden_rows:
        lines.append(f"… {w.hidden_rows} more rows")
    return "\n".join(lines)
