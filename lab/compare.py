"""`lab compare A B [C...]`: per request name, p50/p95 with bootstrap CIs and a verdict."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.bootstrap import RatioEstimate, compare_quantile
from lab.contract import RunFolder
from lab.errors import EXIT_BREACH, EXIT_OK, LabError
from lab.rundata import open_run
from lab.runs_dir import read_json
from lab.window import run_window

MIN_SAMPLES = 30  # below this a percentile CI is mostly noise: say so


@dataclass
class RunSample:
    run_id: str
    meta: dict[str, Any]
    duration_s: float
    values: dict[tuple[str, str], list[int]]  # (method, name) -> sorted response times (us)
    failures: dict[tuple[str, str], int]

    def rps(self, key: tuple[str, str]) -> float:
        return len(self.values.get(key, [])) / self.duration_s if self.duration_s > 0 else 0.0

    def failure_ratio(self, key: tuple[str, str]) -> float:
        n = len(self.values.get(key, []))
        return self.failures.get(key, 0) / n if n else 0.0


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
    data.con.close()
    return RunSample(
        run_id=run_dir.name,
        meta=meta or {},
        duration_s=end - start,
        values={(m, n): v for m, n, v, _ in rows},
        failures={(m, n): int(f) for m, n, _, f in rows},
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


@dataclass(frozen=True)
class Row:
    key: tuple[str, str]
    n_base: int
    n_cand: int
    p50: RatioEstimate | None
    p95: RatioEstimate | None
    rps_base: float
    rps_cand: float
    fail_base: float
    fail_cand: float

    @property
    def label(self) -> str:
        return f"{self.key[0]} {self.key[1]}".strip()

    @property
    def few_samples(self) -> bool:
        return min(self.n_base, self.n_cand) < MIN_SAMPLES


def compare_pair(base: RunSample, cand: RunSample) -> list[Row]:
    rows = []
    for key in sorted(set(base.values) | set(cand.values), key=lambda k: (k[1], k[0])):
        a, b = base.values.get(key, []), cand.values.get(key, [])
        both = bool(a) and bool(b)
        rows.append(
            Row(
                key=key,
                n_base=len(a),
                n_cand=len(b),
                p50=compare_quantile(a, b, 0.50, seed=50) if both else None,
                p95=compare_quantile(a, b, 0.95, seed=95) if both else None,
                rps_base=base.rps(key),
                rps_cand=cand.rps(key),
                fail_base=base.failure_ratio(key),
                fail_cand=cand.failure_ratio(key),
            )
        )
    return rows


def regressions(rows: list[Row], threshold: float) -> list[str]:
    """Significant slowdowns of p50 or p95 by more than `threshold` (0.10 = 10 %)."""
    found = []
    for row in rows:
        for label, est in (("p50", row.p50), ("p95", row.p95)):
            if est is not None and est.significant and est.ratio > 1 + threshold:
                found.append(
                    f"{row.label} {label}: {est.verdict()} "
                    f"(CI of ratio {est.ratio_ci[0]:.2f}-{est.ratio_ci[1]:.2f})"
                )
    return found


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


def _cell(est: RatioEstimate | None) -> tuple[str, str, str]:
    if est is None:
        return "-", "-", "missing in one run"
    base = f"{_ms(est.baseline)} [{_ms(est.baseline_ci[0])}-{_ms(est.baseline_ci[1])}]"
    cand = f"{_ms(est.candidate)} [{_ms(est.candidate_ci[0])}-{_ms(est.candidate_ci[1])}]"
    return base, cand, est.verdict()


def render(base: RunSample, cand: RunSample, rows: list[Row], markdown: bool) -> str:
    header = [
        "request",
        "n A/B",
        "p50 A ms [95% CI]",
        "p50 B ms",
        "p50 change",
        "p95 A ms [95% CI]",
        "p95 B ms",
        "p95 change",
        "req/s A/B",
        "fail A/B",
    ]
    table = []
    for row in rows:
        p50a, p50b, p50v = _cell(row.p50)
        p95a, p95b, p95v = _cell(row.p95)
        note = " (few samples)" if row.few_samples else ""
        table.append(
            [
                row.label + note,
                f"{row.n_base}/{row.n_cand}",
                p50a,
                p50b,
                p50v,
                p95a,
                p95b,
                p95v,
                f"{row.rps_base:.2f}/{row.rps_cand:.2f}",
                f"{row.fail_base:.2%}/{row.fail_cand:.2%}",
            ]
        )
    title = f"A = {base.run_id}, B = {cand.run_id}"
    if markdown:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(lines) + "\n"


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


def run_compare(
    run_dirs: list[Path],
    *,
    force: bool,
    markdown: bool,
    fail_on_regression: str | None,
    grafana_url: str | None = None,
) -> int:
    threshold = parse_threshold(fail_on_regression) if fail_on_regression else None
    if len(run_dirs) < 2:
        raise LabError("compare needs at least two runs: lab compare A B [C...]")
    samples = [load_sample(d) for d in run_dirs]
    for warning in check_comparable(samples, force):
        print(f"warning: {warning}", file=sys.stderr)
    found: list[str] = []
    for cand in samples[1:]:
        rows = compare_pair(samples[0], cand)
        print(render(samples[0], cand, rows, markdown))
        if threshold is not None:
            found += [f"{cand.run_id}: {r}" for r in regressions(rows, threshold)]
    print(promql([s.run_id for s in samples]))
    if grafana_url:
        for cand in samples[1:]:
            print(f"Grafana: {grafana_link(grafana_url, samples[0].run_id, cand.run_id)}")
    if threshold is not None:
        if found:
            print(f"REGRESSION beyond {threshold:.0%}:")
            for line in found:
                print(f"  - {line}")
            return EXIT_BREACH
        print(f"no significant regression beyond {threshold:.0%}")
    return EXIT_OK
