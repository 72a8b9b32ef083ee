"""runs/<id>/meta.json: what was run, on what, with which code and limits."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.contract import RunFolder, atomic_write

REPO_ROOT = Path(__file__).resolve().parents[1]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_revision(repo: Path = REPO_ROOT) -> str | None:
    """HEAD's commit, with `-dirty` when the tree has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, like a developer
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def read_env_files(repo: Path = REPO_ROOT) -> dict[str, str]:
    """KEY=VALUE pairs of .env then .env.override (the latter wins), comments skipped."""
    values: dict[str, str] = {}
    for name in (".env", ".env.override"):
        path = repo / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values


def images_and_limits(env: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Image tags (`*_IMAGE`) and per-service limits (`LAB_<SERVICE>_CPUS` / `_MEM`)."""
    images = {k: v for k, v in env.items() if k.endswith("_IMAGE")}
    limits: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        for suffix, field in (("_CPUS", "cpus"), ("_MEM", "memory")):
            if key.startswith("LAB_") and key.endswith(suffix):
                service = key[len("LAB_") : -len(suffix)].lower()
                limits.setdefault(service, {})[field] = value
    return images, limits


def machine_facts() -> dict[str, Any]:
    memory_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory_kib * 1024 if memory_kib else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def initial_meta(
    *,
    run_id: str,
    profile: str,
    users: int | None,
    spawn_rate: float | None,
    duration: str | None,
    workers: int,
    scenario: str | None,
    scale: str | None,
    target: str,
    mode: str,
    command: list[str],
) -> dict[str, Any]:
    env = read_env_files()
    images, limits = images_and_limits(env)
    return {
        "run_id": run_id,
        "profile": profile,
        "users": users,
        "spawn_rate": spawn_rate,
        "duration": duration,
        "workers": workers,
        "scenario": scenario,
        "scale": scale or os.environ.get("LAB_SCALE") or env.get("LAB_SCALE") or env.get("SCALE"),
        "target": target,
        "mode": mode,
        "command": command,
        "git_rev": git_revision(),
        "images": images if mode == "compose" else {},
        "limits": limits if mode == "compose" else {},
        "lab_faults": os.environ.get("LAB_FAULTS") or env.get("LAB_FAULTS") or "",
        "machine": machine_facts(),
        "started_at": now_iso(),
        "ended_at": None,
        "status": "running",
    }


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    atomic_write(RunFolder(run_dir).meta, json.dumps(meta, indent=2) + "\n")
