"""Least-squares trend with a confidence interval, standard library only.

Samples of a slowly varying gauge (a process's memory, scraped every few seconds and
refreshed less often) are autocorrelated: each point repeats much of the previous one. An
ordinary least-squares CI would treat them as independent and come out far too narrow, so
the standard error uses an effective sample size from the lag-1 autocorrelation of the
residuals, n_eff = n (1 - r) / (1 + r) (Santer et al. 2000, "Statistical significance of
trends and trend differences in layer-average atmospheric temperature time series").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 97.5 % Student t quantiles for small samples; 1.96 beyond the table.
_T975 = {
    1: 12.71,
    2: 4.30,
    3: 3.18,
    4: 2.78,
    5: 2.57,
    6: 2.45,
    7: 2.36,
    8: 2.31,
    9: 2.26,
    10: 2.23,
    12: 2.18,
    15: 2.13,
    20: 2.09,
    25: 2.06,
    30: 2.04,
    60: 2.00,
    120: 1.98,
}


def t_quantile_975(dof: int) -> float:
    if dof <= 0:
        return math.inf
    for limit in sorted(_T975):
        if dof <= limit:
            return _T975[limit]
    return 1.96


@dataclass(frozen=True)
class Trend:
    slope: float  # units of y per unit of x
    intercept: float
    stderr: float
    n: int
    n_effective: float = 0.0  # n corrected for autocorrelation (n when there is none)

    @property
    def ci95(self) -> tuple[float, float]:
        dof = int(self.n_effective or self.n) - 2
        half = t_quantile_975(dof) * self.stderr
        return self.slope - half, self.slope + half


def fit(points: Sequence[tuple[float, float]]) -> Trend | None:
    """Ordinary least squares y = a + b x; None with fewer than 3 points or constant x."""
    n = len(points)
    if n < 3:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    residuals = [y - intercept - slope * x for x, y in points]
    residual = sum(r * r for r in residuals)
    n_eff = effective_size(residuals)
    if n_eff <= 2:
        return Trend(slope, intercept, math.inf, n, n_eff)
    stderr = math.sqrt(residual / (n_eff - 2) / sxx)
    return Trend(slope, intercept, stderr, n, n_eff)


def effective_size(residuals: Sequence[float]) -> float:
    """n (1 - r1) / (1 + r1) for positive lag-1 autocorrelation r1; n otherwise."""
    n = len(residuals)
    total = sum(r * r for r in residuals)
    if total == 0:
        return float(n)
    r1 = sum(a * b for a, b in itertools.pairwise(residuals)) / total
    if r1 <= 0:
        return float(n)
    return n * (1 - r1) / (1 + r1)
