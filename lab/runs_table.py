"""`lab runs`: one line per run folder, from meta.json and the last report's digest."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from lab.contract import RunFolder
from lab.runs_dir import list_run_dirs, read_json
from lab.window import parse_time


def _record_count(run_dir: Path) -> int | None:
    """Rows in the request parts, from Parquet footers only (cheap, no data read)."""
    total = 0
    for part in RunFolder(run_dir).request_parts():
        try:
            total += pq.ParquetFile(part).metadata.num_rows
        except Exception:  # noqa: S112 - a damaged part is reported by `lab report`
            continue
    return total


def table(root: Path) -> str:
    header = (
        "run",
        "profile",
        "scale",
        "users",
        "status",
        "duration",
        "requests",
        "p95 ms",
        "verdict",
    )
    rows = []
    for run_dir in list_run_dirs(root):
        folder = RunFolder(run_dir)
        meta = read_json(folder.meta) or {}
        digest = read_json(folder.report_json) or {}
        start, end = parse_time(meta.get("started_at")), parse_time(meta.get("ended_at"))
        duration = f"{end - start:.0f} s" if start is not None and end is not None else "-"
        p95 = digest.get("p95_ms")
        rows.append(
            (
                run_dir.name,
                str(meta.get("profile", "?")),
                str(meta.get("scale", "?")),
                str(meta.get("users", "?")),
                str(meta.get("status", "missing meta")),
                duration,
                str(digest.get("requests", _record_count(run_dir))),
                "-" if p95 is None else f"{p95:.0f}",
                str(digest.get("verdict", "no report")),
            )
        )
    if not rows:
        return f"no runs in {root} (start one with `make smoke` or `lab run --profile smoke`)"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    )
