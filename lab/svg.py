"""Inline SVG charts (no scripts, no external assets): line charts and stacked bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    x_label: str = "seconds",
    y_label: str = "",
    width: int = 720,
    height: int = 200,
    bands: Sequence[tuple[float, float, str]] = (),
) -> str:
    """`bands`: (x start, x end, label) spans shaded behind the lines (e.g. injected faults)."""
    left, right, top, bottom = 60, 10, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="15" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    if not xs:
        parts.append(f'<text x="{left}" y="{top + 20}" font-size="12">no data</text></svg>')
        return "".join(parts)
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y1 = _nice_max(max(ys))

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y / y1) * plot_h

    for frac in (0, 0.5, 1):
        y = sy(y1 * frac)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{y1 * frac:g}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 4}" font-size="10" text-anchor="end">'
        f"{escape(x_label)} (0 - {x1 - x0:.0f})</text>"
    )
    if y_label:
        parts.append(f'<text x="4" y="{top - 4}" font-size="10">{escape(y_label)}</text>')
    for start, end, label in bands:
        a, b = max(sx(start), left), min(sx(max(end, start + (x1 - x0) / plot_w)), left + plot_w)
        if b <= a:
            continue
        parts.append(
            f'<rect x="{a:.1f}" y="{top}" width="{b - a:.1f}" height="{plot_h}" fill="#f4b400" '
            f'fill-opacity="0.25"><title>{escape(label)}</title></rect>'
            f'<text x="{a + 2:.1f}" y="{top + 10}" font-size="9">{escape(label)}</text>'
        )
    for i, (label, pts) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        parts.append(
            f'<text x="{left + 10 + 140 * i}" y="{height - 4}" font-size="10" fill="{color}">'
            f"&#9632; {escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(
    parts_ms: Sequence[tuple[str, float]], *, width: int = 300, height: int = 14
) -> str:
    """One horizontal bar split by share (e.g. network / app / db / redis)."""
    total = sum(v for _, v in parts_ms) or 1.0
    x = 0.0
    rects = []
    for i, (label, value) in enumerate(parts_ms):
        w = value / total * width
        rects.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" '
            f'fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {value:.1f} ms</title></rect>"
        )
        x += w
    head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
    return head + "".join(rects) + "</svg>"
