"""The live progress line of `lab run`, from Locust's own stats history CSV."""

from __future__ import annotations

import csv
from pathlib import Path


def read_latest(history_csv: Path) -> dict[str, str] | None:
    """The last 'Aggregated' row Locust appended, or None before the first one."""
    try:
        with history_csv.open(newline="", encoding="utf-8") as handle:
            last = None
            for row in csv.DictReader(handle):
                if row.get("Name") == "Aggregated":
                    last = row
            return last
    except (OSError, csv.Error):
        return None


def format_line(row: dict[str, str] | None, elapsed_s: float) -> str:
    if row is None:
        return f"[{elapsed_s:5.0f}s] starting Locust..."

    def num(key: str) -> float:
        try:
            return float(row.get(key) or 0)
        except ValueError:
            return 0.0

    total, failures = num("Total Request Count"), num("Total Failure Count")
    ratio = failures / total if total else 0.0
    p95 = row.get("95%", "N/A")
    return (
        f"[{elapsed_s:5.0f}s] users {num('User Count'):.0f}  req/s {num('Requests/s'):.1f}  "
        f"requests {total:.0f}  failures {failures:.0f} ({ratio:.1%})  p95 {p95} ms"
    )
