"""Is the run trustworthy? Status from meta.json, load generator events from events.jsonl."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Event kinds (locustfiles/_plugin.py) that mean the generator, not the app, may have
# limited the numbers, or that the per-request record misses requests.
UNTRUSTWORTHY_KINDS = {"worker_lost", "cpu_warning", "record_incomplete", "untrustworthy"}


@dataclass
class Health:
    status: str  # meta status: completed, interrupted, failed, running (crashed) or missing
    partial_reasons: list[str] = field(default_factory=list)
    event_counts: Counter[str] = field(default_factory=Counter)
    event_examples: dict[str, str] = field(default_factory=dict)
    bad_event_lines: int = 0
    locust_exit_code: int | None = None

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    @property
    def untrustworthy_reasons(self) -> list[str]:
        reasons = [
            f"{self.event_counts[kind]} x {kind}"
            for kind in sorted(UNTRUSTWORTHY_KINDS)
            if self.event_counts[kind]
        ]
        return reasons

    @property
    def trustworthy(self) -> bool:
        return not self.untrustworthy_reasons and not self.partial


def assess(run_dir: Path, meta: dict[str, Any] | None, request_parts: int) -> Health:
    status = str(meta.get("status", "unknown")) if meta else "missing"
    health = Health(status=status)
    if meta is None:
        health.partial_reasons.append("meta.json missing or unreadable")
    elif status == "running":
        health.partial_reasons.append("run never finished (status running: crashed or still going)")
    elif status == "interrupted":
        health.partial_reasons.append("run interrupted (Ctrl-C): shorter than planned")
    elif status == "failed":
        health.partial_reasons.append("load generator failed to run")
    if request_parts == 0:
        health.partial_reasons.append("no per-request records")
    if meta is not None and isinstance(meta.get("locust_exit_code"), int):
        health.locust_exit_code = meta["locust_exit_code"]
    events = run_dir / "events.jsonl"
    if events.is_file():
        with events.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                    kind = str(event["kind"])
                except (ValueError, KeyError, TypeError):
                    health.bad_event_lines += 1  # a torn last line after a crash
                    continue
                health.event_counts[kind] += 1
                health.event_examples.setdefault(kind, str(event.get("detail", ""))[:200])
    return health
