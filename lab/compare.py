"""`lab compare A B [C...]`: per request name, p50/p95 of B (and C...) against A, across runs.

Each side is one run or several (`A1,A2,A3`, or a glob: lab/run_groups.py). The verdict is
judged against run-to-run spread (lab/across_runs.py): from the side's own repeated runs,
from the A/A noise floor of `lab calibrate` (lab/noise_floor.py), or both. One run per side
without a floor shows ratios only: nothing can tell a change from noise then.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lab import query_budget
from lab.across_runs import ALPHA, AcrossRuns, adjust, compare_across_runs, spread_of
from lab.contract import RunFolder
from lab.errors import EXIT_BREACH, EXIT_OK, LabError
from lab.health import assess
from lab.machine_load import condition_differences
from lab.noise_floor import PERCENTILES, NoiseFloor, PerRun, read_floor
from lab.resample import quantile_linear
from lab.rundata import open_run
from lab.runs_dir import read_json
from lab.window import run_window
from lab.workflow_stats import WORKFLOW_METHOD, durations_by_workflow

MIN_SAMPLES = 30  # requests of a name in one run below which its percentiles are mostly noise
# Below these requests of a name in any run a percentile is not tested at all: a p95 of fewer
# than 20 values is the run's maximum (or between its top two), and three runs' maxima can
# agree by chance (a login storm's 6 token requests gave a "1.76x faster" on unchanged code).
MIN_PER_RUN_TO_JUDGE = {"p50": 5, "p95": 20}


@dataclass
class RunSample:
    run_id: str
    meta: dict[str, Any]
    duration_s: float
    values: dict[tuple[str, str], list[int]]  # (method, name) -> sorted response times (us)
    failures: dict[tuple[str, str], int]
    # Open model: sorted corrected latencies (response time + schedule lag, us) of the
    # requests that had an intended start; empty for a closed-model run.
    corrected: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def rps(self, key: tuple[str, str]) -> float:
        return len(self.values.get(key, [])) / self.duration_s if self.duration_s > 0 else 0.0

    def failure_ratio(self, key: tuple[str, str]) -> float:
        n = len(self.values.get(key, []))
        return self.failures.get(key, 0) / n if n else 0.0

    def percentiles(self) -> PerRun:
        """label -> {"p50": us, "p95": us}: this run's contribution to an across-run test."""
        return {
            label(key): {pct: quantile_linear(values, q) for pct, q in PERCENTILES.items()}
            for key, values in self.values.items()
            if values
        }


def label(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}".strip()


def load_sample(run_dir: Path) -> RunSample:
    meta = read_json(RunFolder(run_dir).meta)
    data = open_run(run_dir, with_spans=False)
    if data.request_count == 0:
        raise LabError(
            f"run {run_dir.name} has no readable per-request records: nothing to compare"
        )
    window = data.con.execute(
        "SELECT min(ts_start_us), max(ts_start_us + response_time_us) FROM requests"
    ).fetchone()
    start, end = run_window(meta, (int(window[0]), int(window[1])))
    rows = data.con.execute(
        "SELECT coalesce(method, ''), name, list(response_time_us ORDER BY response_time_us), "
        "count(failure) FROM requests GROUP BY ALL"
    ).fetchall()
    # Workflow transactions are compared like requests, labelled "WORKFLOW <name>".
    rows += [
        (WORKFLOW_METHOD, name, values, failed)
        for name, values, failed in durations_by_workflow(data.con)
    ]
    corrected = data.con.execute(
        "SELECT coalesce(method, ''), name, list(response_time_us + schedule_lag_us "
        "ORDER BY response_time_us + schedule_lag_us) FROM requests "
        "WHERE schedule_lag_us IS NOT NULL GROUP BY ALL"
    ).fetchall()
    data.con.close()
    return RunSample(
        run_id=run_dir.name,
        meta=meta or {},
        duration_s=end - start,
        values={(m, n): v for m, n, v, _ in rows},
        failures={(m, n): int(f) for m, n, _, f in rows},
        corrected={(m, n): v for m, n, v in corrected},
    )


