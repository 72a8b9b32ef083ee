"""Least-squares trend with a confidence interval, standard library only.

Samples of a slowly varying gauge (a process's memory, scraped every few seconds and
refreshed less often) are autocorrelated: each point repeats much of the previous one, so a
CI that treats hundreds of them as independent comes out far too narrow. `fit_binned`
therefore fits the means of a dozen equal time slices (each a summary of many samples,
nearly independent of the next one) and takes the CI from those, with their degrees of
freedom. (A lag-1 autocorrelation correction of the raw fit was tried first: a leak that
grows in bursts leaves smooth residuals, their autocorrelation is near 1, and the CI became
infinite for a leak of 300 MiB/h.)
"""

from __future__ import annotations

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
SLICES = 12


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

    @property
    def ci95(self) -> tuple[float, float]:
        half = t_quantile_975(self.n - 2) * self.stderr
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
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    stderr = math.sqrt(residual / (n - 2) / sxx)
    return Trend(slope, intercept, stderr, n)


def slice_means(
    points: Sequence[tuple[float, float]], slices: int = SLICES
) -> list[tuple[float, float]]:
    """(mean x, mean y) of each of `slices` equal spans of x that hold points."""
    if not points:
        return []
    lo, hi = min(x for x, _ in points), max(x for x, _ in points)
    width = (hi - lo) / slices or 1.0
    groups: dict[int, list[tuple[float, float]]] = {}
    for x, y in points:
        groups.setdefault(min(int((x - lo) / width), slices - 1), []).append((x, y))
    return [
        (sum(x for x, _ in g) / len(g), sum(y for _, y in g) / len(g))
        for _, g in sorted(groups.items())
    ]


def fit_binned(points: Sequence[tuple[float, float]], slices: int = SLICES) -> Trend | None:
    """`fit` over the slice means: the slope of the data, a CI honest for a gauge."""
    return fit(slice_means(points, slices))
