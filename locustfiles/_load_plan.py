"""Was the load that ran the load that was planned? Users driven against the plan, over time.

The master feeds one sample a second: the users the plan (the shape's stage) asks for and
the users the workers say they run (their own `user_count`, shipped with each stats report).
A difference that lasts four samples, outside a ramp, opens a window; the window closes when
the load is back on plan or the run ends, and becomes one `load_off_plan` event: over plan
(a worker that went missing and came back while its users were handed to another) or under
plan (a dead worker's users, not re-spawned elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Samples (one a second) in a row that must differ from the plan before a window opens:
# more than one worker report interval (3 s), so one late report is not a deviation.
CONFIRM_SAMPLES = 4


@dataclass
class OffPlanWindow:
    direction: str  # "over" or "under"
    planned_users: int
    extreme_users: int  # the most users seen over plan, or the fewest under it
    started: float  # time.time()
    ended: float

    def detail(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "planned_users": self.planned_users,
            "users": self.extreme_users,
            "excess_users": self.extreme_users - self.planned_users,
            "from": _iso(self.started),
            "to": _iso(self.ended),
            "seconds": round(self.ended - self.started, 1),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class LoadPlanMonitor:
    """Turns (time, planned users, users running, settled?) samples into off-plan windows."""

    def __init__(self) -> None:
        self.open: OffPlanWindow | None = None
        self._pending: list[tuple[float, str, int, int]] = []
        self.closed: list[OffPlanWindow] = []

    def sample(self, now: float, planned: int | None, actual: int, settled: bool) -> None:
        """`settled`: no ramp in progress and the workers had time to report since it ended."""
        if planned is None or not settled:
            self._pending.clear()
            self.close(now)  # a ramp (or the end of the plan) ends a window
            return
        direction = "over" if actual > planned else "under" if actual < planned else None
        if self.open is not None and (
            direction != self.open.direction or planned != self.open.planned_users
        ):
            self.close(now)
        if direction is None:
            self._pending.clear()
            return
        if self.open is not None:
            extreme = max if direction == "over" else min
            self.open.extreme_users = extreme(self.open.extreme_users, actual)
            self.open.ended = now
            return
        self._pending = [p for p in self._pending if p[1] == direction and p[2] == planned]
        self._pending.append((now, direction, planned, actual))
        if len(self._pending) >= CONFIRM_SAMPLES:
            first = self._pending[0]
            users = [p[3] for p in self._pending]
            extreme_users = max(users) if direction == "over" else min(users)
            self.open = OffPlanWindow(direction, planned, extreme_users, first[0], now)
            self._pending.clear()

    def close(self, now: float) -> OffPlanWindow | None:
        window, self.open = self.open, None
        if window is not None:
            window.ended = max(window.ended, now)
            self.closed.append(window)
        return window
