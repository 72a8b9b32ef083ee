"""Every timestamp the seed writes: seconds from a fixed origin, formatted for COPY.

Nothing reads the wall clock, so the same seed and end date give byte-identical rows.
"""

from __future__ import annotations

import bisect
import math
import random
from datetime import date, timedelta

DAY = 86_400
HISTORY_DAYS = 6 * 365  # the oldest tenant is at most this old
SALES_DAYS = 365  # sales span the last year before the end date
# The default end of the sales window: fixed, so runs are reproducible (override --end-date).
DEFAULT_END = date(2026, 11, 1)

# Shop traffic by weekday (Mon..Sun) and month: busy Saturdays, December and Valentine's.
WEEKDAY_WEIGHT = (0.80, 0.85, 0.90, 1.00, 1.25, 1.60, 0.70)
MONTH_WEIGHT = {1: 0.75, 2: 1.30, 3: 0.85, 4: 0.90, 5: 1.15, 6: 0.95,
                7: 0.90, 8: 0.90, 9: 0.95, 10: 1.00, 11: 1.25, 12: 1.90}  # fmt: skip
OPEN_SECOND, CLOSE_SECOND = 10 * 3600, 20 * 3600  # shops open 10:00-20:00 UTC


class Clock:
    def __init__(self, end: date) -> None:
        self.end_date = end
        self.origin = end - timedelta(days=HISTORY_DAYS)
        self.end = HISTORY_DAYS * DAY  # the end date, 00:00, in seconds from the origin
        self.sales_start = self.end - SALES_DAYS * DAY
        self._days = [
            (self.origin + timedelta(days=d)).isoformat() for d in range(HISTORY_DAYS + 1)
        ]
        day_weights = []
        for d in range(SALES_DAYS):
            day = end - timedelta(days=SALES_DAYS - d)
            trend = 0.85 + 0.30 * d / SALES_DAYS  # a growing business
            day_weights.append(WEEKDAY_WEIGHT[day.weekday()] * MONTH_WEIGHT[day.month] * trend)
        total = 0.0
        self._cumulative: list[float] = []
        for weight in day_weights:
            total += weight
            self._cumulative.append(total)

    def format(self, second: int) -> str:
        day, rest = divmod(second, DAY)
        hour, rest = divmod(rest, 3600)
        minute, sec = divmod(rest, 60)
        return f"{self._days[day]} {hour:02d}:{minute:02d}:{sec:02d}+00"

    def sale_times(self, rng: random.Random, count: int) -> list[int]:
        """`count` sale instants over the last year, with weekly, seasonal and daily rhythm."""
        cumulative, total = self._cumulative, self._cumulative[-1]
        times = []
        for _ in range(count):
            day = bisect.bisect_right(cumulative, rng.random() * total)
            # Two peaks: lunch (13:00) and after work (17:30), inside opening hours.
            peak = 13 * 3600 if rng.random() < 0.55 else 17 * 3600 + 1800
            second = int(peak + rng.gauss(0, 5400))
            second = min(max(second, OPEN_SECOND), CLOSE_SECOND - 1)
            times.append(self.sales_start + day * DAY + second)
        times.sort()
        return times


def parse_end_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--end-date must be YYYY-MM-DD, got {text!r}") from None


def days(count: float) -> int:
    return math.floor(count * DAY)
