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
    # [abort] and [generator] of lab/targets.toml (defaults: lab.targets.Targets)
    abort_on_breach: bool = False
    abort_window_s: float = 60.0
    abort_every_s: float = 10.0
    abort_consecutive: int = 2
    abort_warmup_s: float = 60.0
    abort_min_requests: int = 20
    generator_cpu_max_pct: float = 80.0
    generator_cpu_sustained_s: float = 20.0

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
        abort_on_breach=bool(targets.abort_on_breach),
        abort_window_s=float(targets.abort_window_s),
        abort_every_s=float(targets.abort_every_s),
        abort_consecutive=int(targets.abort_consecutive),
        abort_warmup_s=float(targets.abort_warmup_s),
        abort_min_requests=int(targets.abort_min_requests),
        generator_cpu_max_pct=float(targets.generator_cpu_max_pct),
        generator_cpu_sustained_s=float(targets.generator_cpu_sustained_s),
    )
