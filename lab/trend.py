"""Least-squares trend with a confidence interval, standard library only."""

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
