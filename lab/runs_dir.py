"""Where runs live, how they are named, and how a user's RUN argument is resolved."""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.errors import LabError

RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[a-z0-9_]+-[0-9a-f]{4}$")
PROFILE_PATTERN = re.compile(r"^[a-z0-9_]+$")


def runs_root(explicit: str | None = None) -> Path:
    """The runs folder: `--runs-dir`, else `LAB_RUNS_DIR`, else `./runs`."""
    return Path(explicit or os.environ.get("LAB_RUNS_DIR") or "runs")


def new_run_id(profile: str, now: datetime | None = None) -> str:
    """`YYYYmmdd-HHMMSS-<profile>-<4 hex>` in UTC, e.g. `20260101-120000-load-3fa2`."""
    if not PROFILE_PATTERN.match(profile):
        raise LabError(f"profile name {profile!r} must be lower-case letters, digits or _")
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{profile}-{secrets.token_hex(2)}"


def resolve_run(root: Path, run: str) -> Path:
    """A run folder from an id or a path; LabError when it does not exist."""
    candidate = Path(run)
    if candidate.is_dir():
        return candidate
    by_id = root / run
    if by_id.is_dir():
        return by_id
    raise LabError(f"unknown run {run!r}: no folder {by_id} (list runs with `lab runs`)")


def list_run_dirs(root: Path) -> list[Path]:
    """Run folders under `root`, oldest first (ids sort by time)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name))


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when missing or unreadable (a crashed run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