def check_comparable(samples: list[RunSample], force: bool) -> list[str]:
    """Refuse runs of different profiles or scales unless forced; returns warnings."""
    warnings = []
    base = samples[0]
    for other in samples[1:]:
        for key in ("profile", "scale"):
            a, b = base.meta.get(key), other.meta.get(key)
            if a is None or b is None:
                warnings.append(
                    f"{other.run_id if b is None else base.run_id}: meta.json has no {key}"
                )
            elif a != b:
                message = f"runs differ in {key}: {base.run_id} is {a!r}, {other.run_id} is {b!r}"
                if not force:
                    raise LabError(
                        f"refusing to compare: {message} (pass --force to compare anyway)"
                    )
                warnings.append(message)
    return warnings


def condition_warnings(samples: list[RunSample]) -> list[str]:
    """Runs that ran while the machine was much busier (or calmer) than the first one."""
    base = samples[0]
    warnings = []
    for other in samples[1:]:
        found = condition_differences(
            base.meta.get("machine_load") or {}, other.meta.get("machine_load") or {}
        )
        if found:
            warnings.append(
                f"{base.run_id} and {other.run_id} ran under different machine conditions: "
                + "; ".join(found)
                + " (the difference may be the machine, not the code)"
            )
    return warnings


def trust_warnings(run_dirs: list[Path]) -> list[str]:
    """Runs whose numbers may be the load generator's (lab.health), or that stopped early."""
    warnings = []
    for run_dir in run_dirs:
        folder = RunFolder(run_dir)
        health = assess(run_dir, read_json(folder.meta), len(folder.request_parts()))
        if health.untrustworthy_reasons:
            warnings.append(
                f"{run_dir.name} is not trustworthy, its timings may be the load generator's: "
                + "; ".join(health.untrustworthy_reasons)
            )
        if health.aborted_on_breach is not None:
            warnings.append(
                f"{run_dir.name} was aborted on breach ({health.aborted_on_breach}): "
                "it covers the run only until then"
            )
    return warnings


@dataclass
class Side:
    """One side of a comparison: one or more runs of the same thing."""

    runs: list[RunSample]

    @property
    def name(self) -> str:
        ids = ", ".join(r.run_id for r in self.runs)
        return ids if len(self.runs) == 1 else f"{len(self.runs)} runs ({ids})"

    def keys(self) -> set[tuple[str, str]]:
        return {key for run in self.runs for key in run.values}

    def requests(self, key: tuple[str, str]) -> int:
        return sum(len(run.values.get(key, [])) for run in self.runs)

    def per_run(self, key: tuple[str, str], pct: str) -> list[float]:
        q = PERCENTILES[pct]
        return [quantile_linear(run.values[key], q) for run in self.runs if run.values.get(key)]

    def rps(self, key: tuple[str, str]) -> float:
        seconds = sum(run.duration_s for run in self.runs)
        return self.requests(key) / seconds if seconds > 0 else 0.0

    def failure_ratio(self, key: tuple[str, str]) -> float:
        n = self.requests(key)
        return sum(run.failures.get(key, 0) for run in self.runs) / n if n else 0.0

    def fewest(self, key: tuple[str, str]) -> int:
        return min((len(run.values.get(key, [])) for run in self.runs), default=0)


@dataclass(frozen=True)
class Row:
    key: tuple[str, str]
    runs_base: int
    runs_cand: int
    n_base: int
    n_cand: int
    p50: AcrossRuns | None
    p95: AcrossRuns | None
    rps_base: float
    rps_cand: float
    fail_base: float
    fail_cand: float
    few_samples: bool

    @property
    def label(self) -> str:
        return label(self.key)

    def estimates(self) -> list[tuple[str, AcrossRuns]]:
        return [(pct, e) for pct, e in (("p50", self.p50), ("p95", self.p95)) if e is not None]


