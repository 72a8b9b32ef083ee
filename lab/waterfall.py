"""One trace as a waterfall: its spans in tree order with offsets, durations and the gaps.

A trace of this lab is a Locust task (INTERNAL, `locust`) -> one CLIENT span per request
-> the Django SERVER span (`jewelry-app`) -> psycopg2 and Redis CLIENT spans. The rows
come out depth-first, children by start time. Inside a span that has children, the time
no child covers is a *gap* row: in a server span that is app code without a span, under a
Locust CLIENT span it is network and queueing, under the task it is Locust itself.

The model knows nothing of HTML or terminals: `lab.waterfall_html` and `lab.waterfall_text`
draw it; `lab.trace_lookup` and the report load the spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from lab.schemas import SPAN_WATERFALL_COLUMNS
from lab.sqlnorm import normalise

NS_PER_MS = 1_000_000
# Gaps shorter than this (or than 1 % of the trace) are noise, not a place time went.
GAP_MIN_MS = 1.0
GAP_MIN_SHARE = 0.01
# A trace of a large N+1 has thousands of spans: draw the first rows, count the rest.
MAX_ROWS = 400


@dataclass(frozen=True)
class Row:
    """One line of a waterfall: a span, or a gap inside a span."""

    depth: int
    is_gap: bool
    label: str  # span name, normalised statement for db spans, what a gap is
    service: str
    kind: str  # SERVER, CLIENT, INTERNAL, … ("" for a gap)
    offset_ms: float  # from the trace's first span start
    duration_ms: float
    db_system: str | None = None
    status: str = ""  # HTTP status or ERROR, when known

    @property
    def category(self) -> str:
        """What the row is, for colours and legends: task, request, server, sql, redis, gap."""
        if self.is_gap:
            return "gap"
        if self.db_system == "postgresql":
            return "sql"
        if self.db_system == "redis":
            return "redis"
        if self.kind == "SERVER":
            return "server"
        if self.kind == "CLIENT":
            return "request"
        return "task"


@dataclass(frozen=True)
class Waterfall:
    trace_id: str
    run_id: str | None
    title: str  # the request: "GET /inventory/" (or the root span's name)
    total_ms: float
    span_count: int
    rows: tuple[Row, ...]
    hidden_rows: int  # rows past MAX_ROWS, not drawn

    @property
    def server_ms(self) -> float | None:
        servers = [r.duration_ms for r in self.rows if r.category == "server"]
        return max(servers) if servers else None


def _span_label(span: Mapping[str, Any]) -> str:
    statement = span.get("db_statement")
    if span.get("db_system") and statement:
        return normalise(str(statement))
    return str(span.get("name") or "")


def _gap_label(parent: Mapping[str, Any]) -> str:
    if parent.get("service_name") == "locust":
        if parent.get("kind") == "CLIENT":
            return "network + queue"
        return "locust (between requests)"
    if parent.get("db_system"):
        return "inside the driver"
    return "app code (no span)"


def _status(span: Mapping[str, Any]) -> str:
    if span.get("status_code") == "ERROR":
        return "ERROR"
    status = span.get("http_status")
    return "" if status is None else str(status)


def _uncovered(
    start: int, end: int, children: Sequence[Mapping[str, Any]]
) -> list[tuple[int, int]]:
    """Parts of [start, end] no child interval covers (children sorted by start)."""
    gaps, cursor = [], start
    for child in children:
        child_start = max(int(child["start_unix_ns"]), start)
        if child_start > cursor:
            gaps.append((cursor, min(child_start, end)))
        cursor = max(cursor, min(int(child["end_unix_ns"]), end))
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if b > a]


def build(trace_id: str, spans: Iterable[Mapping[str, Any]]) -> Waterfall:
    """The waterfall of one trace from its span rows (dicts with SPAN_WATERFALL_COLUMNS)."""
    spans = sorted(spans, key=lambda s: (int(s["start_unix_ns"]), -int(s["end_unix_ns"])))
    if not spans:
        return Waterfall(trace_id, None, "(no spans)", 0.0, 0, (), 0)
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[Mapping[str, Any]]] = {}
    roots = []
    for span in spans:
        parent = span.get("parent_span_id")
        if parent and parent in by_id and parent != span["span_id"]:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)  # a root, or an orphan whose parent was not archived
    origin = int(spans[0]["start_unix_ns"])
    total_ns = max(int(s["end_unix_ns"]) for s in spans) - origin
    gap_min_ns = max(GAP_MIN_MS * NS_PER_MS, GAP_MIN_SHARE * total_ns)

    def ms(ns: int) -> float:
        return ns / NS_PER_MS

    rows: list[Row] = []
    visited: set[str] = set()
    # Depth-first with an explicit stack: a deep or cyclic trace cannot exhaust recursion.
    stack: list[tuple[int, Mapping[str, Any] | tuple[int, int, str]]] = [
        (0, root) for root in reversed(roots)
    ]
    while True:
        if not stack:
            # Spans left over sit in a parent cycle (a broken sender): draw them as roots.
            left = [s for s in spans if s["span_id"] not in visited]
            if not left:
                break
            stack.append((0, left[0]))
        depth, item = stack.pop()
        if isinstance(item, tuple):
            start, end, label = item
            rows.append(Row(depth, True, label, "", "", ms(start - origin), ms(end - start)))
            continue
        if item["span_id"] in visited:
            continue
        visited.add(item["span_id"])
        start, end = int(item["start_unix_ns"]), int(item["end_unix_ns"])
        rows.append(
            Row(
                depth,
                False,
                _span_label(item),
                str(item.get("service_name") or ""),
                str(item.get("kind") or ""),
                ms(start - origin),
                ms(end - start),
                item.get("db_system"),
                _status(item),
            )
        )
        kids = children.get(item["span_id"], [])
        if not kids:
            continue
        gaps = [
            (a, b, _gap_label(item)) for a, b in _uncovered(start, end, kids) if b - a >= gap_min_ns
        ]
        merged: list[tuple[int, Mapping[str, Any] | tuple[int, int, str]]] = sorted(
            [(int(k["start_unix_ns"]), k) for k in kids] + [(g[0], g) for g in gaps],
            key=lambda pair: pair[0],
        )
        stack.extend((depth + 1, entry) for _, entry in reversed(merged))

    title = _title(spans)
    run_id = next((s.get("run_id") for s in spans if s.get("run_id")), None)
    return Waterfall(
        trace_id,
        run_id,
        title,
        ms(total_ns),
        len(spans),
        tuple(rows[:MAX_ROWS]),
        max(0, len(rows) - MAX_ROWS),
    )


def _title(spans: Sequence[Mapping[str, Any]]) -> str:
    """The request the trace is about: its server span's name, else its first CLIENT span's,
    else the root's."""
    for kind in ("SERVER", "CLIENT"):
        for span in spans:
            if span.get("kind") == kind and not span.get("db_system"):
                return str(span.get("name") or "")
    return str(spans[0].get("name") or "")


def _select(source: str) -> str:
    return f"SELECT {', '.join(SPAN_WATERFALL_COLUMNS)} FROM {source}"  # noqa: S608 - fixed names


def spans_by_trace(
    con: duckdb.DuckDBPyConnection, trace_ids: Sequence[str], source: str = "spans"
) -> dict[str, list[dict[str, Any]]]:
    """Every span of the given traces from `source` (a table or a read_parquet(...) call)."""
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in trace_ids}
    if not trace_ids:
        return found
    cursor = con.execute(
        f"{_select(source)} WHERE trace_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(trace_ids)],
    )
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        span = dict(zip(names, row, strict=True))
        found[span["trace_id"]].append(span)
    return found


def build_many(
    con: duckdb.DuckDBPyConnection, trace_ids: Sequence[str], source: str = "spans"
) -> dict[str, Waterfall]:
    """Waterfalls of the given traces (those with at least one span), in the given order."""
    spans = spans_by_trace(con, trace_ids, source)
    return {t: build(t, spans[t]) for t in trace_ids if spans[t]}
