"""The A/A noise floor: how much runs of unchanged code differ on this machine.

`lab calibrate` writes `<runs>/noise-floor.json` from several runs of one profile; `lab
compare` and `lab ab` read it to judge a change against that spread. Per request name
("GET /inventory/") and percentile it holds the standard deviation of log(percentile)
across the runs, so a spread of 0.10 means runs typically differ by about 10 %.

A floor only describes runs like the ones it was measured on: it is used when the compared
runs share its profile, scale, users and duration, and ignored (with a warning) otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.across_runs import Spread, spread_of
from lab.errors import LabError
from lab.meta import now_iso
from lab.runs_dir import write_atomic

FILE_NAME = "noise-floor.json"
PERCENTILES = {"p50": 0.50, "p95": 0.95}
# Meta fields that must match between the floor's runs and the compared runs.
CONDITIONS = ("profile", "scale", "users", "duration", "mode", "scenario")
MIN_CALIBRATION_RUNS = 3

# run label ("GET /inventory/") -> percentile label ("p50") -> that run's value (us)
PerRun = dict[str, dict[str, float]]


def conditions_of(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: meta.get(key) for key in CONDITIONS}


@dataclass(frozen=True)
class NoiseFloor:
    path: Path
    conditions: dict[str, Any]
    runs: list[str]
    spreads: dict[str, dict[str, Spread]]  # label -> "p50"/"p95" -> Spread

    def spread(self, label: str, percentile: str) -> Spread | None:
        return self.spreads.get(label, {}).get(percentile)

    def mismatch(self, meta: dict[str, Any]) -> list[str]:
        """Conditions in which `meta` differs from the floor's runs."""
        mine = conditions_of(meta)
        return [
            f"{key} {mine[key]!r} (floor: {self.conditions.get(key)!r})"
            for key in CONDITIONS
            if mine[key] != self.conditions.get(key)
        ]


def measure(per_run: list[PerRun]) -> dict[str, dict[str, Spread]]:
    """Spread per label and percentile over the runs that have that label."""
    labels = sorted({label for run in per_run for label in run})
    spreads: dict[str, dict[str, Spread]] = {}
    for label in labels:
        for pct in PERCENTILES:
            values = [run[label][pct] for run in per_run if label in run]
            spread = spread_of(values)
            if spread is not None:
                spreads.setdefault(label, {})[pct] = spread
    return spreads


def write_floor(
    root: Path, run_ids: list[str], conditions: dict[str, Any], per_run: list[PerRun]
) -> Path:
    spreads = measure(per_run)
    names: dict[str, Any] = {}
    for label, by_pct in spreads.items():
        names[label] = {}
        for pct, spread in by_pct.items():
            values = [run[label][pct] for run in per_run if label in run]
            names[label][pct] = {
                "sd_log": round(spread.sd_log, 6),
                "runs": spread.runs,
                "spread_pct": round(100 * spread.percent, 2),
                "median_ms": round(sorted(values)[len(values) // 2] / 1000, 3),
            }
    document = {
        "created_at": now_iso(),
        "runs": run_ids,
        "conditions": conditions,
        "names": names,
    }
    path = root / FILE_NAME
    write_atomic(path, json.dumps(document, indent=2) + "\n")
    return path


def read_floor(path: Path) -> NoiseFloor:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        spreads = {
            label: {
                pct: Spread(float(entry["sd_log"]), int(entry["runs"]))
                for pct, entry in by_pct.items()
                if pct in PERCENTILES and math.isfinite(float(entry["sd_log"]))
            }
            for label, by_pct in document["names"].items()
        }
        return NoiseFloor(path, dict(document["conditions"]), list(document["runs"]), spreads)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError(f"noise floor {path} is unreadable ({type(exc).__name__}): "
                       "run `lab calibrate` again") from exc  # fmt: skip