def compare_sides(base: Side, cand: Side, floor: NoiseFloor | None = None) -> list[Row]:
    """Every request name of either side; Holm-adjusted across all names and percentiles."""
    keys = sorted(base.keys() | cand.keys(), key=lambda k: (k[1], k[0]))
    raw: dict[tuple[tuple[str, str], str], AcrossRuns] = {}
    for key in keys:
        for pct in PERCENTILES:
            spread = floor.spread(label(key), pct) if floor else None
            est = compare_across_runs(base.per_run(key, pct), cand.per_run(key, pct), spread)
            fewest = min(base.fewest(key), cand.fewest(key))
            if est is not None and fewest < MIN_PER_RUN_TO_JUDGE[pct]:
                est = replace(
                    est,
                    p_value=None,
                    ratio_ci=None,
                    unjudged_reason=f"under {MIN_PER_RUN_TO_JUDGE[pct]} requests a run",
                )
            if est is not None:
                raw[(key, pct)] = est
    adjusted = dict(zip(raw, adjust(list(raw.values())), strict=True))
    return [
        Row(
            key=key,
            runs_base=sum(1 for r in base.runs if r.values.get(key)),
            runs_cand=sum(1 for r in cand.runs if r.values.get(key)),
            n_base=base.requests(key),
            n_cand=cand.requests(key),
            p50=adjusted.get((key, "p50")),
            p95=adjusted.get((key, "p95")),
            rps_base=base.rps(key),
            rps_cand=cand.rps(key),
            fail_base=base.failure_ratio(key),
            fail_cand=cand.failure_ratio(key),
            few_samples=min(base.fewest(key), cand.fewest(key)) < MIN_SAMPLES,
        )
        for key in keys
    ]


def regressions(rows: list[Row], threshold: float) -> list[str]:
    """Significant (Holm-adjusted) slowdowns of p50 or p95 by more than `threshold`."""
    found = []
    for row in rows:
        for pct, est in row.estimates():
            if est.significant and est.ratio > 1 + threshold:
                low, high = est.ratio_ci or (est.ratio, est.ratio)
                found.append(
                    f"{row.label} {pct}: {est.verdict()} (95% CI of ratio {low:.2f}-{high:.2f}, "
                    f"adjusted p {est.p_adjusted:.2g}, {row.runs_base}+{row.runs_cand} runs)"
                )
    return found


def judged_any(rows: list[Row]) -> bool:
    return any(est.judged for row in rows for _, est in row.estimates())


def parse_threshold(text: str) -> float:
    """'10%', '10' or '0.1' -> 0.10."""
    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError as exc:
        raise LabError(f"--fail-on-regression {text!r}: expected a percentage such as 10%") from exc
    if text.strip().endswith("%") or value >= 1:
        value /= 100
    if value < 0:
        raise LabError("--fail-on-regression must not be negative")
    return value


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def _center(center: float, values: tuple[float, ...]) -> str:
    """Geometric mean of the runs' percentiles, with the runs' spread when there are several."""
    spread = spread_of(values)
    return f"{_ms(center)} ±{100 * spread.percent:.0f}%" if spread else _ms(center)


def _cell(est: AcrossRuns | None) -> tuple[str, str, str, str]:
    if est is None:
        return "-", "-", "-", "missing in one side"
    a = _center(est.base_center, est.base_values)
    b = _center(est.cand_center, est.cand_values)
    change = f"{est.ratio:.2f}x"
    if est.ratio_ci is not None:
        change += f" [{est.ratio_ci[0]:.2f}-{est.ratio_ci[1]:.2f}]"
    return a, b, change, est.verdict()


HEADER = [
    "request",
    "runs A/B",
    "req A/B",
    "p50 A ms",
    "p50 B ms",
    "p50 B/A [95% CI]",
    "p50 verdict",
    "p95 A ms",
    "p95 B ms",
    "p95 B/A [95% CI]",
    "p95 verdict",
    "req/s A/B",
    "fail A/B",
]


