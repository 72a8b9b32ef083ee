"""`runs/<id>/events.jsonl`: one `{"ts","kind","detail"}` object per line.

Only the master (or the single local process) writes it; each line is written
with one `write` call on a file opened for appending, so a crash never leaves
half a line behind another.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.contract import UNTRUSTWORTHY_EVENTS

logger = logging.getLogger(__name__)


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.kinds_written: list[str] = []

    def write(self, kind: str, **detail: Any) -> None:
        line = json.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "kind": kind,
                "detail": detail,
            },
            sort_keys=True,
            default=str,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:  # the run goes on; the log line says what was lost
            logger.error("could not append to %s: %s (event %s)", self.path, exc, line)
        self.kinds_written.append(kind)

    @property
    def untrustworthy_reasons(self) -> list[str]:
        return sorted({kind for kind in self.kinds_written if kind in UNTRUSTWORTHY_EVENTS})


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every well-formed line of an events file (a torn last line is skipped)."""
    if not path.is_file():
        return []
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            events.append(item)
    return events
