"""`lab calibrate`: measure the A/A noise floor from repeated runs of unchanged code.

Either from runs that already exist (`lab calibrate RUN1,RUN2,RUN3` or a glob), or by
running one profile several times (`lab calibrate --repeats 5 -- --profile load --users
20 --duration 2m --local`, the options after `--` being `lab run`'s own). Writes
`<runs>/noise-floor.json` (lab/noise_floor.py) and prints the spread per request name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lab.compare import condition_warnings, load_sample
from lab.errors import EXIT_OK, LabError
from lab.noise_floor import MIN_CALIBRATION_RUNS, conditions_of, read_floor, write_floor
from lab.runs_dir import list_run_dirs


def repeat_runs(
    root: Path, repeats: int, run_once: Callable[[], int], *, what: str = "calibration run"
) -> list[Path]:
    """Call `run_once` `repeats` times; each must leave exactly one new run folder."""
    made: list[Path] = []
    for i in range(repeats):
        print(f"--- {what} {i + 1}/{repeats}" if repeats > 1 else f"--- {what}", flush=True)
        before = set(list_run_dirs(root))
        code = run_once()
        new = sorted(set(list_run_dirs(root)) - before)
        if len(new) != 1:
            raise LabError(f"{what} {i + 1} left {len(new)} run folders (exit {code}): stopping")
        if code not in (0, 1):  # 1 is a breached target: the run itself is complete
            raise LabError(f"{what} {i + 1} ({new[0].name}) ended with exit {code}: stopping")
        made += new
    return made


def calibrate(root: Path, run_dirs: list[Path]) -> Path:
    if len(run_dirs) < MIN_CALIBRATION_RUNS:
        raise LabError(
            f"a noise floor needs at least {MIN_CALIBRATION_RUNS} runs of the same profile "
            f"(got {len(run_dirs)}); 5 or more give a usable estimate"
        )
    samples = [load_sample(d) for d in run_dirs]
    conditions = conditions_of(samples[0].meta)
    for sample in samples[1:]:
        other = conditions_of(sample.meta)
        if other != conditions:
            diff = [k for k in conditions if conditions[k] != other[k]]
            raise LabError(
                f"runs differ in {', '.join(diff)}: {samples[0].run_id} and {sample.run_id} "
                "are not repeats of the same profile"
            )
    for warning in condition_warnings(samples):
        print(f"warning: {warning}", file=sys.stderr)
    return write_floor(
        root, [s.run_id for s in samples], conditions, [s.percentiles() for s in samples]
    )


def render_floor(path: Path) -> str:
    import json

    floor = read_floor(path)
    names = json.loads(path.read_text())["names"]
    header = ["request", "runs", "p50 ms", "p50 spread", "p95 ms", "p95 spread"]
    rows = []
    for label in sorted(names, key=lambda k: k.split(" ", 1)[-1]):
        p50, p95 = names[label].get("p50", {}), names[label].get("p95", {})
        rows.append(
            [
                label,
                str(p50.get("runs", "-")),
                str(p50.get("median_ms", "-")),
                f"±{p50['spread_pct']:.1f}%" if p50 else "-",
                str(p95.get("median_ms", "-")),
                f"±{p95['spread_pct']:.1f}%" if p95 else "-",
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [f"noise floor from {len(floor.runs)} runs ({', '.join(floor.runs)}): {path}"]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    ]
    lines.append(
        "spread: standard deviation of log(percentile) across runs, as a relative change; "
        "a change within it is 'within noise'"
    )
    return "\n".join(lines)


def run_calibrate(
    root: Path,
    run_dirs: list[Path],
    repeats: int | None,
    run_args: argparse.Namespace | None,
) -> int:
    if run_dirs and repeats:
        raise LabError("give either existing runs or --repeats N -- RUN OPTIONS, not both")
    if repeats is not None:
        if repeats < MIN_CALIBRATION_RUNS:
            raise LabError(f"--repeats must be at least {MIN_CALIBRATION_RUNS}")
        from lab.runner import RunOptions, run_profile, validate

        if run_args is None:
            raise LabError("--repeats needs the run's options after --, e.g. -- --profile load")
        options = RunOptions.from_args(run_args, root)
        validate(options)  # refuse bad run options before the first run starts
        run_dirs = repeat_runs(root, repeats, lambda: run_profile(options))
    elif not run_dirs:
        raise LabError("name the runs to calibrate from, or --repeats N -- RUN OPTIONS")
    path = calibrate(root, run_dirs)
    print(render_floor(path))
    return EXIT_OK