def render(base: Side, cand: Side, rows: list[Row], markdown: bool) -> str:
    table = []
    for row in rows:
        note = " (few samples)" if row.few_samples else ""
        table.append(
            [
                row.label + note,
                f"{row.runs_base}/{row.runs_cand}",
                f"{row.n_base}/{row.n_cand}",
                *_cell(row.p50),
                *_cell(row.p95),
                f"{row.rps_base:.2f}/{row.rps_cand:.2f}",
                f"{row.fail_base:.2%}/{row.fail_cand:.2%}",
            ]
        )
    title = f"A = {base.name}, B = {cand.name}"
    if markdown:
        lines = [f"### {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(HEADER, *table, strict=False)]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines += ["", *explain(rows)]
    return "\n".join(lines) + "\n"


def _side_quantile(side: Side, key: tuple[str, str], q: float) -> tuple[float, str] | None:
    """Median over the side's runs of a quantile: corrected where the run had an intended
    start (open model), else measured (a closed loop has nothing to correct from)."""
    values, kinds = [], set()
    for run in side.runs:
        if run.corrected.get(key):
            values.append(quantile_linear(run.corrected[key], q))
            kinds.add("corrected")
        elif run.values.get(key):
            values.append(quantile_linear(run.values[key], q))
            kinds.add("measured")
    if not values:
        return None
    values.sort()
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return median, "+".join(sorted(kinds))


def render_corrected(base: Side, cand: Side, markdown: bool) -> str:
    """Corrected p95/p99 beside the measured table, when a side ran the open model.

    Shown, not judged: a closed-loop side's figures are measured only, and its omission
    (fewer requests while the app stalled) is what this table makes visible.
    """
    if not any(run.corrected for run in [*base.runs, *cand.runs]):
        return ""
    header = ["request", "p95 A ms", "p95 B ms", "p99 A ms", "p99 B ms", "p99 B/A"]
    table = []
    for key in sorted(base.keys() | cand.keys()):
        cells = [label(key)]
        p99 = []
        for q in (0.95, 0.99):
            for side in (base, cand):
                found = _side_quantile(side, key, q)
                cells.append("-" if found is None else f"{found[0] / 1000:.1f} ({found[1]})")
                if q == 0.99:
                    p99.append(None if found is None else found[0])
        a, b = p99
        cells.append(f"{b / a:.2f}x" if a and b else "-")
        table.append(cells)
    title = "Corrected latency (from the intended start; measured for a closed-model run)"
    if markdown:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(lines) + "\n"


def explain(rows: list[Row]) -> list[str]:
    """How the verdicts above were reached, or why there are none."""
    estimates = [est for row in rows for _, est in row.estimates()]
    judged = [est for est in estimates if est.judged]
    if not judged:
        return [
            "NO VERDICT: one run per side and no noise floor, so these ratios cannot separate "
            "a change from run-to-run noise (unchanged code on this machine differs by more "
            "than its requests' own spread). Compare several runs per side "
            "(lab compare A1,A2,A3 B1,B2,B3) or measure the noise floor (lab calibrate)."
        ]
    sources = sorted({est.variance_source for est in judged})
    dfs = sorted({est.variance_df for est in judged})
    return [
        f"Verdicts: Student's t on log(per-run percentile); run-to-run spread from "
        f"{' / '.join(sources)} (df {dfs[0]}-{dfs[-1]}); Holm-adjusted over {len(judged)} "
        f"tests, family-wise alpha {ALPHA:g}. A ±x% is the spread of one side's runs."
    ]


def promql(run_ids: list[str]) -> str:
    selector = "|".join(run_ids)
    return "\n".join(
        [
            "PromQL to see these runs side by side in Prometheus (Graph tab)"
            " or in the Grafana compare dashboard:",
            "  histogram_quantile(0.95, sum by (run_id, name, le) "
            f'(rate(locust_request_duration_seconds_bucket{{run_id=~"{selector}"}}[1m])))',
            f'  sum by (run_id) (rate(locust_requests_total{{run_id=~"{selector}"}}[1m]))',
            f'  sum by (run_id) (rate(locust_failures_total{{run_id=~"{selector}"}}[1m]))',
        ]
    )


GRAFANA_COMPARE_UID = "lab-compare-runs"  # observability/grafana/dashboards/, variables A and B


def grafana_link(grafana_url: str, a: str, b: str) -> str:
    return f"{grafana_url.rstrip('/')}/d/{GRAFANA_COMPARE_UID}?var-A={a}&var-B={b}"


def usable_floor(path: Path | None, samples: list[RunSample]) -> tuple[NoiseFloor | None, str]:
    """The floor at `path` when it describes runs like these, and a line saying what was used."""
    if path is None:
        return None, "noise floor: not used"
    if not path.is_file():
        return None, f"noise floor: none ({path} does not exist; `lab calibrate` measures it)"
    floor = read_floor(path)
    for sample in samples:
        mismatch = floor.mismatch(sample.meta)
        if mismatch:
            return None, (
                f"noise floor: {path} ignored, measured on other runs than "
                f"{sample.run_id}: {', '.join(mismatch)}"
            )
    return floor, f"noise floor: {path} ({len(floor.runs)} runs)"


def run_compare(
    groups: list[list[Path]],
    *,
    force: bool,
    markdown: bool,
    fail_on_regression: str | None,
    grafana_url: str | None = None,
    noise_floor: Path | None = None,
) -> int:
    threshold = parse_threshold(fail_on_regression) if fail_on_regression else None
    if len(groups) < 2:
        raise LabError("compare needs at least two runs: lab compare A B [C...]")
    sides = [Side([load_sample(d) for d in group]) for group in groups]
    samples = [s for side in sides for s in side.runs]
    dirs = [d for group in groups for d in group]
    warnings = check_comparable(samples, force) + condition_warnings(samples) + trust_warnings(dirs)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    floor, floor_line = usable_floor(noise_floor, samples)
    print(floor_line)
    found: list[str] = []
    unjudged: list[str] = []
    base_statements = query_budget.load_runs(groups[0])
    for cand, cand_dirs in zip(sides[1:], groups[1:], strict=True):
        rows = compare_sides(sides[0], cand, floor)
        print(render(sides[0], cand, rows, markdown))
        corrected_table = render_corrected(sides[0], cand, markdown)
        if corrected_table:
            print(corrected_table)
        if threshold is not None:
            found += [f"{cand.name}: {r}" for r in regressions(rows, threshold)]
            if not judged_any(rows):
                unjudged.append(cand.name)
        # Statements per request: structural, not noisy, so a regression whatever latency
        # says and even on a single pair of runs (lab.query_budget).
        statements = query_budget.compare(base_statements, query_budget.load_runs(cand_dirs))
        print(query_budget.render(statements, markdown))
        if threshold is not None:
            found += [f"{cand.name}: {r}" for r in query_budget.regressions(statements)]
    print(promql([s.run_id for s in samples]))
    if grafana_url:
        for cand in sides[1:]:
            for a in sides[0].runs:
                for b in cand.runs:
                    print(f"Grafana: {grafana_link(grafana_url, a.run_id, b.run_id)}")
    if threshold is not None:
        if found:
            print(f"REGRESSION beyond {threshold:.0%}:")
            for line in found:
                print(f"  - {line}")
            return EXIT_BREACH
        if unjudged:
            print(
                f"gate not applied to {'; '.join(unjudged)}: no estimate of run-to-run noise "
                "(one run per side, no noise floor), so no regression can be shown"
            )
        print(f"no significant regression beyond {threshold:.0%}")
    return EXIT_OK
