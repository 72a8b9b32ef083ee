"""`lab trace TRACE_ID [--run RUN]`: one archived trace as a waterfall in the terminal."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from lab.errors import EXIT_OK
from lab.trace_lookup import find_trace, parse_trace_id
from lab.waterfall import build
from lab.waterfall_text import render


def run_trace(root: Path, trace_text: str, run_dir: Path | None) -> int:
    trace_id = parse_trace_id(trace_text)
    found_in, spans = find_trace(root, trace_id, run_dir)
    waterfall = build(trace_id, spans)
    encoding = (sys.stdout.encoding or "").lower()
    print(
        render(
            waterfall,
            columns=shutil.get_terminal_size((120, 24)).columns,
            unicode=encoding.startswith("utf"),
        )
    )
    if waterfall.run_id != found_in.name:
        print(f"(found in {found_in})")
    return EXIT_OK
