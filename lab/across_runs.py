"""Is B slower than A, judged against the run-to-run spread rather than request-to-request.

Two runs of unchanged code differ by more than their requests' sampling error: machine
load, cache state and the other jobs on the host move a whole run. So the unit of evidence
is the run. Each run contributes one number per request name and percentile (its p50 or
p95), on a log scale so that changes are ratios; the two sides are compared with Student's
t-test on those per-run values (the summary-statistics form of a hierarchical model: a
run's own sampling error is part of its value's spread). The run-to-run variance comes
from the compared runs themselves and, when a calibration exists, from the A/A noise floor
(lab/noise_floor.py); without either (one run per side, no floor) there is no verdict.

Many request names are compared at once, so p-values are adjusted with Holm's step-down
method: the chance of any false "slower" in one comparison of unchanged code stays at
`ALPHA`, instead of about one false alarm per comparison of 26 names at 95 %.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

ALPHA = 0.05  # family-wise error rate of one comparison (all names and percentiles)
MIN_VARIANCE_DF = 2  # degrees of freedom of the spread estimate below which we do not judge


@dataclass(frozen=True)
class Spread:
    """Run-to-run standard deviation of log(percentile), from `runs` runs (df = runs - 1)."""

    sd_log: float
    runs: int

    @property
    def df(self) -> int:
        return max(0, self.runs - 1)

    @property
    def percent(self) -> float:
        """The spread as a relative change: 0.08 means runs typically differ by about 8 %."""
        return math.expm1(self.sd_log)


def spread_of(values: Sequence[float]) -> Spread | None:
    """The spread of per-run percentiles (positive values), None for fewer than 2 runs."""
    logs = [math.log(v) for v in values if v > 0]
    if len(logs) < 2:
        return None
    return Spread(statistics.stdev(logs), len(logs))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return regularized_beta(df / 2.0, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The p-quantile (p > 0.5) of Student's t, by bisection on the two-sided tail."""
    target = 2.0 * (1.0 - p)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (same order): reject where adjusted < ALPHA."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    m = len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class AcrossRuns:
    """One request name and percentile, A (baseline) against B, across runs.

    `ratio` is the ratio of geometric means of the per-run percentiles (> 1: B slower).
    `p_value` is None when the run-to-run spread is unknown: then there is no verdict.
    `p_adjusted` is filled in by `adjust` (Holm over the whole comparison).
    """

    base_values: tuple[float, ...]
    cand_values: tuple[float, ...]
    ratio: float
    ratio_ci: tuple[float, float] | None
    p_value: float | None
    variance_df: int
    variance_source: str  # "runs", "noise floor", "runs + noise floor" or "none"
    floor: Spread | None = None
    p_adjusted: float | None = field(default=None)
    # Why a comparison that could be tested is not (too few requests a run for the percentile).
    unjudged_reason: str | None = None

    @property
    def base_center(self) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in self.base_values))

    @property
    def cand_center(self) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in self.cand_values))

    @property
    def judged(self) -> bool:
        return self.p_value is not None

    @property
    def significant(self) -> bool:
        p = self.p_adjusted if self.p_adjusted is not None else self.p_value
        return p is not None and p < ALPHA

    def verdict(self) -> str:
        if not self.judged:
            return f"no verdict: {self.unjudged_reason or 'spread unknown'}"
        if not self.significant:
            return "within noise" if self.floor is not None else "not significant"
        if self.ratio >= 1:
            return f"{self.ratio:.2f}x slower"
        return f"{1 / self.ratio:.2f}x faster" if self.ratio > 0 else "faster"


def compare_across_runs(
    base_values: Sequence[float],
    cand_values: Sequence[float],
    floor: Spread | None = None,
) -> AcrossRuns | None:
    """Per-run percentiles of A and B (positive, any unit) -> the across-run comparison.

    None when a side has no value. The variance is pooled from both sides' runs and the
    noise floor, each weighted by its degrees of freedom; the test has their sum as df.
    """
    base = [math.log(v) for v in base_values if v > 0]
    cand = [math.log(v) for v in cand_values if v > 0]
    if not base or not cand:
        return None
    diff = statistics.fmean(cand) - statistics.fmean(base)
    squares, df, sources = 0.0, 0, []
    for side in (base, cand):
        if len(side) > 1:
            mean = statistics.fmean(side)
            squares += sum((x - mean) ** 2 for x in side)
            df += len(side) - 1
    if df:
        sources.append("runs")
    if floor is not None and floor.df > 0:
        squares += floor.df * floor.sd_log**2
        df += floor.df
        sources.append("noise floor")
    estimate = AcrossRuns(
        base_values=tuple(v for v in base_values if v > 0),
        cand_values=tuple(v for v in cand_values if v > 0),
        ratio=math.exp(diff),
        ratio_ci=None,
        p_value=None,
        variance_df=df,
        variance_source=" + ".join(sources) or "none",
        floor=floor,
    )
    if df < MIN_VARIANCE_DF:
        return estimate
    se = math.sqrt(squares / df) * math.sqrt(1 / len(base) + 1 / len(cand))
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        ci = (math.exp(diff), math.exp(diff))
    else:
        p = t_two_sided_p(diff / se, df)
        half = t_quantile(0.975, df) * se
        ci = (math.exp(diff - half), math.exp(diff + half))
    return replace(estimate, p_value=p, ratio_ci=ci)


def adjust(estimates: Sequence[AcrossRuns]) -> list[AcrossRuns]:
    """Holm over every judged estimate of one comparison; unjudged ones pass through."""
    judged = [i for i, e in enumerate(estimates) if e.p_value is not None]
    adjusted = holm([estimates[i].p_value for i in judged])  # type: ignore[misc]
    out = list(estimates)
    for i, p in zip(judged, adjusted, strict=True):
        out[i] = replace(out[i], p_adjusted=p)
    return out
