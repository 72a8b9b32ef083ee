"""`runs/<id>/events.jsonl`: the master's writer (the line format and the reader are
`lab.contract.event_line` and `lab.contract.read_events`).

Only the master (or the single local process) writes it; each line is written
with one `write` call on a file opened for appending, so a crash never leaves
half a line behind another.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lab.contract import UNTRUSTWORTHY_EVENTS, event_line

logger = logging.getLogger(__name__)


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.kinds_written: list[str] = []

    def write(self, kind: str, **detail: Any) -> None:
        line = event_line(kind, detail)
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
