"""The targets a run is checked against: `lab/targets.toml`, or the run's own copy.

`lab run` copies the targets it was given into `runs/<id>/targets.toml`; the
load generator reads the same file, so Locust's exit code and the lab report
judge a run by one set of numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunTargets:
    page_p95_ms: float = 2000.0
    api_p95_ms: float = 500.0
    failure_ratio: float = 0.01
    api_prefix: str = "/api/"

    def is_api(self, name: str) -> bool:
        return name.startswith(self.api_prefix)

    def p95_target_ms(self, name: str) -> float:
        return self.api_p95_ms if self.is_api(name) else self.page_p95_ms


def load_run_targets(run_dir: Path) -> RunTargets:
    """Targets from `lab.targets` (defaults, then `run_dir/targets.toml`)."""
    try:
        from lab.errors import LabError
        from lab.targets import load_targets
    except ImportError:
        logger.warning("package `lab` not importable; using the built-in default targets")
        return RunTargets()
    try:
        targets = load_targets(run_dir=run_dir)
    except LabError as exc:
        logger.error("targets: %s; using the built-in default targets", exc.message)
        return RunTargets()
    return RunTargets(
        page_p95_ms=float(targets.page_p95_ms),
        api_p95_ms=float(targets.api_p95_ms),
        failure_ratio=float(targets.failure_ratio),
        api_prefix=str(targets.api_prefix),
    )
