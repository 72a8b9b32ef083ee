"""The targets a run is checked against: `lab/targets.toml`, or the run's own copy.

`lab run` copies the targets it was given into `runs/<id>/targets.toml`; the
load generator reads the same file, so Locust's exit code and the lab report
judge a run by one set of numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

from lab.errors import LabError
from lab.targets import Targets, load_targets

logger = logging.getLogger(__name__)

# Every default is lab/targets.py's (one place for thresholds, issue 15 item 4).
_DEFAULTS = Targets()


@dataclass(frozen=True)
class RunTargets:
    """The part of `lab.targets.Targets` the load generator judges a run by."""

    page_p95_ms: float = _DEFAULTS.page_p95_ms
    api_p95_ms: float = _DEFAULTS.api_p95_ms
    failure_ratio: float = _DEFAULTS.failure_ratio
    api_prefix: str = _DEFAULTS.api_prefix
    # [abort] and [generator] of lab/targets.toml
    abort_on_breach: bool = _DEFAULTS.abort_on_breach
    abort_window_s: float = _DEFAULTS.abort_window_s
    abort_every_s: float = _DEFAULTS.abort_every_s
    abort_consecutive: int = _DEFAULTS.abort_consecutive
    abort_warmup_s: float = _DEFAULTS.abort_warmup_s
    abort_min_requests: int = _DEFAULTS.abort_min_requests
    generator_cpu_max_pct: float = _DEFAULTS.generator_cpu_max_pct
    generator_cpu_sustained_s: float = _DEFAULTS.generator_cpu_sustained_s

    def is_api(self, name: str) -> bool:
        return name.startswith(self.api_prefix)

    def p95_target_ms(self, name: str) -> float:
        return self.api_p95_ms if self.is_api(name) else self.page_p95_ms


def load_run_targets(run_dir: Path) -> RunTargets:
    """Targets from `lab.targets` (defaults, then `run_dir/targets.toml`)."""
    try:
        targets = load_targets(run_dir=run_dir)
    except LabError as exc:
        logger.error("targets: %s; using the built-in default targets", exc.message)
        return RunTargets()
    return RunTargets(**{f.name: getattr(targets, f.name) for f in fields(RunTargets)})
