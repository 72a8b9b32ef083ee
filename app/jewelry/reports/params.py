"""Query-string parameters of the reports: a day or a period, validated into clear 400s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.http import QueryDict
from django.utils import timezone

# Far enough for any shop's history, near enough that `day + 1` never overflows.
EARLIEST = date(1970, 1, 1)
LATEST = date(9998, 12, 31)
DEFAULT_PERIOD_DAYS = 30


class BadReportParameter(ValueError):
    """A query parameter the reports cannot use; the message says which and why."""


def parse_day(value: str | None, name: str = "date") -> date | None:
    if value is None or not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        shown = value[:40]
        raise BadReportParameter(f"{name} must be a date as YYYY-MM-DD, got {shown!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise BadReportParameter(f"{name} must be between {EARLIEST} and {LATEST}")
    return day


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of `day` in the shop's time zone, so the created_at index serves it."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """Inclusive [start, end] days; None on a side means unbounded."""

    start: date | None = None
    end: date | None = None

    @property
    def start_at(self) -> datetime | None:
        return day_bounds(self.start)[0] if self.start else None

    @property
    def end_before(self) -> datetime | None:
        return day_bounds(self.end)[1] if self.end else None

    def cache_key(self) -> str:
        return f"{self.start or '-'}:{self.end or '-'}"

    def label(self) -> str:
        if self.start and self.end:
            return f"{self.start} to {self.end}"
        if self.start:
            return f"since {self.start}"
        if self.end:
            return f"until {self.end}"
        return "all time"


def parse_period(query: QueryDict, *, default_days: int | None = None) -> Period:
    """`?start=YYYY-MM-DD&end=YYYY-MM-DD`; with neither and `default_days`, the last N days."""
    start = parse_day(query.get("start"), "start")
    end = parse_day(query.get("end"), "end")
    if start and end and start > end:
        raise BadReportParameter("start must not be after end")
    if start is None and end is None and default_days is not None:
        today = timezone.localdate()
        return Period(today - timedelta(days=default_days - 1), today)
    return Period(start, end)
