"""Bootstrap confidence intervals for percentiles without numpy.

Resampling n values with replacement from the sorted sample x and taking the
k-th smallest is the same as taking x[floor(n * U)] where U is the k-th smallest
of n uniforms, which is Beta(k, n - k + 1) distributed. So each bootstrap
replicate of a percentile costs one Beta draw instead of n draws and a sort:
exact bootstrap, O(B) per percentile, whatever the sample size.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_RESAMPLES = 2000


def quantile_linear(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (DuckDB's quantile_cont, numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no values")
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def bootstrap_quantiles(
    sorted_values: Sequence[float], q: float, rng: random.Random, resamples: int = DEFAULT_RESAMPLES
) -> list[float]:
    """`resamples` bootstrap replicates of the q-quantile (nearest rank of each resample)."""
    n = len(sorted_values)
    k = min(n, max(1, math.ceil(q * n)))
    replicates = []
    for _ in range(resamples):
        u = rng.betavariate(k, n - k + 1)
        replicates.append(sorted_values[min(n - 1, int(u * n))])
    return replicates


def percentile_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    ordered = sorted(values)
    tail = (1 - level) / 2
    return quantile_linear(ordered, tail), quantile_linear(ordered, 1 - tail)


@dataclass(frozen=True)
class RatioEstimate:
    """How `candidate`'s percentile compares with `baseline`'s: ratio > 1 is slower."""

    baseline: float
    baseline_ci: tuple[float, float]
    candidate: float
    candidate_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]

    @property
    def significant(self) -> bool:
        return self.ratio_ci[0] > 1.0 or self.ratio_ci[1] < 1.0

    def verdict(self) -> str:
        """pyperf's wording: '1.31x slower', '1.10x faster' or 'not significant'."""
        if not self.significant:
            return "not significant"
        if self.ratio >= 1:
            return f"{self.ratio:.2f}x slower"
        return f"{1 / self.ratio:.2f}x faster" if self.ratio > 0 else "faster"


def compare_quantile(
    baseline_sorted: Sequence[float],
    candidate_sorted: Sequence[float],
    q: float,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> RatioEstimate:
    rng = random.Random(seed)  # fixed seed: the same runs always give the same verdict
    base = bootstrap_quantiles(baseline_sorted, q, rng, resamples)
    cand = bootstrap_quantiles(candidate_sorted, q, rng, resamples)
    ratios = [c / b if b > 0 else math.inf for b, c in zip(base, cand, strict=True)]
    b_point = quantile_linear(baseline_sorted, q)
    c_point = quantile_linear(candidate_sorted, q)
    return RatioEstimate(
        baseline=b_point,
        baseline_ci=percentile_interval(base),
        candidate=c_point,
        candidate_ci=percentile_interval(cand),
        ratio=c_point / b_point if b_point > 0 else math.inf,
        ratio_ci=percentile_interval(ratios),
    )
