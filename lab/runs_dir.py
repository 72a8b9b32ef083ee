"""Where runs live, and how a user's RUN argument is resolved (safely) to a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.contract import atomic_write, is_run_id, runs_dir_from
from lab.errors import LabError


def runs_root(explicit: str | None = None) -> Path:
    """The runs folder: `--runs-dir`, else `LAB_RUNS_DIR`, else `./runs`."""
    return runs_dir_from(explicit)


def resolve_run(root: Path, run: str) -> Path:
    """The folder of run `run` inside `root`; LabError (exit 2) for anything else.

    Only a plain run id is accepted: no path separators, no `..`, no absolute path, the
    run id format, an existing folder directly inside the runs folder. A command given a
    refused name writes nothing, so `lab report ../../etc` or `lab report app` cannot
    write outside the runs folder.
    """
    if "/" in run or "\\" in run or run in (".", "..") or not is_run_id(run):
        raise LabError(
            f"unknown run {run!r}: give a run id (e.g. 20260101-120000-load-3fa2) of a folder "
            f"in {root}, not a path (list runs with `lab runs`)"
        )
    folder = root / run
    if not folder.is_dir() or folder.is_symlink():
        raise LabError(f"unknown run {run!r}: no folder {folder} (list runs with `lab runs`)")
    return folder


def list_run_dirs(root: Path) -> list[Path]:
    """Run folders under `root`, oldest first (ids sort by time)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and is_run_id(p.name))


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when missing or unreadable (a crashed run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """lab.contract.atomic_write, under the name the report modules use."""
    atomic_write(path, text)
